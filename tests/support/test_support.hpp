#pragma once
// Helpers shared by the unit tests (tests/unit, through test_files.hpp) and the fuzz targets (fuzz/): no
// GoogleTest here, so a libFuzzer binary can include it. Files are written byte for byte (no atomic rename:
// tests and fuzzers build corrupt files on purpose), and a model file is read the way `onsager analyze` does.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "onsager/io/tensor_source.hpp"

namespace onsager::testing {

/// True under CI (CI=true, as .ci/run sets it), where scripts/setup.sh has installed every prerequisite: a
/// missing data set or Python module is then a failure, not a skip.
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

/// Removes `dir` with everything in it and creates it again, empty.
inline void fresh_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir);
}

/// Writes `bytes` to `path` as they are; false when the file cannot be written.
inline bool write_file_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return out.good();
}

/// The whole file as bytes (empty when it cannot be read).
inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Opens `path` with open_tensor_source and reads every floating-point tensor, as `onsager analyze` does;
/// returns how many it read. Throws onsager::Error for a file the readers refuse.
inline int read_every_tensor(const std::string& path) {
  const auto source = open_tensor_source(path);
  int read = 0;
  for (const TensorEntry& t : source->tensors())
    if (t.floating) {
      (void)source->read(t);
      ++read;
    }
  return read;
}

}  // namespace onsager::testing
