#pragma once
// Files: whole-file reads with clear errors, and atomic writes (temporary name, then rename),
// so a failed or interrupted command never leaves a half-written output.

#include <string>
#include <string_view>

namespace onsager {

/// Reads a whole file; throws onsager::Error naming the file when it cannot be read.
std::string read_file(const std::string& path);

/// Reads a whole file, gunzipping it when it starts with the gzip magic; `max_bytes` bounds the
/// decompressed size (throws beyond it).
std::string read_file_maybe_gzip(const std::string& path, std::size_t max_bytes = std::size_t{1} << 33);

/// Writes `bytes` to `path` atomically: `path.tmp.<pid>` is written, flushed and renamed over `path`.
void write_file_atomic(const std::string& path, std::string_view bytes);

/// True when `path` names an existing file or directory.
bool path_exists(const std::string& path);

}  // namespace onsager
