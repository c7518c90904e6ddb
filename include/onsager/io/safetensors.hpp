#pragma once
// safetensors files (Hugging Face, https://github.com/huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of UTF-8 JSON {name: {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {str: str}}, then the data section: every tensor's bytes, C order, little-endian, at
// offsets relative to the end of the header, contiguous and covering the section exactly.
// The reader memory-maps the file and validates the whole header (streamed through a SAX parser, so a
// hostile header cannot make it build a huge or deeply nested document) before any tensor is touched:
// a corrupt file gives one clear error naming it, never a crash, a hang or an allocation larger than the
// file. Tensors are converted on request, one at a time.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "onsager/io/dtype.hpp"  // DType: the element types of a file (safetensors names them F32, BF16, ...)

namespace onsager {


/// One tensor of a safetensors file: its name, dtype, shape and byte range within the data section.
struct TensorInfo {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  ///< byte range [begin, end) within the data section

  /// Product of the shape (1 for a scalar); throws onsager::Error on a negative or overflowing shape.
  std::int64_t numel() const;
};

/// A read-only, memory-mapped safetensors file; tensors are converted one at a time, on request.
/// Move-only; the mapping is released by the destructor (spans from raw() die with it).
class SafetensorsFile {
 public:
  /// Maps and validates `path`; throws onsager::Error naming the file and the problem.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  /// The path the file was opened with.
  const std::string& path() const { return path_; }
  /// Every tensor, in data-offset order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  /// The tensor called `name`, or nullptr when absent.
  const TensorInfo* find(std::string_view name) const;
  /// The "__metadata__" entries (empty when the file has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  /// The tensor's values converted to float, C order (exact for f32/f16/bf16); throws when absent.
  std::vector<float> read_f32(std::string_view name) const;
  /// The tensor's values converted to double, C order; throws when absent.
  std::vector<double> read_f64(std::string_view name) const;
  /// Rows [row, row + nrows) and columns [col, col + ncols) of the tensor viewed as a matrix shape[0] x (the
  /// product of the other dimensions), converted to float into `out` (nrows x ncols, row-major); only those
  /// bytes are read. Throws when absent or out of range.
  void read_block_f32(std::string_view name, std::size_t row, std::size_t nrows, std::size_t col, std::size_t ncols,
                      float* out) const;
  /// The tensor's bytes as stored (little-endian, possibly unaligned); valid while this object lives.
  std::span<const std::byte> raw(std::string_view name) const;
  /// Drops the tensor's whole pages from this process's resident set (madvise MADV_DONTNEED on the read-only
  /// mapping; the data stays readable from the file), so a model larger than memory streams through.
  void release_pages(std::string_view name) const;

 private:
  const TensorInfo& require(std::string_view name) const;
  void release() noexcept;

  std::string path_;
  const std::byte* map_ = nullptr;
  std::size_t map_size_ = 0;
  const std::byte* data_ = nullptr;  ///< start of the data section, inside the mapping
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t, std::less<>> index_;  ///< name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

/// One tensor to write: borrowed float32 or float64 data in C order. Exactly one of the spans is
/// non-empty, unless the shape has no elements (then both are empty and the tensor is written as F32).
struct TensorToWrite {
  std::string name;
  std::vector<std::int64_t> shape;
  std::span<const float> f32;
  std::span<const double> f64;
  bool bf16 = false;  ///< store the f32 data as BF16, each value rounded to the nearest (ties to even)
};

/// Writes a safetensors file atomically (write_file_atomic). Names must be unique, non-empty and not
/// "__metadata__"; each tensor's value count must match its shape. F64 tensors are laid out before F32
/// ones (stable otherwise) so every tensor is aligned to its element size. Throws onsager::Error before
/// writing anything, so a refused call leaves no file behind.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace onsager
