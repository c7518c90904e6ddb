#include "onsager/io/dtype.hpp"

#include <bit>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace onsager {
namespace {

static_assert(std::endian::native == std::endian::little, "tensor readers assume a little-endian host");

struct DTypeInfo {
  DType dtype;
  std::string_view safetensors, name;
  std::size_t size;
  bool floating;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::f64, "F64", "float64", 8, true},  {DType::f32, "F32", "float32", 4, true},
    {DType::f16, "F16", "float16", 2, true},  {DType::bf16, "BF16", "bfloat16", 2, true},
    {DType::i64, "I64", "int64", 8, false},   {DType::i32, "I32", "int32", 4, false},
    {DType::i16, "I16", "int16", 2, false},   {DType::i8, "I8", "int8", 1, false},
    {DType::u64, "U64", "uint64", 8, false},  {DType::u32, "U32", "uint32", 4, false},
    {DType::u16, "U16", "uint16", 2, false},  {DType::u8, "U8", "uint8", 1, false},
    {DType::boolean, "BOOL", "bool", 1, false}};

const DTypeInfo* info(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return &e;
  return nullptr;
}

template <class T, class Out, class F>
void each(const unsigned char* p, std::size_t n, Out* out, F f) {
  for (std::size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, p + i * sizeof(T), sizeof(T));
    out[i] = static_cast<Out>(f(v));
  }
}

// Stored T into Out: a plain copy when they are the same type.
template <class T, class Out>
void widen(const unsigned char* p, std::size_t n, Out* out) {
  if constexpr (std::is_same_v<T, Out>) {
    if (n > 0) std::memcpy(out, p, n * sizeof(T));
  } else {
    each<T>(p, n, out, [](T v) { return v; });
  }
}

template <class Out>
void convert(DType d, const void* src, std::size_t n, Out* out) {
  const auto* p = static_cast<const unsigned char*>(src);
  switch (d) {
    case DType::f64: widen<double>(p, n, out); break;
    case DType::f32: widen<float>(p, n, out); break;
    case DType::f16: each<std::uint16_t>(p, n, out, half_to_float); break;
    case DType::bf16: each<std::uint16_t>(p, n, out, bfloat16_to_float); break;
    case DType::i64: widen<std::int64_t>(p, n, out); break;
    case DType::i32: widen<std::int32_t>(p, n, out); break;
    case DType::i16: widen<std::int16_t>(p, n, out); break;
    case DType::i8: widen<std::int8_t>(p, n, out); break;
    case DType::u64: widen<std::uint64_t>(p, n, out); break;
    case DType::u32: widen<std::uint32_t>(p, n, out); break;
    case DType::u16: widen<std::uint16_t>(p, n, out); break;
    case DType::u8: widen<std::uint8_t>(p, n, out); break;
    case DType::boolean: each<std::uint8_t>(p, n, out, [](std::uint8_t v) { return v != 0 ? 1 : 0; }); break;
  }
}

}  // namespace

std::string_view to_string(DType d) { return info(d) ? info(d)->safetensors : "?"; }
std::string_view dtype_name(DType d) { return info(d) ? info(d)->name : "?"; }
std::size_t dtype_size(DType d) { return info(d) ? info(d)->size : 0; }
bool is_floating(DType d) { return info(d) && info(d)->floating; }

std::optional<DType> dtype_from_safetensors_name(std::string_view s) {
  for (const auto& e : kDTypes)
    if (e.safetensors == s) return e.dtype;
  return std::nullopt;
}

std::optional<DType> dtype_from_name(std::string_view s) {
  for (const auto& e : kDTypes)
    if (e.name == s) return e.dtype;
  return std::nullopt;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  const std::uint32_t mant = h & 0x3FFu;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24, exact in float
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return sign != 0 ? -v : v;
  }
  if (exp == 0x1F) return std::bit_cast<float>(sign | 0x7F800000u | mant << 13);  // Inf, NaN (payload kept)
  return std::bit_cast<float>(sign | (exp + 127 - 15) << 23 | mant << 13);
}

float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

std::uint16_t float_to_bfloat16(float f) {
  const auto u = std::bit_cast<std::uint32_t>(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>((u >> 16) | 0x0040);  // quiet NaN, sign kept
  const std::uint32_t rounding = 0x7FFF + ((u >> 16) & 1);                      // to nearest, ties to even
  return static_cast<std::uint16_t>((u + rounding) >> 16);
}

void convert_elements(DType d, const void* src, std::size_t n, double* out) { convert(d, src, n, out); }
void convert_elements(DType d, const void* src, std::size_t n, float* out) { convert(d, src, n, out); }

}  // namespace onsager
