#pragma once
// NumPy .npy arrays (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html) and .npz
// archives (a zip file of .npy members, stored or deflated, ZIP64 included, as np.savez and
// np.savez_compressed write them). Every size a header claims is checked against the bytes present
// before anything sized by it is allocated: a corrupt or hostile file gives one onsager::Error naming it.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/zip.hpp"
#include "onsager/io/dtype.hpp"

namespace onsager {


/// A validated .npy header: dtype, C-order shape and where the data starts.
struct NpyHeader {
  DType dtype = DType::f32;     ///< <f2, <f4, <f8, |u1, |b1, <i4, <i8 (little-endian or single-byte only)
  std::string descr;                 ///< the dtype as written, e.g. "<f4"
  std::vector<std::uint64_t> shape;  ///< C order; empty for a scalar
  std::size_t data_offset = 0;       ///< byte offset of the data within the file
  std::uint64_t numel = 1;
};

/// Parses and validates the header of the .npy bytes `bytes` (versions 1-3): magic, dict literal,
/// supported dtype, C order, and a data section of exactly numel * dtype_size(dtype) bytes. `name` labels errors.
NpyHeader parse_npy_header(std::string_view bytes, const std::string& name);

/// The same when `head` holds only the file's first bytes (at least the whole header) and the whole file or
/// member has `total_size` bytes.
NpyHeader parse_npy_header_prefix(std::string_view head, std::uint64_t total_size, const std::string& name);

/// Converts the header's numel values stored at `data` (the bytes after the header) into `out`
/// (numel elements; float16 and bool become their exact values, integers are rounded to the output type).
void npy_convert(const NpyHeader& h, const char* data, float* out);
void npy_convert(const NpyHeader& h, const char* data, double* out);

/// "(2, 3)" for a shape, as NumPy prints it ("(5,)" for rank 1).
std::string shape_to_string(std::span<const std::uint64_t> shape);

/// One array as doubles, C order.
struct NpyArray {
  std::vector<std::uint64_t> shape;
  std::string descr;
  std::vector<double> values;
};

/// Parses .npy bytes (any dtype parse_npy_header accepts) into doubles; throws like parse_npy_header.
NpyArray parse_npy(std::string_view bytes, const std::string& name);

/// Reads a .npy file into doubles.
NpyArray read_npy_array(const std::string& path);

/// One member of an .npz archive.
struct NpzMember {
  std::string name;  ///< the array name (the member's file name without ".npy")
  std::uint64_t compressed_size = 0, size = 0, local_header_offset = 0;
  std::uint16_t method = 0;  ///< 0 stored, 8 deflated
  std::uint32_t crc32 = 0;
  std::size_t member = 0;  ///< index of the member in the zip archive
};

/// An .npz archive: the central directory is read and validated on opening; arrays are read on request
/// (each call opens the file itself, so concurrent reads are safe).
class NpzFile {
 public:
  /// Opens `path` and validates its zip structure; throws onsager::Error naming the file.
  explicit NpzFile(const std::string& path);
  const std::string& path() const { return path_; }
  const std::vector<NpzMember>& members() const { return members_; }
  /// The member's header (shape, dtype), read without inflating more than the header.
  NpyHeader header(const NpzMember& m) const;
  /// The member's array, checked against its CRC-32.
  NpyArray read(const NpzMember& m) const;

 private:
  std::string path_;
  ZipArchive zip_;
  std::vector<NpzMember> members_;
};

/// One array to write into an .npz: float64 data in C order.
struct NpzArrayToWrite {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::span<const double> values;
};

/// Writes an .npz archive of float64 arrays (deflated when `compress`), atomically.
void write_npz(const std::string& path, const std::vector<NpzArrayToWrite>& arrays, bool compress = false);

/// Writes a float64 .npy file atomically.
void write_npy_f64(const std::string& path, std::span<const std::uint64_t> shape, std::span<const double> values);

}  // namespace onsager
