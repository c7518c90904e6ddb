#pragma once
// Structural checks of an HDF5 file's raw bytes, made before libhdf5 touches the parts they cover. Debian's
// libhdf5 1.10.8 trusts sizes and addresses a file gives (docs/format-keras-h5.md, "Known libhdf5 crashes"):
// without these checks a flipped byte makes it read out of bounds (H5O attribute decoding, H5HG_read), loop for
// ever on a global heap, or allocate and clear up to 4 GB. Every check throws onsager::Error naming the file.

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace onsager::detail {

/// The raw-byte checks of one HDF5 file, remembering what was checked and the type classes seen on the way.
class Hdf5Checks {
 public:
  Hdf5Checks() = default;
  /// Checks of the file at `path`, `size` bytes long (named by `path` in messages).
  Hdf5Checks(std::string path, std::uint64_t size) : path_(std::move(path)), size_(size) {}

  /// Before H5Fopen: finds the superblock, takes its address sizes and base address, checks the root's header.
  void check_superblock();
  /// Sets the base address and address/length sizes libhdf5 read from the superblock (both sizes in 2..8).
  void set_layout(std::uint64_t base, std::size_t sizeof_addr, std::size_t sizeof_size);
  /// Checks the object header at `addr` (once per object) before libhdf5 loads it; throws if it is malformed.
  void check_header(haddr_t addr);

  /// The HDF5 type class of the datatype in the version-1 object header at `addr`, if one was seen.
  std::optional<unsigned> dataset_class(haddr_t addr) const;
  /// The HDF5 type class of attribute `name` of the header at `addr` (98: a non-string variable-length type,
  /// 99: a shared datatype), if one was seen.
  std::optional<unsigned> attribute_class(haddr_t addr, const std::string& name) const;

 private:
  [[noreturn]] void fail(const std::string& what) const;
  /// HDF5's undefined address (all ones in sizeof_addr_ bytes).
  std::uint64_t undefined_address() const;
  /// `n` bytes of the file at byte `at`; throws (naming `what`) past the end of the file.
  std::string raw(std::uint64_t at, std::uint64_t n, const std::string& what) const;
  /// The `n`-byte little-endian number at `off` in `b`.
  static std::uint64_t le(const std::string& b, std::size_t off, std::size_t n);
  /// The global heap `collection` must be well formed (its walk ends inside it), and its object `index` must
  /// exist (for a `length` above 0, or lie within libhdf5's object table for an empty string) and hold at least
  /// `length` bytes and no more than libhdf5's conversion buffer for that length takes.
  void check_heap_object(std::uint64_t collection, std::uint64_t index, std::uint64_t length, const std::string& what);
  /// An attribute message of `msize` bytes at `off` in chunk `m`: its sizes, data and heap strings.
  void check_attribute_message(const std::string& m, std::size_t off, std::size_t msize, const std::string& obj_what);
  /// The names an enum datatype at m[at, at + size) holds end inside it; compound datatypes are refused.
  void check_datatype_names(const std::string& m, std::size_t at, std::uint64_t size, const std::string& what) const;
  /// A local heap's data segment must lie inside the file.
  void check_local_heap(std::uint64_t addr, const std::string& what) const;

  std::string path_;
  std::uint64_t size_ = 0;
  std::set<haddr_t> checked_objects_;
  // HDF5 type classes (0 integer, 1 float, 3 string, 8 enum, 9 variable-length, ...) seen in version-1 headers:
  // an object's datatype message and its attributes by name. libhdf5 1.10.8 over-reads when it copies some
  // malformed ones (an enum copied in H5T_copy_reopen), so only numbers and strings are handed to it.
  std::map<haddr_t, unsigned> dataset_class_;
  std::map<std::pair<haddr_t, std::string>, unsigned> attribute_class_;
  haddr_t current_header_ = 0;
  struct HeapCollection {
    std::map<std::uint64_t, std::uint64_t> objects;  ///< index -> size (0: the free space)
    std::uint64_t table = 0;                         ///< entries of libhdf5's object table, at least
  };
  std::map<haddr_t, HeapCollection> heap_objects_;  // by collection address
  std::uint64_t base_ = 0;  ///< userblock size: file addresses are relative to it
  std::size_t sizeof_addr_ = 8, sizeof_size_ = 8;
};

}  // namespace onsager::detail
