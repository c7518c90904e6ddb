#pragma once
// The one vocabulary of element types of the tensor readers: safetensors, NumPy, PyTorch and ONNX map their own
// spellings of a type to DType and decode through convert_elements; TF.js (whose quantised weights decode with
// a scale and offset) and Keras HDF5 (decoded by libhdf5) use its float16 conversion. Sizes, what is
// floating-point, and the conversion of little-endian element bytes to float or double live here only.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace onsager {

/// Element types onsager reads (others are refused by name where they are met).
enum class DType { f64, f32, f16, bf16, i64, i32, i16, i8, u64, u32, u16, u8, boolean };

/// The safetensors name of a dtype: "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8",
/// "BOOL".
std::string_view to_string(DType d);
/// The dtype of a safetensors name (as to_string writes it); nullopt for any other string.
std::optional<DType> dtype_from_safetensors_name(std::string_view s);
/// The NumPy / PyTorch name: "float64", "float32", "float16", "bfloat16", "int64", ..., "uint8", "bool".
std::string_view dtype_name(DType d);
/// The dtype of a NumPy / PyTorch name (as dtype_name writes it); nullopt for any other string.
std::optional<DType> dtype_from_name(std::string_view s);
/// Bytes per element of `d` (8, 4, 2 or 1).
std::size_t dtype_size(DType d);
/// True for f64, f32, f16 and bf16: the types a layer can have.
bool is_floating(DType d);

/// IEEE 754 binary16 bits to float, exactly (subnormals, ±Inf and NaN included).
float half_to_float(std::uint16_t h);
/// bfloat16 bits to float, exactly (bfloat16 is the top half of a float).
float bfloat16_to_float(std::uint16_t b);
/// float to bfloat16 bits, rounded to the nearest (ties to even); NaN stays NaN, overflow becomes ±Inf.
std::uint16_t float_to_bfloat16(float f);

/// Converts `n` little-endian elements of type `d` at `src` (any alignment) into `out`: floating types widen
/// exactly (float64 into float rounds), integers become their value (rounded when float cannot hold it), bool
/// becomes 0 or 1 (any non-zero byte is 1).
void convert_elements(DType d, const void* src, std::size_t n, double* out);
void convert_elements(DType d, const void* src, std::size_t n, float* out);

}  // namespace onsager
