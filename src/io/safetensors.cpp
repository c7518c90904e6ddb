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
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "quote_name.hpp"

namespace onsager {
namespace {

using detail::quote_name;

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

constexpr std::uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit (100 MB)
constexpr std::size_t kMaxRank = 64;               // PyTorch's limit; bounds what a hostile shape can allocate



// ---------------------------------------------------------------------------------------------------
// Header parsing: a SAX handler that checks the structure while nlohmann's parser streams the JSON,
// keeping only TensorInfo entries and metadata strings (memory proportional to the header text, no
// recursion, no DOM). Depth 0 is outside the top object, 1 inside it, 2 inside an entry, 3 inside a
// shape or data_offsets array. Unknown fields of an entry are skipped, as the reference reader does.

class HeaderSax {
 public:
  using json = nlohmann::json;

  explicit HeaderSax(std::uint64_t data_size) : data_size_(data_size) {}

  std::string error;  ///< the first problem found (empty when the header is valid)
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;

  bool null() { return scalar("null"); }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(json::number_integer_t v) { return v >= 0 ? unsigned_value(static_cast<std::uint64_t>(v))
                                                                : scalar("a negative number"); }
  bool number_unsigned(json::number_unsigned_t v) { return unsigned_value(v); }
  bool number_float(json::number_float_t, const std::string&) { return scalar("a non-integer number"); }
  bool binary(json::binary_t&) { return scalar("binary data"); }

  bool string(std::string& s) {
    if (skip_ > 0) return true;
    if (depth_ == 2 && in_metadata_) {
      metadata[key_] = std::move(s);
      return true;
    }
    if (depth_ == 2 && field_ == Field::dtype) {
      const auto d = dtype_from_safetensors_name(s);
      if (!d)
        return fail(fmt::format("tensor {}: unsupported dtype {} (onsager reads F64, F32, F16, BF16, I64, I32, "
                                "I16, I8, U64, U32, U16, U8, BOOL)",
                                quote_name(entry_.name), quote_name(s)));
      entry_.dtype = *d;
      return true;
    }
    return scalar("a string");
  }

  bool start_object(std::size_t) {
    if (skip_ > 0 || (depth_ == 2 && field_ == Field::unknown && !in_metadata_)) return skip_open();
    switch (depth_) {
      case 0: break;
      case 1:
        if (key_ == "__metadata__") {
          in_metadata_ = true;
        } else {
          in_metadata_ = false;
          entry_ = TensorInfo{};
          entry_.name = key_;
          seen_ = 0;
        }
        break;
      default: return scalar("an object");
    }
    ++depth_;
    return true;
  }

  bool end_object() {
    if (skip_ > 0) return skip_close();
    --depth_;
    if (depth_ == 1 && !in_metadata_) return finish_entry();
    return true;
  }

  bool start_array(std::size_t) {
    if (skip_ > 0 || (depth_ == 2 && field_ == Field::unknown && !in_metadata_)) return skip_open();
    if (depth_ == 2 && !in_metadata_ && (field_ == Field::shape || field_ == Field::offsets)) {
      ++depth_;
      count_ = 0;
      return true;
    }
    return scalar("an array");
  }

  bool end_array() {
    if (skip_ > 0) return skip_close();
    --depth_;
    if (field_ == Field::offsets && count_ != 2)
      return fail(fmt::format("tensor {}: data_offsets must be [begin, end] (got {} numbers)", quote_name(entry_.name),
                              count_));
    return true;
  }

  bool key(std::string& k) {
    if (skip_ > 0) return true;
    if (depth_ == 1) {
      if (!names_.insert(k).second) return fail(fmt::format("duplicate entry {} in the header", quote_name(k)));
    } else if (in_metadata_) {
      if (metadata.count(k) != 0) return fail(fmt::format("duplicate metadata key {}", quote_name(k)));
    } else {
      field_ = k == "dtype" ? Field::dtype
               : k == "shape" ? Field::shape
               : k == "data_offsets" ? Field::offsets
                                     : Field::unknown;
      if (field_ != Field::unknown) {
        const unsigned bit = 1u << static_cast<unsigned>(field_);
        if ((seen_ & bit) != 0) return fail(fmt::format("tensor {}: duplicate key '{}'", quote_name(entry_.name), k));
        seen_ |= bit;
      }
    }
    key_ = std::move(k);
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    if (error.empty()) error = fmt::format("the header is not valid JSON ({})", e.what());
    return false;
  }

 private:
  enum class Field { dtype, shape, offsets, unknown };

  bool fail(std::string message) {
    error = std::move(message);
    return false;
  }

  bool skip_open() {
    ++skip_;
    return true;
  }
  bool skip_close() {
    --skip_;
    return true;
  }

  /// A value that is not what its position requires.
  bool scalar(const char* what) {
    if (skip_ > 0) return true;
    switch (depth_) {
      case 0: return fail(fmt::format("the header is not a JSON object (it is {})", what));
      case 1:
        return fail(key_ == "__metadata__"
                        ? fmt::format("__metadata__ must be an object of strings (it is {})", what)
                        : fmt::format("tensor {}: entry must be an object (it is {})", quote_name(key_), what));
      case 2:
        if (in_metadata_)
          return fail(fmt::format("metadata entry {} must be a string (it is {})", quote_name(key_), what));
        switch (field_) {
          case Field::dtype: return fail(fmt::format("tensor {}: dtype must be a string (it is {})",
                                                     quote_name(entry_.name), what));
          case Field::shape:
          case Field::offsets:
            return fail(fmt::format("tensor {}: {} must be an array of integers (it is {})", quote_name(entry_.name),
                                    key_, what));
          case Field::unknown: return true;  // ignored field
        }
        break;
      default: break;
    }
    return fail(fmt::format("tensor {}: {} must hold non-negative integers (found {})", quote_name(entry_.name), key_,
                            what));
  }

  bool unsigned_value(std::uint64_t v) {
    if (skip_ > 0) return true;
    if (depth_ != 3) return scalar("a number");
    if (field_ == Field::shape) {
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return fail(fmt::format("tensor {}: absurd dimension {} in shape", quote_name(entry_.name), v));
      if (entry_.shape.size() == kMaxRank)
        return fail(fmt::format("tensor {}: shape has more than {} dimensions", quote_name(entry_.name), kMaxRank));
      entry_.shape.push_back(static_cast<std::int64_t>(v));
    } else if (count_ == 0) {
      entry_.begin = v;
    } else if (count_ == 1) {
      entry_.end = v;
    }
    ++count_;
    return true;
  }

  bool finish_entry() {
    TensorInfo& t = entry_;
    const std::string name = quote_name(t.name);
    for (const auto& [f, label] : {std::pair{Field::dtype, "dtype"}, std::pair{Field::shape, "shape"},
                                   std::pair{Field::offsets, "data_offsets"}})
      if ((seen_ & (1u << static_cast<unsigned>(f))) == 0)
        return fail(fmt::format("tensor {}: missing '{}' (entries need dtype, shape and data_offsets)", name, label));
    // Element count and byte size, multiplied left to right with overflow checks (as the reference does).
    std::int64_t numel = 1;
    for (const auto d : t.shape)
      if (__builtin_mul_overflow(numel, d, &numel))
        return fail(fmt::format("tensor {}: absurd shape [{}] (element count overflows)", name,
                                fmt::join(t.shape, ", ")));
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<std::uint64_t>(numel), dtype_size(t.dtype), &bytes))
      return fail(fmt::format("tensor {}: absurd shape [{}] (byte count overflows)", name, fmt::join(t.shape, ", ")));
    if (t.begin > t.end || t.end > data_size_)
      return fail(fmt::format("tensor {}: data_offsets [{}, {}] lie outside the {}-byte data section (truncated "
                              "file?)",
                              name, t.begin, t.end, data_size_));
    if (t.end - t.begin != bytes)
      return fail(fmt::format("tensor {}: data_offsets [{}, {}] hold {} bytes but shape [{}] of {} needs {}", name,
                              t.begin, t.end, t.end - t.begin, fmt::join(t.shape, ", "), to_string(t.dtype),
                              bytes));
    tensors.push_back(std::move(t));
    return true;
  }

  std::uint64_t data_size_;
  int depth_ = 0;
  std::size_t skip_ = 0;  ///< nesting inside an ignored field's value
  bool in_metadata_ = false;
  Field field_ = Field::unknown;
  unsigned seen_ = 0;  ///< fields already given in the current entry (bit per Field)
  std::size_t count_ = 0;
  std::string key_;
  TensorInfo entry_;
  std::set<std::string, std::less<>> names_;
};

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class Out>
std::vector<Out> convert(const TensorInfo& t, const std::byte* p) {
  std::vector<Out> out(static_cast<std::size_t>(t.numel()));
  convert_elements(t.dtype, p, out.size(), out.data());
  return out;
}

void append_le64(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (const auto d : shape) {
    ONSAGER_CHECK(d >= 0, "tensor {}: negative dimension {} in shape [{}]", quote_name(name), d, fmt::join(shape, ", "));
    ONSAGER_CHECK(!__builtin_mul_overflow(n, d, &n), "tensor {}: absurd shape [{}] (element count overflows)",
                  quote_name(name), fmt::join(shape, ", "));
  }
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a regular file).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  ONSAGER_CHECK(fd >= 0, "{}: cannot open ({})", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    ONSAGER_FAIL("{}: not a regular file, expected a safetensors file", path);
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    ONSAGER_FAIL("{}: not a safetensors file ({} bytes; the header length alone takes 8)", path, size);
  }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);
  ONSAGER_CHECK(m != MAP_FAILED, "{}: cannot map the file ({})", path, std::strerror(map_errno));
  map_ = static_cast<const std::byte*>(m);
  map_size_ = size;
  try {
    const auto n = load<std::uint64_t>(map_);
    ONSAGER_CHECK(n <= size - 8,
                  "{}: header length {} runs past the end of the {}-byte file (truncated, or not a safetensors file)",
                  path, n, size);
    ONSAGER_CHECK(n <= kMaxHeader, "{}: header length {} exceeds the {}-byte limit (not a safetensors file?)", path, n,
                  kMaxHeader);
    const std::uint64_t data_size = size - 8 - n;
    HeaderSax sax(data_size);
    const std::string_view text(reinterpret_cast<const char*>(map_ + 8), n);
    const bool ok = nlohmann::json::sax_parse(text, &sax);
    ONSAGER_CHECK(ok && sax.error.empty(), "{}: {}", path,
                  sax.error.empty() ? std::string("the header is not valid JSON") : sax.error);
    tensors_ = std::move(sax.tensors);
    metadata_ = std::move(sax.metadata);
    data_ = map_ + 8 + n;

    // Regions must be contiguous, non-overlapping and cover the data section exactly. Zero-size tensors
    // sort before a tensor starting at the same offset; ties break by name so the order is stable.
    std::sort(tensors_.begin(), tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
      return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    std::uint64_t expect = 0;
    for (const auto& t : tensors_) {
      ONSAGER_CHECK(t.begin == expect,
                    "{}: tensor {} occupies bytes [{}, {}) of the data section but the previous tensor ends at {} "
                    "({})",
                    path, quote_name(t.name), t.begin, t.end, expect,
                    t.begin < expect ? "overlapping tensors" : "a gap between tensors");
      expect = t.end;
    }
    ONSAGER_CHECK(expect == data_size, "{}: the last {} of the {}-byte data section belong to no tensor", path,
                  data_size - expect, data_size);
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
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
  data_ = nullptr;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& o) noexcept
    : path_(std::move(o.path_)),
      map_(std::exchange(o.map_, nullptr)),
      map_size_(std::exchange(o.map_size_, 0)),
      data_(std::exchange(o.data_, nullptr)),
      tensors_(std::move(o.tensors_)),
      index_(std::move(o.index_)),
      metadata_(std::move(o.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& o) noexcept {
  if (this != &o) {
    release();
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_size_ = std::exchange(o.map_size_, 0);
    data_ = std::exchange(o.data_, nullptr);
    tensors_ = std::move(o.tensors_);
    index_ = std::move(o.index_);
    metadata_ = std::move(o.metadata_);
  }
  return *this;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo& SafetensorsFile::require(std::string_view name) const {
  const TensorInfo* t = find(name);
  if (t == nullptr) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < tensors_.size() && i < 8; ++i) names.push_back(quote_name(tensors_[i].name));
    ONSAGER_FAIL("{}: no tensor {} (the file has {} tensors{}{}{})", path_, quote_name(name), tensors_.size(),
                 names.empty() ? "" : ": ", fmt::join(names, ", "), tensors_.size() > names.size() ? ", ..." : "");
  }
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

void SafetensorsFile::read_block_f32(std::string_view name, std::size_t row, std::size_t nrows, std::size_t col,
                                     std::size_t ncols, float* out) const {
  const TensorInfo& t = require(name);
  ONSAGER_CHECK(!t.shape.empty(), "tensor {}: a scalar has no rows", quote_name(t.name));
  const auto total_rows = static_cast<std::size_t>(t.shape[0]);
  const std::size_t total_cols = total_rows ? static_cast<std::size_t>(t.numel()) / total_rows : 0;
  ONSAGER_CHECK(row <= total_rows && nrows <= total_rows - row && col <= total_cols && ncols <= total_cols - col,
                "tensor {}: block rows [{}, {}) x columns [{}, {}) lies outside its {} x {} matrix", quote_name(t.name),
                row, row + nrows, col, col + ncols, total_rows, total_cols);
  const std::size_t size = dtype_size(t.dtype);
  for (std::size_t r = 0; r < nrows; ++r)
    convert_elements(t.dtype, data_ + t.begin + ((row + r) * total_cols + col) * size, ncols, out + r * ncols);
}

std::span<const std::byte> SafetensorsFile::raw(std::string_view name) const {
  const TensorInfo& t = require(name);
  return {data_ + t.begin, static_cast<std::size_t>(t.end - t.begin)};
}

void SafetensorsFile::release_pages(std::string_view name) const {
  const TensorInfo& t = require(name);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto first = reinterpret_cast<std::uintptr_t>(data_ + t.begin), last = reinterpret_cast<std::uintptr_t>(data_ + t.end);
  const std::uintptr_t a = (first + page - 1) / page * page, b = last / page * page;  // whole pages only
  if (b > a) ::madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // Validate everything before a byte is written.
  std::set<std::string_view> names;
  for (const auto& t : tensors) {
    ONSAGER_CHECK(!t.name.empty() && t.name != "__metadata__",
                  "write_safetensors: {}: invalid tensor name {} (must be non-empty and not '__metadata__')", path,
                  quote_name(t.name));
    ONSAGER_CHECK(names.insert(t.name).second, "write_safetensors: {}: duplicate tensor name {}", path,
                  quote_name(t.name));
    ONSAGER_CHECK(t.f32.empty() || t.f64.empty(), "write_safetensors: {}: tensor {} has both float and double data",
                  path, quote_name(t.name));
    ONSAGER_CHECK(!t.bf16 || t.f64.empty(), "write_safetensors: {}: tensor {}: BF16 is written from float data", path,
                  quote_name(t.name));
    std::int64_t numel = 1;
    for (const auto d : t.shape) {
      ONSAGER_CHECK(d >= 0, "write_safetensors: {}: tensor {} has a negative dimension in shape [{}]", path,
                    quote_name(t.name), fmt::join(t.shape, ", "));
      ONSAGER_CHECK(!__builtin_mul_overflow(numel, d, &numel),
                    "write_safetensors: {}: tensor {} has an absurd shape [{}]", path, quote_name(t.name),
                    fmt::join(t.shape, ", "));
    }
    const std::size_t have = t.f64.empty() ? t.f32.size() : t.f64.size();
    ONSAGER_CHECK(have == static_cast<std::uint64_t>(numel),
                  "write_safetensors: {}: tensor {} has {} values but shape [{}] needs {}", path, quote_name(t.name), have,
                  fmt::join(t.shape, ", "), numel);
  }

  // F64 tensors first, then F32, then BF16, keeping the caller's order within each: every tensor stays aligned
  // to its element size (the header is padded to a multiple of 8), which zero-copy readers prefer.
  std::vector<const TensorToWrite*> order;
  for (const auto& t : tensors)
    if (!t.f64.empty()) order.push_back(&t);
  for (const auto& t : tensors)
    if (t.f64.empty() && !t.bf16) order.push_back(&t);
  for (const auto& t : tensors)
    if (t.bf16) order.push_back(&t);

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const TensorToWrite* t : order) {
    const bool is64 = !t->f64.empty();
    const std::uint64_t bytes = is64 ? t->f64.size_bytes() : t->bf16 ? 2 * t->f32.size() : t->f32.size_bytes();
    header[t->name] = {{"dtype", is64 ? "F64" : t->bf16 ? "BF16" : "F32"},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string head = header.dump();
  head.append((8 - head.size() % 8) % 8, ' ');
  ONSAGER_CHECK(head.size() <= kMaxHeader,
                "write_safetensors: {}: the header would take {} bytes, over the {}-byte limit readers accept "
                "(metadata too large?)",
                path, head.size(), kMaxHeader);

  std::string out;
  out.reserve(8 + head.size() + offset);
  append_le64(out, head.size());
  out += head;
  for (const TensorToWrite* t : order) {
    if (!t->f64.empty())
      out.append(reinterpret_cast<const char*>(t->f64.data()), t->f64.size_bytes());
    else if (t->bf16)
      for (float v : t->f32) {
        const std::uint16_t b = float_to_bfloat16(v);
        out.push_back(static_cast<char>(b & 0xFF)), out.push_back(static_cast<char>(b >> 8));
      }
    else if (!t->f32.empty())
      out.append(reinterpret_cast<const char*>(t->f32.data()), t->f32.size_bytes());
  }
  write_file_atomic(path, out);
}

}  // namespace onsager
