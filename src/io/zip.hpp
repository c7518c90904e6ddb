#pragma once
// A read-only zip archive (PKWARE APPNOTE): the end-of-central-directory record (ZIP64 when present) gives the
// central directory; each entry gives a member's sizes, method and local header offset (ZIP64 extra field when
// a value is 0xFFFFFFFF). Stored and deflated members only. Shared by the .npz and PyTorch checkpoint readers.
// Every offset and size is checked against the file before anything sized by it is allocated.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace onsager {

/// One member of a zip archive, as its central directory entry describes it.
struct ZipMember {
  std::string name;  ///< the member's file name as stored
  std::uint64_t compressed_size = 0, size = 0, local_header_offset = 0;
  std::uint16_t method = 0;  ///< 0 stored, 8 deflated
  std::uint32_t crc32 = 0;
};

/// A zip archive whose central directory is read and validated on opening. Members are read on request; each
/// read opens the file itself, so concurrent reads are safe.
class ZipArchive {
 public:
  /// Opens `path`; `kind` names the format in messages ("npz" gives "corrupt .npz: ..."). Throws onsager::Error
  /// naming the file for anything that is not a well-formed archive of stored/deflated members.
  ZipArchive(const std::string& path, std::string_view kind);
  const std::string& path() const { return path_; }
  std::uint64_t file_size() const { return file_size_; }
  const std::vector<ZipMember>& members() const { return members_; }
  /// The member called `name`, or nullptr.
  const ZipMember* find(std::string_view name) const;
  /// The member's first min(max_bytes, size) bytes (inflated when deflated), not CRC-checked.
  std::string read(const ZipMember& m, std::uint64_t max_bytes) const;
  /// The whole member, checked against its CRC-32.
  std::string read_checked(const ZipMember& m) const;

 private:
  std::string path_, kind_;
  std::uint64_t file_size_ = 0;
  std::vector<ZipMember> members_;
  std::map<std::string, std::size_t, std::less<>> index_;  // name -> position in members_
};

}  // namespace onsager
