#pragma once
// File helpers for the unit tests: a fresh directory per test, and raw byte reads and writes, on top of
// tests/support/test_support.hpp (which the fuzz targets share).

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/test_support.hpp"

/// A prerequisite (a data set, Debian's NumPy) that scripts/setup.sh installs is missing: the test fails in
/// CI (CI=true), where the setup ran, and is skipped elsewhere. `why` is streamed: ONSAGER_MISSING("no " << x);
#define ONSAGER_MISSING(why)                                                                    \
  do {                                                                                          \
    if (::onsager::testing::in_ci()) {                                                          \
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
  fresh_dir(p);
  return p.string();
}

/// Writes `bytes` to `path` as they are, failing the test when it cannot.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  ASSERT_TRUE(write_file_bytes(path, bytes)) << path;
}

}  // namespace onsager::testing
