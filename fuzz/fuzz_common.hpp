#pragma once
// Shared by the libFuzzer targets in this directory (fuzz/README.md): each target turns the fuzzer's bytes into
// one or more files and opens them the way `onsager analyze` does, reading every floating-point tensor. A clear
// onsager::Error is the expected outcome for bad input; a crash, a sanitizer report, a hang, or an allocation
// beyond -malloc_limit_mb is a bug.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "onsager/core/error.hpp"
#include "support/test_support.hpp"

namespace onsager::fuzz {

inline std::string bytes(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// A fresh directory per process (under $TMPDIR or /tmp), emptied before each input.
inline const std::filesystem::path& work_dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    auto d = std::filesystem::path(tmp ? tmp : "/tmp") / ("onsager-fuzz-" + std::to_string(::getpid()));
    testing::fresh_dir(d);
    return d;
  }();
  return dir;
}

/// Writes `files` (name -> bytes) into the work directory, opens `open_name` there with open_tensor_source,
/// reads every floating tensor, and swallows onsager::Error. Always returns 0.
inline int open_and_read(const std::map<std::string, std::string>& files, const std::string& open_name) {
  const auto& dir = work_dir();
  testing::fresh_dir(dir);
  for (const auto& [name, content] : files) (void)testing::write_file_bytes(dir / name, content);
  try {
    (void)testing::read_every_tensor((dir / open_name).string());
  } catch (const onsager::Error&) {
  }
  return 0;
}

/// Splits `input` at the first occurrence of `separator` (the whole input is the first part if absent), for
/// targets that need two files (a JSON manifest and its binary shard, say).
inline std::pair<std::string, std::string> split(const std::string& input, const std::string& separator) {
  const auto at = input.find(separator);
  if (at == std::string::npos) return {input, {}};
  return {input.substr(0, at), input.substr(at + separator.size())};
}

}  // namespace onsager::fuzz
