// The data module: every reader on small fixtures written here (including hand-made headers, independent of
// the writers), every corrupt-input path it must reject without crashing or allocating, binarization, and the
// named data sets' fixed splits when scripts/setup.sh has installed them.

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/readers.hpp"
#include "onsager/data/transforms.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;

// A fresh directory for the running test.
std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path p = fs::path(ONSAGER_TEST_TMP) / "data" / (std::string(info->test_suite_name()) + "." + info->name());
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// Expects `f` to throw onsager::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no onsager::Error thrown; expected one mentioning '" << *parts.begin() << "'";
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "multi-line message: " << what;
  }
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string idx_file(std::uint32_t magic, const std::vector<std::uint32_t>& dims, const std::string& payload) {
  std::string s = be32(magic);
  for (auto d : dims) s += be32(d);
  return s + payload;
}

// n images of h x w with pixel (i, k) = (7 i + 3 k) mod 256.
std::string idx_pixels(int n, int h, int w) {
  std::string p;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < h * w; ++k) p.push_back(static_cast<char>((7 * i + 3 * k) % 256));
  return p;
}

// An .npy file with a hand-written header (version 1 or 2), independent of write_npy.
std::string npy_file(const std::string& descr, bool fortran, const std::string& shape, const std::string& payload,
                     int version = 1) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  const std::size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + dict.size() + 1) % 64 != 0) dict.push_back(' ');
  dict.push_back('\n');
  std::string s("\x93NUMPY", 6);
  s.push_back(static_cast<char>(version));
  s.push_back('\0');
  s.push_back(static_cast<char>(dict.size() & 0xff));
  s.push_back(static_cast<char>((dict.size() >> 8) & 0xff));
  if (version != 1) s.append(2, '\0');
  return s + dict + payload;
}

template <class T>
std::string le_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// The directory with the installed data sets: $ONSAGER_DATA, else the source tree's data/.
std::string installed_data_dir() {
  if (const char* env = std::getenv("ONSAGER_DATA"); env != nullptr && *env != '\0') return env;
  return (fs::path(ONSAGER_SOURCE_DIR) / "data").string();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---------------------------------------------------------------------------------------------- IDX

TEST(DataIdx, RoundTripRawWithLabels) {
  const std::string dir = test_dir();
  write_raw(dir + "/toy-images-idx3-ubyte", idx_file(0x803, {5, 3, 4}, idx_pixels(5, 3, 4)));
  write_raw(dir + "/toy-labels-idx1-ubyte", idx_file(0x801, {5}, std::string("\x03\x01\x04\x01\x05", 5)));
  const Dataset d = read_idx(dir + "/toy-images-idx3-ubyte");
  ASSERT_EQ(d.x.rows(), 5);
  ASSERT_EQ(d.x.cols(), 12);
  EXPECT_EQ(d.height, 3);
  EXPECT_EQ(d.width, 4);
  EXPECT_EQ(d.scale, 255);
  for (int i = 0; i < 5; ++i)
    for (int k = 0; k < 12; ++k) EXPECT_FLOAT_EQ(d.x(i, k), static_cast<float>((7 * i + 3 * k) % 256) / 255.0f);
  EXPECT_EQ(d.labels, (std::vector<int>{3, 1, 4, 1, 5}));
  EXPECT_EQ(d.raw_min, 0);
  EXPECT_EQ(d.raw_max, (7 * 4 + 3 * 11) % 256);
  EXPECT_EQ(read_idx_labels(dir + "/toy-labels-idx1-ubyte"), (std::vector<int>{3, 1, 4, 1, 5}));
}

TEST(DataIdx, RoundTripGzipViaLoadDataset) {
  const std::string dir = test_dir();
  write_gz(dir + "/t-images-idx3-ubyte.gz", idx_file(0x803, {4, 2, 2}, idx_pixels(4, 2, 2)));
  write_gz(dir + "/t-labels-idx1-ubyte.gz", idx_file(0x801, {4}, std::string("\x00\x01\x02\x03", 4)));
  const Dataset d = load_dataset(dir + "/t-images-idx3-ubyte.gz", Split::all);
  EXPECT_EQ(d.name, dir + "/t-images-idx3-ubyte.gz");
  ASSERT_EQ(d.x.rows(), 4);
  EXPECT_EQ(d.x.cols(), 4);
  EXPECT_FLOAT_EQ(d.x(3, 3), static_cast<float>(7 * 3 + 3 * 3) / 255.0f);
  EXPECT_EQ(d.labels, (std::vector<int>{0, 1, 2, 3}));
  // No labels beside it: none are read.
  write_raw(dir + "/plain.idx", idx_file(0x803, {2, 2, 2}, idx_pixels(2, 2, 2)));
  EXPECT_TRUE(load_dataset(dir + "/plain.idx", Split::train).labels.empty());
  // A 2-D IDX file (n x d) is not an image.
  write_raw(dir + "/flat.idx", idx_file(0x802, {3, 5}, idx_pixels(3, 5, 1)));
  const Dataset f = read_idx(dir + "/flat.idx");
  EXPECT_EQ(f.x.cols(), 5);
  EXPECT_EQ(f.height, 0);
}

TEST(DataIdx, RejectsCorruptFiles) {
  const std::string dir = test_dir();
  const std::string p = dir + "/bad-images-idx3-ubyte";
  write_raw(p, idx_file(0x803, {5, 3, 4}, idx_pixels(5, 3, 4).substr(0, 50)));
  expect_error([&] { read_idx(p); }, {p, "truncated", "5 x 3 x 4 = 60 bytes", "50"});
  write_raw(p, idx_file(0x803, {5, 3, 4}, idx_pixels(5, 3, 4) + "xyz"));
  expect_error([&] { read_idx(p); }, {p, "3 unexpected bytes"});
  write_raw(p, idx_file(0x12345678, {1, 1, 1}, "a"));
  expect_error([&] { read_idx(p); }, {p, "not an IDX file", "0x12345678"});
  write_raw(p, idx_file(0xD03, {1, 1, 1}, "abcd"));
  expect_error([&] { read_idx(p); }, {p, "0x0d", "float32"});
  write_raw(p, idx_file(0x801, {3}, "abc"));
  expect_error([&] { read_idx(p); }, {p, "label file"});
  write_raw(p, idx_file(0x804, {1, 1, 1, 1}, "a"));
  expect_error([&] { read_idx(p); }, {p, "4 dimensions"});
  write_raw(p, std::string("\x00\x00\x08\x03\x00\x00", 6));
  expect_error([&] { read_idx(p); }, {p, "truncated IDX header"});
  write_raw(p, "");
  expect_error([&] { read_idx(p); }, {p, "not an IDX file"});
  write_raw(p, idx_file(0x803, {0, 28, 28}, ""));
  expect_error([&] { read_idx(p); }, {p, "no data"});
  expect_error([&] { read_idx(dir + "/missing-images-idx3-ubyte"); }, {"missing-images-idx3-ubyte"});
  // A truncated gzip stream.
  std::string gz_path = dir + "/g.idx.gz";
  write_gz(gz_path, idx_file(0x803, {50, 28, 28}, idx_pixels(50, 28, 28)));
  std::string gz;
  {
    std::ifstream in(gz_path, std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_raw(gz_path, gz.substr(0, gz.size() / 2));
  expect_error([&] { read_idx(gz_path); }, {gz_path});
}

TEST(DataIdx, HugeClaimedDimsThrowWithoutAllocating) {
  const std::string dir = test_dir();
  const std::string p = dir + "/huge-images-idx3-ubyte";
  // 2^31 x 2^31 x 2^31 images claimed by a 20-byte file: bad_alloc or a hang would fail this test.
  write_raw(p, idx_file(0x803, {0x80000000u, 0x80000000u, 0x80000000u}, "abcdefgh"));
  expect_error([&] { read_idx(p); }, {p, "truncated", "more than 2^64"});
  write_raw(p, idx_file(0x803, {0xFFFFFFFFu, 0xFFFFFFFFu, 1}, "abcdefgh"));
  expect_error([&] { read_idx(p); }, {p, "truncated"});
  const std::string l = dir + "/huge-labels-idx1-ubyte";
  write_raw(l, idx_file(0x801, {0xFFFFFFFFu}, "ab"));
  expect_error([&] { read_idx_labels(l); }, {l, "truncated"});
}

TEST(DataIdx, LabelsMustMatchImages) {
  const std::string dir = test_dir();
  write_raw(dir + "/x-images-idx3-ubyte", idx_file(0x803, {3, 2, 2}, idx_pixels(3, 2, 2)));
  write_raw(dir + "/x-labels-idx1-ubyte", idx_file(0x801, {2}, "\x01\x02"));
  expect_error([&] { read_idx(dir + "/x-images-idx3-ubyte"); }, {"x-labels-idx1-ubyte", "2 labels", "3 images"});
  write_raw(dir + "/x-labels-idx1-ubyte", idx_file(0x803, {3, 1, 1}, "abc"));
  expect_error([&] { read_idx(dir + "/x-images-idx3-ubyte"); }, {"x-labels-idx1-ubyte", "not an IDX label file"});
}

// --------------------------------------------------------------------------------------------- JSON

// Writes 0.json .. 9.json where digit d holds d % 3 + 1 images; pixel k of image i of digit d is
// ((d * 31 + i * 7 + k) % 1000) / 1000.
void write_mnist_dir(const std::string& dir) {
  fs::create_directories(dir);
  for (int d = 0; d < 10; ++d) {
    std::string s = "{ \"data\": [";
    for (int i = 0; i < d % 3 + 1; ++i)
      for (int k = 0; k < 784; ++k)
        s += fmt::format("{}{}", (i || k) ? "," : "", ((d * 31 + i * 7 + k) % 1000) / 1000.0);
    s += "] }\n";
    write_raw(fmt::format("{}/{}.json", dir, d), s);
  }
}

TEST(DataJson, MnistDirectory) {
  const std::string dir = test_dir() + "/mnist";
  write_mnist_dir(dir);
  const Dataset d = load_dataset(dir, Split::all);
  int n = 0;
  for (int k = 0; k < 10; ++k) n += k % 3 + 1;
  ASSERT_EQ(d.x.rows(), n);
  ASSERT_EQ(d.x.cols(), 784);
  EXPECT_EQ(d.height, 28);
  EXPECT_EQ(d.width, 28);
  ASSERT_EQ(d.labels.size(), static_cast<std::size_t>(n));
  int row = 0;
  for (int digit = 0; digit < 10; ++digit)
    for (int i = 0; i < digit % 3 + 1; ++i, ++row) {
      EXPECT_EQ(d.labels[row], digit);
      for (int k : {0, 1, 400, 783})
        EXPECT_FLOAT_EQ(d.x(row, k), static_cast<float>(((digit * 31 + i * 7 + k) % 1000) / 1000.0));
    }
  EXPECT_GE(d.raw_min, 0);
  EXPECT_LE(d.raw_max, 1);
}

TEST(DataJson, NumberArrayReader) {
  const std::string dir = test_dir();
  write_gz(dir + "/a.json.gz", R"({"meta": {"x": [1, "s", null, true]}, "data": [0, 1e-1, 0.5, 2, -1.5E0]})");
  const std::vector<float> v = read_json_number_array(dir + "/a.json.gz", "data");
  EXPECT_EQ(v, (std::vector<float>{0.0f, 0.1f, 0.5f, 2.0f, -1.5f}));
  // The fast path (exactly {"data": [...]}) and the general parser (any other layout) agree.
  const std::string numbers = "0, 1, 0.1, 0.333333333333, 1e-3, 2.5E+2, -0, -7, 0.000001, 12345678901234567890";
  write_raw(dir + "/fast.json", "{ \"data\" :\n[" + numbers + "] }\n");
  write_raw(dir + "/slow.json", "{\"id\": 1, \"data\": [" + numbers + "]}");
  const std::vector<float> fast = read_json_number_array(dir + "/fast.json", "data");
  EXPECT_EQ(fast, read_json_number_array(dir + "/slow.json", "data"));
  EXPECT_EQ(fast.size(), 10u);
  EXPECT_EQ(fast[2], 0.1f);
  EXPECT_EQ(fast[5], 250.0f);
  write_raw(dir + "/b.json", R"({"data": []})");
  EXPECT_TRUE(read_json_number_array(dir + "/b.json", "data").empty());
}

TEST(DataJson, RejectsCorruptJson) {
  const std::string dir = test_dir();
  const std::string p = dir + "/x.json";
  write_raw(p, R"({"data": [0, 0.5, 1, 0.25)");
  expect_error([&] { read_json_number_array(p, "data"); }, {p, "truncated JSON at byte"});
  write_raw(p, R"({"data": [0, 0.5, x1]})");
  expect_error([&] { read_json_number_array(p, "data"); }, {p, "invalid JSON at byte 19"});
  write_raw(p, R"({"data": [0, [1, 2]]})");
  expect_error([&] { read_json_number_array(p, "data"); }, {p, "nested array"});
  write_raw(p, R"({"data": [0, "1"]})");
  expect_error([&] { read_json_number_array(p, "data"); }, {p, "a string inside the array"});
  write_raw(p, R"({"pixels": [0, 1]})");
  expect_error([&] { read_json_number_array(p, "data"); }, {p, "no key \"data\""});
  write_raw(p, R"([0, 1])");
  expect_error([&] { read_json_number_array(p, "data"); }, {p, "expected a JSON object"});
  write_raw(p, R"({"data": 3})");
  expect_error([&] { read_json_number_array(p, "data"); }, {p, "a number instead of an array"});
  write_raw(p, "");
  expect_error([&] { read_json_number_array(p, "data"); }, {p, "truncated JSON"});
}

TEST(DataJson, RejectsBadMnistDirectories) {
  const std::string dir = test_dir() + "/mnist";
  write_mnist_dir(dir);
  const std::string three = dir + "/3.json";
  std::string text;
  {
    std::ifstream in(three, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_raw(three, text.substr(0, text.size() - 100));
  expect_error([&] { read_mnist_json_dir(dir); }, {three, "truncated JSON at byte"});
  write_raw(three, R"({"data": [0, 0]})");
  expect_error([&] { read_mnist_json_dir(dir); }, {three, "holds 2 numbers", "not a multiple of 784"});
  std::string row;
  for (int k = 0; k < 784; ++k) {
    if (k > 0) row += ',';
    row += k == 5 ? "1.5" : "0";
  }
  write_raw(three, R"({"data": [)" + row + "]}");
  expect_error([&] { read_mnist_json_dir(dir); }, {three, "element 5", "1.5", "[0, 1]"});
  fs::remove(three);
  expect_error([&] { read_mnist_json_dir(dir); }, {three, "missing"});
  fs::create_directories(dir + "/empty");
  expect_error([&] { load_dataset(dir + "/empty", Split::all); }, {dir + "/empty", "0.json .. 9.json"});
}

// ---------------------------------------------------------------------------------------------- CSV

TEST(DataCsv, ReadsPlainAndGzip) {
  const std::string dir = test_dir();
  const std::string text = "a,b,c\n0, 0.5 ,1\r\n\n0.25,0.75,+0\n";
  write_raw(dir + "/x.csv", text);
  write_gz(dir + "/x.csv.gz", text);
  for (const std::string& p : {dir + "/x.csv", dir + "/x.csv.gz"}) {
    const Dataset d = load_dataset(p, Split::all);
    ASSERT_EQ(d.x.rows(), 2) << p;
    ASSERT_EQ(d.x.cols(), 3);
    EXPECT_FLOAT_EQ(d.x(0, 1), 0.5f);
    EXPECT_FLOAT_EQ(d.x(1, 0), 0.25f);
    EXPECT_TRUE(d.labels.empty());
    EXPECT_EQ(d.scale, 1);
    EXPECT_EQ(d.raw_max, 1);
  }
  write_raw(dir + "/y.csv", "0,16,3\n8,4,9\n");
  const Dataset y = read_csv(dir + "/y.csv", true, 16);
  EXPECT_EQ(y.labels, (std::vector<int>{3, 9}));
  EXPECT_FLOAT_EQ(y.x(0, 1), 1.0f);
  EXPECT_FLOAT_EQ(y.x(1, 0), 0.5f);
  EXPECT_EQ(y.raw_max, 16);
  EXPECT_EQ(y.scale, 16);
}

TEST(DataCsv, RejectsBadFiles) {
  const std::string dir = test_dir();
  const std::string p = dir + "/bad.csv";
  write_raw(p, "0,1,0\n1,0,1\n0,1\n");
  expect_error([&] { read_csv(p); }, {p + ":3:", "2 columns", "line 1 has 3"});
  write_raw(p, "h1,h2\n0,1\n0,abc\n");
  expect_error([&] { read_csv(p); }, {p + ":3:", "column 2", "'abc'", "not a number"});
  write_raw(p, "0,1\n0,nan\n");
  expect_error([&] { read_csv(p); }, {p + ":2:", "column 2", "finite"});
  write_raw(p, "0,1\n0,2\n");
  expect_error([&] { read_csv(p); }, {p, "[0, 2]", "must be in [0, 1]"});
  write_raw(p, "0,1\n0,,\n");
  expect_error([&] { read_csv(p); }, {p + ":2:", "column 2"});
  write_raw(p, "0,1.5\n");
  expect_error([&] { read_csv(p, true); }, {p + ":1:", "label", "1.5", "not an integer"});
  write_raw(p, "a,b\n\n");
  expect_error([&] { read_csv(p); }, {p, "no data lines"});
  write_raw(p, "");
  expect_error([&] { read_csv(p); }, {p, "no data lines"});
}

// ---------------------------------------------------------------------------------------------- NPY

TEST(DataNpy, ReadsFloatAndIntegerTypes) {
  const std::string dir = test_dir();
  const std::vector<float> f4 = {0.0f, 0.25f, 0.5f, 1.0f, 0.125f, 0.75f};
  write_raw(dir + "/f4.npy", npy_file("<f4", false, "(2, 3)", le_bytes(f4)));
  const Dataset a = load_dataset(dir + "/f4.npy", Split::all);
  ASSERT_EQ(a.x.rows(), 2);
  ASSERT_EQ(a.x.cols(), 3);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(a.x(k / 3, k % 3), f4[k]);
  EXPECT_EQ(a.scale, 1);

  const std::vector<double> f8 = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
  write_raw(dir + "/f8.npy", npy_file("<f8", false, "(2, 2, 2)", le_bytes(f8), 2));
  const Dataset b = read_npy(dir + "/f8.npy");
  ASSERT_EQ(b.x.rows(), 2);
  ASSERT_EQ(b.x.cols(), 4);
  EXPECT_EQ(b.height, 2);
  EXPECT_EQ(b.width, 2);
  EXPECT_FLOAT_EQ(b.x(1, 3), 0.8f);

  const std::vector<std::uint8_t> u1 = {0, 51, 255, 102};
  write_raw(dir + "/u1.npy", npy_file("|u1", false, "(4, 1)", le_bytes(u1)));
  const Dataset c = read_npy(dir + "/u1.npy");
  EXPECT_EQ(c.scale, 255);
  EXPECT_EQ(c.raw_max, 255);
  EXPECT_FLOAT_EQ(c.x(1, 0), 0.2f);
  EXPECT_FLOAT_EQ(c.x(2, 0), 1.0f);

  const std::vector<std::uint8_t> b1 = {1, 0, 0, 1};
  write_raw(dir + "/b1.npy", npy_file("|b1", false, "(2, 2)", le_bytes(b1)));
  EXPECT_EQ(read_npy(dir + "/b1.npy").x.sum(), 2.0f);

  const std::vector<std::int64_t> i8 = {0, 1, 1, 0, 1, 1};
  write_raw(dir + "/i8.npy", npy_file("<i8", false, "(3, 2)", le_bytes(i8)));
  EXPECT_EQ(read_npy(dir + "/i8.npy").x(2, 1), 1.0f);
  const std::vector<std::int32_t> i4 = {0, 3};
  write_raw(dir + "/i4.npy", npy_file("<i4", false, "(1, 2)", le_bytes(i4)));
  expect_error([&] { read_npy(dir + "/i4.npy"); }, {"i4.npy", "[0, 3]", "must be in [0, 1]"});
}

TEST(DataNpy, WriterRoundTrip) {
  const std::string dir = test_dir();
  MatrixF x(3, 5);
  for (int i = 0; i < 15; ++i) x.data()[i] = static_cast<float>(i) / 16.0f;
  write_npy(dir + "/w.npy", x);
  std::string bytes;
  {
    std::ifstream in(dir + "/w.npy", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GE(bytes.size(), 10u);
  const std::size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_EQ(bytes.size(), 10 + header_len + 15 * sizeof(float));
  EXPECT_NE(bytes.find("'shape': (3, 5)"), std::string::npos);
  const Dataset d = read_npy(dir + "/w.npy");
  EXPECT_EQ(d.x, x);
}

TEST(DataNpy, RejectsBadFiles) {
  const std::string dir = test_dir();
  const std::string p = dir + "/bad.npy";
  const std::string payload = le_bytes(std::vector<float>(6, 0.5f));
  write_raw(p, npy_file("<f4", true, "(2, 3)", payload));
  expect_error([&] { read_npy(p); }, {p, "Fortran-order"});
  write_raw(p, npy_file("<f4", false, "(2, 3)", payload.substr(0, 20)));
  expect_error([&] { read_npy(p); }, {p, "truncated", "24 bytes", "20 follow"});
  write_raw(p, npy_file("<f4", false, "(2, 3)", payload + "x"));
  expect_error([&] { read_npy(p); }, {p, "1 unexpected bytes"});
  write_raw(p, npy_file("<f4", false, "(4611686018427387904, 4611686018427387904, 8)", payload));
  expect_error([&] { read_npy(p); }, {p, "truncated", "more than 2^64"});
  write_raw(p, npy_file("<f4", false, "(1152921504606846976, 2)", payload));
  expect_error([&] { read_npy(p); }, {p, "truncated"});
  write_raw(p, npy_file("<f4", false, "(99999999999999999999999, 2)", payload));
  expect_error([&] { read_npy(p); }, {p, "64 bits"});
  write_raw(p, npy_file("<f4", false, "(6,)", payload));
  expect_error([&] { read_npy(p); }, {p, "1-D", "(6,)"});
  write_raw(p, npy_file("<f4", false, "(1, 1, 2, 3)", payload));
  expect_error([&] { read_npy(p); }, {p, "rank 4"});
  write_raw(p, npy_file(">f4", false, "(2, 3)", payload));
  expect_error([&] { read_npy(p); }, {p, "big-endian"});
  write_raw(p, npy_file("<c8", false, "(2, 3)", payload));
  expect_error([&] { read_npy(p); }, {p, "dtype '<c8'"});
  write_raw(p, npy_file("<f4", false, "(2, 3)", le_bytes(std::vector<float>{0, 0, 0, 0, NAN, 0})));
  expect_error([&] { read_npy(p); }, {p, "sample 1, feature 1", "NaN"});
  write_raw(p, npy_file("<f4", false, "(2, 3)", le_bytes(std::vector<float>{0, 0, INFINITY, 0, 0, 0})));
  expect_error([&] { read_npy(p); }, {p, "infinite"});
  write_raw(p, std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17));
  expect_error([&] { read_npy(p); }, {p, "truncated .npy header"});
  write_raw(p, std::string("\x93NUMPY\x01\x00\x05\x00{'a':", 15));
  expect_error([&] { read_npy(p); }, {p, "cannot parse the .npy header"});
  write_raw(p, std::string("\x93NUMPY\x09\x00\x05\x00{'a':", 15));
  expect_error([&] { read_npy(p); }, {p, "version 9.0"});
  write_raw(p, "PK\x03\x04 not numpy");
  expect_error([&] { read_npy(p); }, {p, "not a NumPy .npy file"});
  const std::string npz = dir + "/bad.npz";
  write_raw(npz, "PK");
  expect_error([&] { load_dataset(npz, Split::all); }, {npz, "unknown data format"});
}

// ------------------------------------------------------------------------------------ binarization

TEST(DataBinarize, ParseAndPrint) {
  EXPECT_EQ(parse_binarization("none").kind, Binarization::Kind::none);
  const Binarization t = parse_binarization("threshold:0.3");
  EXPECT_EQ(t.kind, Binarization::Kind::threshold);
  EXPECT_FLOAT_EQ(t.threshold, 0.3f);
  EXPECT_EQ(to_string(t), "threshold:0.3");
  const Binarization s = parse_binarization("stochastic:18446744073709551615");
  EXPECT_EQ(s.kind, Binarization::Kind::stochastic);
  EXPECT_EQ(s.seed, 18446744073709551615ULL);
  EXPECT_EQ(to_string(s), "stochastic:18446744073709551615");
  EXPECT_EQ(to_string(parse_binarization("none")), "none");
  EXPECT_EQ(to_string(parse_binarization("threshold:0.5")), "threshold:0.5");
  for (const char* bad : {"", "threshold", "threshold:", "threshold:1.5", "threshold:-0.1", "threshold:nan",
                          "threshold:0.5x", "stochastic", "stochastic:-1", "stochastic:1.5", "stochastic:abc",
                          "bernoulli:3", "None"})
    expect_error([&] { parse_binarization(bad); }, {"parse_binarization: spec", "threshold:T", "stochastic:SEED"});
}

TEST(DataBinarize, Threshold) {
  MatrixF x(2, 3);
  x << 0.0f, 0.5f, 0.51f, 1.0f, 0.2f, 0.7f;
  MatrixF y = x;
  binarize(y, parse_binarization("threshold:0.5"));
  MatrixF want(2, 3);
  want << 0, 0, 1, 1, 0, 1;
  EXPECT_EQ(y, want);
  MatrixF z = x;
  binarize(z, parse_binarization("none"));
  EXPECT_EQ(z, x);
}

TEST(DataBinarize, StochasticMeanAndReproducibility) {
  const int n = 400, d = 500;
  MatrixF x(n, d);
  for (int j = 0; j < d; ++j) x.col(j).setConstant(static_cast<float>(j % 5) / 4.0f);  // p in {0, .25, .5, .75, 1}
  MatrixF a = x, b = x, c = x;
  const int threads = num_threads();
  set_num_threads(1);
  binarize(a, parse_binarization("stochastic:7"));
  set_num_threads(4);
  binarize(b, parse_binarization("stochastic:7"));
  set_num_threads(threads);
  binarize(c, parse_binarization("stochastic:8"));
  EXPECT_EQ(a, b) << "the result depends on the thread count";
  EXPECT_NE(a, c) << "different seeds gave identical bits";
  EXPECT_TRUE(((a.array() == 0) || (a.array() == 1)).all());
  for (int r = 0; r < 5; ++r) {
    double sum = 0;
    int count = 0;
    for (int j = r; j < d; j += 5) sum += a.col(j).cast<double>().sum(), count += n;
    const double p = r / 4.0, mean = sum / count, sd = std::sqrt(p * (1 - p) / count);
    EXPECT_NEAR(mean, p, 5 * sd + 1e-12) << "p = " << p;
  }
  // Row i always uses stream (seed, i): a single-row matrix reproduces row 0.
  MatrixF row0 = x.topRows(1);
  binarize(row0, parse_binarization("stochastic:7"));
  EXPECT_EQ(row0, a.topRows(1));
}

TEST(DataBinarize, TakeRows) {
  Dataset d;
  d.name = "toy";
  d.x = MatrixF::Random(5, 3);
  d.labels = {0, 1, 2, 3, 4};
  d.height = 1;
  d.width = 3;
  d.scale = 16;
  const Dataset s = take_rows(d, {4, 1, 1});
  ASSERT_EQ(s.x.rows(), 3);
  EXPECT_EQ(s.x.row(0), d.x.row(4));
  EXPECT_EQ(s.x.row(2), d.x.row(1));
  EXPECT_EQ(s.labels, (std::vector<int>{4, 1, 1}));
  EXPECT_EQ(s.width, 3);
  EXPECT_EQ(s.scale, 16);
  expect_error([&] { take_rows(d, {5}); }, {"row 5 is out of range", "5 samples"});
}

// ------------------------------------------------------------------------------------------- splits

TEST(DataSplit, NamesAndParsing) {
  for (Split s : {Split::train, Split::validation, Split::test, Split::trainval, Split::all})
    EXPECT_EQ(parse_split(to_string(s)), s);
  EXPECT_EQ(parse_split("valid"), Split::validation);
  expect_error([] { parse_split("dev"); }, {"'dev'", "train, validation, test, trainval or all"});
  EXPECT_EQ(dataset_names(), (std::vector<std::string>{"digits", "mnist", "fashion-mnist"}));
  EXPECT_TRUE(is_dataset_name("fashion-mnist"));
  EXPECT_FALSE(is_dataset_name("MNIST"));
  expect_error([] { split_rows("cifar", Split::train); }, {"'cifar'"});
}

TEST(DataSplit, DefaultDataDirFollowsEnvironment) {
  const char* old = std::getenv("ONSAGER_DATA");
  const std::string saved = old ? old : "";
  setenv("ONSAGER_DATA", "/some/where", 1);
  EXPECT_EQ(default_data_dir(), "/some/where");
  unsetenv("ONSAGER_DATA");
  EXPECT_FALSE(default_data_dir().empty());
  if (old) setenv("ONSAGER_DATA", saved.c_str(), 1);
}

TEST(DataSplit, SplitRowsPartitionEachDataSet) {
  for (const auto& [name, n, train, valid, test] :
       {std::tuple<std::string, std::size_t, std::size_t, std::size_t, std::size_t>{"digits", 1797, 1257, 180, 360},
        {"mnist", 10000, 7000, 1000, 2000},
        {"fashion-mnist", 70000, 55000, 5000, 10000}}) {
    const auto tr = split_rows(name, Split::train), va = split_rows(name, Split::validation),
               te = split_rows(name, Split::test), tv = split_rows(name, Split::trainval),
               all = split_rows(name, Split::all);
    EXPECT_EQ(tr.size(), train) << name;
    EXPECT_EQ(va.size(), valid) << name;
    EXPECT_EQ(te.size(), test) << name;
    EXPECT_EQ(all.size(), n) << name;
    std::set<std::size_t> u(tr.begin(), tr.end());
    u.insert(va.begin(), va.end());
    u.insert(te.begin(), te.end());
    EXPECT_EQ(u.size(), n) << name << ": splits overlap";
    EXPECT_EQ(*u.rbegin(), n - 1) << name;
    std::set<std::size_t> tvs(tv.begin(), tv.end()), want(tr.begin(), tr.end());
    want.insert(va.begin(), va.end());
    EXPECT_EQ(tvs, want) << name << ": trainval != train + validation";
    EXPECT_EQ(split_rows(name, Split::test), te) << name << ": split not reproducible";
  }
}

TEST(DataSplit, ErrorsForPathsAndMissingSets) {
  const std::string dir = test_dir();
  write_raw(dir + "/x.csv", "0,1\n1,0\n");
  expect_error([&] { load_dataset(dir + "/x.csv", Split::validation); },
               {"load_dataset: split validation needs a named data set", "a file is read whole"});
  EXPECT_EQ(load_dataset(dir + "/x.csv", Split::train).x.rows(), 2);
  expect_error([&] { load_dataset("no-such-thing", Split::all); }, {"'no-such-thing'", "digits, mnist, fashion-mnist"});
  const std::string empty = dir + "/empty";
  fs::create_directories(empty);
  expect_error([&] { load_dataset("mnist", Split::train, empty); },
               {"data set 'mnist' is not installed", empty + "/mnist/0.json", "run scripts/setup.sh"});
  expect_error([&] { load_dataset("digits", Split::train, empty); },
               {"data set 'digits' is not installed", "digits.csv.gz"});
  expect_error([&] { load_dataset("fashion-mnist", Split::test, empty); },
               {"data set 'fashion-mnist' is not installed", "t10k-images-idx3-ubyte.gz"});
  // A corrupt installed file: the message names it and says how to repair it.
  fs::create_directories(empty + "/mnist");
  write_mnist_dir(empty + "/mnist");
  write_raw(empty + "/mnist/7.json", "{\"data\": [0, 1");
  expect_error([&] { load_dataset("mnist", Split::train, empty); },
               {empty + "/mnist/7.json: truncated JSON at byte", "delete " + empty + "/mnist",
                "run scripts/setup.sh again"});
  write_mnist_dir(empty + "/mnist");
  expect_error([&] { load_dataset("mnist", Split::train, empty); }, {"holds 19 images, expected 10000"});
}

// --------------------------------------------------------------------------- installed data sets

void check_split_union(const std::string& name, const std::string& dir, std::size_t train, std::size_t valid,
                       std::size_t test, int height) {
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset all = load_dataset(name, Split::all, dir);
  const double t_all = seconds_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  const Dataset tr = load_dataset(name, Split::train, dir);
  const double t_train = seconds_since(t1);
  const Dataset va = load_dataset(name, Split::validation, dir);
  const Dataset te = load_dataset(name, Split::test, dir);
  std::cout << fmt::format("[ timing   ] {}: all ({} x {}) {:.3f} s, train {:.3f} s\n", name, all.x.rows(),
                           all.x.cols(), t_all, t_train);
  EXPECT_EQ(static_cast<std::size_t>(tr.x.rows()), train);
  EXPECT_EQ(static_cast<std::size_t>(va.x.rows()), valid);
  EXPECT_EQ(static_cast<std::size_t>(te.x.rows()), test);
  EXPECT_EQ(static_cast<std::size_t>(all.x.rows()), train + valid + test);
  for (const Dataset* d : {&all, &tr, &va, &te}) {
    EXPECT_EQ(d->name, name);
    EXPECT_EQ(d->height, height);
    EXPECT_EQ(d->height * d->width, d->x.cols());
    EXPECT_EQ(d->labels.size(), static_cast<std::size_t>(d->x.rows()));
    EXPECT_GE(d->x.minCoeff(), 0.0f);
    EXPECT_LE(d->x.maxCoeff(), 1.0f);
    EXPECT_EQ(*std::min_element(d->labels.begin(), d->labels.end()), 0);
    EXPECT_EQ(*std::max_element(d->labels.begin(), d->labels.end()), 9);
  }
  // The splits are the rows split_rows names, so they are disjoint and cover `all`.
  const Dataset tr_ref = take_rows(all, split_rows(name, Split::train));
  EXPECT_EQ(tr.x, tr_ref.x);
  EXPECT_EQ(tr.labels, tr_ref.labels);
  EXPECT_EQ(va.x, take_rows(all, split_rows(name, Split::validation)).x);
  EXPECT_EQ(te.x, take_rows(all, split_rows(name, Split::test)).x);
}

TEST(DataSets, Digits) {
  const std::string dir = installed_data_dir();
  if (!fs::exists(fs::path(dir) / "digits" / "digits.csv.gz"))
    ONSAGER_MISSING("data set 'digits' is not installed in " << dir << "; run scripts/setup.sh");
  check_split_union("digits", dir, 1257, 180, 360, 8);
  const Dataset all = load_dataset("digits", Split::all, dir);
  EXPECT_EQ(all.scale, 16);
  EXPECT_EQ(all.raw_max, 16);
  EXPECT_EQ(all.x.cols(), 64);
  EXPECT_EQ(all.labels[0], 0);  // the file's first row is a 0
  const Dataset tv = load_dataset("digits", Split::trainval, dir);
  EXPECT_EQ(tv.x.rows(), 1257 + 180);
}

TEST(DataSets, Mnist) {
  const std::string dir = installed_data_dir();
  if (!fs::exists(fs::path(dir) / "mnist" / "9.json"))
    ONSAGER_MISSING("data set 'mnist' is not installed in " << dir << "; run scripts/setup.sh");
  check_split_union("mnist", dir, 7000, 1000, 2000, 28);
}

TEST(DataSets, FashionMnist) {
  const std::string dir = installed_data_dir();
  if (!fs::exists(fs::path(dir) / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"))
    ONSAGER_MISSING("data set 'fashion-mnist' is not installed in " << dir << "; run scripts/setup.sh");
  const auto t0 = std::chrono::steady_clock::now();
  const Dataset tr = load_dataset("fashion-mnist", Split::train, dir);
  const double t_train = seconds_since(t0);
  const Dataset va = load_dataset("fashion-mnist", Split::validation, dir);
  const auto t1 = std::chrono::steady_clock::now();
  const Dataset te = load_dataset("fashion-mnist", Split::test, dir);
  const double t_test = seconds_since(t1);
  std::cout << fmt::format("[ timing   ] fashion-mnist: train {:.3f} s, test {:.3f} s\n", t_train, t_test);
  EXPECT_EQ(tr.x.rows(), 55000);
  EXPECT_EQ(va.x.rows(), 5000);
  EXPECT_EQ(te.x.rows(), 10000);
  std::vector<int> counts(10, 0);
  for (const Dataset* d : {&tr, &va, &te}) {
    EXPECT_EQ(d->x.cols(), 784);
    EXPECT_EQ(d->height, 28);
    EXPECT_EQ(d->width, 28);
    EXPECT_EQ(d->scale, 255);
    EXPECT_GE(d->x.minCoeff(), 0.0f);
    EXPECT_LE(d->x.maxCoeff(), 1.0f);
    ASSERT_EQ(d->labels.size(), static_cast<std::size_t>(d->x.rows()));
  }
  for (const Dataset* d : {&tr, &va})
    for (int y : d->labels) ++counts.at(static_cast<std::size_t>(y));
  EXPECT_EQ(counts, std::vector<int>(10, 6000));
  std::vector<int> test_counts(10, 0);
  for (int y : te.labels) ++test_counts.at(static_cast<std::size_t>(y));
  EXPECT_EQ(test_counts, std::vector<int>(10, 1000));
}

}  // namespace
}  // namespace onsager
