#pragma once
// safetensors files (Hugging Face): an 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the tensors'
// bytes, C order, little-endian, offsets relative to the end of the header. The reader memory-maps the
// file and validates every entry before any tensor is touched, so a corrupt or hostile file gives one
// clear error, never a crash or a huge allocation.

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace onsager {

enum class DType { f64, f32, f16, bf16, i64, i32, i16, i8, u8, boolean };

/// The safetensors name of a dtype: "F64", "F32", "F16", "BF16", "I64", ...
std::string_view to_string(DType d);
/// Bytes per element.
std::size_t dtype_size(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  ///< byte range within the data section
  std::int64_t numel() const;
};

/// A read-only, memory-mapped safetensors file; tensors are converted one at a time, on request.
class SafetensorsFile {
 public:
  /// Maps and validates `path`; throws onsager::Error naming the file and the problem.
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  /// Every tensor, in data-offset order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  /// The tensor called `name`, or nullptr.
  const TensorInfo* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  /// The tensor's values converted to float (from any dtype); throws when absent.
  std::vector<float> read_f32(std::string_view name) const;
  /// The tensor's values converted to double (from any dtype); throws when absent.
  std::vector<double> read_f64(std::string_view name) const;
  /// The tensor's bytes as stored.
  std::span<const std::byte> raw(std::string_view name) const;

 private:
  const TensorInfo& require(std::string_view name) const;
  void release() noexcept;

  std::string path_;
  const std::byte* map_ = nullptr;
  std::size_t map_size_ = 0;
  const std::byte* data_ = nullptr;  ///< start of the data section
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// One tensor to write: borrowed float32 or float64 data in C order (exactly one of the spans is used).
struct TensorToWrite {
  std::string name;
  std::vector<std::int64_t> shape;
  std::span<const float> f32;
  std::span<const double> f64;
};

/// Writes a safetensors file atomically (temporary name, then rename). Names must be unique and not
/// "__metadata__"; each tensor's element count must match its shape. Throws onsager::Error otherwise,
/// leaving no file behind.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// IEEE half and bfloat16 to float, exactly (subnormals, Inf and NaN included).
float half_to_float(std::uint16_t h);
float bfloat16_to_float(std::uint16_t b);

}  // namespace onsager
