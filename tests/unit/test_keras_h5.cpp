// Keras HDF5 reader: files written by h5py in exactly Keras's layout (fuzz/make_keras_h5.py: whole-model and
// weights-only files, a split layer_names attribute, a plain HDF5 file walked dataset by dataset) read back
// against h5py's own view moved into PyTorch's layout by NumPy (names, order, shapes, dtypes, layouts, values
// bit-exact); hostile but well-formed HDF5 files and truncated / byte-flipped files that must each give one
// error naming the file; concurrent reads equal to serial ones.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/io/model_formats.hpp"
#include "onsager/io/tensor_source.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;
using testing::read_bytes;
using testing::write_bytes;

/// Writes the fixtures with /usr/bin/python3 + h5py into a fresh directory; empty when h5py is missing.
std::string make_fixtures(bool hostile) {
  const std::string dir = testing::test_dir("keras_h5");
  const std::string cmd = fmt::format("/usr/bin/python3 {}/fuzz/make_keras_h5.py {} {} > {}/py.log 2>&1",
                                      ONSAGER_SOURCE_DIR, dir, hostile ? "--hostile" : "", dir);
  if (std::system(cmd.c_str()) != 0) return {};
  return dir;
}

std::vector<std::int64_t> ints(const nlohmann::json& j) { return j.get<std::vector<std::int64_t>>(); }
std::string str_or_empty(const nlohmann::json& j) { return j.is_null() ? std::string() : j.get<std::string>(); }

/// Compares every tensor of `h5` with h5py's view in the matching .expect.json.
void expect_matches_h5py(const std::string& h5, const std::string& format) {
  SCOPED_TRACE(h5);
  std::ifstream in(h5.substr(0, h5.size() - 3) + ".expect.json");
  const auto expected = nlohmann::json::parse(in);
  auto s = open_tensor_source(h5);
  EXPECT_EQ(s->format(), format);
  ASSERT_EQ(s->tensors().size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& e = expected[i];
    const auto& t = s->tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.index, i);
    EXPECT_EQ(t.name, e["name"].get<std::string>());
    EXPECT_EQ(t.dtype, e["dtype"].get<std::string>());
    EXPECT_EQ(t.floating, e["floating"].get<bool>());
    EXPECT_EQ(t.shape, ints(e["shape"]));
    EXPECT_EQ(t.stored_layout, str_or_empty(e["stored_layout"]));
    EXPECT_EQ(t.stored_shape, t.stored_layout.empty() ? std::vector<std::int64_t>{} : ints(e["stored_shape"]));
    EXPECT_EQ(t.op, str_or_empty(e["op"]));
    EXPECT_EQ(t.canonical, e["canonical"].get<bool>());
    EXPECT_EQ(s->read(t), e["values"].get<std::vector<double>>());  // bit-exact: every dtype widens to double
  }
}

TEST(KerasH5, FilesWrittenByH5pyInKerasLayout) {
  const std::string dir = make_fixtures(false);
  ASSERT_FALSE(dir.empty()) << "/usr/bin/python3 with h5py is missing (scripts/setup.sh installs python3-h5py)";
  expect_matches_h5py(dir + "/whole.h5", "keras-h5");
  expect_matches_h5py(dir + "/weights.h5", "keras-h5");
  expect_matches_h5py(dir + "/split.h5", "keras-h5");
  expect_matches_h5py(dir + "/plain.h5", "hdf5");
}

TEST(KerasH5, WholeModelLayoutsAndCounts) {
  const std::string dir = make_fixtures(false);
  ASSERT_FALSE(dir.empty()) << "/usr/bin/python3 with h5py is missing (scripts/setup.sh installs python3-h5py)";
  auto s = open_keras_h5_source(dir + "/whole.h5");
  // 15 weights in layer_names order; the optimizer's Adam/iter is not a model weight.
  ASSERT_EQ(s->tensors().size(), 15u);
  const auto& conv = s->tensors()[0];
  EXPECT_EQ(conv.name, "conv2d/kernel");
  EXPECT_EQ(conv.stored_shape, (std::vector<std::int64_t>{3, 3, 2, 4}));
  EXPECT_EQ(conv.shape, (std::vector<std::int64_t>{4, 2, 3, 3}));
  EXPECT_EQ(conv.stored_layout, "HWIO");
  EXPECT_EQ(conv.op, "Conv2D");
  EXPECT_TRUE(conv.canonical);
  for (const auto& t : s->tensors())
    if (t.name == "embedding/embeddings") {
      EXPECT_EQ(t.op, "Embedding");
      EXPECT_TRUE(t.canonical);
      EXPECT_TRUE(t.stored_shape.empty());
      EXPECT_EQ(t.shape, (std::vector<std::int64_t>{10, 4}));
    } else if (t.name == "dense_2_W") {  // Keras 1 names: the layout comes from the class and the rank
      EXPECT_EQ(t.op, "Dense");
      EXPECT_EQ(t.shape, (std::vector<std::int64_t>{3, 7}));
      EXPECT_EQ(t.stored_layout, "in x out");
    } else if (t.name == "counter/steps") {
      EXPECT_FALSE(t.floating);
      EXPECT_EQ(s->read(t), (std::vector<double>{0, 1, 2, 3, 4, 5}));
    }
}

TEST(KerasH5, OpenedByExtensionOrMagic) {
  const std::string dir = make_fixtures(false);
  ASSERT_FALSE(dir.empty()) << "/usr/bin/python3 with h5py is missing (scripts/setup.sh installs python3-h5py)";
  fs::copy_file(dir + "/weights.h5", dir + "/weights.hdf5");
  fs::copy_file(dir + "/weights.h5", dir + "/weights.keras_weights");
  EXPECT_EQ(open_tensor_source(dir + "/weights.hdf5")->tensors().size(), 5u);
  EXPECT_EQ(open_tensor_source(dir + "/weights.keras_weights")->tensors().size(), 5u);
}

TEST(KerasH5, ConcurrentReadsEqualSerialReads) {
  const std::string dir = make_fixtures(false);
  ASSERT_FALSE(dir.empty()) << "/usr/bin/python3 with h5py is missing (scripts/setup.sh installs python3-h5py)";
  auto s = open_tensor_source(dir + "/whole.h5");
  std::vector<std::vector<double>> serial;
  for (const auto& t : s->tensors()) serial.push_back(s->read(t));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 25; ++rep)
        for (const auto& t : s->tensors())
          if (s->read(t) != serial[t.index]) ++mismatches[static_cast<std::size_t>(k)];
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0, 0, 0}));
}

void expect_error(const std::string& path, const std::string& fragment) {
  SCOPED_TRACE(path);
  try {
    auto s = open_tensor_source(path);
    for (const auto& t : s->tensors()) s->read(t);
    ADD_FAILURE() << path << ": accepted, expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << msg;
    EXPECT_NE(msg.find(fs::path(path).filename().string()), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

TEST(KerasH5, HostileFilesGiveOneClearError) {
  const std::string dir = make_fixtures(true);
  ASSERT_FALSE(dir.empty()) << "/usr/bin/python3 with h5py is missing (scripts/setup.sh installs python3-h5py)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bad_missing_layer.h5", "layer 'ghost' named in layer_names: 'ghost' does not exist"},
      {"bad_weight_is_group.h5", "weight 'dense' of layer 'dense' is not a dataset"},
      {"bad_weight_missing.h5", "'dense/bias:0' does not exist"},
      {"bad_layer_names_int.h5", "attribute 'layer_names' is not a list of strings"},
      {"bad_weight_names_2d.h5", "attribute 'weight_names' has rank 2"},
      {"bad_model_config.h5", "'model_config' is not valid JSON"},
      {"bad_deep_config.h5", "model_config nests deeper than 256"},
      {"bad_soft_link.h5", "is a soft or external link"},
      {"bad_external_link.h5", "is a soft or external link"},
      {"bad_external_storage.h5", "stores its data in external files"},
      {"bad_huge_chunked.h5", "more elements than a"},
      {"bad_huge_contiguous.h5", "more elements than a"},
      {"bad_lzf.h5", "uses filter 32000"},
      {"bad_string_weight.h5", "holds no numbers"},
      {"bad_compound_weight.h5", "holds no numbers"},
      {"bad_dotdot.h5", "empty or relative component"},
  };
  for (const auto& [file, fragment] : cases) expect_error(dir + "/" + file, fragment);
  write_bytes(dir + "/empty.h5", "");
  expect_error(dir + "/empty.h5", "not a readable HDF5 file");
  write_bytes(dir + "/text.h5", "this is not HDF5 at all, just text");
  expect_error(dir + "/text.h5", "not a readable HDF5 file");
}

TEST(KerasH5, TruncatedFilesGiveOneClearError) {
  const std::string dir = make_fixtures(false);
  ASSERT_FALSE(dir.empty()) << "/usr/bin/python3 with h5py is missing (scripts/setup.sh installs python3-h5py)";
  for (const char* name : {"whole.h5", "weights.h5"}) {
    const std::string bytes = read_bytes(dir + "/" + name);
    ASSERT_GT(bytes.size(), 1000u);
    const std::string cut = dir + "/cut.h5";
    for (std::size_t n = 0; n < bytes.size(); n += 61) {
      write_bytes(cut, bytes.substr(0, n));
      expect_error(cut, "cut.h5: ");
    }
  }
}

// Every byte of the superblock, the root group's header and its attributes (model_config, layer_names, their
// global heap) flipped, and a sample of the rest: each file is read or refused with one error, never a crash.
// Flips here crashed libhdf5 1.10.8 itself (H5HG_read, attribute decoding) before the reader's header checks.
TEST(KerasH5, SlowFlippedBytesAreReadOrRefused) {
  const std::string dir = make_fixtures(false);
  ASSERT_FALSE(dir.empty()) << "/usr/bin/python3 with h5py is missing (scripts/setup.sh installs python3-h5py)";
  const std::string bytes = read_bytes(dir + "/whole.h5");
  const std::string path = dir + "/flip.h5";
  int refused = 0, read = 0;
  for (std::size_t i = 0; i < bytes.size(); i += (i < 3072 ? 1 : 17)) {
    std::string b = bytes;
    b[i] = static_cast<char>(b[i] ^ 0xFF);
    write_bytes(path, b);
    try {
      auto s = open_tensor_source(path);
      for (const auto& t : s->tensors())
        if (t.floating) s->read(t);
      ++read;
    } catch (const Error& e) {
      const std::string msg = e.what();
      ASSERT_NE(msg.find("flip.h5: "), std::string::npos) << "byte " << i << ": " << msg;
      ASSERT_EQ(msg.find('\n'), std::string::npos) << msg;
      ++refused;
    }
  }
  EXPECT_GT(refused, 1000);  // most of the header bytes matter
  EXPECT_GT(read, 100);      // flips in data or padding leave a readable file
}


TEST(KerasH5, FuzzerFindingsAreRefused) {
  // Inputs fuzz_keras_h5 found, kept in tests/unit/regressions/: each made libhdf5 allocate or crash before the
  // check that now refuses it (the free-list loop: 24 GB and still running after 80 s).
  struct Case { const char* file; const char* message; };
  for (const Case& c : {Case{"keras_h5_driver_info_size.h5", "driver information block claims 1095059456 bytes"},
                        Case{"keras_h5_local_heap_free_list_loop.h5", "its local heap's free list loops"},
                        Case{"keras_h5_enum_name_unterminated.h5", "an enum member name runs past its datatype"},
                        // An empty string attribute whose heap collection has a zero-size free-space record: libhdf5
                        // still walks that collection, and looped for ever.
                        Case{"keras_h5_empty_string_heap_loop.h5", "has a malformed free-space record"},
                        // A variable-length name whose element claims 1 byte for a 6,000-byte heap object, and an
                        // empty one naming object 60,000 of a one-object collection: libhdf5 copies the whole object
                        // into a 4,096-byte buffer, or reads past its object table (both segfaulted the reader; they
                        // are the two ways to the heap-buffer-overflow fuzz_keras_h5 found in H5HG_read).
                        Case{"keras_h5_vlen_object_overflow.h5", "claims a 1-byte string whose heap object holds 6000 bytes"},
                        Case{"keras_h5_vlen_index_past_table.h5", "refers to global heap object 60000 that does not exist"}}) {
    const std::string path = std::string(ONSAGER_SOURCE_DIR) + "/tests/unit/regressions/" + c.file;
    try {
      (void)testing::read_every_tensor(path);  // what the fuzz target does with it
      ADD_FAILURE() << c.file << " was accepted";
    } catch (const onsager::Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
  }
}
}  // namespace
}  // namespace onsager
