// The ONNX reader: models built here with protobuf's generated classes (libonnx-dev's onnx::ModelProto, an
// independent writer), serialised to files and read back exactly: every data type in raw_data and in the typed
// fields, external data, subgraphs (If branches), Constant nodes, the layouts the graph implies (Gemm transB 0/1,
// MatMul, Conv, ConvTranspose, LSTM); quantised weights (QLinearConv, QLinearMatMul, DequantizeLinear,
// quantize_dynamic's MatMulInteger / ConvInteger with the scale in a Mul after them) dequantised to values worked
// out by hand; and a corpus of malformed models that must each give one onsager::Error naming the file (random
// bytes, truncations at every offset, data sizes that disagree with dims, overflowing and negative dims, hostile
// external-data locations, bad scales, zero points and axes of quantised weights).

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

// The library links onnx_proto privately, so its compile definitions do not reach this target: set them here.
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include <onnx/onnx_pb.h>

#include "onsager/core/error.hpp"
#include "onsager/io/model_formats.hpp"
#include "onsager/io/tensor_source.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;
using testing::write_bytes;

std::string test_dir() { return testing::test_dir("onnx"); }

onnx::ModelProto new_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(16);
  m.mutable_graph()->set_name("g");
  return m;
}

std::string save(const onnx::ModelProto& m, const std::string& path) {
  std::string bytes;
  EXPECT_TRUE(m.SerializeToString(&bytes));
  write_bytes(path, bytes);
  return path;
}

template <class T>
std::string raw(const std::vector<T>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)};
}

TensorProto* add_init(onnx::GraphProto* g, const std::string& name, int type, std::vector<std::int64_t> dims) {
  TensorProto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (auto d : dims) t->add_dims(d);
  return t;
}

TensorProto* add_float(onnx::GraphProto* g, const std::string& name, std::vector<std::int64_t> dims,
                       const std::vector<float>& v) {
  TensorProto* t = add_init(g, name, TensorProto::FLOAT, std::move(dims));
  t->set_raw_data(raw(v));
  return t;
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, std::vector<std::string> in,
                          std::vector<std::string> out) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(op + std::to_string(g->node_size()));
  for (auto& s : in) n->add_input(s);
  for (auto& s : out) n->add_output(s);
  return n;
}

void set_int(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

const TensorEntry& entry(const TensorSource& s, const std::string& name) {
  for (const auto& e : s.tensors())
    if (e.name == name) return e;
  throw std::runtime_error("no tensor " + name);
}

std::vector<float> iota(std::size_t n, float start = 0.5f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i) * 0.25f;
  return v;
}

// Expects opening (and reading every tensor of) `path` to throw onsager::Error naming the file, on one line,
// containing `fragment`.
void expect_rejected(const std::string& path, const std::string& fragment) {
  try {
    const auto s = open_onnx_source(path);
    for (const auto& t : s->tensors()) (void)s->read(t);
    ADD_FAILURE() << path << ": accepted, expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(OnnxRead, EveryDataTypeRawAndTyped) {
  const std::string dir = test_dir();
  auto m = new_model();
  auto* g = m.mutable_graph();
  // Floating types: raw and typed, values known exactly.
  const std::vector<float> f = {1.5f, -2.25f, 3e-38f, std::numeric_limits<float>::max()};
  add_float(g, "f_raw", {2, 2}, f);
  auto* ft = add_init(g, "f_typed", TensorProto::FLOAT, {4});
  for (float x : f) ft->add_float_data(x);
  const std::vector<double> d = {0.1, -1e300, 5e-324, 42.0};
  add_init(g, "d_raw", TensorProto::DOUBLE, {4})->set_raw_data(raw(d));
  auto* dt = add_init(g, "d_typed", TensorProto::DOUBLE, {2, 2});
  for (double x : d) dt->add_double_data(x);
  // binary16 1, -2, 2^-24 (smallest subnormal), 65504 (largest); bfloat16 1, -3, 2^-133 (subnormal), 2^127
  const std::vector<std::uint16_t> h = {0x3C00, 0xC000, 0x0001, 0x7BFF};
  const std::vector<double> h_val = {1.0, -2.0, std::ldexp(1.0, -24), 65504.0};
  const std::vector<std::uint16_t> b = {0x3F80, 0xC040, 0x0001, 0x7F00};
  const std::vector<double> b_val = {1.0, -3.0, std::ldexp(1.0, -133), std::ldexp(1.0, 127)};
  add_init(g, "h_raw", TensorProto::FLOAT16, {4})->set_raw_data(raw(h));
  auto* htyped = add_init(g, "h_typed", TensorProto::FLOAT16, {4});
  for (auto x : h) htyped->add_int32_data(x);
  add_init(g, "b_raw", TensorProto::BFLOAT16, {4})->set_raw_data(raw(b));
  auto* btyped = add_init(g, "b_typed", TensorProto::BFLOAT16, {4});
  for (auto x : b) btyped->add_int32_data(x);
  // Integer types.
  add_init(g, "i8_raw", TensorProto::INT8, {3})->set_raw_data(raw(std::vector<std::int8_t>{-128, 0, 127}));
  add_init(g, "u8_raw", TensorProto::UINT8, {3})->set_raw_data(raw(std::vector<std::uint8_t>{0, 1, 255}));
  add_init(g, "i16_raw", TensorProto::INT16, {2})->set_raw_data(raw(std::vector<std::int16_t>{-32768, 32767}));
  add_init(g, "u16_raw", TensorProto::UINT16, {2})->set_raw_data(raw(std::vector<std::uint16_t>{0, 65535}));
  add_init(g, "i32_raw", TensorProto::INT32, {2})->set_raw_data(raw(std::vector<std::int32_t>{-7, 1 << 30}));
  add_init(g, "u32_raw", TensorProto::UINT32, {1})->set_raw_data(raw(std::vector<std::uint32_t>{4000000000u}));
  add_init(g, "i64_raw", TensorProto::INT64, {2})->set_raw_data(raw(std::vector<std::int64_t>{-(1LL << 40), 9}));
  add_init(g, "u64_raw", TensorProto::UINT64, {1})->set_raw_data(raw(std::vector<std::uint64_t>{1ULL << 63}));
  add_init(g, "bool_raw", TensorProto::BOOL, {3})->set_raw_data(raw(std::vector<std::uint8_t>{0, 1, 1}));
  auto* i8t = add_init(g, "i8_typed", TensorProto::INT8, {3});
  for (int x : {-128, 0, 127}) i8t->add_int32_data(x);
  auto* u8t = add_init(g, "u8_typed", TensorProto::UINT8, {2});
  for (int x : {0, 255}) u8t->add_int32_data(x);
  auto* i32t = add_init(g, "i32_typed", TensorProto::INT32, {2});
  for (int x : {-7, 1 << 30}) i32t->add_int32_data(x);
  auto* i64t = add_init(g, "i64_typed", TensorProto::INT64, {2});
  for (std::int64_t x : {-(1LL << 40), 9LL}) i64t->add_int64_data(x);
  auto* u64t = add_init(g, "u64_typed", TensorProto::UINT64, {1});
  u64t->add_uint64_data(1ULL << 63);
  auto* booltyped = add_init(g, "bool_typed", TensorProto::BOOL, {2});
  booltyped->add_int32_data(1), booltyped->add_int32_data(0);
  add_init(g, "scalar", TensorProto::FLOAT, {})->add_float_data(7.0f);
  add_init(g, "empty", TensorProto::FLOAT, {0, 3});
  auto* str = add_init(g, "strings", TensorProto::STRING, {1});
  str->add_string_data("not a weight");

  const std::string path = save(m, dir + "/types.onnx");
  const auto s = open_tensor_source(path);  // dispatched by the .onnx extension
  EXPECT_EQ(s->format(), "onnx (opset 16)");
  const auto expect = [&](const std::string& name, const std::string& dtype, bool floating,
                          std::vector<std::int64_t> shape, const std::vector<double>& values) {
    SCOPED_TRACE(name);
    const TensorEntry& e = entry(*s, name);
    EXPECT_EQ(e.dtype, dtype);
    EXPECT_EQ(e.floating, floating);
    EXPECT_EQ(e.shape, shape);
    EXPECT_FALSE(e.canonical);
    EXPECT_TRUE(e.stored_shape.empty());
    const auto v = s->read(e);
    ASSERT_EQ(v.size(), values.size());
    for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ(std::memcmp(&v[i], &values[i], sizeof(double)), 0) << i;
  };
  const std::vector<double> fd(f.begin(), f.end());
  expect("f_raw", "FLOAT", true, {2, 2}, fd);
  expect("f_typed", "FLOAT", true, {4}, fd);
  expect("d_raw", "DOUBLE", true, {4}, d);
  expect("d_typed", "DOUBLE", true, {2, 2}, d);
  expect("h_raw", "FLOAT16", true, {4}, h_val);
  expect("h_typed", "FLOAT16", true, {4}, h_val);
  expect("b_raw", "BFLOAT16", true, {4}, b_val);
  expect("b_typed", "BFLOAT16", true, {4}, b_val);
  expect("i8_raw", "INT8", false, {3}, {-128, 0, 127});
  expect("u8_raw", "UINT8", false, {3}, {0, 1, 255});
  expect("i16_raw", "INT16", false, {2}, {-32768, 32767});
  expect("u16_raw", "UINT16", false, {2}, {0, 65535});
  expect("i32_raw", "INT32", false, {2}, {-7, 1 << 30});
  expect("u32_raw", "UINT32", false, {1}, {4000000000.0});
  expect("i64_raw", "INT64", false, {2}, {-std::ldexp(1.0, 40), 9});
  expect("u64_raw", "UINT64", false, {1}, {std::ldexp(1.0, 63)});
  expect("bool_raw", "BOOL", false, {3}, {0, 1, 1});
  expect("i8_typed", "INT8", false, {3}, {-128, 0, 127});
  expect("u8_typed", "UINT8", false, {2}, {0, 255});
  expect("i32_typed", "INT32", false, {2}, {-7, 1 << 30});
  expect("i64_typed", "INT64", false, {2}, {-std::ldexp(1.0, 40), 9});
  expect("u64_typed", "UINT64", false, {1}, {std::ldexp(1.0, 63)});
  expect("bool_typed", "BOOL", false, {2}, {1, 0});
  expect("scalar", "FLOAT", true, {}, {7.0});
  expect("empty", "FLOAT", true, {0, 3}, {});
  // STRING tensors are not real-valued: left out.
  EXPECT_EQ(s->tensors().size(), 25u);
  for (const auto& e : s->tensors()) EXPECT_NE(e.name, "strings");
  for (std::size_t i = 0; i < s->tensors().size(); ++i) EXPECT_EQ(s->tensors()[i].index, i);
}

TEST(OnnxRead, SubgraphsConstantsAndUniqueNames) {
  const std::string dir = test_dir();
  auto m = new_model();
  auto* g = m.mutable_graph();
  add_float(g, "w", {2, 2}, {1, 2, 3, 4});
  add_float(g, "outer_conv", {2, 1, 3}, iota(6));
  auto* c = add_node(g, "Constant", {}, {"c0"});
  auto* a = c->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(TensorProto::FLOAT);
  a->mutable_t()->add_dims(3);
  for (float x : {9.f, 8.f, 7.f}) a->mutable_t()->add_float_data(x);
  auto* iff = add_node(g, "If", {"cond"}, {"y"});
  auto* then_a = iff->add_attribute();
  then_a->set_name("then_branch");
  then_a->set_type(onnx::AttributeProto::GRAPH);
  auto* then_g = then_a->mutable_g();
  add_float(then_g, "w", {3}, {5, 6, 7});                 // repeats the outer name: becomes "w#2"
  add_node(then_g, "Conv", {"x", "outer_conv"}, {"y1"});  // an outer tensor used in the branch
  auto* else_a = iff->add_attribute();
  else_a->set_name("else_branch");
  else_a->set_type(onnx::AttributeProto::GRAPH);
  auto* else_g = else_a->mutable_g();
  add_float(else_g, "v", {1}, {-1});
  auto* inner_c = add_node(else_g, "Constant", {}, {"w"});  // a Constant repeating the name once more
  auto* ia = inner_c->add_attribute();
  ia->set_name("value");
  ia->set_type(onnx::AttributeProto::TENSOR);
  ia->mutable_t()->set_data_type(TensorProto::DOUBLE);
  ia->mutable_t()->add_double_data(0.125);
  auto* loop = add_node(g, "Scan", {"s"}, {"z"});
  auto* body = loop->add_attribute();
  body->set_name("bodies");
  body->set_type(onnx::AttributeProto::GRAPHS);
  add_float(body->add_graphs(), "g1", {1}, {11});
  add_float(body->add_graphs(), "g2", {1}, {12});

  const auto s = open_onnx_source(save(m, dir + "/sub.onnx"));
  std::vector<std::string> names;
  for (const auto& e : s->tensors()) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"w", "outer_conv", "c0", "w#2", "v", "w#3", "g1", "g2"}));
  EXPECT_EQ(s->read(entry(*s, "w")), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(s->read(entry(*s, "c0")), (std::vector<double>{9, 8, 7}));
  EXPECT_EQ(s->read(entry(*s, "w#2")), (std::vector<double>{5, 6, 7}));
  EXPECT_EQ(s->read(entry(*s, "w#3")), (std::vector<double>{0.125}));
  EXPECT_EQ(entry(*s, "w#3").dtype, "DOUBLE");
  EXPECT_EQ(s->read(entry(*s, "g2")), (std::vector<double>{12}));
  EXPECT_EQ(entry(*s, "outer_conv").op, "Conv");
  EXPECT_TRUE(entry(*s, "outer_conv").canonical);
}

// A hostile model repeating one name many times: unique names in order, in near-linear time (ctest's timeout
// catches a quadratic search: 20,000 names would take minutes).
TEST(OnnxRead, ManyRepeatedNames) {
  const std::string dir = test_dir();
  auto m = new_model();
  auto* g = m.mutable_graph();
  constexpr int kCount = 20000;
  for (int i = 0; i < kCount; ++i) add_init(g, "w", TensorProto::FLOAT, {1})->add_float_data(static_cast<float>(i));
  add_init(g, "w#3", TensorProto::FLOAT, {1})->add_float_data(-1.0f);  // already taken by then: "w#3#2"
  const auto s = open_onnx_source(save(m, dir + "/repeat.onnx"));
  ASSERT_EQ(s->tensors().size(), static_cast<std::size_t>(kCount + 1));
  EXPECT_EQ(s->tensors()[0].name, "w");
  EXPECT_EQ(s->tensors()[1].name, "w#2");
  EXPECT_EQ(s->tensors()[kCount - 1].name, "w#" + std::to_string(kCount));
  EXPECT_EQ(s->tensors()[kCount].name, "w#3#2");
  EXPECT_EQ(s->read(s->tensors()[kCount - 1]), (std::vector<double>{kCount - 1.0}));
}

// Reference transpose/permutation written out index by index (independent of permute_axes).
TEST(OnnxRead, LayoutsFromTheGraph) {
  const std::string dir = test_dir();
  auto m = new_model();
  auto* g = m.mutable_graph();
  const auto b0 = iota(12);  // Gemm B, transB = 0: (in 3 x out 4)
  add_float(g, "gemm_b0", {3, 4}, b0);
  set_int(add_node(g, "Gemm", {"x", "gemm_b0"}, {"y0"}), "transB", 0);
  add_float(g, "gemm_b1", {4, 3}, b0);  // transB = 1: out x in already
  set_int(add_node(g, "Gemm", {"x", "gemm_b1"}, {"y1"}), "transB", 1);
  add_float(g, "gemm_a1", {3, 4}, b0);  // A with transA = 1: (K x M) = in x out
  set_int(add_node(g, "Gemm", {"gemm_a1", "x"}, {"y2"}), "transA", 1);
  add_float(g, "mm", {3, 4}, b0);
  add_node(g, "MatMul", {"x", "mm"}, {"y3"});
  add_float(g, "conv", {2, 3, 2, 2}, iota(24));
  add_node(g, "Conv", {"x", "conv"}, {"y4"});
  add_float(g, "convt", {2, 3, 2, 2}, iota(24));  // (in 2, out 3, kh, kw)
  add_node(g, "ConvTranspose", {"x", "convt"}, {"y5"});
  add_float(g, "lstm_w", {2, 8, 3}, iota(48));  // (dirs 2, 4 gates * hidden 2, input 3)
  add_float(g, "lstm_r", {2, 8, 2}, iota(32));
  add_node(g, "LSTM", {"x", "lstm_w", "lstm_r"}, {"y6"});
  add_float(g, "shared", {3, 4}, b0);  // MatMul (transpose) and Gemm transB=1 (as stored) disagree
  add_node(g, "MatMul", {"x", "shared"}, {"y7"});
  set_int(add_node(g, "Gemm", {"x", "shared"}, {"y8"}), "transB", 1);
  add_float(g, "twice", {3, 4}, b0);  // two MatMuls agree; an Add says nothing about layout
  add_node(g, "MatMul", {"x", "twice"}, {"y9"});
  add_node(g, "MatMul", {"z", "twice"}, {"y10"});
  add_node(g, "Add", {"twice", "z"}, {"y11"});

  add_init(g, "q8", TensorProto::INT8, {3, 2})->set_raw_data(raw(std::vector<std::int8_t>{1, 2, 3, 4, 5, -6}));
  add_node(g, "MatMul", {"x", "q8"}, {"y12"});  // an integer weight is moved too (but is never a layer)

  const auto s = open_onnx_source(save(m, dir + "/layouts.onnx"));
  const auto transposed = [](const std::vector<float>& v, int rows, int cols) {  // rows x cols -> cols x rows
    std::vector<double> out;
    for (int j = 0; j < cols; ++j)
      for (int i = 0; i < rows; ++i) out.push_back(v[static_cast<std::size_t>(i * cols + j)]);
    return out;
  };
  const std::vector<double> as_stored(b0.begin(), b0.end());
  struct Want {
    std::string name, op, layout;
    std::vector<std::int64_t> shape, stored;
    bool canonical;
  };
  for (const Want& w :
       std::vector<Want>{{"gemm_b0", "Gemm", "in x out", {4, 3}, {3, 4}, true},
                         {"gemm_b1", "Gemm", "", {4, 3}, {}, true},
                         {"gemm_a1", "Gemm", "in x out", {4, 3}, {3, 4}, true},
                         {"mm", "MatMul", "in x out", {4, 3}, {3, 4}, true},
                         {"conv", "Conv", "", {2, 3, 2, 2}, {}, true},
                         {"convt", "ConvTranspose", "in x out x kh x kw", {3, 2, 2, 2}, {2, 3, 2, 2}, true},
                         {"lstm_w", "LSTM", "dirs x gates*hidden x in", {8, 3, 2}, {2, 8, 3}, true},
                         {"lstm_r", "LSTM", "dirs x gates*hidden x hidden", {8, 2, 2}, {2, 8, 2}, true},
                         {"shared", "", "", {3, 4}, {}, false},
                         {"twice", "MatMul", "in x out", {4, 3}, {3, 4}, true}}) {
    SCOPED_TRACE(w.name);
    const TensorEntry& e = entry(*s, w.name);
    EXPECT_EQ(e.op, w.op);
    EXPECT_EQ(e.stored_layout, w.layout);
    EXPECT_EQ(e.shape, w.shape);
    EXPECT_EQ(e.stored_shape, w.stored);
    EXPECT_EQ(e.canonical, w.canonical);
  }
  EXPECT_EQ(entry(*s, "q8").shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_TRUE(entry(*s, "q8").canonical);
  EXPECT_FALSE(entry(*s, "q8").floating);
  EXPECT_EQ(s->read(entry(*s, "q8")), (std::vector<double>{1, 3, 5, 2, 4, -6}));
  EXPECT_EQ(s->read(entry(*s, "gemm_b0")), transposed(b0, 3, 4));
  EXPECT_EQ(s->read(entry(*s, "gemm_b1")), as_stored);
  EXPECT_EQ(s->read(entry(*s, "gemm_a1")), transposed(b0, 3, 4));
  EXPECT_EQ(s->read(entry(*s, "mm")), transposed(b0, 3, 4));
  EXPECT_EQ(s->read(entry(*s, "shared")), as_stored);
  EXPECT_EQ(s->read(entry(*s, "twice")), transposed(b0, 3, 4));
  const auto conv = iota(24);
  EXPECT_EQ(s->read(entry(*s, "conv")), std::vector<double>(conv.begin(), conv.end()));
  // ConvTranspose: out[o][i][y][x] = stored[i][o][y][x]
  const auto ct = s->read(entry(*s, "convt"));
  for (int o = 0; o < 3; ++o)
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k)
        EXPECT_EQ(ct[static_cast<std::size_t>((o * 2 + i) * 4 + k)],
                  conv[static_cast<std::size_t>((i * 3 + o) * 4 + k)]);
  // LSTM: out[r][c][d] = stored[d][r][c]
  const auto lw = s->read(entry(*s, "lstm_w"));
  const auto lw_in = iota(48);
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 3; ++c)
      for (int d = 0; d < 2; ++d)
        EXPECT_EQ(lw[static_cast<std::size_t>((r * 3 + c) * 2 + d)],
                  lw_in[static_cast<std::size_t>((d * 8 + r) * 3 + c)]);
}

// Expects the model `build` makes, saved as DIR/LABEL.onnx, to be rejected with `fragment`.
template <class Build>
void expect_built_rejected(const std::string& dir, const std::string& label, Build build,
                           const std::string& fragment) {
  SCOPED_TRACE(label);
  auto m = new_model();
  build(m.mutable_graph());
  expect_rejected(save(m, dir + "/" + label + ".onnx"), fragment);
}

template <class T>
TensorProto* add_ints(onnx::GraphProto* g, const std::string& name, int type, std::vector<std::int64_t> dims,
                      const std::vector<T>& v) {
  TensorProto* t = add_init(g, name, type, std::move(dims));
  t->set_raw_data(raw(v));
  return t;
}

// x = (q - zero_point) * scale, worked out by hand for each weight below.
TEST(OnnxQuantized, DequantisedFromTheNodesParameters) {
  const std::string dir = test_dir();
  auto m = new_model();
  auto* g = m.mutable_graph();
  // QLinearConv, per output channel: w (2, 1, 1, 2), scales 0.5 and 0.25, zero points 1 and -2.
  add_ints(g, "conv", TensorProto::INT8, {2, 1, 1, 2}, std::vector<std::int8_t>{-3, 5, 10, -128});
  add_float(g, "conv_s", {2}, {0.5f, 0.25f});
  add_ints(g, "conv_z", TensorProto::INT8, {2}, std::vector<std::int8_t>{1, -2});
  add_node(g, "QLinearConv", {"x", "xs", "xz", "conv", "conv_s", "conv_z", "ys", "yz"}, {"c"});
  // QLinearMatMul, per column of B (in 2 x out 3).
  add_ints(g, "mm", TensorProto::UINT8, {2, 3}, std::vector<std::uint8_t>{0, 128, 255, 10, 20, 30});
  add_float(g, "mm_s", {3}, {1.f, 0.5f, 2.f});
  add_ints(g, "mm_z", TensorProto::UINT8, {3}, std::vector<std::uint8_t>{128, 0, 255});
  add_node(g, "QLinearMatMul", {"a", "as", "az", "mm", "mm_s", "mm_z", "ys", "yz"}, {"m"});
  // DequantizeLinear, axis -1, float16 scales 0.5 and 2, into MatMul input A (out x in as stored).
  add_ints(g, "dq", TensorProto::INT16, {2, 2}, std::vector<std::int16_t>{-1000, 2000, 3, 4});
  add_init(g, "dq_s", TensorProto::FLOAT16, {2})->set_raw_data(raw(std::vector<std::uint16_t>{0x3800, 0x4000}));
  add_ints(g, "dq_z", TensorProto::INT16, {2}, std::vector<std::int16_t>{0, -4});
  set_int(add_node(g, "DequantizeLinear", {"dq", "dq_s", "dq_z"}, {"dq_out"}), "axis", -1);
  add_node(g, "MatMul", {"dq_out", "b"}, {"d"});
  // DequantizeLinear of a 1-D UINT8 tensor in int32_data, no zero point, the default axis 1 unused.
  auto* typed = add_init(g, "dq1", TensorProto::UINT8, {2});
  typed->add_int32_data(7), typed->add_int32_data(9);
  add_init(g, "dq1_s", TensorProto::FLOAT, {})->add_float_data(0.125f);
  add_node(g, "DequantizeLinear", {"dq1", "dq1_s"}, {"dq1_out"});

  const auto s = open_onnx_source(save(m, dir + "/qlinear.onnx"));
  struct Want {
    std::string name, dtype, op, dq_op, scale, zero_point;
    int axis;
    std::vector<std::int64_t> shape;
    std::vector<double> values;
  };
  for (const Want& w : std::vector<Want>{
           {"conv", "INT8", "QLinearConv", "QLinearConv", "conv_s", "conv_z", 0, {2, 1, 1, 2}, {-2, 2, 3, -31.5}},
           {"mm", "UINT8", "QLinearMatMul", "QLinearMatMul", "mm_s", "mm_z", 1, {3, 2}, {-128, -118, 64, 10, 0, -450}},
           {"dq", "INT16", "MatMul", "DequantizeLinear", "dq_s", "dq_z", 1, {2, 2}, {-500, 4008, 1.5, 16}},
           {"dq1", "UINT8", "", "DequantizeLinear", "dq1_s", "", -1, {2}, {0.875, 1.125}}}) {
    SCOPED_TRACE(w.name);
    const TensorEntry& e = entry(*s, w.name);
    EXPECT_EQ(e.dtype, w.dtype);
    EXPECT_TRUE(e.floating);
    EXPECT_EQ(e.op, w.op);
    EXPECT_EQ(e.shape, w.shape);
    ASSERT_TRUE(e.dequantized.has_value());
    EXPECT_EQ(e.dequantized->op, w.dq_op);
    EXPECT_EQ(e.dequantized->scale, w.scale);
    EXPECT_EQ(e.dequantized->zero_point, w.zero_point);
    EXPECT_EQ(e.dequantized->axis, w.axis);
    EXPECT_EQ(s->read(e), w.values);
  }
  EXPECT_EQ(entry(*s, "mm").stored_layout, "in x out");
  EXPECT_EQ(entry(*s, "conv").dequantized->describe(), "per-channel (axis 0), scale 'conv_s'");
  EXPECT_FALSE(entry(*s, "conv_z").dequantized.has_value());  // parameters stay as stored
  EXPECT_FALSE(entry(*s, "conv_z").floating);
}

// quantize_dynamic's layout: the weight's scale is an operand of the Mul that scales the node's output.
TEST(OnnxQuantized, ScaleFoundThroughTheMulAfterTheNode) {
  const std::string dir = test_dir();
  auto m = new_model();
  auto* g = m.mutable_graph();
  // MatMulInteger, per-tensor: (B - 10) * 0.5, B in 2 x out 2.
  add_node(g, "DynamicQuantizeLinear", {"x"}, {"xq", "xs", "xz"});
  add_ints(g, "B", TensorProto::UINT8, {2, 2}, std::vector<std::uint8_t>{0, 10, 20, 255});
  add_ints(g, "B_zp", TensorProto::UINT8, {}, std::vector<std::uint8_t>{10});
  add_float(g, "B_scale", {}, {0.5f});
  add_node(g, "MatMulInteger", {"xq", "B", "xz", "B_zp"}, {"y"});
  add_node(g, "Cast", {"y"}, {"yf"});
  add_node(g, "Mul", {"xs", "B_scale"}, {"scales"});
  add_node(g, "Mul", {"yf", "scales"}, {"out"});
  // ConvInteger, per channel: zero points 3 and 200, scales 0.5 and 4 as [1, 2, 1, 1]; the activation quantised
  // by a QuantizeLinear with a constant scale; operands in the other order.
  add_float(g, "x2s", {}, {0.1f});
  add_node(g, "QuantizeLinear", {"x2", "x2s"}, {"x2q"});
  add_ints(g, "W", TensorProto::UINT8, {2, 1, 1, 1}, std::vector<std::uint8_t>{3, 250});
  add_ints(g, "W_zp", TensorProto::UINT8, {2}, std::vector<std::uint8_t>{3, 200});
  add_float(g, "W_scale", {1, 2, 1, 1}, {0.5f, 4.f});
  add_node(g, "ConvInteger", {"x2q", "W", "", "W_zp"}, {"c"});
  add_node(g, "Cast", {"c"}, {"cf"});
  add_node(g, "Mul", {"W_scale", "x2s"}, {"cscales"});
  add_node(g, "Mul", {"cscales", "cf"}, {"cout"});
  // Not shown: the output goes to a Relu; both Mul operands constants with a graph input as activation.
  add_ints(g, "U", TensorProto::UINT8, {1, 1, 1, 2}, std::vector<std::uint8_t>{5, 7});
  add_ints(g, "U_zp", TensorProto::UINT8, {}, std::vector<std::uint8_t>{6});
  add_node(g, "ConvInteger", {"xq", "U", "xz", "U_zp"}, {"u"});
  add_node(g, "Relu", {"u"}, {"ur"});
  add_ints(g, "V", TensorProto::INT8, {2, 1}, std::vector<std::int8_t>{-1, 1});
  add_node(g, "MatMulInteger", {"input_q", "V"}, {"v"});
  add_node(g, "Cast", {"v"}, {"vf"});
  add_float(g, "c1", {}, {2.f});
  add_float(g, "c2", {}, {3.f});
  add_node(g, "Mul", {"c1", "c2"}, {"vs"});
  add_node(g, "Mul", {"vf", "vs"}, {"vout"});
  // Left as stored: a zero point known only at run time; two nodes that disagree; blocked quantisation.
  add_ints(g, "R", TensorProto::UINT8, {2, 2}, std::vector<std::uint8_t>{1, 2, 3, 4});
  add_node(g, "MatMulInteger", {"xq", "R", "xz", "runtime_zp"}, {"r"});
  add_ints(g, "D", TensorProto::INT8, {2, 2}, std::vector<std::int8_t>{1, 2, 3, 4});
  add_node(g, "QLinearMatMul", {"a", "as", "az", "D", "c1", "", "ys", "yz"}, {"d1"});
  add_node(g, "QLinearMatMul", {"a", "as", "az", "D", "c2", "", "ys", "yz"}, {"d2"});
  add_ints(g, "K", TensorProto::INT8, {2, 4}, std::vector<std::int8_t>{1, 2, 3, 4, 5, 6, 7, 8});
  add_float(g, "K_s", {2, 2}, {1.f, 2.f, 3.f, 4.f});
  set_int(add_node(g, "DequantizeLinear", {"K", "K_s"}, {"k"}), "block_size", 2);

  const auto s = open_onnx_source(save(m, dir + "/dynamic.onnx"));
  const TensorEntry& b = entry(*s, "B");
  ASSERT_TRUE(b.dequantized.has_value());
  EXPECT_EQ(b.dequantized->scale, "B_scale");
  EXPECT_EQ(b.dequantized->zero_point, "B_zp");
  EXPECT_FALSE(b.dequantized->per_channel());
  EXPECT_EQ(b.op, "MatMulInteger");
  EXPECT_EQ(b.shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(s->read(b), (std::vector<double>{-5, 5, 0, 122.5}));  // stored {-5, 0, 5, 122.5}, transposed
  const TensorEntry& w = entry(*s, "W");
  ASSERT_TRUE(w.dequantized.has_value());
  EXPECT_EQ(w.dequantized->scale, "W_scale");
  EXPECT_EQ(w.dequantized->axis, 0);
  EXPECT_EQ(s->read(w), (std::vector<double>{0, 200}));
  for (const auto& [name, values] : std::vector<std::pair<std::string, std::vector<double>>>{
           {"U", {-1, 1}}, {"V", {-1, 1}}}) {
    SCOPED_TRACE(name);
    const TensorEntry& e = entry(*s, name);
    ASSERT_TRUE(e.dequantized.has_value());
    EXPECT_FALSE(e.dequantized->scale_known());
    EXPECT_EQ(e.dequantized->describe(), "per-tensor, scale unknown (values are q - zero_point)");
    EXPECT_TRUE(e.floating);
    EXPECT_EQ(s->read(e), values);
  }
  for (const char* name : {"R", "D", "K"}) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(entry(*s, name).dequantized.has_value());
    EXPECT_FALSE(entry(*s, name).floating);
  }
}

TEST(OnnxMalformed, QuantizationParameters) {
  const std::string dir = test_dir();
  const auto one = [&](const std::string& label, auto build, const std::string& fragment) {
    expect_built_rejected(dir, label, build, fragment);
  };
  // Most cases: one QLinearConv on weight w, with scale s and zero point z as `build` shapes them.
  const auto qconv = [](onnx::GraphProto* g) {
    add_node(g, "QLinearConv", {"x", "xs", "xz", "w", "s", "z", "ys", "yz"}, {"y"});
  };
  const auto w8 = [](onnx::GraphProto* g) {
    add_ints(g, "w", TensorProto::UINT8, {2, 1, 1, 1}, std::vector<std::uint8_t>{1, 2});
  };
  const auto z8 = [](onnx::GraphProto* g) { add_ints(g, "z", TensorProto::UINT8, {}, std::vector<std::uint8_t>{0}); };
  one("inf_scale", [&](auto* g) { w8(g), z8(g), add_float(g, "s", {}, {INFINITY}), qconv(g); },
      "scale 's' of weight 'w' holds inf at element 0 (a scale must be finite)");
  one("nan_scale", [&](auto* g) { w8(g), z8(g), add_float(g, "s", {2}, {1.f, NAN}), qconv(g); },
      "holds nan at element 1");
  one("scale_shape", [&](auto* g) { w8(g), z8(g), add_float(g, "s", {3}, {1.f, 1.f, 1.f}), qconv(g); },
      "QLinearConv node 'QLinearConv1': scale 's' has shape [3] but weight 'w' [2, 1, 1, 1] takes a scalar or [2] "
      "(axis 0)");
  one("scale_rank", [&](auto* g) { w8(g), z8(g), add_float(g, "s", {2, 1}, {1.f, 1.f}), qconv(g); },
      "has shape [2, 1]");
  one("scale_type",
      [&](auto* g) {
        w8(g), z8(g), add_ints(g, "s", TensorProto::INT32, {}, std::vector<std::int32_t>{1}), qconv(g);
      },
      "scale 's' of weight 'w' is INT32 (FLOAT, FLOAT16 or BFLOAT16 expected)");
  one("zero_point_type",
      [&](auto* g) {
        w8(g), add_ints(g, "z", TensorProto::INT8, {}, std::vector<std::int8_t>{0}), add_float(g, "s", {}, {1.f});
        qconv(g);
      },
      "zero point 'z' is INT8 but weight 'w' is UINT8");
  one("zero_point_range",
      [&](auto* g) {
        w8(g), add_float(g, "s", {}, {1.f}), qconv(g);
        auto* z = add_init(g, "z", TensorProto::UINT8, {2});
        z->add_int32_data(4), z->add_int32_data(300);
      },
      "zero point 'z' holds 300 at element 1, outside UINT8's range 0..255");
  one("zero_point_shape",
      [&](auto* g) {
        w8(g), add_float(g, "s", {}, {1.f}), qconv(g);
        add_ints(g, "z", TensorProto::UINT8, {1, 2}, std::vector<std::uint8_t>{0, 0});
      },
      "zero point 'z' has shape [1, 2]");
  one("weight_range",
      [&](auto* g) {
        z8(g), add_float(g, "s", {}, {1.f}), qconv(g);
        auto* w = add_init(g, "w", TensorProto::UINT8, {1, 1, 1, 2});
        w->add_int32_data(1), w->add_int32_data(-1);
      },
      "weight 'w' holds -1 at element 1, outside UINT8's range 0..255");
  one("weight_type",
      [&](auto* g) {
        add_ints(g, "w", TensorProto::INT16, {1, 1, 1, 1}, std::vector<std::int16_t>{1});
        add_node(g, "ConvInteger", {"x", "w"}, {"y"});
      },
      "weight 'w' is INT16; ConvInteger dequantises INT8 or UINT8");
  one("float_weight",
      [&](auto* g) {
        add_float(g, "w", {2}, {1.f, 2.f}), add_float(g, "s", {}, {1.f});
        add_node(g, "DequantizeLinear", {"w", "s"}, {"y"});
      },
      "weight 'w' is FLOAT; DequantizeLinear dequantises INT8, UINT8, INT16, UINT16 or INT32");
  // DequantizeLinear of a (2, 3) weight with a per-axis scale [3] and the given axis.
  const auto dql_axis = [](std::int64_t axis) {
    return [axis](onnx::GraphProto* g) {
      add_ints(g, "w", TensorProto::INT8, {2, 3}, std::vector<std::int8_t>{1, 2, 3, 4, 5, 6});
      add_float(g, "s", {3}, {1.f, 1.f, 1.f});
      set_int(add_node(g, "DequantizeLinear", {"w", "s"}, {"y"}), "axis", axis);
    };
  };
  one("axis", dql_axis(2),
      "DequantizeLinear node 'DequantizeLinear1': axis 2 is out of range for weight 'w' of rank 2 (allowed -2..1)");
  one("axis_mismatch", dql_axis(0), "scale 's' has shape [3] but weight 'w' [2, 3] takes a scalar or [2] (axis 0)");
}

TEST(OnnxRead, ExternalDataReadLazily) {
  const std::string dir = test_dir();
  const std::vector<float> w = iota(6, -1.0f);
  const std::vector<std::uint16_t> h = {0x3C00, 0xBC00};
  std::string blob = "PAD!" + raw(w) + raw(h);
  write_bytes(dir + "/weights.bin", blob);
  fs::create_directories(dir + "/sub");
  write_bytes(dir + "/sub/more.bin", raw(std::vector<double>{2.5}));
  auto m = new_model();
  auto* g = m.mutable_graph();
  const auto ext = [&](const std::string& name, int type, std::vector<std::int64_t> dims,
                       std::vector<std::pair<std::string, std::string>> kv) {
    auto* t = add_init(g, name, type, std::move(dims));
    t->set_data_location(TensorProto::EXTERNAL);
    for (auto& [k, v] : kv) {
      auto* e = t->add_external_data();
      e->set_key(k);
      e->set_value(v);
    }
  };
  ext("w", TensorProto::FLOAT, {2, 3}, {{"location", "weights.bin"}, {"offset", "4"}, {"length", "24"}});
  ext("h", TensorProto::FLOAT16, {2}, {{"location", "weights.bin"}, {"offset", "28"}});
  ext("d", TensorProto::DOUBLE, {1}, {{"location", "sub/more.bin"}});
  add_node(g, "MatMul", {"x", "w"}, {"y"});
  const std::string path = save(m, dir + "/ext.onnx");
  const auto s = open_onnx_source(path);
  const auto v = s->read(entry(*s, "w"));  // MatMul: 2x3 in x out -> 3x2
  EXPECT_EQ(v, (std::vector<double>{w[0], w[3], w[1], w[4], w[2], w[5]}));
  EXPECT_EQ(s->read(entry(*s, "h")), (std::vector<double>{1.0, -1.0}));
  EXPECT_EQ(s->read(entry(*s, "d")), (std::vector<double>{2.5}));
  // Several threads at once.
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] { ok[static_cast<std::size_t>(i)] = s->read(entry(*s, "w")) == v; });
  for (auto& t : threads) t.join();
  for (int x : ok) EXPECT_EQ(x, 1);
  // Lazy: the values are read when asked for, so truncating the file afterwards is caught in read().
  write_bytes(dir + "/weights.bin", "PAD!");
  try {
    (void)s->read(entry(*s, "w"));
    ADD_FAILURE() << "read a truncated external file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------------
// Malformed models.

TEST(OnnxMalformed, RandomBytesAndNotAModel) {
  const std::string dir = test_dir();
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::string bytes(static_cast<std::size_t>(64 + trial * 37), '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string path = dir + "/random" + std::to_string(trial) + ".onnx";
    write_bytes(path, bytes);
    try {
      const auto s = open_onnx_source(path);
      for (const auto& t : s->tensors()) (void)s->read(t);
      ADD_FAILURE() << path << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  write_bytes(dir + "/empty.onnx", "");
  expect_rejected(dir + "/empty.onnx", "no ir_version or no graph");
  write_bytes(dir + "/text.onnx", "{\"not\": \"protobuf\"}");
  expect_rejected(dir + "/text.onnx", "not an ONNX model");
}

TEST(OnnxMalformed, TruncatedAtEveryOffset) {
  const std::string dir = test_dir();
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* g = m.mutable_graph();
  add_float(g, "a", {4, 3}, iota(12));
  auto* t = add_init(g, "b", TensorProto::FLOAT, {5});
  for (float x : iota(5)) t->add_float_data(x);
  add_node(g, "MatMul", {"x", "a"}, {"y"});
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  // ir_version (field 1) takes bytes [0, 2); the graph (field 7) is the rest: every cut inside it must fail.
  ASSERT_EQ(bytes[2], static_cast<char>(7 << 3 | 2));
  const std::string path = dir + "/cut.onnx";
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(path, bytes.substr(0, n));
    try {
      const auto s = open_onnx_source(path);
      for (const auto& x : s->tensors()) (void)s->read(x);
      ADD_FAILURE() << "accepted a model cut to " << n << " of " << bytes.size() << " bytes";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  write_bytes(path, bytes);
  EXPECT_EQ(open_onnx_source(path)->tensors().size(), 2u);
}

TEST(OnnxMalformed, DataSizesDimsAndTypes) {
  const std::string dir = test_dir();
  const auto one = [&](const std::string& label, auto build, const std::string& fragment) {
    expect_built_rejected(dir, label, build, fragment);
  };
  one(
      "raw_short",
      [](auto* g) {
        add_float(g, "w", {4, 3}, iota(11));
      },
      "'w' (FLOAT [4, 3]) claims 48 bytes but raw_data holds 44");
  one(
      "raw_long", [](auto* g) { add_float(g, "w", {2}, iota(3)); }, "claims 8 bytes but raw_data holds 12");
  one(
      "typed_short",
      [](auto* g) {
        auto* t = add_init(g, "w", TensorProto::FLOAT, {3});
        t->add_float_data(1);
      },
      "claims 3 elements but its float_data holds 1");
  one(
      "no_data", [](auto* g) { add_init(g, "w", TensorProto::INT64, {2}); }, "its int64_data holds 0");
  one(
      "both",
      [](auto* g) {
        auto* t = add_float(g, "w", {1}, {1.f});
        t->add_float_data(1);
      },
      "both raw_data and typed data");
  one(
      "overflow",
      [](auto* g) {
        add_float(g, "w", {1LL << 40, 1LL << 40}, {1.f});
      },
      "element count overflows");
  one(
      "bytes_overflow", [](auto* g) { add_float(g, "w", {1LL << 62}, {1.f}); }, "byte count overflows");
  one(
      "negative",
      [](auto* g) {
        add_float(g, "w", {2, -2}, {1.f});
      },
      "negative dimension");
  one(
      "rank", [](auto* g) { add_float(g, "w", std::vector<std::int64_t>(65, 1), {1.f}); }, "65 dimensions");
  one(
      "bad_type", [](auto* g) { add_init(g, "w", 99, {1}); }, "unsupported data type 99");
  one(
      "half_bits",
      [](auto* g) {
        auto* t = add_init(g, "w", TensorProto::FLOAT16, {1});
        t->add_int32_data(70000);
      },
      "not a 16-bit FLOAT16 bit pattern");
  one(
      "segment",
      [](auto* g) {
        auto* t = add_float(g, "w", {1}, {1.f});
        t->mutable_segment()->set_begin(0);
      },
      "segmented");
}

TEST(OnnxMalformed, HostileExternalData) {
  const std::string dir = test_dir();
  write_bytes(dir + "/w.bin", std::string(16, '\1'));
  const auto one = [&](const std::string& label, std::vector<std::pair<std::string, std::string>> kv,
                       const std::string& fragment, std::int64_t numel = 4) {
    SCOPED_TRACE(label);
    auto m = new_model();
    auto* t = add_init(m.mutable_graph(), "w", TensorProto::FLOAT, {numel});
    t->set_data_location(TensorProto::EXTERNAL);
    for (auto& [k, v] : kv) {
      auto* e = t->add_external_data();
      e->set_key(k);
      e->set_value(v);
    }
    expect_rejected(save(m, dir + "/" + label + ".onnx"), fragment);
  };
  one("beyond", {{"location", "w.bin"}, {"offset", "8"}}, "lies beyond the end");
  one("too_big", {{"location", "w.bin"}}, "lies beyond the end", 5);
  one("huge_offset", {{"location", "w.bin"}, {"offset", "18446744073709551615"}}, "lies beyond the end");
  one("absolute", {{"location", "/etc/passwd"}}, "not a relative path");
  one("dotdot", {{"location", "../w.bin"}}, "leaves the model's directory");
  one("dotdot_inner", {{"location", "sub/../../w.bin"}}, "leaves the model's directory");
  one("missing", {{"location", "nope.bin"}}, "nope.bin");
  one("no_location", {{"offset", "0"}}, "names no location");
  one("length", {{"location", "w.bin"}, {"length", "12"}}, "external data length 12");
  one("bad_offset", {{"location", "w.bin"}, {"offset", "-4"}}, "not a non-negative integer");
  one("directory", {{"location", "."}}, "not a regular file");
  {
    auto m = new_model();
    auto* t = add_float(m.mutable_graph(), "w", {4}, iota(4));
    t->set_data_location(TensorProto::EXTERNAL);
    auto* e = t->add_external_data();
    e->set_key("location"), e->set_value("w.bin");
    expect_rejected(save(m, dir + "/inline_too.onnx"), "marked external but also holds data");
  }
}

}  // namespace
}  // namespace onsager
