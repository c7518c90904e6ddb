#pragma once
// File helpers shared by the unit tests: a fresh directory per test, and raw byte reads and writes.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace onsager::testing {

/// A fresh, empty directory ONSAGER_TEST_TMP/<area>/<suite>.<test> for the running test.
inline std::string test_dir(const std::string& area) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path p =
      std::filesystem::path(ONSAGER_TEST_TMP) / area / (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

/// Writes `bytes` to `path` as they are (no atomic rename: tests build corrupt files on purpose).
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

/// The whole file as bytes (empty when it cannot be read).
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace onsager::testing
