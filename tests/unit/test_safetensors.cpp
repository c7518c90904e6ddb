// The safetensors module: writer/reader round trips; files built byte by byte here (independent of the
// writer) with F16/BF16/integer tensors whose values are known exactly; every corrupt-file path the reader
// must reject with one error naming the file; a mutation sweep (every truncation, many byte flips) that must
// never crash; and an independent Python/NumPy reader (tests/cli/read_safetensors.py) on our files.

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "onsager/core/error.hpp"
#include "onsager/io/safetensors.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;

using testing::read_bytes;
using testing::write_bytes;

std::string test_dir() { return testing::test_dir("safetensors"); }

std::string le64(std::uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

// A safetensors file assembled by hand: length prefix, header text exactly as given (no padding), data.
std::string assemble(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

template <class T>
std::string bytes_of(const std::vector<T>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)};
}

// Expects SafetensorsFile(path) to throw onsager::Error whose one-line message names the file and contains
// `fragment`.
void expect_rejected(const std::string& path, const std::string& fragment) {
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << path << ": accepted, expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// Independent reference for binary16: value = (-1)^s * 2^(e-15) * (1 + m/1024), or 2^-14 * m/1024 when e = 0.
double half_reference(std::uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 0x1F, m = h & 0x3FF;
  double v;
  if (e == 0)
    v = std::ldexp(static_cast<double>(m), -24);
  else if (e == 31)
    v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  else
    v = std::ldexp(static_cast<double>(1024 + m), e - 25);
  return s != 0 ? -v : v;
}

TEST(SafetensorsRoundTrip, F32AndF64WithMetadata) {
  const std::string path = test_dir() + "/model.safetensors";
  const std::vector<float> w = {1.5f, -2.25f, 3.0f, 0.1f, -0.0f, 1e-40f, 3.4e38f, 7.0f, 8.0f, 9.0f, 10.0f, 11.0f};
  const std::vector<float> scalar = {42.5f};
  const std::vector<double> bias = {0.1, -1e300, 4.9e-324, 1.0 / 3.0};
  const std::map<std::string, std::string> meta = {
      {"format", "onsager.test"}, {"note", "h\xc3\xa9llo \"quoted\"\n{json}"}, {"empty", ""}};
  write_safetensors(path,
                    {{"weight", {3, 4}, w, {}},
                     {"scalar", {}, scalar, {}},
                     {"bias", {4}, {}, bias},
                     {"nothing", {0, 5}, {}, {}}},
                    meta);

  const std::string bytes = read_bytes(path);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u) << "header must be padded to a multiple of 8";
  EXPECT_EQ(bytes.size(), 8 + n + 12 * 4 + 4 + 4 * 8);

  SafetensorsFile f(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_EQ(f.metadata(), meta);
  ASSERT_EQ(f.tensors().size(), 4u);
  // Data-offset order: the F64 tensor is laid out first (alignment), then F32 in the caller's order;
  // the zero-size tensor sits at the end of the section.
  EXPECT_EQ(f.tensors()[0].name, "bias");
  EXPECT_EQ(f.tensors()[1].name, "weight");
  EXPECT_EQ(f.tensors()[2].name, "scalar");
  EXPECT_EQ(f.tensors()[3].name, "nothing");
  for (const auto& t : f.tensors()) EXPECT_EQ(t.begin % dtype_size(t.dtype), 0u) << t.name;

  const TensorInfo* wi = f.find("weight");
  ASSERT_NE(wi, nullptr);
  EXPECT_EQ(wi->dtype, DType::f32);
  EXPECT_EQ(wi->shape, (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(wi->numel(), 12);
  EXPECT_EQ(f.read_f32("weight"), w);
  const auto w64 = f.read_f64("weight");
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_EQ(w64[i], static_cast<double>(w[i]));
  EXPECT_TRUE(std::signbit(f.read_f32("weight")[4]));

  EXPECT_EQ(f.find("bias")->dtype, DType::f64);
  EXPECT_EQ(f.read_f64("bias"), bias);
  EXPECT_EQ(f.read_f32("bias")[0], 0.1f);
  EXPECT_EQ(f.raw("bias").size(), 32u);

  EXPECT_EQ(f.find("scalar")->shape.size(), 0u);
  EXPECT_EQ(f.find("scalar")->numel(), 1);
  EXPECT_EQ(f.read_f32("scalar"), scalar);

  EXPECT_EQ(f.find("nothing")->numel(), 0);
  EXPECT_TRUE(f.read_f32("nothing").empty());
  EXPECT_TRUE(f.raw("nothing").empty());

  EXPECT_EQ(f.find("absent"), nullptr);
  try {
    (void)f.read_f32("absent");
    ADD_FAILURE() << "read_f32 of an absent tensor must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'absent'"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)f.raw("absent"), Error);
}

TEST(SafetensorsRoundTrip, NoTensorsAndMoves) {
  const std::string dir = test_dir();
  write_safetensors(dir + "/empty.safetensors", {});
  SafetensorsFile e(dir + "/empty.safetensors");
  EXPECT_TRUE(e.tensors().empty());
  EXPECT_TRUE(e.metadata().empty());

  const std::vector<float> v = {1, 2, 3};
  write_safetensors(dir + "/a.safetensors", {{"v", {3}, v, {}}}, {{"k", "x"}});
  SafetensorsFile a(dir + "/a.safetensors");
  SafetensorsFile b(std::move(a));
  EXPECT_EQ(b.read_f32("v"), v);
  e = std::move(b);
  EXPECT_EQ(e.read_f32("v"), v);
  EXPECT_EQ(e.metadata().at("k"), "x");
  EXPECT_EQ(e.path(), dir + "/a.safetensors");
}

TEST(SafetensorsRoundTrip, Bf16IsRoundedToNearestEven) {
  // 1 + 2⁻⁸ lies halfway between bfloat16 neighbours 1 and 1 + 2⁻⁷: ties go to the even one (1); 1 + 3·2⁻⁸
  // lies halfway between 1 + 2⁻⁷ and 1 + 2⁻⁶ and goes to 1 + 2⁻⁶; just above the tie rounds up.
  const float tie_down = 1.0f + 0x1p-8f, tie_up = 1.0f + 3 * 0x1p-8f, above = std::nextafter(tie_down, 2.0f);
  const std::vector<float> v = {1.0f, -2.5f, tie_down, tie_up, above, std::numeric_limits<float>::max(),
                                std::numeric_limits<float>::quiet_NaN(), 0x1p-130f};
  const std::vector<float> f32 = {3.0f};
  const std::string path = test_dir() + "/b.safetensors";
  write_safetensors(path, {{"b", {8}, v, {}, true}, {"f", {1}, f32, {}}});
  SafetensorsFile f(path);
  EXPECT_EQ(f.find("b")->dtype, DType::bf16);
  EXPECT_EQ(f.find("f")->dtype, DType::f32);
  const std::vector<float> b = f.read_f32("b");
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -2.5f);
  EXPECT_EQ(b[2], 1.0f);
  EXPECT_EQ(b[3], 1.0f + 0x1p-6f);
  EXPECT_EQ(b[4], 1.0f + 0x1p-7f);
  EXPECT_TRUE(std::isinf(b[5]));  // FLT_MAX is above the largest bfloat16 by more than half a step
  EXPECT_TRUE(std::isnan(b[6]));
  EXPECT_EQ(b[7], 0x1p-130f);  // a subnormal that bfloat16 holds exactly
  EXPECT_EQ(f.read_f32("f"), f32);
  const std::vector<double> d = {1.0};
  EXPECT_THROW(write_safetensors(path, {{"d", {1}, {}, d, true}}), Error);
}

TEST(SafetensorsRoundTrip, OverwritesAtomically) {
  const std::string path = test_dir() + "/m.safetensors";
  const std::vector<float> one = {1}, two = {2, 2};
  write_safetensors(path, {{"x", {1}, one, {}}});
  write_safetensors(path, {{"x", {2}, two, {}}});
  EXPECT_EQ(SafetensorsFile(path).read_f32("x"), two);
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))
    EXPECT_EQ(entry.path().filename(), "m.safetensors") << "left behind: " << entry.path();
}

TEST(SafetensorsDTypes, NamesAndSizes) {
  const std::pair<DType, std::pair<const char*, std::size_t>> table[] = {
      {DType::f64, {"F64", 8}}, {DType::f32, {"F32", 4}}, {DType::f16, {"F16", 2}}, {DType::bf16, {"BF16", 2}},
      {DType::i64, {"I64", 8}}, {DType::i32, {"I32", 4}}, {DType::i16, {"I16", 2}}, {DType::i8, {"I8", 1}},
      {DType::u8, {"U8", 1}},   {DType::boolean, {"BOOL", 1}}};
  for (const auto& [d, ns] : table) {
    EXPECT_EQ(to_string(d), ns.first);
    EXPECT_EQ(dtype_size(d), ns.second);
  }
}

TEST(SafetensorsDTypes, HalfToFloatMatchesTheDefinitionForAll65536Values) {
  for (std::uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float got = half_to_float(static_cast<std::uint16_t>(h));
    const double want = half_reference(static_cast<std::uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << std::hex << h;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << std::hex << h;
      ASSERT_EQ(std::signbit(got), (h & 0x8000) != 0) << std::hex << h;
    }
  }
}

// A file built byte by byte: header text written by hand with an odd length (so the data section is not
// aligned), F16, BF16, integer and bool tensors with known values, an ignored unknown field.
TEST(SafetensorsRead, HandBuiltHalfBFloat16AndIntegersExact) {
  const std::string path = test_dir() + "/hand.safetensors";
  const std::vector<std::uint16_t> f16 = {
      0x0000, 0x8000, 0x3C00, 0xC000, 0x7BFF,  // 0, -0, 1, -2, 65504 (largest)
      0x0001, 0x03FF, 0x0400, 0x3555,          // 2^-24 (smallest subnormal), 1023 * 2^-24, 2^-14, 0.333251953125
      0x7C00, 0xFC00, 0x7E00};                 // +inf, -inf, nan
  const std::vector<float> f16_values = {0.0f, -0.0f, 1.0f, -2.0f, 65504.0f, 0x1p-24f, 1023 * 0x1p-24f, 0x1p-14f,
                                         0.333251953125f, INFINITY, -INFINITY, NAN};
  const std::vector<std::uint16_t> bf16 = {0x3F80, 0xC040, 0x4049, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x8000};
  const std::vector<float> bf16_values = {1.0f, -3.0f, 3.140625f, 0x1p-133f, INFINITY, -INFINITY, NAN, -0.0f};
  const std::vector<std::int32_t> i32 = {-7, 0, 2147483647, -2147483647 - 1};
  const std::vector<std::int64_t> i64 = {-(std::int64_t{1} << 40), 3};
  const std::vector<std::uint8_t> u8 = {0, 255, 17};
  const std::vector<std::uint8_t> flags = {1, 0};

  std::string data;
  const auto add = [&](const std::string& bytes) {
    const auto begin = data.size();
    data += bytes;
    return fmt::format("[{}, {}]", begin, data.size());
  };
  const std::string o_f16 = add(bytes_of(f16)), o_bf16 = add(bytes_of(bf16)), o_i32 = add(bytes_of(i32)),
                    o_i64 = add(bytes_of(i64)), o_u8 = add(bytes_of(u8)), o_flags = add(bytes_of(flags));
  // Entries deliberately not in offset order, with whitespace, an unknown field and metadata.
  std::string header = fmt::format(
      R"({{ "bf" : {{"dtype":"BF16","shape":[2,4],"data_offsets":{}}},)"
      R"( "__metadata__": {{"who": "hand"}},)"
      R"( "h": {{"shape":[3,4],"data_offsets":{},"dtype":"F16","extra":{{"a":[1,[2,{{}}]],"b":null}}}},)"
      R"( "i": {{"dtype":"I32","shape":[4],"data_offsets":{}}}, "l": {{"dtype":"I64","shape":[2],"data_offsets":{}}},)"
      R"( "u": {{"dtype":"U8","shape":[3],"data_offsets":{}}}, "b": {{"dtype":"BOOL","shape":[2],"data_offsets":{}}}}})",
      o_bf16, o_f16, o_i32, o_i64, o_u8, o_flags);
  if (header.size() % 2 == 0) header += ' ';  // trailing whitespace is valid JSON; data now starts at an odd offset
  ASSERT_EQ(header.size() % 2, 1u);
  write_bytes(path, assemble(header, data));

  SafetensorsFile f(path);
  EXPECT_EQ(f.metadata().at("who"), "hand");
  ASSERT_EQ(f.tensors().size(), 6u);
  EXPECT_EQ(f.tensors()[0].name, "h");
  EXPECT_EQ(f.tensors()[1].name, "bf");
  EXPECT_EQ(f.find("h")->dtype, DType::f16);
  EXPECT_EQ(f.find("bf")->dtype, DType::bf16);
  EXPECT_EQ(f.find("h")->shape, (std::vector<std::int64_t>{3, 4}));

  const auto check = [](const std::vector<float>& got, const std::vector<float>& want, const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << what << "[" << i << "]";
      } else {
        EXPECT_EQ(got[i], want[i]) << what << "[" << i << "]";
        EXPECT_EQ(std::signbit(got[i]), std::signbit(want[i])) << what << "[" << i << "]";
      }
    }
  };
  check(f.read_f32("h"), f16_values, "f16");
  check(f.read_f32("bf"), bf16_values, "bf16");
  const auto h64 = f.read_f64("h");
  EXPECT_EQ(h64[5], std::ldexp(1.0, -24));
  EXPECT_TRUE(std::isinf(h64[9]) && h64[9] > 0);
  EXPECT_EQ(f.read_f64("bf")[3], std::ldexp(1.0, -133));

  EXPECT_EQ(f.read_f64("i"), (std::vector<double>{-7, 0, 2147483647.0, -2147483648.0}));
  EXPECT_EQ(f.read_f64("l"), (std::vector<double>{-1099511627776.0, 3}));
  EXPECT_EQ(f.read_f32("u"), (std::vector<float>{0, 255, 17}));
  EXPECT_EQ(f.read_f32("b"), (std::vector<float>{1, 0}));
  EXPECT_EQ(bytes_of(f16), std::string(reinterpret_cast<const char*>(f.raw("h").data()), f.raw("h").size()));
}

TEST(SafetensorsRead, ZeroSizeTensorsAnywhere) {
  const std::string path = test_dir() + "/zero.safetensors";
  const std::vector<float> a = {1, 2};
  const std::string header =
      R"({"z1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("z2":{"dtype":"F64","shape":[4611686018427387904,0],"data_offsets":[8,8]},"z3":{"dtype":"U8","shape":[0,3],"data_offsets":[8,8]}})";
  write_bytes(path, assemble(header, bytes_of(a)));
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.read_f32("a"), a);
  EXPECT_TRUE(f.read_f64("z2").empty());
  EXPECT_EQ(f.find("z2")->numel(), 0);
  EXPECT_TRUE(f.read_f32("z3").empty());
}

// Every malformed file: one error naming the file and saying what is wrong.
TEST(SafetensorsCorrupt, EachDefectGivesAClearError) {
  const std::string dir = test_dir();
  const std::string f32x2 = bytes_of(std::vector<float>{1, 2});
  const std::string f32x3 = bytes_of(std::vector<float>{1, 2, 3});
  struct Case {
    const char* name;
    std::string bytes;
    const char* fragment;
  };
  const auto one = [](const std::string& entry) { return std::string(R"({"w":)") + entry + "}"; };
  const std::vector<Case> cases = {
      {"empty", "", "0 bytes"},
      {"short", std::string("\x02\0\0\0\0", 5), "5 bytes"},
      {"header_past_end", le64(1000) + "{}", "runs past the end"},
      {"header_huge", le64(std::uint64_t{1} << 63) + "{}", "runs past the end"},
      {"header_zero", le64(0), "not valid JSON"},
      {"bad_json", assemble(R"({"w": {"dtype": "F32",)", ""), "not valid JSON"},
      {"bad_utf8", assemble("{\"w\xff\": 1}", ""), "not valid JSON"},
      {"trailing_garbage", assemble("{} x", ""), "not valid JSON"},
      {"not_object", assemble("[1, 2]", ""), "not a JSON object"},
      {"entry_not_object", assemble(R"({"w": [1]})", ""), "entry must be an object"},
      {"missing_offsets", assemble(one(R"({"dtype":"F32","shape":[2]})"), f32x2), "missing 'data_offsets'"},
      {"missing_dtype", assemble(one(R"({"shape":[2],"data_offsets":[0,8]})"), f32x2), "missing 'dtype'"},
      {"dtype_not_string", assemble(one(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"), f32x2),
       "dtype must be a string"},
      {"shape_not_array", assemble(one(R"({"dtype":"F32","shape":"2","data_offsets":[0,8]})"), f32x2),
       "shape must be an array"},
      {"shape_nested", assemble(one(R"({"dtype":"F32","shape":[[2]],"data_offsets":[0,8]})"), f32x2),
       "non-negative integers"},
      {"shape_negative", assemble(one(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"), f32x2),
       "negative number"},
      {"shape_float", assemble(one(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), f32x2),
       "non-integer"},
      {"shape_absurd", assemble(one(R"({"dtype":"F32","shape":[4611686018427387904,4611686018427387904],)"
                                    R"("data_offsets":[0,8]})"),
                                f32x2),
       "absurd shape"},
      {"shape_dim_too_big", assemble(one(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]})"),
                                     f32x2),
       "absurd dimension"},
      {"shape_bytes_overflow", assemble(one(R"({"dtype":"F64","shape":[2305843009213693953],"data_offsets":[0,8]})"),
                                        f32x2),
       "byte count overflows"},
      {"unknown_dtype", assemble(one(R"({"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]})"), f32x2),
       "unsupported dtype 'F8_E4M3'"},
      {"offsets_three", assemble(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8,9]})"), f32x2),
       "data_offsets must be [begin, end]"},
      {"offsets_beyond_end", assemble(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,12]})"), f32x2),
       "outside the 8-byte data section"},
      {"offsets_reversed", assemble(one(R"({"dtype":"F32","shape":[0],"data_offsets":[8,0]})"), f32x2),
       "outside"},
      {"shape_byte_mismatch", assemble(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), f32x2),
       "needs 12"},
      {"overlap",
       assemble(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                f32x3),
       "overlapping"},
      {"gap",
       assemble(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                f32x3),
       "gap"},
      {"uncovered_tail", assemble(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})"), f32x3),
       "belong to no tensor"},
      {"duplicate_names",
       assemble(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                f32x2),
       "duplicate entry 'w'"},
      {"duplicate_field", assemble(one(R"({"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]})"), f32x2),
       "duplicate key 'dtype'"},
      {"metadata_not_string", assemble(R"({"__metadata__":{"epochs":3}})", ""), "must be a string"},
      {"metadata_not_object", assemble(R"({"__metadata__":"x"})", ""), "__metadata__ must be an object"},
      {"metadata_duplicate", assemble(R"({"__metadata__":{"a":"1","a":"2"}})", ""), "duplicate metadata key 'a'"},
      {"name_with_newline", assemble("{\"a\\nb\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}", ""),
       "tensor 'a\\x0ab': unsupported dtype"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir + "/" + c.name + ".safetensors";
    write_bytes(path, c.bytes);
    expect_rejected(path, c.fragment);
  }

  std::string dims = "1";
  for (int i = 0; i < 100; ++i) dims += ",1";
  const std::string rank_path = dir + "/rank.safetensors";
  write_bytes(rank_path, assemble(one(R"({"dtype":"F32","shape":[)" + dims + R"(],"data_offsets":[0,4]})"),
                                  bytes_of(std::vector<float>{1})));
  expect_rejected(rank_path, "more than 64 dimensions");

  // A valid file cut short anywhere in its data section.
  const std::string good = dir + "/good.safetensors";
  const std::vector<float> v(10, 1.0f);
  write_safetensors(good, {{"v", {10}, v, {}}});
  const std::string full = read_bytes(good);
  write_bytes(dir + "/cut.safetensors", full.substr(0, full.size() - 4));
  expect_rejected(dir + "/cut.safetensors", "outside the 36-byte data section");

  expect_rejected(dir + "/missing.safetensors", "cannot open");
  expect_rejected(dir, "not a regular file");
}

TEST(SafetensorsCorrupt, HeaderLengthLimit) {
  // A 100 MB+ header is refused from its length alone, before parsing (the file is sparse).
  const std::string path = test_dir() + "/big.safetensors";
  write_bytes(path, le64(100'000'001));
  fs::resize_file(path, 8 + 100'000'001);
  expect_rejected(path, "exceeds the 100000000-byte limit");
}

TEST(SafetensorsCorrupt, DeepNestingIsNotACrash) {
  const std::string dir = test_dir();
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  // Inside an ignored field: skipped without recursion, the file is valid.
  write_bytes(dir + "/ignored.safetensors",
              assemble(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":)" + deep + "}}", "\x05"));
  EXPECT_EQ(SafetensorsFile(dir + "/ignored.safetensors").read_f32("w"), std::vector<float>{5});
  // Where a tensor entry is expected: refused at the first bracket.
  write_bytes(dir + "/entry.safetensors", assemble(R"({"w":)" + deep + "}", ""));
  expect_rejected(dir + "/entry.safetensors", "entry must be an object");
}

// Every truncation and many single-byte changes of a valid file either load (and then read cleanly) or
// throw onsager::Error; nothing crashes, hangs or throws anything else.
TEST(SafetensorsCorrupt, MutationSweepNeverCrashes) {
  const std::string dir = test_dir();
  const std::string good = dir + "/good.safetensors";
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  const std::vector<double> b = {0.5, -0.5};
  write_safetensors(good, {{"a", {2, 3}, a, {}}, {"b", {2}, {}, b}}, {{"k", "v"}});
  const std::string full = read_bytes(good);
  const std::string path = dir + "/mutant.safetensors";
  int loaded = 0, rejected = 0;
  const auto attempt = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    try {
      SafetensorsFile f(path);
      for (const auto& t : f.tensors()) {
        EXPECT_EQ(f.read_f64(t.name).size(), static_cast<std::size_t>(t.numel()));
        EXPECT_EQ(f.raw(t.name).size(), t.end - t.begin);
      }
      ++loaded;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      ++rejected;
    }
  };
  for (std::size_t len = 0; len < full.size(); ++len) attempt(full.substr(0, len));
  const char replacements[] = {'\0', ' ', '"', '{', '}', '[', ']', ',', ':', '9', '-', 'x', '\xff'};
  for (std::size_t i = 0; i < full.size(); ++i)
    for (const char r : replacements) {
      if (full[i] == r) continue;
      std::string m = full;
      m[i] = r;
      attempt(m);
    }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(loaded, 0);  // flips inside the data section still load
}

TEST(SafetensorsWrite, RefusesBadInputAndLeavesNoFile) {
  const std::string dir = test_dir();
  const std::vector<float> v = {1, 2, 3, 4};
  const std::vector<double> d = {1, 2};
  struct Case {
    const char* name;
    std::vector<TensorToWrite> tensors;
    std::map<std::string, std::string> meta;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {"duplicate", {{"w", {4}, v, {}}, {"w", {2}, {}, d}}, {}, "duplicate tensor name 'w'"},
      {"size_mismatch", {{"w", {2, 3}, v, {}}}, {}, "has 4 values but shape [2, 3] needs 6"},
      {"missing_data", {{"w", {2}, {}, {}}}, {}, "has 0 values"},
      {"both_spans", {{"w", {2}, std::span(v).first(2), d}}, {}, "both float and double"},
      {"negative_dim", {{"w", {-1, -4}, v, {}}}, {}, "negative dimension"},
      {"absurd_shape", {{"w", {std::int64_t{1} << 62, 4, 0}, {}, {}}}, {}, "absurd shape"},
      {"metadata_name", {{"__metadata__", {4}, v, {}}}, {}, "invalid tensor name"},
      {"empty_name", {{"", {4}, v, {}}}, {}, "invalid tensor name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir + "/" + c.name + ".safetensors";
    try {
      write_safetensors(path, c.tensors, c.meta);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.fragment), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(fs::is_empty(dir)) << "a refused write left a file behind";

  // A refused write leaves an existing file untouched.
  const std::string keep = dir + "/keep.safetensors";
  write_safetensors(keep, {{"w", {4}, v, {}}});
  const std::string before = read_bytes(keep);
  EXPECT_THROW(write_safetensors(keep, {{"w", {5}, v, {}}}), Error);
  EXPECT_EQ(read_bytes(keep), before);
}

// The independent Python/NumPy reader loads our files and agrees on every tensor's dtype, shape and sum.
TEST(SafetensorsPython, IndependentReaderAgrees) {
  if (std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0)
    ONSAGER_MISSING("/usr/bin/python3 with numpy is not available (scripts/setup.sh installs python3-numpy)");
  const std::string dir = test_dir();
  const std::string script = std::string(ONSAGER_SOURCE_DIR) + "/tests/cli/read_safetensors.py";
  const std::string path = dir + "/model.safetensors";
  std::vector<float> w(6 * 5);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = std::sin(static_cast<float>(i)) * 3.0f;
  const std::vector<double> b = {0.25, -1.5, 1e-3};
  const std::vector<float> s = {7.0f};
  write_safetensors(path, {{"layers.0.weight", {6, 5}, w, {}}, {"bias", {3}, {}, b}, {"s", {}, s, {}}},
                    {{"format", "x"}, {"epochs", "3"}});

  const auto run = [](const std::string& cmd, std::string& out) {
    out.clear();
    std::FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return -1;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = ::pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  std::string out;
  ASSERT_EQ(run("/usr/bin/python3 '" + script + "' '" + path + "'", out), 0) << out;

  SafetensorsFile f(path);
  std::istringstream lines(out);
  std::string line;
  std::size_t i = 0;
  for (const auto& t : f.tensors()) {
    ASSERT_TRUE(std::getline(lines, line)) << out;
    std::istringstream fields(line);
    std::string name, dtype, shape;
    double sum = 0;
    fields >> name >> dtype >> shape >> sum;
    EXPECT_EQ(name, t.name);
    EXPECT_EQ(dtype, to_string(t.dtype));
    std::vector<std::string> dims;
    for (const auto d : t.shape) dims.push_back(std::to_string(d));
    EXPECT_EQ(shape, fmt::format("[{}]", fmt::join(dims, ",")));
    const auto values = f.read_f64(t.name);
    const double want = std::accumulate(values.begin(), values.end(), 0.0);
    EXPECT_NEAR(sum, want, 1e-12 * (1 + std::abs(want))) << line;
    ++i;
  }
  EXPECT_EQ(i, 3u);
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_EQ(line, "metadata: epochs format");

  EXPECT_EQ(run("/usr/bin/python3 '" + script + "' '" + path + "' --check layers.0.weight=6,5 bias=3 s= 2>&1", out),
            0)
      << out;
  EXPECT_EQ(run("/usr/bin/python3 '" + script + "' '" + path + "' --check layers.0.weight=5,6 2>&1", out), 1) << out;
  EXPECT_EQ(run("/usr/bin/python3 '" + script + "' '" + path + "' --check nope=1 2>&1", out), 1) << out;

  // The hand-built F16/BF16 file of the reader test is read the same way (sums of finite values).
  const std::vector<std::uint16_t> h = {0x3C00, 0x0001, 0xC000}, bf = {0x3F80, 0x4049};
  const std::string hand = dir + "/hand.safetensors";
  write_bytes(hand, assemble(R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
                             R"("bf":{"dtype":"BF16","shape":[2],"data_offsets":[6,10]}})",
                             bytes_of(h) + bytes_of(bf)));
  ASSERT_EQ(run("/usr/bin/python3 '" + script + "' '" + hand + "'", out), 0) << out;
  EXPECT_EQ(out, fmt::format("h F16 [3] {}\nbf BF16 [2] {}\nmetadata:\n", "-0.9999999403953552", "4.140625"));
  // And it rejects what the C++ reader rejects.
  write_bytes(hand, assemble(R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})", bytes_of(h)));
  EXPECT_EQ(run("/usr/bin/python3 '" + script + "' '" + hand + "' 2>&1", out), 2) << out;
}

}  // namespace
}  // namespace onsager
