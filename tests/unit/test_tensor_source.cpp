// Tensor sources and layer planning: .npy bytes assembled by hand, .npz archives written by NumPy itself
// (an independent writer) and by onsager, sharded safetensors directories; truncated, inconsistent and
// hostile files that must give one clear error; conv slicing against direct indexing; and the analysis
// pipeline giving the same answer for any thread count.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "io/npy.hpp"
#include "onsager/io/safetensors.hpp"
#include "onsager/io/tensor_source.hpp"
#include "onsager/spectral/analyze.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;

using testing::read_bytes;
using testing::write_bytes;

std::string test_dir() { return testing::test_dir("tensor_source"); }

// .npy v1 bytes assembled by hand from a header dict and raw data.
std::string npy_bytes(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string b("\x93NUMPY\x01\x00", 8);
  b.push_back(static_cast<char>(header.size() & 0xFF));
  b.push_back(static_cast<char>(header.size() >> 8));
  return b + header + data;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)};
}

void expect_error(const std::string& path, const std::string& fragment) {
  try {
    auto s = open_tensor_source(path);
    for (const auto& t : s->tensors()) s->read(t);
    ADD_FAILURE() << path << ": accepted, expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(NpySource, HandBuiltFilesOfEachFloatType) {
  const std::string dir = test_dir();
  const std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -8.5f};
  write_bytes(dir + "/a.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", raw(f)));
  const std::vector<std::uint16_t> h = {0x3C00, 0xC000, 0x3555, 0x0001};  // 1, -2, 0.333251953125, 2^-24
  write_bytes(dir + "/h.npy", npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), }", raw(h)));
  auto a = open_tensor_source(dir + "/a.npy");
  ASSERT_EQ(a->tensors().size(), 1u);
  EXPECT_EQ(a->tensors()[0].name, "a");
  EXPECT_EQ(a->tensors()[0].shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(a->tensors()[0].floating);
  EXPECT_EQ(a->read(a->tensors()[0]), (std::vector<double>{1.5, -2.0, 3.25, 0.0, 7.0, -8.5}));
  auto hs = open_tensor_source(dir + "/h.npy");
  EXPECT_EQ(hs->read(hs->tensors()[0]), (std::vector<double>{1.0, -2.0, 0.333251953125, std::ldexp(1.0, -24)}));
}

TEST(NpySource, CorruptFilesGiveOneClearError) {
  const std::string dir = test_dir();
  const std::vector<double> d(6, 1.0);
  const std::string good = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", raw(d));
  write_bytes(dir + "/trunc.npy", good.substr(0, good.size() - 5));
  expect_error(dir + "/trunc.npy", "truncated");
  write_bytes(dir + "/extra.npy", good + "xx");
  expect_error(dir + "/extra.npy", "unexpected bytes");
  write_bytes(dir + "/huge.npy",
              npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (4000000000, 4000000000), }", raw(d)));
  expect_error(dir + "/huge.npy", "truncated");
  std::string bad_len = good;
  bad_len[8] = '\xff';
  bad_len[9] = '\xff';
  write_bytes(dir + "/hdr.npy", bad_len);
  expect_error(dir + "/hdr.npy", "header");
  write_bytes(dir + "/fortran.npy", npy_bytes("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", raw(d)));
  expect_error(dir + "/fortran.npy", "Fortran");
  write_bytes(dir + "/magic.npy", "hello world, not numpy");
  expect_error(dir + "/magic.npy", "magic");
  // Every truncation of a valid file is refused without crashing.
  for (std::size_t n = 0; n < good.size(); n += 7) {
    write_bytes(dir + "/cut.npy", good.substr(0, n));
    EXPECT_THROW(open_tensor_source(dir + "/cut.npy")->read({}), Error) << n;
  }
}

TEST(NpzSource, OnsagerWriterRoundTripsStoredAndDeflated) {
  const std::string dir = test_dir();
  std::vector<double> w(12), b(3);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(static_cast<double>(i));
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = 0.5 * static_cast<double>(i);
  for (bool compress : {false, true}) {
    const std::string path = dir + (compress ? "/c.npz" : "/s.npz");
    write_npz(path, {{"layer.weight", {4, 3}, w}, {"layer.bias", {3}, b}}, compress);
    auto s = open_tensor_source(path);
    EXPECT_EQ(s->format(), "npz");
    ASSERT_EQ(s->tensors().size(), 2u);
    EXPECT_EQ(s->tensors()[0].name, "layer.weight");
    EXPECT_EQ(s->tensors()[0].shape, (std::vector<std::int64_t>{4, 3}));
    EXPECT_EQ(s->read(s->tensors()[0]), w);
    EXPECT_EQ(s->read(s->tensors()[1]), b);
  }
}

TEST(NpzSource, CorruptArchivesGiveOneClearError) {
  const std::string dir = test_dir();
  std::vector<double> w(64);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<double>(i);
  for (bool compress : {false, true}) {
    const std::string path = dir + "/ok.npz";
    write_npz(path, {{"w", {8, 8}, w}}, compress);
    const std::string good = read_bytes(path);
    // Every truncation and many single-byte flips: an error or (for flips in unchecked fields) a clean read.
    for (std::size_t n = 0; n < good.size(); n += 3) {
      write_bytes(dir + "/cut.npz", good.substr(0, n));
      EXPECT_THROW(
          {
            auto s = open_tensor_source(dir + "/cut.npz");
            for (const auto& t : s->tensors()) s->read(t);
          },
          Error)
          << "truncated to " << n;
    }
    for (std::size_t k = 0; k < good.size(); k += 5) {
      std::string flipped = good;
      flipped[k] = static_cast<char>(flipped[k] ^ 0x5A);
      write_bytes(dir + "/flip.npz", flipped);
      try {
        auto s = open_tensor_source(dir + "/flip.npz");
        for (const auto& t : s->tensors()) s->read(t);
      } catch (const Error&) {
      }
    }
    // A data byte flipped: the CRC catches it (stored) or inflate/CRC does (deflated).
    std::string bad = good;
    const std::size_t at = compress ? 45 : 400;  // inside the deflate stream / the array data (after 30 + 5 + 128)
    bad[at] = static_cast<char>(bad[at] ^ 1);
    write_bytes(dir + "/crc.npz", bad);
    expect_error(dir + "/crc.npz", compress ? "" : "CRC");
  }
}

TEST(NpzSource, LyingSizesAreRefusedWithoutHugeAllocations) {
  const std::string dir = test_dir();
  std::vector<double> w(4096, 0.0);  // compresses ~1000:1
  write_npz(dir + "/ok.npz", {{"w", {64, 64}, w}}, true);
  const std::string good = read_bytes(dir + "/ok.npz");
  const auto le32_at = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(good[at + i])} << (8 * i);
    return v;
  };
  const std::size_t cd = le32_at(good.size() - 22 + 16);
  const std::uint32_t packed = le32_at(cd + 20);
  const auto with_size = [&](std::uint32_t size) {
    std::string b = good;
    for (int i = 0; i < 4; ++i) b[cd + 24 + i] = static_cast<char>((size >> (8 * i)) & 0xFF);
    return b;
  };
  // Within deflate's 1032:1 limit but larger than the stream: refused once the stream ends.
  write_bytes(dir + "/more.npz", with_size(packed * 1000));
  expect_error(dir + "/more.npz", "bytes");
  // Beyond any deflate ratio: refused when the directory is read.
  write_bytes(dir + "/ratio.npz", with_size(0xFFFFFFF0u));
  expect_error(dir + "/ratio.npz", "claims");
}

TEST(NpzSource, NumpyWrittenArchivesAgree) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    ONSAGER_MISSING("/usr/bin/python3 with numpy is not available (scripts/setup.sh installs python3-numpy)");
  const std::string dir = test_dir();
  const std::string script =
      "import numpy as np\n"
      "a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 8\n"
      "b = (np.arange(6, dtype=np.float64) - 2.5).reshape(3, 2)\n"
      "h = np.array([[1, -2], [0.5, 65504]], dtype=np.float16)\n"
      "np.savez('" + dir + "/s.npz', a=a, b=b, h=h)\n"
      "np.savez_compressed('" + dir + "/c.npz', a=a, b=b, h=h)\n"
      "np.save('" + dir + "/one.npy', b)\n";
  write_bytes(dir + "/w.py", script);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + dir + "/w.py").c_str()), 0);
  for (const char* name : {"/s.npz", "/c.npz"}) {
    auto s = open_tensor_source(dir + name);
    ASSERT_EQ(s->tensors().size(), 3u) << name;
    EXPECT_EQ(s->tensors()[0].name, "a");
    EXPECT_EQ(s->tensors()[0].shape, (std::vector<std::int64_t>{2, 3, 4}));
    const auto a = s->read(s->tensors()[0]);
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], static_cast<double>(i) / 8) << name;
    EXPECT_EQ(s->read(s->tensors()[1]), (std::vector<double>{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5}));
    EXPECT_EQ(s->read(s->tensors()[2]), (std::vector<double>{1, -2, 0.5, 65504}));
  }
  auto one = open_tensor_source(dir + "/one.npy");
  EXPECT_EQ(one->tensors()[0].name, "one");
  EXPECT_EQ(one->read(one->tensors()[0]), (std::vector<double>{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5}));
}

TEST(ShardedSource, IndexAndShardsReadLikeOneFile) {
  const std::string dir = test_dir();
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {7, 8};
  write_safetensors(dir + "/model-00001-of-00002.safetensors", {{"l0.weight", {2, 3}, a, {}}});
  write_safetensors(dir + "/model-00002-of-00002.safetensors", {{"l1.bias", {2}, b, {}}});
  write_bytes(dir + "/model.safetensors.index.json",
              R"({"metadata": {"total_size": 32}, "weight_map": {"l0.weight": "model-00001-of-00002.safetensors",
                  "l1.bias": "model-00002-of-00002.safetensors"}})");
  for (const std::string& p : {dir, dir + "/model.safetensors.index.json"}) {
    auto s = open_tensor_source(p);
    EXPECT_EQ(s->format(), "safetensors (2 shards)");
    ASSERT_EQ(s->tensors().size(), 2u);
    EXPECT_EQ(s->tensors()[0].name, "l0.weight");
    EXPECT_EQ(s->read(s->tensors()[0]), (std::vector<double>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(s->read(s->tensors()[1]), (std::vector<double>{7, 8}));
  }
  write_bytes(dir + "/missing.index.json", R"({"weight_map": {"nope": "model-00001-of-00002.safetensors"}})");
  expect_error(dir + "/missing.index.json", "does not hold it");
  write_bytes(dir + "/escape.index.json", R"({"weight_map": {"l0.weight": "../model-00001-of-00002.safetensors"}})");
  expect_error(dir + "/escape.index.json", "not a plain file name");
  write_bytes(dir + "/nomap.index.json", R"({"metadata": {}})");
  expect_error(dir + "/nomap.index.json", "weight_map");
  write_bytes(dir + "/broken.index.json", R"({"weight_map": {"l0.weight": )");
  expect_error(dir + "/broken.index.json", "JSON");
  fs::create_directories(dir + "/single");
  write_safetensors(dir + "/single/model.safetensors", {{"w", {2, 3}, a, {}}});
  auto single = open_tensor_source(dir + "/single");
  EXPECT_EQ(single->format(), "safetensors");
  EXPECT_EQ(single->read(single->tensors()[0]), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  fs::create_directories(dir + "/empty");
  expect_error(dir + "/empty", "model.safetensors");
  expect_error(dir + "/nothing-here", "no such file");
}

std::vector<TensorEntry> entries(const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& specs) {
  std::vector<TensorEntry> out;
  for (const auto& [name, shape] : specs) {
    TensorEntry e;
    e.name = name, e.shape = shape, e.dtype = "F32", e.floating = true, e.index = out.size();
    out.push_back(std::move(e));
  }
  return out;
}

TEST(Layers, CanonicalTensorsIgnoreConvLayoutAndRecurrentWeightsAreOneMatrixPerDirection) {
  // A reader that put a conv weight into PyTorch's layout marks it canonical: --conv-layout hwio must not
  // re-slice it. An ONNX LSTM weight (gates * hidden, input, directions) is a recurrent layer, one slice per
  // direction.
  auto t = entries({{"conv", {16, 8, 3, 3}}, {"raw", {3, 3, 8, 16}}, {"lstm", {256, 64, 2}}});
  t[0].canonical = true;
  t[2].canonical = true, t[2].op = "LSTM";
  LayerSelection sel;
  sel.conv_layout = ConvLayout::hwio;
  const LayerPlan p = plan_layers(t, sel);
  ASSERT_EQ(p.layers.size(), 3u);
  EXPECT_EQ(p.layers[0].layout, ConvLayout::oihw);
  EXPECT_EQ(p.layers[0].rows, 16u);
  EXPECT_EQ(p.layers[0].cols, 8u);
  EXPECT_EQ(p.layers[0].slices.size(), 9u);
  EXPECT_EQ(p.layers[1].layout, ConvLayout::hwio);  // not canonical: the user's layout applies
  EXPECT_EQ(p.layers[1].rows, 8u);
  EXPECT_EQ(p.layers[1].cols, 16u);
  EXPECT_EQ(p.layers[2].kind, "recurrent");
  EXPECT_EQ(p.layers[2].rows, 256u);
  EXPECT_EQ(p.layers[2].cols, 64u);
  EXPECT_EQ(p.layers[2].slices.size(), 2u);
}

TEST(TensorSource, PermuteAxesMatchesDirectIndexing) {
  // (2, 3, 4) -> axes (2, 0, 1): out[k][i][j] = in[i][j][k].
  std::vector<double> v(24);
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<double>(k);
  const auto out = permute_axes(v, {2, 3, 4}, {2, 0, 1});
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 4; ++k) EXPECT_EQ(out[(k * 2 + i) * 3 + j], v[(i * 3 + j) * 4 + k]);
  EXPECT_EQ(permute_axes(v, {2, 3, 4}, {0, 1, 2}), v);
  EXPECT_THROW(permute_axes(v, {2, 3, 4}, {0, 0, 1}), onsager::Error);
  EXPECT_THROW(permute_axes(v, {2, 3, 5}, {0, 1, 2}), onsager::Error);
}

TEST(Layers, PlanFollowsTheRules) {
  auto t = entries({{"conv.weight", {16, 8, 3, 3}},
                    {"conv.bias", {16}},
                    {"fc.weight", {10, 64}},
                    {"tok_embeddings.weight", {1000, 64}},
                    {"tiny.weight", {3, 2}},
                    {"c1d.weight", {32, 16, 5}},
                    {"x5", {2, 2, 2, 2, 2}}});
  t.push_back({"ids", {20, 20}, "I64", false, t.size()});
  const LayerPlan p = plan_layers(t, {});
  ASSERT_EQ(p.layers.size(), 4u);
  EXPECT_EQ(p.layers[0].name, "conv.weight");
  EXPECT_EQ(p.layers[0].kind, "conv2d");
  EXPECT_EQ(p.layers[0].num_evals(), 8u * 9u);
  EXPECT_EQ(p.layers[1].kind, "dense");
  EXPECT_EQ(p.layers[2].kind, "embedding");
  EXPECT_EQ(p.layers[3].kind, "conv1d");
  EXPECT_EQ(p.layers[3].num_evals(), 16u * 5u);
  EXPECT_EQ(p.skipped.size(), 4u);  // bias, tiny (2 < 10 eigenvalues), rank 5, integer
  LayerSelection sel;
  sel.per_slice = true;
  sel.regex = "^conv";
  sel.min_evals = 1;
  const LayerPlan q = plan_layers(t, sel);
  ASSERT_EQ(q.layers.size(), 9u);
  EXPECT_EQ(q.layers[4].name, "conv.weight[1,1]");
  sel.regex = "(";
  EXPECT_THROW(plan_layers(t, sel), Error);
}

TEST(Layers, ConvSlicesMatchDirectIndexing) {
  const std::size_t o = 5, i = 4, kh = 3, kw = 2;
  std::vector<double> v(o * i * kh * kw);
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<double>(k);
  const auto t = entries({{"w", {5, 4, 3, 2}}});
  const LayerPlan p = plan_layers(t, {});
  for (std::size_t a = 0; a < kh; ++a)
    for (std::size_t b = 0; b < kw; ++b) {
      const auto m = layer_matrix(v, p.layers[0], a * kw + b);
      for (std::size_t r = 0; r < o; ++r)
        for (std::size_t c = 0; c < i; ++c)
          EXPECT_EQ(m[r * i + c], static_cast<double>(((r * i + c) * kh + a) * kw + b));
    }
  // Conv1D (out, in, k): slice a is W[:, :, a].
  const LayerPlan p1 = plan_layers(entries({{"c", {5, 4, 6}}}), {});
  ASSERT_EQ(p1.layers.size(), 1u);
  EXPECT_EQ(p1.layers[0].slices.size(), 6u);
  const std::vector<double> v1(v.begin(), v.begin() + 5 * 4 * 6);
  for (std::size_t a = 0; a < 6; ++a) {
    const auto m1 = layer_matrix(v1, p1.layers[0], a);
    for (std::size_t r = 0; r < o; ++r)
      for (std::size_t c = 0; c < i; ++c) EXPECT_EQ(m1[r * i + c], static_cast<double>((r * i + c) * 6 + a));
  }
  // Keras layout (kh, kw, in, out): slice (a, b) is the contiguous in x out block.
  LayerSelection sel;
  sel.conv_layout = ConvLayout::hwio;
  const LayerPlan k = plan_layers(entries({{"w", {3, 2, 4, 5}}}), sel);
  ASSERT_EQ(k.layers.size(), 1u);
  EXPECT_EQ(k.layers[0].rows, 4u);
  EXPECT_EQ(k.layers[0].cols, 5u);
  const auto m = layer_matrix(v, k.layers[0], 4);
  EXPECT_EQ(m[0], 4.0 * 20);
}

// The report with 1 thread, checked equal to the one with 2.
AnalyzeReport same_for_one_and_two_threads(const TensorSource& s, const AnalyzeOptions& o) {
  set_num_threads(1);
  AnalyzeReport r1 = analyze(s, "m", o);
  set_num_threads(2);
  const AnalyzeReport r2 = analyze(s, "m", o);
  set_num_threads(0);
  EXPECT_EQ(to_json(r1, true).dump(), to_json(r2, true).dump());
  return r1;
}

TEST(Analyze, SameReportForAnyThreadCountAndPooledConvEqualsSlices) {
  const std::string dir = test_dir();
  Rng rng(5);
  std::vector<float> a(300 * 120), c(64 * 32 * 3 * 3), z(100 * 50, 0.0f);
  for (auto& x : a) x = static_cast<float>(rng.normal());
  for (auto& x : c) x = static_cast<float>(rng.normal());
  write_safetensors(dir + "/m.safetensors",
                    {{"a.weight", {300, 120}, a, {}}, {"conv.weight", {64, 32, 3, 3}, c, {}}, {"zero.weight", {100, 50}, z, {}}});
  auto s = open_tensor_source(dir + "/m.safetensors");
  AnalyzeOptions o;
  o.randomize = true;
  o.keep_evals = true;
  const AnalyzeReport r1 = same_for_one_and_two_threads(*s, o);
  ASSERT_EQ(r1.layers.size(), 2u);
  EXPECT_EQ(r1.skipped.back().name, "zero.weight");
  // The pooled conv ESD is the union of the per-slice ESDs.
  o.selection.per_slice = true;
  o.selection.regex = "conv";
  const AnalyzeReport per = analyze(*s, "m", o);
  ASSERT_EQ(per.layers.size(), 9u);
  std::vector<double> all;
  for (const auto& l : per.layers) all.insert(all.end(), l.evals.begin(), l.evals.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), r1.layers[1].evals.size());
  for (std::size_t k = 0; k < all.size(); ++k) EXPECT_EQ(all[k], r1.layers[1].evals[k]);
  const std::string csv = to_csv(r1, true);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  EXPECT_EQ(csv.rfind("name,", 0), 0u);
}

TEST(TensorSource, BlocksOfASafetensorsTensorEqualItsValues) {
  const std::string dir = test_dir();
  Rng rng(8);
  std::vector<float> a(37 * 29);
  for (auto& x : a) x = static_cast<float>(rng.normal());
  write_safetensors(dir + "/b.safetensors", {{"a", {37, 29}, a, {}}, {"c", {6, 5, 2, 2}, std::span<const float>(a.data(), 120), {}}});
  auto s = open_tensor_source(dir + "/b.safetensors");
  const TensorEntry& e = s->tensors().at(0).name == "a" ? s->tensors()[0] : s->tensors()[1];
  const TensorEntry& c = s->tensors().at(0).name == "a" ? s->tensors()[1] : s->tensors()[0];
  std::vector<float> block(11 * 7);
  ASSERT_TRUE(s->read_block(e, 3, 11, 20, 7, block.data()));
  for (std::size_t r = 0; r < 11; ++r)
    for (std::size_t j = 0; j < 7; ++j) EXPECT_EQ(block[r * 7 + j], a[(3 + r) * 29 + 20 + j]) << r << "," << j;
  // A 4-D tensor is read as shape[0] x (the rest).
  std::vector<float> row(20);
  ASSERT_TRUE(s->read_block(c, 2, 1, 0, 20, row.data()));
  for (std::size_t j = 0; j < 20; ++j) EXPECT_EQ(row[j], a[40 + j]);
  EXPECT_THROW(s->read_block(e, 30, 8, 0, 1, block.data()), Error);
  EXPECT_THROW(s->read_block(e, 0, 1, 25, 5, block.data()), Error);
  // Sources without block reads say so.
  const std::vector<std::uint64_t> shape = {37, 29};
  write_npy_f64(dir + "/a.npy", shape, std::vector<double>(a.begin(), a.end()));
  auto npy = open_tensor_source(dir + "/a.npy");
  EXPECT_FALSE(npy->read_block(npy->tensors()[0], 0, 0, 0, 0, nullptr));
}

TEST(Analyze, SinglePrecisionKeepsTheDoubleRoutesAnswers) {
  // F32 weights: heavy-tailed tall and wide layers (several blocks each) stay in single precision; a square
  // layer and a rank-deficient product are done in double. Every layer's fit, rank and phase equal the double
  // route's, α within 1e-6 (relative), for any thread count.
  const std::string dir = test_dir();
  Rng rng(9);
  auto student = [&](std::size_t n) {
    std::vector<float> w(n);
    for (auto& x : w) {
      double z = 0;
      for (int k = 0; k < 3; ++k) z += rng.normal() * rng.normal();
      x = static_cast<float>(rng.normal() / std::sqrt(z * z / 3 + 1e-3) / 60);  // Student-t like, heavy tails
    }
    return w;
  };
  const std::vector<float> tall = student(9000 * 512), wide = student(512 * 9000), square = student(300 * 300);
  std::vector<float> lowrank(600 * 200, 0.0f);
  const std::vector<float> u = student(600 * 20), v = student(20 * 200);
  for (std::size_t i = 0; i < 600; ++i)
    for (std::size_t j = 0; j < 200; ++j)
      for (std::size_t k = 0; k < 20; ++k) lowrank[i * 200 + j] += u[i * 20 + k] * v[k * 200 + j];
  write_safetensors(dir + "/m.safetensors", {{"tall.weight", {9000, 512}, tall, {}},
                                             {"wide.weight", {512, 9000}, wide, {}},
                                             {"square.weight", {300, 300}, square, {}},
                                             {"lowrank.weight", {600, 200}, lowrank, {}}});
  auto s = open_tensor_source(dir + "/m.safetensors");
  AnalyzeOptions o;
  o.precision = EsdPrecision::f64;
  const AnalyzeReport ref = analyze(*s, "m", o);
  o.precision = EsdPrecision::automatic;
  const AnalyzeReport r1 = same_for_one_and_two_threads(*s, o);
  ASSERT_EQ(r1.layers.size(), 4u);
  std::map<std::string, std::string> expected = {
      {"tall.weight", "single"}, {"wide.weight", "single"}, {"square.weight", "double"}, {"lowrank.weight", "double"}};
  for (std::size_t k = 0; k < 4; ++k) {
    const LayerResult &a = r1.layers[k], &d = ref.layers[k];
    ASSERT_EQ(a.spec.name, d.spec.name);
    EXPECT_EQ(d.esd_precision, "double");
    EXPECT_EQ(a.esd_precision, expected[a.spec.name]) << a.spec.name;
    ASSERT_TRUE(d.powerlaw.valid) << d.spec.name;
    EXPECT_EQ(a.powerlaw.xmin_index, d.powerlaw.xmin_index) << a.spec.name;
    EXPECT_EQ(a.powerlaw.num_pl_spikes, d.powerlaw.num_pl_spikes) << a.spec.name;
    EXPECT_NEAR(a.powerlaw.alpha / d.powerlaw.alpha, 1.0, 1e-6) << a.spec.name;
    EXPECT_NEAR(a.metrics.lambda_max / d.metrics.lambda_max, 1.0, 1e-6) << a.spec.name;
    EXPECT_EQ(a.metrics.matrix_rank, d.metrics.matrix_rank) << a.spec.name;
    EXPECT_EQ(a.mp.num_spikes, d.mp.num_spikes) << a.spec.name;
    EXPECT_EQ(a.phase.phase, d.phase.phase) << a.spec.name;
  }
  EXPECT_EQ(r1.layers[3].metrics.rank_loss, 180u);  // the product has rank 20 of 200
  // Forced single precision keeps it everywhere; the rank-deficient product's zero eigenvalues then are noise.
  o.precision = EsdPrecision::f32;
  const AnalyzeReport single = analyze(*s, "m", o);
  for (const auto& l : single.layers) EXPECT_EQ(l.esd_precision, "single") << l.spec.name;
}

TEST(Analyze, LayersComeBackFromTheirJsonAndAJournalResumesARun) {
  const std::string dir = test_dir();
  Rng rng(10);
  std::vector<float> a(300 * 120), b(200 * 100), z(100 * 50, 0.0f), c(16 * 8 * 2 * 2);
  for (auto& x : a) x = static_cast<float>(rng.normal() * rng.normal());
  for (auto& x : b) x = static_cast<float>(rng.normal());
  for (auto& x : c) x = static_cast<float>(rng.normal());
  write_safetensors(dir + "/m.safetensors", {{"a.weight", {300, 120}, a, {}},
                                             {"zero.weight", {100, 50}, z, {}},
                                             {"b.weight", {200, 100}, b, {}},
                                             {"conv.weight", {16, 8, 2, 2}, c, {}}});
  auto s = open_tensor_source(dir + "/m.safetensors");
  AnalyzeOptions o;
  o.randomize = true;
  const AnalyzeReport full = analyze(*s, "m", o);
  ASSERT_EQ(full.layers.size(), 3u);
  for (const LayerResult& l : full.layers)
    EXPECT_EQ(to_json(layer_from_json(l.spec, to_json(l, true)), true).dump(), to_json(l, true).dump()) << l.spec.name;

  // A journal of the first two layers (one all zeros): the resumed run computes the rest, calls back only
  // for those, and reports what the uninterrupted run did; the journal then holds every layer.
  const std::string path = dir + "/j.jsonl";
  const LayerPlan plan = plan_layers(s->tensors(), o.selection);
  {
    AnalyzeJournal j(path, *s, o);
    EXPECT_TRUE(j.finished().empty());
    j.record(plan.layers[0], &full.layers[0]);
    j.record(plan.layers[1], nullptr);
  }
  std::vector<std::string> called;
  {
    AnalyzeJournal j(path, *s, o);
    ASSERT_EQ(j.finished().size(), 2u);
    EXPECT_FALSE(j.finished().at("zero.weight").has_value());
    const AnalyzeReport resumed = analyze(
        *s, "m", o, [&](std::size_t, std::size_t, const LayerResult* l) { called.push_back(l ? l->spec.name : "-"); },
        &j);
    EXPECT_EQ(to_json(resumed, true).dump(), to_json(full, true).dump());
  }
  std::sort(called.begin(), called.end());  // layers finish in any order
  EXPECT_EQ(called, (std::vector<std::string>{"b.weight", "conv.weight"}));
  EXPECT_EQ(AnalyzeJournal(path, *s, o).finished().size(), 4u);
  // Other options, another selection: refused, naming what differs.
  AnalyzeOptions other = o;
  other.seed = 7;
  try {
    AnalyzeJournal j(path, *s, other);
    ADD_FAILURE() << "a journal of another seed was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--seed 0 (now 7)"), std::string::npos) << e.what();
  }
  other = o;
  other.selection.regex = "^a";  // another layer selection
  EXPECT_THROW(AnalyzeJournal(path, *s, other), Error);
}

TEST(Analyze, SharedAmongPartsEveryLayerIsDoneOnceAndTheReportIsTheSingleProcessOne) {
  const std::string dir = test_dir();
  Rng rng(12);
  const std::size_t rows[] = {300, 80, 200, 120, 60};
  std::vector<std::vector<float>> values;
  for (std::size_t r : rows) {
    values.emplace_back(r * 50);
    for (auto& x : values.back()) x = static_cast<float>(rng.normal() * rng.normal());
  }
  values.emplace_back(16 * 12 * 3 * 3);
  for (auto& x : values.back()) x = static_cast<float>(rng.normal());
  values.emplace_back(100 * 40, 0.0f);
  std::vector<TensorToWrite> st;
  for (std::size_t t = 0; t < 5; ++t)
    st.push_back({"l" + std::to_string(t) + ".weight", {static_cast<std::int64_t>(rows[t]), 50}, values[t], {}});
  st.push_back({"conv.weight", {16, 12, 3, 3}, values[5], {}});
  st.push_back({"zero.weight", {100, 40}, values[6], {}});
  write_safetensors(dir + "/m.safetensors", st);
  auto s = open_tensor_source(dir + "/m.safetensors");
  AnalyzeOptions o;
  o.selection.per_slice = true;  // the conv's nine slices are one tensor: they must stay on one part
  o.selection.min_evals = 5;
  o.randomize = true;
  const AnalyzeReport whole = analyze(*s, "m", o);
  const LayerPlan plan = plan_layers(s->tensors(), o.selection);
  ASSERT_EQ(plan.layers.size(), 15u);

  // The split, against a naive longest-first assignment to the least-loaded part.
  for (std::size_t parts : {1u, 2u, 3u, 4u, 20u}) {
    const std::vector<std::size_t> owner = share_layers(plan, parts);
    ASSERT_EQ(owner.size(), plan.layers.size());
    std::map<std::size_t, std::set<std::size_t>> owners_of_tensor;
    for (std::size_t k = 0; k < plan.layers.size(); ++k) {
      EXPECT_LT(owner[k], parts);
      owners_of_tensor[plan.layers[k].tensor].insert(owner[k]);
    }
    for (const auto& [t, owners] : owners_of_tensor) EXPECT_EQ(owners.size(), 1u) << "tensor " << t << " split";
    std::map<std::size_t, double> tensor_cost;
    for (const LayerSpec& l : plan.layers)
      tensor_cost[l.tensor] += static_cast<double>(l.slices.size()) * (static_cast<double>(l.n() * l.m() * l.m()) +
                                                                       static_cast<double>(l.m() * l.m() * l.m()));
    std::vector<std::pair<double, std::size_t>> by_cost;  // (cost, tensor), costliest first, then file order
    for (const auto& [t, cost] : tensor_cost) by_cost.push_back({-cost, t});
    std::sort(by_cost.begin(), by_cost.end());
    std::vector<double> load(parts, 0.0);
    std::map<std::size_t, std::size_t> expected;
    for (const auto& [neg, t] : by_cost) {
      std::size_t least = 0;
      for (std::size_t p = 1; p < parts; ++p)
        if (load[p] < load[least]) least = p;
      load[least] -= neg;
      expected[t] = least;
    }
    for (std::size_t k = 0; k < plan.layers.size(); ++k) EXPECT_EQ(owner[k], expected[plan.layers[k].tensor]);

    // Each part computes its own layers only; together they give analyze()'s report.
    std::vector<std::optional<LayerResult>> results(plan.layers.size());
    std::vector<int> times(plan.layers.size(), 0);
    for (std::size_t p = 0; p < parts; ++p) {
      std::size_t calls = 0, mine = 0;
      const auto part = analyze_part(*s, "m", o, {p, parts}, [&](std::size_t, std::size_t total, const LayerResult*) {
        ++calls;
        mine = total;
      });
      EXPECT_EQ(calls, part.size());
      if (!part.empty()) {
        EXPECT_EQ(mine, part.size());
      }
      for (const auto& [k, r] : part) {
        EXPECT_EQ(owner[k], p) << plan.layers[k].name;
        ++times[k];
        if (r) results[k] = layer_from_json(plan.layers[k], to_json(*r, true));  // as the ranks send them
      }
    }
    for (std::size_t k = 0; k < plan.layers.size(); ++k) EXPECT_EQ(times[k], 1) << plan.layers[k].name;
    EXPECT_EQ(to_json(assemble_report(*s, "m", o, std::move(results)), true).dump(), to_json(whole, true).dump())
        << parts << " parts";
  }
  EXPECT_THROW(share_layers(plan, 0), Error);
  EXPECT_THROW(analyze_part(*s, "m", o, {2, 2}), Error);
  EXPECT_THROW(assemble_report(*s, "m", o, {}), Error);
}

TEST(Analyze, AnAllZeroConvSliceIsSkippedInPerSliceMode) {
  const std::string dir = test_dir();
  Rng rng(6);
  std::vector<float> c(64 * 64 * 2 * 2);
  for (std::size_t k = 0; k < c.size(); ++k) c[k] = k % 4 == 0 ? 0.0f : static_cast<float>(rng.normal());  // slice [0,0] zero
  write_safetensors(dir + "/c.safetensors", {{"conv.weight", {64, 64, 2, 2}, c, {}}});
  auto s = open_tensor_source(dir + "/c.safetensors");
  AnalyzeOptions o;
  o.selection.per_slice = true;
  const AnalyzeReport r = analyze(*s, "c", o);
  ASSERT_EQ(r.layers.size(), 3u);
  EXPECT_EQ(r.layers[0].spec.name, "conv.weight[0,1]");
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].name, "conv.weight[0,0]");
  EXPECT_EQ(r.skipped[0].reason, "all zeros");
}

}  // namespace
}  // namespace onsager
