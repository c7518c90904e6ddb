#include "onsager/core/file.hpp"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "onsager/core/error.hpp"
#include "onsager/core/output.hpp"

namespace onsager {

std::string read_file(const std::string& path) {
  refuse_special_file(path, "");
  std::error_code ec;
  ONSAGER_CHECK(!std::filesystem::is_directory(path, ec), "{}: is a directory, expected a file", path);
  std::ifstream in(path, std::ios::binary);
  ONSAGER_CHECK(in.good(), "{}: cannot open ({})", path, std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ONSAGER_CHECK(!in.bad(), "{}: read error", path);
  return bytes;
}

std::string read_file_maybe_gzip(const std::string& path, std::size_t max_bytes) {
  std::string raw = read_file(path);
  if (raw.size() < 2 || static_cast<unsigned char>(raw[0]) != 0x1f || static_cast<unsigned char>(raw[1]) != 0x8b)
    return raw;
  z_stream zs{};
  ONSAGER_CHECK(inflateInit2(&zs, 15 + 32) == Z_OK, "{}: cannot initialise zlib", path);
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(raw.data());
  zs.avail_in = static_cast<uInt>(raw.size());
  std::string out;
  char buf[1 << 16];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    ONSAGER_CHECK(rc == Z_OK || rc == Z_STREAM_END,
                  "{}: corrupt gzip data ({}); delete it and run scripts/setup.sh again", path,
                  zs.msg ? zs.msg : "unexpected end of data");
    out.append(buf, sizeof buf - zs.avail_out);
    ONSAGER_CHECK(out.size() <= max_bytes, "{}: decompresses to more than {} bytes", path, max_bytes);
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)
      ONSAGER_FAIL("{}: truncated gzip data; delete it and run scripts/setup.sh again", path);
  }
  return out;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  // Registered while it exists, so that SIGINT/SIGTERM removes it (install_cleanup_handlers).
  struct Registered {
    int slot;
    ~Registered() { detail::unregister_temporary(slot); }
  } registered{detail::register_temporary(tmp)};
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  ONSAGER_CHECK(f != nullptr, "{}: cannot write ({})", path, std::strerror(errno));
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0 &&
                  ::fsync(::fileno(f)) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(tmp.c_str());
    ONSAGER_FAIL("{}: write failed ({})", path, std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    ONSAGER_FAIL("{}: cannot rename the finished file into place ({})", path, std::strerror(err));
  }
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

}  // namespace onsager
