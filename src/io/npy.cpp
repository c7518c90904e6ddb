// .npy headers are Python dict literals; .npz files are zip archives. Both are parsed by hand here because
// the formats are small and the checks matter: each claimed size is compared with the bytes present first.

#include "io/npy.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/io/safetensors.hpp"

namespace onsager {
namespace {

static_assert(std::endian::native == std::endian::little, "the .npy/.npz readers assume a little-endian host");

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::string shown(std::string_view s) {
  if (s.size() <= 60) return std::string(s);
  return std::string(s.substr(0, 57)) + "...";
}

// A Python literal in an .npy header: a string, a boolean or a tuple/list of non-negative integers.
struct PyValue {
  enum class Kind { string, boolean, ints } kind = Kind::string;
  std::string text;
  bool flag = false;
  std::vector<std::uint64_t> ints;
};

class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view s, const std::string& path) : s_(s), path_(path) {}

  // Returns the dict's entries; throws on anything that is not a flat dict of supported literals.
  std::vector<std::pair<std::string, PyValue>> parse_dict() {
    std::vector<std::pair<std::string, PyValue>> out;
    expect('{');
    while (true) {
      skip_ws();
      if (peek() == '}') break;
      PyValue k = value();
      if (k.kind != PyValue::Kind::string) bad("a dict key is not a string");
      expect(':');
      out.emplace_back(k.text, value());
      skip_ws();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      if (peek() != '}') bad("expected ',' or '}'");
    }
    ++i_;
    return out;
  }

 private:
  [[noreturn]] void bad(std::string_view what) const {
    ONSAGER_FAIL("{}: cannot parse the .npy header ({} at offset {}): {}", path_, what, i_, shown(trim(s_)));
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    skip_ws();
    if (peek() != c) bad(fmt::format("expected '{}'", c));
    ++i_;
  }
  PyValue value() {
    skip_ws();
    PyValue v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      ++i_;
      const auto end = s_.find(c, i_);
      if (end == std::string_view::npos) bad("unterminated string");
      v.text = std::string(s_.substr(i_, end - i_));
      i_ = end + 1;
      return v;
    }
    if (s_.substr(i_, 4) == "True" || s_.substr(i_, 5) == "False") {
      v.kind = PyValue::Kind::boolean;
      v.flag = c == 'T';
      i_ += v.flag ? 4 : 5;
      return v;
    }
    if (c == '(' || c == '[') {
      const char close = c == '(' ? ')' : ']';
      ++i_;
      v.kind = PyValue::Kind::ints;
      while (true) {
        skip_ws();
        if (peek() == close) break;
        if (v.ints.size() >= 64) bad("more than 64 dimensions");
        std::uint64_t n = 0;
        const auto r = std::from_chars(s_.data() + i_, s_.data() + s_.size(), n);
        if (r.ec == std::errc::result_out_of_range) bad("a dimension does not fit in 64 bits");
        if (r.ec != std::errc()) bad("expected a non-negative integer");
        i_ = static_cast<std::size_t>(r.ptr - s_.data());
        v.ints.push_back(n);
        skip_ws();
        if (peek() == ',') ++i_;
        else if (peek() != close) bad(fmt::format("expected ',' or '{}'", close));
      }
      ++i_;
      return v;
    }
    bad("unsupported value");
  }

  std::string_view s_;
  const std::string& path_;
  std::size_t i_ = 0;
};

template <class Out>
void convert_values(const NpyHeader& h, const char* src, Out* dst) {
  convert_elements(h.dtype, src, h.numel, dst);
}

std::uint16_t le16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }
std::uint32_t le32(const unsigned char* p) {
  return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 24);
}

void put16(std::string& s, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::string npy_f64_bytes(std::span<const std::uint64_t> shape, std::span<const double> values) {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  ONSAGER_CHECK(n == values.size(), "write npy: shape {} holds {} values, {} given", shape_to_string(shape), n,
                values.size());
  std::string header =
      fmt::format("{{'descr': '<f8', 'fortran_order': False, 'shape': {}, }}", shape_to_string(shape));
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  ONSAGER_CHECK(header.size() < 65536, "write npy: shape {} gives too long a header", shape_to_string(shape));
  std::string bytes("\x93NUMPY\x01\x00", 8);
  put16(bytes, static_cast<std::uint16_t>(header.size()));
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
  return bytes;
}

}  // namespace

std::string shape_to_string(std::span<const std::uint64_t> shape) {
  std::string s = "(";
  for (std::size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

NpyHeader parse_npy_header_prefix(std::string_view bytes, std::uint64_t total_size, const std::string& name) {
  constexpr std::string_view magic("\x93NUMPY", 6);
  ONSAGER_CHECK(bytes.size() >= 10 && bytes.substr(0, 6) == magic, "{}: not a NumPy .npy file (no \\x93NUMPY magic)",
                name);
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned major = b[6], minor = b[7];
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = le16(b + 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    ONSAGER_CHECK(bytes.size() >= 12, "{}: truncated .npy header", name);
    header_len = le32(b + 8);
    start = 12;
  } else {
    ONSAGER_FAIL("{}: .npy format version {}.{} is not supported (1.0, 2.0 and 3.0 are)", name, major, minor);
  }
  ONSAGER_CHECK(header_len <= bytes.size() - start, "{}: truncated .npy header (it claims {} bytes, {} follow)", name,
                header_len, bytes.size() - start);
  const std::string_view text(bytes.data() + start, header_len);
  const auto entries = NpyHeaderParser(text, name).parse_dict();
  const PyValue* descr = nullptr;
  const PyValue* fortran = nullptr;
  const PyValue* shape = nullptr;
  for (const auto& [k, v] : entries) {
    if (k == "descr") descr = &v;
    else if (k == "fortran_order") fortran = &v;
    else if (k == "shape") shape = &v;
  }
  ONSAGER_CHECK(descr && fortran && shape, "{}: the .npy header lacks 'descr', 'fortran_order' or 'shape': {}", name,
                shown(trim(text)));
  ONSAGER_CHECK(descr->kind == PyValue::Kind::string && fortran->kind == PyValue::Kind::boolean &&
                    shape->kind == PyValue::Kind::ints,
                "{}: malformed .npy header: {}", name, shown(trim(text)));
  NpyHeader h;
  h.descr = descr->text;
  const std::string& dt = h.descr;
  if (dt == "<f2") h.dtype = DType::f16;
  else if (dt == "<f4") h.dtype = DType::f32;
  else if (dt == "<f8") h.dtype = DType::f64;
  else if (dt == "|u1" || dt == "<u1" || dt == "u1") h.dtype = DType::u8;
  else if (dt == "|b1" || dt == "<b1" || dt == "b1") h.dtype = DType::boolean;
  else if (dt == "<i4") h.dtype = DType::i32;
  else if (dt == "<i8") h.dtype = DType::i64;
  else if (!dt.empty() && dt[0] == '>')
    ONSAGER_FAIL("{}: big-endian data ('{}') is not supported; save it little-endian (a.astype('<{}'))", name, dt,
                 dt.substr(1));
  else
    ONSAGER_FAIL("{}: dtype '{}' is not supported; use float16, float32, float64, uint8, bool, int32 or int64", name,
                 dt);
  ONSAGER_CHECK(!fortran->flag, "{}: Fortran-order arrays are not supported; save a C-order array (np.ascontiguousarray)",
                name);
  h.shape = shape->ints;
  h.data_offset = start + header_len;
  const std::uint64_t payload = total_size - h.data_offset;
  bool overflow = false;
  for (std::uint64_t v : h.shape) overflow |= __builtin_mul_overflow(h.numel, v, &h.numel);
  std::uint64_t need = 0;
  overflow |= __builtin_mul_overflow(h.numel, std::uint64_t{dtype_size(h.dtype)}, &need);
  ONSAGER_CHECK(!overflow && need <= payload,
                "{}: truncated .npy file: shape {} of '{}' needs {} bytes of data but {} follow", name,
                shape_to_string(h.shape), dt, overflow ? std::string("more than 2^64") : std::to_string(need), payload);
  ONSAGER_CHECK(need == payload, "{}: {} unexpected bytes after the .npy data (shape {} of '{}')", name, payload - need,
                shape_to_string(h.shape), dt);
  return h;
}

NpyHeader parse_npy_header(std::string_view bytes, const std::string& name) {
  return parse_npy_header_prefix(bytes, bytes.size(), name);
}

void npy_convert(const NpyHeader& h, const char* data, float* out) { convert_values(h, data, out); }
void npy_convert(const NpyHeader& h, const char* data, double* out) { convert_values(h, data, out); }

NpyArray parse_npy(std::string_view bytes, const std::string& name) {
  const NpyHeader h = parse_npy_header(bytes, name);
  NpyArray a;
  a.shape = h.shape;
  a.descr = h.descr;
  a.values.resize(h.numel);
  npy_convert(h, bytes.data() + h.data_offset, a.values.data());
  return a;
}

NpyArray read_npy_array(const std::string& path) { return parse_npy(read_file(path), path); }

void write_npy_f64(const std::string& path, std::span<const std::uint64_t> shape, std::span<const double> values) {
  write_file_atomic(path, npy_f64_bytes(shape, values));
}

// ---------------------------------------------------------------------------------------------------
// .npz: a zip archive (io/zip.hpp) whose members are .npy files.

NpzFile::NpzFile(const std::string& path) : path_(path), zip_(path, "npz") {
  std::set<std::string> seen;
  for (std::size_t k = 0; k < zip_.members().size(); ++k) {
    const ZipMember& z = zip_.members()[k];
    NpzMember m;
    m.name = z.name;
    if (m.name.size() > 4 && m.name.ends_with(".npy")) m.name.resize(m.name.size() - 4);
    m.compressed_size = z.compressed_size, m.size = z.size, m.local_header_offset = z.local_header_offset;
    m.method = z.method, m.crc32 = z.crc32, m.member = k;
    ONSAGER_CHECK(seen.insert(m.name).second, "{}: corrupt .npz: member '{}' appears twice", path, m.name);
    members_.push_back(std::move(m));
  }
}

NpyHeader NpzFile::header(const NpzMember& m) const {
  // The first 64 KiB hold any header NumPy writes; the claimed data size is checked against the member's.
  const std::string head = zip_.read(zip_.members().at(m.member), std::min<std::uint64_t>(m.size, 1 << 16));
  const std::string name = fmt::format("{}:{}", path_, m.name);
  return parse_npy_header_prefix(head, m.size, name);
}

NpyArray NpzFile::read(const NpzMember& m) const {
  const std::string bytes = zip_.read_checked(zip_.members().at(m.member));
  return parse_npy(bytes, fmt::format("{}:{}", path_, m.name));
}

void write_npz(const std::string& path, const std::vector<NpzArrayToWrite>& arrays, bool compress) {
  std::string out, cd;
  std::set<std::string> names;
  for (const auto& a : arrays) {
    ONSAGER_CHECK(!a.name.empty() && names.insert(a.name).second, "write npz: array names must be unique and non-empty ('{}')",
                  a.name);
    const std::string npy = npy_f64_bytes(a.shape, a.values);
    const std::string file_name = a.name + ".npy";
    std::string data = npy;
    std::uint16_t method = 0;
    if (compress) {
      z_stream zs{};
      ONSAGER_CHECK(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK,
                    "write npz: cannot initialise zlib");
      std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, deflateEnd);
      data.assign(deflateBound(&zs, npy.size()), '\0');
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(npy.data()));
      zs.avail_in = static_cast<uInt>(npy.size());
      zs.next_out = reinterpret_cast<Bytef*>(data.data());
      zs.avail_out = static_cast<uInt>(data.size());
      ONSAGER_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END, "write npz: deflate failed");
      data.resize(zs.total_out);
      method = 8;
    }
    ONSAGER_CHECK(npy.size() < 0xFFFFFFFFu && out.size() < 0xFFFFFFFFu, "write npz: archives over 4 GiB are not supported");
    const auto crc = static_cast<std::uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(npy.data()), npy.size()));
    const auto offset = static_cast<std::uint32_t>(out.size());
    auto common = [&](std::string& s) {
      put16(s, 20);  // version needed
      put16(s, 0);   // flags
      put16(s, method);
      put16(s, 0);  // time
      put16(s, 0x21);  // date 1980-01-01
      put32(s, crc);
      put32(s, static_cast<std::uint32_t>(data.size()));
      put32(s, static_cast<std::uint32_t>(npy.size()));
      put16(s, static_cast<std::uint16_t>(file_name.size()));
      put16(s, 0);  // extra
    };
    put32(out, 0x04034b50);
    common(out);
    out += file_name;
    out += data;
    put32(cd, 0x02014b50);
    put16(cd, 20);  // made by
    common(cd);
    put16(cd, 0);  // comment
    put16(cd, 0);  // disk
    put16(cd, 0);  // internal attributes
    put32(cd, 0);  // external attributes
    put32(cd, offset);
    cd += file_name;
  }
  const auto cd_offset = static_cast<std::uint32_t>(out.size());
  out += cd;
  put32(out, 0x06054b50);
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<std::uint16_t>(arrays.size()));
  put16(out, static_cast<std::uint16_t>(arrays.size()));
  put32(out, static_cast<std::uint32_t>(cd.size()));
  put32(out, cd_offset);
  put16(out, 0);
  write_file_atomic(path, out);
}

}  // namespace onsager
