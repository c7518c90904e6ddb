// TensorFlow.js reader: model.json files (layers and graph models) and bare weights manifests with shards
// assembled byte by byte from known values (float32, float16 bit patterns, uint8/uint16 quantisation with
// the value tfjs-core's decodeWeights gives: float32(q * scale + min)), several shards and groups, layouts
// moved into PyTorch's; NumPy-written shards read back; malformed manifests and shards that must give one
// clear error naming the file.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "onsager/core/error.hpp"
#include "onsager/io/tensor_source.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;
using testing::write_bytes;

std::string test_dir() { return testing::test_dir("tfjs"); }

template <class T>
std::string raw(const std::vector<T>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)};
}

std::vector<float> iota_f(std::size_t n, float scale = 0.5f, float shift = -1.f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * scale + shift;
  return v;
}

const TensorEntry& find(const TensorSource& s, const std::string& name) {
  for (const auto& t : s.tensors())
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

void expect_error(const std::string& path, const std::string& fragment) {
  try {
    auto s = open_tensor_source(path);
    for (const auto& t : s->tensors())
      if (t.floating) s->read(t);
    ADD_FAILURE() << path << ": accepted, expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << msg;
    EXPECT_NE(msg.find(fs::path(path).filename().string()), std::string::npos) << "message must name the file: "
                                                                               << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(TfjsSource, ManifestOfEveryStoredTypeAcrossShardsAndGroups) {
  const std::string dir = test_dir();
  // Group 0: float32 conv kernel (2,2,3,4) HWIO, float32 bias, int32, bool; split over two shards mid-tensor.
  const auto k = iota_f(48);
  const std::vector<float> bias{1.5f, -2.25f, 3.f, 1e-7f};
  const std::vector<std::int32_t> ints{7, -8, 2147483647};
  const std::string bools("\x01\x00\x05", 3);
  const std::string g0 = raw(k) + raw(bias) + raw(ints) + bools;
  write_bytes(dir + "/g0-shard1of2.bin", g0.substr(0, 101));
  write_bytes(dir + "/g0-shard2of2.bin", g0.substr(101));
  // Group 1: float16 (1.0, -2.0, 0.333251953125, 65504, smallest subnormal), uint8 and uint16 quantised
  // dense kernel (in 3, out 2), uint8-quantised int32.
  const std::vector<std::uint16_t> half{0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001};
  const std::vector<std::uint8_t> q8{0, 1, 2, 128, 254, 255};
  const std::vector<std::uint16_t> q16{0, 1, 65535, 30000, 12345, 7};
  const std::vector<std::uint8_t> qi{0, 2, 10};
  write_bytes(dir + "/g1.bin", raw(half) + raw(q8) + raw(q16) + raw(qi) + std::string(1, '\x03'));
  write_bytes(dir + "/weights_manifest.json", R"([
    {"paths": ["g0-shard1of2.bin", "g0-shard2of2.bin"], "weights": [
      {"name": "c/filters", "shape": [2, 2, 3, 4], "dtype": "float32"},
      {"name": "c/bias", "shape": [4], "dtype": "float32"},
      {"name": "ints", "shape": [3], "dtype": "int32"},
      {"name": "flags", "shape": [3], "dtype": "bool"}]},
    {"paths": ["g1.bin"], "weights": [
      {"name": "h", "shape": [5], "dtype": "float32", "quantization": {"dtype": "float16"}},
      {"name": "d8", "shape": [3, 2], "dtype": "float32",
       "quantization": {"dtype": "uint8", "scale": 0.0123, "min": -1.1}},
      {"name": "d16", "shape": [6], "dtype": "float32",
       "quantization": {"dtype": "uint16", "scale": 3.1e-5, "min": -0.7}},
      {"name": "qi", "shape": [3], "dtype": "int32", "quantization": {"dtype": "uint8", "scale": 0.25, "min": -1}},
      {"name": "z", "shape": [1], "dtype": "float32",
       "quantization": {"dtype": "uint8", "scale": 0.1, "min": -0.30000000000000004}}]}
  ])");
  const auto s = open_tensor_source(dir + "/weights_manifest.json");
  EXPECT_EQ(s->format(), "tfjs weights manifest");
  ASSERT_EQ(s->tensors().size(), 9u);

  const auto& c = find(*s, "c/filters");
  EXPECT_EQ(c.shape, (std::vector<std::int64_t>{4, 3, 2, 2}));
  EXPECT_EQ(c.stored_shape, (std::vector<std::int64_t>{2, 2, 3, 4}));
  EXPECT_EQ(c.stored_layout, "HWIO");
  EXPECT_TRUE(c.canonical && c.floating);
  EXPECT_EQ(c.dtype, "float32");
  const auto cv = s->read(c);
  ASSERT_EQ(cv.size(), 48u);
  for (int o = 0; o < 4; ++o)
    for (int i = 0; i < 3; ++i)
      for (int h = 0; h < 2; ++h)
        for (int w = 0; w < 2; ++w)
          EXPECT_EQ(cv[((o * 3 + i) * 2 + h) * 2 + w], k[((h * 2 + w) * 3 + i) * 4 + o]);
  const auto bv = s->read(find(*s, "c/bias"));
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(bv[i], static_cast<double>(bias[i]));
  EXPECT_FALSE(find(*s, "c/bias").canonical);
  const auto& it = find(*s, "ints");
  EXPECT_FALSE(it.floating);
  EXPECT_EQ(s->read(it), (std::vector<double>{7, -8, 2147483647}));
  EXPECT_EQ(s->read(find(*s, "flags")), (std::vector<double>{1, 0, 1}));

  const auto& h = find(*s, "h");
  EXPECT_EQ(h.dtype, "float16 (quantised float32)");
  EXPECT_TRUE(h.floating);
  EXPECT_EQ(s->read(h), (std::vector<double>{1.0, -2.0, 0.333251953125, 65504.0, std::ldexp(1.0, -24)}));

  const auto& d8 = find(*s, "d8");
  EXPECT_EQ(d8.dtype, "uint8 (quantised float32)");
  EXPECT_EQ(d8.shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(d8.stored_layout, "in x out");
  // tfjs-core: Float32Array[i] = q * scale + min, in doubles, product rounded before the sum (no FMA).
  const auto tfjs_value = [](double q, double scale, double min) {
    volatile double p = q * scale;
    return static_cast<double>(static_cast<float>(p + min));
  };
  const auto v8 = s->read(d8);
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 3; ++i) EXPECT_EQ(v8[o * 3 + i], tfjs_value(q8[i * 2 + o], 0.0123, -1.1));
  const auto v16 = s->read(find(*s, "d16"));
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ(v16[i], tfjs_value(q16[i], 3.1e-5, -0.7));
  EXPECT_EQ(find(*s, "d16").dtype, "uint16 (quantised float32)");
  const auto& qi_e = find(*s, "qi");
  EXPECT_FALSE(qi_e.floating);
  EXPECT_EQ(s->read(qi_e), (std::vector<double>{-1, 0, 2}));  // Math.round(q * 0.25 - 1) of -1, -0.5, 1.5

  // 3 * 0.1 rounds to 0.30000000000000004 = -min: tfjs gives exactly 0 (a fused multiply-add would not).
  EXPECT_EQ(s->read(find(*s, "z")), std::vector<double>{0.0});

  // read() from several threads at once gives the same values.
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] { ok[t] = s->read(c) == cv && s->read(d8) == v8 ? 1 : 0; });
  for (auto& t : threads) t.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(ok[t], 1);
}

TEST(TfjsSource, LayersModelUsesTheTopologyForLayouts) {
  const std::string dir = test_dir();
  const auto conv = iota_f(2 * 3 * 2 * 5);   // Conv2D kernel (2, 3, 2, 5)
  const auto dw = iota_f(3 * 3 * 4 * 2);     // DepthwiseConv2D (3, 3, 4, 2)
  const auto c1 = iota_f(3 * 2 * 4);         // Conv1D (3, 2, 4)
  const auto dense = iota_f(6 * 7);          // Dense (6, 7)
  const auto emb = iota_f(5 * 3);            // Embedding (5, 3)
  const auto other = iota_f(2 * 2);          // a 2-D weight of a layer class with no known layout
  write_bytes(dir + "/group1-shard1of1.bin", raw(conv) + raw(dw) + raw(c1) + raw(dense) + raw(emb) + raw(other));
  write_bytes(dir + "/model.json", R"({"format": "layers-model", "generatedBy": "test", "modelTopology": {
    "class_name": "Sequential", "config": {"name": "seq", "layers": [
      {"class_name": "Conv2D", "config": {"name": "conv2d_1"}},
      {"class_name": "DepthwiseConv2D", "config": {"name": "dw"}},
      {"class_name": "Conv1D", "config": {"name": "c1"}},
      {"class_name": "Dense", "config": {"name": "dense_Dense1"}},
      {"class_name": "Embedding", "config": {"name": "emb"}},
      {"class_name": "MysteryLayer", "config": {"name": "mystery"}}]}},
    "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": [
      {"name": "conv2d_1/kernel", "shape": [2, 3, 2, 5], "dtype": "float32"},
      {"name": "dw/depthwise_kernel", "shape": [3, 3, 4, 2], "dtype": "float32"},
      {"name": "c1/kernel", "shape": [3, 2, 4], "dtype": "float32"},
      {"name": "seq/dense_Dense1/kernel", "shape": [6, 7], "dtype": "float32"},
      {"name": "emb/embeddings", "shape": [5, 3], "dtype": "float32"},
      {"name": "mystery/kernel", "shape": [2, 2], "dtype": "float32"}]}]})");
  const auto s = open_tensor_source(dir);  // the directory: open_tensor_source finds model.json
  EXPECT_EQ(s->format(), "tfjs layers-model");

  const auto& ce = find(*s, "conv2d_1/kernel");
  EXPECT_EQ(ce.op, "Conv2D");
  EXPECT_EQ(ce.shape, (std::vector<std::int64_t>{5, 2, 2, 3}));
  const auto cv = s->read(ce);
  for (int o = 0; o < 5; ++o)
    for (int i = 0; i < 2; ++i)
      for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x) EXPECT_EQ(cv[((o * 2 + i) * 2 + y) * 3 + x], conv[((y * 3 + x) * 2 + i) * 5 + o]);

  // Depthwise (kh, kw, in, mult) -> PyTorch (in * mult, 1, kh, kw): output channel c * mult + m.
  const auto& de = find(*s, "dw/depthwise_kernel");
  EXPECT_EQ(de.op, "DepthwiseConv2D");
  EXPECT_EQ(de.shape, (std::vector<std::int64_t>{8, 1, 3, 3}));
  const auto dv = s->read(de);
  for (int c = 0; c < 4; ++c)
    for (int m = 0; m < 2; ++m)
      for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 3; ++x) EXPECT_EQ(dv[((c * 2 + m) * 3 + y) * 3 + x], dw[((y * 3 + x) * 4 + c) * 2 + m]);

  const auto& c1e = find(*s, "c1/kernel");
  EXPECT_EQ(c1e.shape, (std::vector<std::int64_t>{4, 2, 3}));
  EXPECT_EQ(c1e.stored_layout, "k x in x out");
  const auto c1v = s->read(c1e);
  for (int o = 0; o < 4; ++o)
    for (int i = 0; i < 2; ++i)
      for (int kk = 0; kk < 3; ++kk) EXPECT_EQ(c1v[(o * 2 + i) * 3 + kk], c1[(kk * 2 + i) * 4 + o]);

  const auto& dd = find(*s, "seq/dense_Dense1/kernel");
  EXPECT_EQ(dd.op, "Dense");
  EXPECT_EQ(dd.shape, (std::vector<std::int64_t>{7, 6}));
  EXPECT_TRUE(dd.canonical);
  const auto dv2 = s->read(dd);
  for (int o = 0; o < 7; ++o)
    for (int i = 0; i < 6; ++i) EXPECT_EQ(dv2[o * 6 + i], dense[i * 7 + o]);

  const auto& ee = find(*s, "emb/embeddings");
  EXPECT_EQ(ee.shape, (std::vector<std::int64_t>{5, 3}));
  EXPECT_TRUE(ee.canonical);
  EXPECT_TRUE(ee.stored_shape.empty());
  EXPECT_EQ(s->read(ee), std::vector<double>(emb.begin(), emb.end()));

  const auto& me = find(*s, "mystery/kernel");  // the file says what layer, not what layout: as stored
  EXPECT_FALSE(me.canonical);
  EXPECT_EQ(me.op, "MysteryLayer");
  EXPECT_EQ(s->read(me), std::vector<double>(other.begin(), other.end()));
}

TEST(TfjsSource, OlderLayersModelWithWrappersAndNestedModels) {
  // tensorflowjs_converter's older layout: no "format", modelTopology.model_config; a functional model holding
  // a nested Sequential, SeparableConv2D, LSTM and TimeDistributed(Dense).
  const std::string dir = test_dir();
  const auto dwk = iota_f(3 * 3 * 2 * 1), pwk = iota_f(1 * 1 * 2 * 6), lk = iota_f(5 * 12), lr = iota_f(3 * 12),
             td = iota_f(4 * 2), inner = iota_f(6 * 4);
  write_bytes(dir + "/w.bin", raw(dwk) + raw(pwk) + raw(lk) + raw(lr) + raw(td) + raw(inner));
  write_bytes(dir + "/model.json", R"({"modelTopology": {"keras_version": "2.2.4", "backend": "tensorflow",
    "model_config": {"class_name": "Model", "config": {"name": "outer", "layers": [
      {"class_name": "SeparableConv2D", "config": {"name": "sep"}, "inbound_nodes": []},
      {"class_name": "LSTM", "config": {"name": "lstm"}},
      {"class_name": "TimeDistributed", "config": {"name": "td", "layer": {"class_name": "Dense",
                                                                       "config": {"name": "dense_in_td"}}}},
      {"class_name": "Sequential", "config": {"name": "inner", "layers": [
        {"class_name": "Dense", "config": {"name": "inner_dense"}}]}}]}}},
    "weightsManifest": [{"paths": ["w.bin"], "weights": [
      {"name": "sep/depthwise_kernel", "shape": [3, 3, 2, 1], "dtype": "float32"},
      {"name": "sep/pointwise_kernel", "shape": [1, 1, 2, 6], "dtype": "float32"},
      {"name": "lstm/kernel", "shape": [5, 12], "dtype": "float32"},
      {"name": "lstm/recurrent_kernel", "shape": [3, 12], "dtype": "float32"},
      {"name": "td/kernel", "shape": [4, 2], "dtype": "float32"},
      {"name": "inner/inner_dense/kernel", "shape": [6, 4], "dtype": "float32"}]}]})");
  const auto s = open_tensor_source(dir + "/model.json");
  EXPECT_EQ(s->format(), "tfjs layers-model");
  const auto shape = [&](const std::string& n) { return find(*s, n).shape; };
  const auto op = [&](const std::string& n) { return find(*s, n).op; };
  EXPECT_EQ(shape("sep/depthwise_kernel"), (std::vector<std::int64_t>{2, 1, 3, 3}));
  EXPECT_EQ(shape("sep/pointwise_kernel"), (std::vector<std::int64_t>{6, 2, 1, 1}));
  EXPECT_EQ(op("sep/pointwise_kernel"), "SeparableConv2D");
  EXPECT_EQ(shape("lstm/kernel"), (std::vector<std::int64_t>{12, 5}));
  EXPECT_EQ(shape("lstm/recurrent_kernel"), (std::vector<std::int64_t>{12, 3}));
  EXPECT_EQ(op("lstm/kernel"), "LSTM");
  EXPECT_EQ(shape("td/kernel"), (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(op("td/kernel"), "Dense");
  EXPECT_EQ(shape("inner/inner_dense/kernel"), (std::vector<std::int64_t>{4, 6}));
  EXPECT_EQ(op("inner/inner_dense/kernel"), "Dense");
  const auto v = s->read(find(*s, "lstm/recurrent_kernel"));
  for (int o = 0; o < 12; ++o)
    for (int i = 0; i < 3; ++i) EXPECT_EQ(v[o * 3 + i], lr[i * 12 + o]);
  for (const auto& t : s->tensors()) EXPECT_TRUE(t.canonical) << t.name;
}

TEST(TfjsSource, GraphModelUsesTheConsumingOps) {
  const std::string dir = test_dir();
  const auto f = iota_f(1 * 1 * 3 * 2), m = iota_f(4 * 3), mt = iota_f(3 * 4), g = iota_f(2 * 2);
  write_bytes(dir + "/w.bin", raw(f) + raw(m) + raw(mt) + raw(g) + raw(g));
  write_bytes(dir + "/model.json", R"({"format": "graph-model", "modelTopology": {"node": [
      {"name": "x", "op": "Placeholder"},
      {"name": "filt", "op": "Const"}, {"name": "mat", "op": "Const"}, {"name": "matT", "op": "Const"},
      {"name": "conv", "op": "Conv2D", "input": ["x", "filt"]},
      {"name": "mm", "op": "MatMul", "input": ["conv", "mat:0"]},
      {"name": "mm2", "op": "MatMul", "input": ["mm", "matT"], "attr": {"transpose_b": {"b": true}}},
      {"name": "emb", "op": "GatherV2", "input": ["table", "ids", "axis"]}]},
    "weightsManifest": [{"paths": ["w.bin"], "weights": [
      {"name": "filt", "shape": [1, 1, 3, 2], "dtype": "float32"},
      {"name": "mat", "shape": [4, 3], "dtype": "float32"},
      {"name": "matT", "shape": [3, 4], "dtype": "float32"},
      {"name": "guess", "shape": [2, 2], "dtype": "float32"},
      {"name": "table", "shape": [2, 2], "dtype": "float32"}]}]})");
  const auto s = open_tensor_source(dir + "/model.json");
  EXPECT_EQ(s->format(), "tfjs graph-model");
  EXPECT_EQ(find(*s, "filt").op, "Conv2D");
  EXPECT_EQ(find(*s, "filt").shape, (std::vector<std::int64_t>{2, 3, 1, 1}));
  const auto& me = find(*s, "mat");
  EXPECT_EQ(me.op, "MatMul");
  EXPECT_EQ(me.shape, (std::vector<std::int64_t>{3, 4}));
  const auto mv = s->read(me);
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < 4; ++i) EXPECT_EQ(mv[o * 4 + i], m[i * 3 + o]);
  const auto& te = find(*s, "matT");  // transpose_b: stored out x in already
  EXPECT_TRUE(te.canonical);
  EXPECT_EQ(te.shape, (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(s->read(te), std::vector<double>(mt.begin(), mt.end()));
  const auto& ge = find(*s, "guess");  // no consumer: TF's convention by rank, op left empty
  EXPECT_TRUE(ge.op.empty());
  EXPECT_EQ(ge.stored_layout, "in x out");
  const auto& tb = find(*s, "table");  // GatherV2's first input: an embedding, (vocab, dim) as stored
  EXPECT_EQ(tb.op, "GatherV2");
  EXPECT_TRUE(tb.canonical);
  EXPECT_TRUE(tb.stored_shape.empty());
  EXPECT_EQ(s->read(tb), std::vector<double>(g.begin(), g.end()));
}

TEST(TfjsSource, StringWeightsAreListedNotRead) {
  const std::string dir = test_dir();
  std::string bytes;
  for (const std::string s : {"ab", "", "xyz"}) {
    const auto n = static_cast<std::uint32_t>(s.size());
    bytes += std::string(reinterpret_cast<const char*>(&n), 4) + s;
  }
  bytes += raw(std::vector<float>{2.5f});
  write_bytes(dir + "/s.bin", bytes);
  write_bytes(dir + "/m.json", R"([{"paths": ["s.bin"], "weights": [
      {"name": "vocab", "shape": [3], "dtype": "string"}, {"name": "x", "shape": [], "dtype": "float32"}]}])");
  const auto s = open_tensor_source(dir + "/m.json");
  ASSERT_EQ(s->tensors().size(), 2u);
  EXPECT_FALSE(s->tensors()[0].floating);
  EXPECT_NE(s->tensors()[0].dtype.find("string"), std::string::npos);
  EXPECT_EQ(s->read(s->tensors()[1]), std::vector<double>{2.5});
  EXPECT_THROW(s->read(s->tensors()[0]), Error);
}

TEST(TfjsSource, NumpyWrittenShardsAgree) {
  // NumPy writes the shards and computes the expected values itself (float16 -> float32, and the uint8
  // dequantisation in float64 rounded to float32, as tfjs-core does); the reader must match bit for bit.
  const std::string dir = test_dir();
  const std::string script = R"(
import numpy as np, json, sys
d = sys.argv[1]
rng = np.random.default_rng(3)
w = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
h = rng.standard_normal(17).astype(np.float16)
q = rng.integers(0, 256, size=(6, 4), dtype=np.uint8)
scale, mn = 0.00731, -0.9137
open(d + '/a.bin', 'wb').write(w.tobytes() + h.tobytes()[:10])
open(d + '/b.bin', 'wb').write(h.tobytes()[10:] + q.tobytes())
json.dump([{'paths': ['a.bin', 'b.bin'], 'weights': [
  {'name': 'w', 'shape': [3, 3, 4, 5], 'dtype': 'float32'},
  {'name': 'h', 'shape': [17], 'dtype': 'float32', 'quantization': {'dtype': 'float16'}},
  {'name': 'q', 'shape': [6, 4], 'dtype': 'float32', 'quantization': {'dtype': 'uint8', 'scale': scale, 'min': mn}}]}],
  open(d + '/m.json', 'w'))
np.array(w.transpose(3, 2, 0, 1), dtype=np.float64).tofile(d + '/w.f64')
np.array(h.astype(np.float32), dtype=np.float64).tofile(d + '/h.f64')
np.array((q.astype(np.float64) * scale + mn).astype(np.float32).T, dtype=np.float64).tofile(d + '/q.f64')
)";
  write_bytes(dir + "/make.py", script);
  if (std::system(("/usr/bin/python3 " + dir + "/make.py " + dir).c_str()) != 0) FAIL() << "make.py failed (scripts/setup.sh installs python3-numpy)";
  const auto s = open_tensor_source(dir + "/m.json");
  for (const std::string name : {"w", "h", "q"}) {
    const std::string b = testing::read_bytes(dir + "/" + name + ".f64");
    std::vector<double> expect(b.size() / 8);
    std::memcpy(expect.data(), b.data(), b.size());
    EXPECT_EQ(s->read(find(*s, name)), expect) << name;
  }
}

TEST(TfjsSource, MalformedManifestsGiveOneClearError) {
  const std::string dir = test_dir();
  write_bytes(dir + "/ok.bin", raw(iota_f(6)));  // 24 bytes
  write_bytes(dir + "/short.bin", raw(iota_f(6)).substr(0, 23));
  write_bytes(dir + "/long.bin", raw(iota_f(7)));
  const auto manifest = [&](const std::string& name, const std::string& weights, const std::string& paths = "\"ok.bin\"") {
    const std::string p = dir + "/" + name;
    write_bytes(p, "[{\"paths\": [" + paths + "], \"weights\": [" + weights + "]}]");
    return p;
  };
  const std::string w6 = R"({"name": "w", "shape": [2, 3], "dtype": "float32"})";
  expect_error(manifest("truncated.json", w6, "\"short.bin\""), "needs bytes [0, 24)");
  expect_error(manifest("missing.json", w6, "\"nope.bin\""), "cannot be opened");
  expect_error(manifest("toolong.json", w6, "\"long.bin\""), "shard too long");
  expect_error(manifest("traversal.json", w6, "\"../ok.bin\""), "not a plain file name");
  expect_error(manifest("subdir.json", w6, "\"x/ok.bin\""), "not a plain file name");
  expect_error(manifest("absolute.json", w6, "\"/etc/passwd\""), "not a plain file name");
  expect_error(manifest("dotdot.json", w6, "\"..\""), "not a plain file name");
  expect_error(manifest("absurd.json", R"({"name": "w", "shape": [4294967296, 4294967296, 4], "dtype": "float32"})"),
               "absurd shape");
  expect_error(manifest("huge.json", R"({"name": "w", "shape": [1000000, 1000000], "dtype": "float32"})"),
               "needs bytes [0, 4000000000000)");
  expect_error(manifest("negative.json", R"({"name": "w", "shape": [-2, -3], "dtype": "float32"})"),
               "non-negative integers");
  expect_error(manifest("fractional.json", R"({"name": "w", "shape": [2.5, 3], "dtype": "float32"})"),
               "non-negative integers");
  expect_error(manifest("noscale.json",
                        R"({"name": "w", "shape": [24], "dtype": "float32", "quantization": {"dtype": "uint8", "min": 0}})"),
               "needs \"scale\" and \"min\"");
  expect_error(manifest("textscale.json", R"({"name": "w", "shape": [24], "dtype": "float32",
                        "quantization": {"dtype": "uint8", "scale": "0.1", "min": 0}})"),
               "must be numbers");
  expect_error(manifest("qdtype.json", R"({"name": "w", "shape": [24], "dtype": "float32",
                        "quantization": {"dtype": "int4", "scale": 1, "min": 0}})"),
               "unsupported quantisation dtype");
  expect_error(manifest("f16int.json",
                        R"({"name": "w", "shape": [12], "dtype": "int32", "quantization": {"dtype": "float16"}})"),
               "float16 quantisation of a int32");
  expect_error(manifest("dtype.json", R"({"name": "w", "shape": [3], "dtype": "complex64"})"), "unsupported dtype");
  expect_error(manifest("shapetext.json", R"({"name": "w", "shape": "2x3", "dtype": "float32"})"),
               "\"shape\" must be an array");
  expect_error(manifest("noname.json", R"({"shape": [6], "dtype": "float32"})"), "no \"name\"");
  expect_error(manifest("dup.json", R"({"name": "w", "shape": [3], "dtype": "float32"},
                                       {"name": "w", "shape": [3], "dtype": "float32"})"),
               "duplicate weight name");
  expect_error(manifest("overflow.json", R"({"name": "a", "shape": [6], "dtype": "float32"},
                                            {"name": "b", "shape": [1], "dtype": "float32"})"),
               "needs bytes [24, 28)");
  expect_error(manifest("bigrank.json", R"({"name": "w", "shape": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1], "dtype": "float32"})"),
               "dimensions");
  expect_error(manifest("strings.json", R"({"name": "s", "shape": [1000000000], "dtype": "string"})"),
               "string weight 's'");
  write_bytes(dir + "/notjson.json", "[{\"paths\": [");
  expect_error(dir + "/notjson.json", "not valid JSON");
  write_bytes(dir + "/number.json", "42");
  expect_error(dir + "/number.json", "a number");
  write_bytes(dir + "/nomanifest.json", R"({"format": "layers-model", "modelTopology": {}})");
  expect_error(dir + "/nomanifest.json", "without \"weightsManifest\"");
  write_bytes(dir + "/badgroups.json", R"({"format": "graph-model", "weightsManifest": {"paths": []}})");
  expect_error(dir + "/badgroups.json", "must be an array of groups");
  write_bytes(dir + "/badgroup.json", R"([{"weights": []}])");
  expect_error(dir + "/badgroup.json", "no \"paths\" array");
  write_bytes(dir + "/badformat.json", R"({"format": "saved-model", "weightsManifest": []})");
  expect_error(dir + "/badformat.json", "unknown TF.js format");
  fs::create_directories(dir + "/adir.bin");
  expect_error(manifest("dirshard.json", w6, "\"adir.bin\""), "not a regular file");
  // An empty manifest is valid and holds no tensors.
  write_bytes(dir + "/empty.json", "[]");
  EXPECT_TRUE(open_tensor_source(dir + "/empty.json")->tensors().empty());
}

TEST(TfjsSource, TruncatedManifestTextNeverCrashes) {
  const std::string dir = test_dir();
  write_bytes(dir + "/ok.bin", raw(iota_f(6)) + std::string(3, '\x07'));
  const std::string text = R"([{"paths": ["ok.bin"], "weights": [{"name": "w", "shape": [2, 3], "dtype": "float32"},
    {"name": "q", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}}]}])";
  write_bytes(dir + "/full.json", text);
  EXPECT_EQ(open_tensor_source(dir + "/full.json")->tensors().size(), 2u);
  for (std::size_t cut = 0; cut < text.size(); ++cut) {
    const std::string p = dir + "/cut.json";
    write_bytes(p, text.substr(0, cut));
    try {
      auto s = open_tensor_source(p);
      for (const auto& t : s->tensors()) s->read(t);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.json"), std::string::npos) << e.what();
    }
  }
  // The shard cut at every length, or one byte too long: refused when opened, naming the manifest.
  const std::string shard = testing::read_bytes(dir + "/ok.bin");
  for (std::size_t cut = 0; cut <= shard.size(); ++cut) {
    write_bytes(dir + "/ok.bin", cut == shard.size() ? shard + "x" : shard.substr(0, cut));
    expect_error(dir + "/full.json", cut == shard.size() ? "shard too long" : "shards hold");
  }
}

TEST(TfjsSource, BareManifestKeepsEmbeddingTablesAsStored) {
  // By rank, a 2-D weight is a dense kernel (in x out, transposed), but an embedding table is (vocab, dim) in
  // TensorFlow as in PyTorch and stays as stored.
  const std::string dir = test_dir();
  const auto v = iota_f(12);
  write_bytes(dir + "/e.bin", raw(v) + raw(v));
  write_bytes(dir + "/e.json", R"([{"paths": ["e.bin"], "weights": [
      {"name": "tok/embeddings", "shape": [4, 3], "dtype": "float32"},
      {"name": "fc/kernel", "shape": [4, 3], "dtype": "float32"}]}])");
  const auto s = open_tensor_source(dir + "/e.json");
  const auto& e = find(*s, "tok/embeddings");
  EXPECT_EQ(e.shape, (std::vector<std::int64_t>{4, 3}));
  EXPECT_TRUE(e.stored_shape.empty());
  const std::vector<double> as_stored(v.begin(), v.end());
  EXPECT_EQ(s->read(e), as_stored);
  const auto& k = find(*s, "fc/kernel");
  EXPECT_EQ(k.shape, (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(s->read(k)[1], static_cast<double>(v[3]));  // out 0, in 1 = stored (in 1, out 0)
}

}  // namespace
}  // namespace onsager
