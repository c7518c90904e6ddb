#include "onsager/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"

namespace onsager {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

constexpr std::uint64_t kMaxHeader = 100u << 20;  // 100 MB, as the reference implementation

struct DTypeName {
  DType dtype;
  const char* name;
  std::size_t size;
};
constexpr DTypeName kDTypes[] = {{DType::f64, "F64", 8}, {DType::f32, "F32", 4},  {DType::f16, "F16", 2},
                                 {DType::bf16, "BF16", 2}, {DType::i64, "I64", 8}, {DType::i32, "I32", 4},
                                 {DType::i16, "I16", 2},  {DType::i8, "I8", 1},   {DType::u8, "U8", 1},
                                 {DType::boolean, "BOOL", 1}};

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class Out>
std::vector<Out> convert(const TensorInfo& t, const std::byte* p) {
  const auto n = static_cast<std::size_t>(t.numel());
  std::vector<Out> out(n);
  const std::size_t s = dtype_size(t.dtype);
  for (std::size_t i = 0; i < n; ++i) {
    const std::byte* q = p + i * s;
    double v = 0;
    switch (t.dtype) {
      case DType::f64: v = load<double>(q); break;
      case DType::f32: out[i] = static_cast<Out>(load<float>(q)); continue;
      case DType::f16: out[i] = static_cast<Out>(half_to_float(load<std::uint16_t>(q))); continue;
      case DType::bf16: out[i] = static_cast<Out>(bfloat16_to_float(load<std::uint16_t>(q))); continue;
      case DType::i64: v = static_cast<double>(load<std::int64_t>(q)); break;
      case DType::i32: v = load<std::int32_t>(q); break;
      case DType::i16: v = load<std::int16_t>(q); break;
      case DType::i8: v = load<std::int8_t>(q); break;
      case DType::u8: v = load<std::uint8_t>(q); break;
      case DType::boolean: v = load<std::uint8_t>(q) != 0; break;
    }
    out[i] = static_cast<Out>(v);
  }
  return out;
}

void append_le64(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

std::string_view to_string(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.name;
  return "?";
}

std::size_t dtype_size(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.size;
  return 0;
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  std::uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<std::uint32_t>(127 - 15 - e) << 23 | (mant & 0x3FFu) << 13;
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  return std::bit_cast<float>(bits);
}

float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ONSAGER_CHECK(fd >= 0, "{}: cannot open ({})", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    ONSAGER_FAIL("{}: not a regular file", path);
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    ONSAGER_FAIL("{}: not a safetensors file (only {} bytes; at least 8 needed)", path, size);
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  ONSAGER_CHECK(m != MAP_FAILED, "{}: cannot map the file ({})", path, std::strerror(errno));
  map_ = static_cast<const std::byte*>(m);
  map_size_ = size;
  try {
    const auto n = load<std::uint64_t>(map_);
    ONSAGER_CHECK(n <= kMaxHeader, "{}: header length {} exceeds the 100 MB limit (not a safetensors file?)", path, n);
    ONSAGER_CHECK(n <= size - 8, "{}: header length {} runs past the end of the {}-byte file (truncated?)", path, n,
                  size);
    const std::string_view text(reinterpret_cast<const char*>(map_ + 8), n);
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      ONSAGER_FAIL("{}: the header is not valid JSON ({})", path, e.what());
    }
    ONSAGER_CHECK(header.is_object(), "{}: the header is not a JSON object", path);
    data_ = map_ + 8 + n;
    const std::uint64_t data_size = size - 8 - n;
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") {
        ONSAGER_CHECK(entry.is_object(), "{}: __metadata__ is not an object", path);
        for (const auto& [k, v] : entry.items()) {
          ONSAGER_CHECK(v.is_string(), "{}: metadata entry '{}' is not a string", path, k);
          metadata_[k] = v.get<std::string>();
        }
        continue;
      }
      ONSAGER_CHECK(entry.is_object(), "{}: tensor '{}': entry is not an object", path, name);
      const auto dt = entry.find("dtype");
      const auto sh = entry.find("shape");
      const auto off = entry.find("data_offsets");
      ONSAGER_CHECK(dt != entry.end() && dt->is_string() && sh != entry.end() && sh->is_array() &&
                        off != entry.end() && off->is_array() && off->size() == 2,
                    "{}: tensor '{}': needs dtype (string), shape (array) and data_offsets ([begin, end])", path, name);
      TensorInfo t;
      t.name = name;
      const std::string dname = dt->get<std::string>();
      const auto it = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                   [&](const DTypeName& e) { return dname == e.name; });
      ONSAGER_CHECK(it != std::end(kDTypes), "{}: tensor '{}': unsupported dtype '{}'", path, name, dname);
      t.dtype = it->dtype;
      std::uint64_t numel = 1;
      for (const auto& d : *sh) {
        ONSAGER_CHECK(d.is_number_unsigned(), "{}: tensor '{}': shape entries must be non-negative integers", path,
                      name);
        const auto v = d.get<std::uint64_t>();
        ONSAGER_CHECK(v == 0 || numel <= std::numeric_limits<std::uint64_t>::max() / v / 8,
                      "{}: tensor '{}': absurd shape (element count overflows)", path, name);
        numel *= v;
        t.shape.push_back(static_cast<std::int64_t>(v));
      }
      for (const auto& o : *off)
        ONSAGER_CHECK(o.is_number_unsigned(), "{}: tensor '{}': data_offsets must be non-negative integers", path, name);
      t.begin = (*off)[0].get<std::uint64_t>();
      t.end = (*off)[1].get<std::uint64_t>();
      ONSAGER_CHECK(t.begin <= t.end && t.end <= data_size,
                    "{}: tensor '{}': data_offsets [{}, {}] lie outside the {}-byte data section (truncated?)", path,
                    name, t.begin, t.end, data_size);
      ONSAGER_CHECK(t.end - t.begin == numel * it->size,
                    "{}: tensor '{}': {} bytes stored but shape [{}] of {} needs {}", path, name, t.end - t.begin,
                    fmt::join(t.shape, ", "), dname, numel * it->size);
      tensors_.push_back(std::move(t));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t expect = 0;
    for (const auto& t : tensors_) {
      ONSAGER_CHECK(t.begin == expect, "{}: tensor '{}' starts at byte {} of the data section, expected {} "
                    "(overlapping or gapped tensors)", path, t.name, t.begin, expect);
      expect = t.end;
    }
    ONSAGER_CHECK(expect == data_size, "{}: {} bytes of the data section belong to no tensor", path,
                  data_size - expect);
  } catch (...) {
    release();
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() { release(); }

void SafetensorsFile::release() noexcept {
  if (map_ != nullptr) ::munmap(const_cast<std::byte*>(map_), map_size_);
  map_ = nullptr;
  map_size_ = 0;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)),
      map_(std::exchange(o.map_, nullptr)),
      map_size_(std::exchange(o.map_size_, 0)),
      data_(o.data_),
      tensors_(std::move(o.tensors_)),
      metadata_(std::move(o.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_size_ = std::exchange(o.map_size_, 0);
    data_ = o.data_;
    tensors_ = std::move(o.tensors_);
    metadata_ = std::move(o.metadata_);
  }
  return *this;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const TensorInfo& SafetensorsFile::require(std::string_view name) const {
  const TensorInfo* t = find(name);
  ONSAGER_CHECK(t != nullptr, "{}: no tensor '{}'", path_, name);
  return *t;
}

std::vector<float> SafetensorsFile::read_f32(std::string_view name) const {
  const TensorInfo& t = require(name);
  return convert<float>(t, data_ + t.begin);
}

std::vector<double> SafetensorsFile::read_f64(std::string_view name) const {
  const TensorInfo& t = require(name);
  return convert<double>(t, data_ + t.begin);
}

std::span<const std::byte> SafetensorsFile::raw(std::string_view name) const {
  const TensorInfo& t = require(name);
  return {data_ + t.begin, static_cast<std::size_t>(t.end - t.begin)};
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    ONSAGER_CHECK(!t.name.empty() && t.name != "__metadata__", "write_safetensors: {}: invalid tensor name '{}'", path,
                  t.name);
    ONSAGER_CHECK(names.insert(t.name).second, "write_safetensors: {}: duplicate tensor name '{}'", path, t.name);
    std::uint64_t numel = 1;
    for (auto d : t.shape) {
      ONSAGER_CHECK(d >= 0, "write_safetensors: {}: tensor '{}' has a negative dimension", path, t.name);
      numel *= static_cast<std::uint64_t>(d);
    }
    const bool is64 = !t.f64.empty();
    ONSAGER_CHECK(t.f32.empty() || t.f64.empty(), "write_safetensors: {}: tensor '{}' has both float and double data",
                  path, t.name);
    const std::uint64_t have = is64 ? t.f64.size() : t.f32.size();
    ONSAGER_CHECK(have == numel, "write_safetensors: {}: tensor '{}' has {} values but shape [{}] needs {}", path,
                  t.name, have, fmt::join(t.shape, ", "), numel);
    const std::uint64_t bytes = numel * (is64 ? 8 : 4);
    header[t.name] = {{"dtype", is64 ? "F64" : "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string head = header.dump();
  head.append((8 - head.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + head.size() + offset);
  append_le64(out, head.size());
  out += head;
  // Tensors in the order the offsets were assigned.
  for (const auto& t : tensors) {
    if (!t.f64.empty())
      out.append(reinterpret_cast<const char*>(t.f64.data()), t.f64.size_bytes());
    else
      out.append(reinterpret_cast<const char*>(t.f32.data()), t.f32.size_bytes());
  }
  write_file_atomic(path, out);
}

}  // namespace onsager
