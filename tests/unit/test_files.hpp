#pragma once
// File helpers shared by the unit tests: a fresh directory per test, and raw byte reads and writes.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <cstdlib>
#include <string_view>

/// A prerequisite (a data set, Debian's NumPy) that scripts/setup.sh installs is missing: the test fails in
/// CI (CI=true), where the setup ran, and is skipped elsewhere. `why` is streamed: ONSAGER_MISSING("no " << x);
#define ONSAGER_MISSING(why)                                                                    \
  do {                                                                                          \
    if (const char* ci_ = std::getenv("CI"); ci_ != nullptr && std::string_view(ci_) == "true") { \
      FAIL() << "missing in CI: " << why;                                                       \
    } else {                                                                                    \
      GTEST_SKIP() << why;                                                                      \
    }                                                                                           \
  } while (0)

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
