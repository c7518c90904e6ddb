// Zip archives, read by hand: the format is small and the checks matter (see zip.hpp).

#include "io/zip.hpp"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>

#include "onsager/core/error.hpp"

namespace onsager {
namespace {

constexpr std::uint64_t kMaxMembers = 1'000'000;

std::uint16_t le16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t le32(const unsigned char* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}
std::uint64_t le64(const unsigned char* p) { return std::uint64_t{le32(p)} | (std::uint64_t{le32(p + 4)} << 32); }

struct FileReader {
  std::ifstream in;
  const std::string& path;
  const std::string& corrupt;
  std::uint64_t size;
  std::string read(std::uint64_t offset, std::uint64_t n, std::string_view what) {
    ONSAGER_CHECK(offset <= size && n <= size - offset, "{}: {}: {} lies outside the file ({} bytes at {}, file {} bytes)",
                  path, corrupt, what, n, offset, size);
    std::string s(n, '\0');
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(s.data(), static_cast<std::streamsize>(n));
    ONSAGER_CHECK(in.good(), "{}: read error at byte {}", path, offset);
    return s;
  }
};

FileReader open_reader(const std::string& path, const std::string& corrupt) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  ONSAGER_CHECK(!ec, "{}: cannot open ({})", path, ec.message());
  FileReader r{std::ifstream(path, std::ios::binary), path, corrupt, size};
  ONSAGER_CHECK(r.in.good(), "{}: cannot open", path);
  return r;
}

}  // namespace

ZipArchive::ZipArchive(const std::string& path, std::string_view kind) : path_(path) {
  // "npz" keeps the .npz reader's wording ("corrupt .npz", "not an .npz (zip) file").
  const bool npz = kind == "npz";
  kind_ = npz ? "corrupt .npz" : fmt::format("corrupt {}", kind);
  const std::string not_one = npz ? "not an .npz (zip) file" : fmt::format("not a {} (zip) file", kind);
  FileReader r = open_reader(path, kind_);
  file_size_ = r.size;
  ONSAGER_CHECK(r.size >= 22, "{}: {}: {} bytes is too short", path, not_one, r.size);
  // The end-of-central-directory record lies in the last 22 + 65535 bytes.
  const std::uint64_t tail_len = std::min<std::uint64_t>(r.size, 22 + 65535);
  const std::string tail = r.read(r.size - tail_len, tail_len, "the end record");
  const auto* t = reinterpret_cast<const unsigned char*>(tail.data());
  std::int64_t eocd = -1;
  for (std::int64_t k = static_cast<std::int64_t>(tail_len) - 22; k >= 0; --k)
    if (le32(t + k) == 0x06054b50) {
      eocd = k;
      break;
    }
  ONSAGER_CHECK(eocd >= 0, "{}: {}: no end-of-central-directory record", path, not_one);
  std::uint64_t entries = le16(t + eocd + 10);
  std::uint64_t cd_size = le32(t + eocd + 12);
  std::uint64_t cd_offset = le32(t + eocd + 16);
  const std::uint64_t eocd_pos = r.size - tail_len + static_cast<std::uint64_t>(eocd);
  if ((entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) && eocd_pos >= 20) {
    const std::string loc = r.read(eocd_pos - 20, 20, "the ZIP64 locator");
    const auto* l = reinterpret_cast<const unsigned char*>(loc.data());
    ONSAGER_CHECK(le32(l) == 0x07064b50, "{}: {}: ZIP64 values without a ZIP64 locator", path, kind_);
    const std::string rec = r.read(le64(l + 8), 56, "the ZIP64 end record");
    const auto* z = reinterpret_cast<const unsigned char*>(rec.data());
    ONSAGER_CHECK(le32(z) == 0x06064b50, "{}: {}: bad ZIP64 end record", path, kind_);
    entries = le64(z + 32);
    cd_size = le64(z + 40);
    cd_offset = le64(z + 48);
  }
  ONSAGER_CHECK(entries <= kMaxMembers && entries * 46 <= cd_size,
                "{}: {}: {} entries cannot fit a {}-byte central directory", path, kind_, entries, cd_size);
  const std::string cd = r.read(cd_offset, cd_size, "the central directory");
  const auto* c = reinterpret_cast<const unsigned char*>(cd.data());
  std::size_t pos = 0;
  for (std::uint64_t e = 0; e < entries; ++e) {
    ONSAGER_CHECK(pos + 46 <= cd.size() && le32(c + pos) == 0x02014b50, "{}: {}: bad central directory entry {}", path,
                  kind_, e);
    ZipMember m;
    const std::uint16_t flags = le16(c + pos + 8);
    m.method = le16(c + pos + 10);
    m.crc32 = le32(c + pos + 16);
    m.compressed_size = le32(c + pos + 20);
    m.size = le32(c + pos + 24);
    const std::size_t name_len = le16(c + pos + 28), extra_len = le16(c + pos + 30), comment_len = le16(c + pos + 32);
    m.local_header_offset = le32(c + pos + 42);
    ONSAGER_CHECK(pos + 46 + name_len + extra_len + comment_len <= cd.size(),
                  "{}: {}: central directory entry {} runs past its end", path, kind_, e);
    m.name.assign(cd.data() + pos + 46, name_len);
    // ZIP64 extra field: the 64-bit values, in this order, for the 32-bit fields that are 0xFFFFFFFF.
    for (std::size_t x = pos + 46 + name_len; x + 4 <= pos + 46 + name_len + extra_len;) {
      const std::uint16_t id = le16(c + x), len = le16(c + x + 2);
      ONSAGER_CHECK(x + 4 + len <= pos + 46 + name_len + extra_len, "{}: {}: bad extra field in '{}'", path, kind_,
                    m.name);
      if (id == 0x0001) {
        std::size_t q = x + 4;
        auto take = [&](std::uint64_t& v) {
          if (v != 0xFFFFFFFF) return;
          ONSAGER_CHECK(q + 8 <= x + 4 + len, "{}: {}: short ZIP64 field in '{}'", path, kind_, m.name);
          v = le64(c + q);
          q += 8;
        };
        take(m.size);
        take(m.compressed_size);
        take(m.local_header_offset);
      }
      x += 4 + len;
    }
    pos += 46 + name_len + extra_len + comment_len;
    ONSAGER_CHECK((flags & 1) == 0, "{}: member '{}' is encrypted", path, m.name);
    ONSAGER_CHECK(m.method == 0 || m.method == 8,
                  "{}: member '{}' uses zip compression method {}; only stored (0) and deflated (8) are supported", path,
                  m.name, m.method);
    ONSAGER_CHECK(m.local_header_offset <= r.size && m.compressed_size <= r.size - m.local_header_offset,
                  "{}: {}: member '{}' ({} bytes at {}) lies outside the file", path, kind_, m.name, m.compressed_size,
                  m.local_header_offset);
    ONSAGER_CHECK(m.method != 0 || m.size == m.compressed_size, "{}: {}: stored member '{}' has two sizes", path, kind_,
                  m.name);
    // Deflate expands at most ~1032:1; a larger claim is a lie that would make us allocate too much.
    ONSAGER_CHECK(m.method != 8 || m.size / 1032 <= m.compressed_size + 1,
                  "{}: {}: member '{}' claims {} bytes from {} compressed", path, kind_, m.name, m.size,
                  m.compressed_size);
    ONSAGER_CHECK(index_.emplace(m.name, members_.size()).second, "{}: {}: member '{}' appears twice", path, kind_,
                  m.name);
    members_.push_back(std::move(m));
  }
}

const ZipMember* ZipArchive::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &members_[it->second];
}

std::string ZipArchive::read(const ZipMember& m, std::uint64_t max_bytes) const {
  FileReader r = open_reader(path_, kind_);
  ONSAGER_CHECK(r.size == file_size_, "{}: the file changed while it was being read", path_);
  const std::string local = r.read(m.local_header_offset, 30, "a local header");
  const auto* l = reinterpret_cast<const unsigned char*>(local.data());
  ONSAGER_CHECK(le32(l) == 0x04034b50, "{}: {}: no local header for member '{}'", path_, kind_, m.name);
  const std::uint64_t data_at = m.local_header_offset + 30 + le16(l + 26) + le16(l + 28);
  const std::uint64_t want = std::min(max_bytes, m.size);
  if (m.method == 0) return r.read(data_at, want, fmt::format("member '{}'", m.name));
  const std::string packed = r.read(data_at, m.compressed_size, fmt::format("member '{}'", m.name));
  // The output grows with what the stream actually yields, so a size the header lies about cannot make us
  // allocate more than the data inflates to.
  std::string out;
  z_stream zs{};
  ONSAGER_CHECK(inflateInit2(&zs, -15) == Z_OK, "{}: cannot initialise zlib", path_);
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  std::uint64_t in_left = packed.size(), done = 0;
  int rc = Z_OK;
  while (done < want && rc != Z_STREAM_END) {
    if (out.size() == done) out.resize(std::min<std::uint64_t>(want, std::max<std::uint64_t>(2 * done, 1 << 20)));
    const auto in_chunk = static_cast<uInt>(std::min<std::uint64_t>(in_left, 1u << 30));
    zs.avail_in = in_chunk;
    const auto out_chunk = static_cast<uInt>(std::min<std::uint64_t>(out.size() - done, 1u << 30));
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + done);
    zs.avail_out = out_chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    ONSAGER_CHECK(rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR, "{}: corrupt deflate data in member '{}' ({})",
                  path_, m.name, zs.msg ? zs.msg : "error");
    const std::uint64_t used = in_chunk - zs.avail_in, made = out_chunk - zs.avail_out;
    in_left -= used;
    done += made;
    ONSAGER_CHECK(used > 0 || made > 0, "{}: truncated deflate data in member '{}'", path_, m.name);
  }
  out.resize(done);
  ONSAGER_CHECK(done == want, "{}: member '{}' inflates to {} bytes, its header says {}", path_, m.name, done, m.size);
  return out;
}

std::string ZipArchive::read_checked(const ZipMember& m) const {
  std::string bytes = read(m, m.size);
  const auto crc = crc32_z(crc32_z(0, nullptr, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
  ONSAGER_CHECK(crc == m.crc32, "{}: member '{}' fails its CRC-32 check (corrupt file)", path_, m.name);
  return bytes;
}

}  // namespace onsager
