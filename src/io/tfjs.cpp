// TensorFlow.js models: a layers or graph model.json, or a bare weights manifest, with their binary shards.
//
// The manifest is a list of groups {"paths": [shard files], "weights": [{name, shape, dtype, quantization?}]}.
// A group's shards, concatenated in order, hold its weights back to back (tfjs-core io/io_utils.ts,
// decodeWeights). Everything is checked when the file is opened: shard names (plain files next to the
// manifest), each weight's byte size (with overflow checks) and each group's total against the shards' sizes,
// before anything sized by the file is allocated. Values are read on request with pread, so read() is safe
// from several threads at once.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "confined_path.hpp"
#include "io/keras_layout.hpp"
#include "onsager/io/model_formats.hpp"
#include "quote_name.hpp"
#include "onsager/io/dtype.hpp"  // half_to_float

namespace onsager {
namespace {

using detail::quote_name;

namespace fs = std::filesystem;
using json = nlohmann::json;

static_assert(std::endian::native == std::endian::little, "TF.js shards are little-endian");

constexpr std::uint64_t kMaxJson = 100'000'000;  // a model.json larger than this is not a model.json
constexpr std::size_t kMaxRank = 16;

/// What a JSON value is, for messages.
const char* kind(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "a number";
    default: return "a value of another kind";
  }
}

enum class Stored { f32, i32, boolean, u8, u16, f16, str };  // the bytes in the shard

struct Weight {
  TensorEntry entry;
  std::size_t group = 0;
  std::uint64_t offset = 0;  ///< into the group's concatenated shards
  std::uint64_t bytes = 0;
  Stored stored = Stored::f32;
  bool to_int = false;  ///< int32 target of a quantised weight: values rounded as tfjs does
  double scale = 1, min = 0;
  std::optional<detail::KerasLayout> layout;  ///< none: as stored, not known to be canonical
};

struct Shard {
  std::string name;  ///< as the manifest lists it
  std::string path;
  std::uint64_t size = 0;
  std::uint64_t start = 0;  ///< offset of its first byte in the group
};

struct Group {
  std::vector<Shard> shards;
  std::uint64_t size = 0;
};

std::uint64_t file_size_regular(const std::string& path, const std::string& manifest, const std::string& what) {
  struct stat st {};
  ONSAGER_CHECK(::stat(path.c_str(), &st) == 0, "{}: {} {} cannot be opened ({})", manifest, what, quote_name(path),
                std::strerror(errno));
  ONSAGER_CHECK(S_ISREG(st.st_mode), "{}: {} {} is not a regular file", manifest, what, quote_name(path));
  return static_cast<std::uint64_t>(st.st_size);
}

/// Reads bytes [offset, offset + n) of a group's concatenated shards into `out`.
void read_group(const std::string& manifest, const Group& g, std::uint64_t offset, std::uint64_t n, char* out) {
  for (const Shard& s : g.shards) {
    if (n == 0) break;
    if (offset >= s.start + s.size) continue;
    const std::uint64_t at = offset - s.start, take = std::min(n, s.size - at);
    const int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    ONSAGER_CHECK(fd >= 0, "{}: cannot open shard {} ({})", manifest, quote_name(s.path), std::strerror(errno));
    std::uint64_t done = 0;
    while (done < take) {
      const ssize_t r = ::pread(fd, out + done, static_cast<std::size_t>(take - done), static_cast<off_t>(at + done));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        const int e = errno;
        ::close(fd);
        ONSAGER_FAIL("{}: shard {} ended or failed at byte {} ({}; was it changed after opening?)", manifest,
                     quote_name(s.path), at + done, r < 0 ? std::strerror(e) : "end of file");
      }
      done += static_cast<std::uint64_t>(r);
    }
    ::close(fd);
    out += take, offset += take, n -= take;
  }
  ONSAGER_CHECK(n == 0, "{}: internal: read past the end of a weight group", manifest);
}

/// The layer classes of a layers model, by layer name (nested models included; io/keras_layout.hpp).
std::map<std::string, std::string> layer_classes(const json& topology) { return detail::keras_layer_classes(topology, 64); }

/// A graph model's consumers of each weight: node op by input name (":0" and "^" stripped).
std::map<std::string, std::string> graph_consumers(const json& topology) {
  std::map<std::string, std::string> out;
  const auto nodes = topology.find("node");
  if (nodes == topology.end() || !nodes->is_array()) return out;
  for (const json& n : *nodes) {
    if (!n.is_object()) continue;
    const auto op = n.find("op");
    const auto in = n.find("input");
    if (op == n.end() || !op->is_string() || in == n.end() || !in->is_array()) continue;
    std::string o = op->get<std::string>();
    // MatMul with transpose_b holds its weight out x in already.
    if (const auto attr = n.find("attr"); attr != n.end() && attr->is_object())
      if (const auto tb = attr->find("transpose_b"); tb != attr->end() && tb->is_object())
        if (const auto b = tb->find("b"); b != tb->end() && b->is_boolean() && b->get<bool>()) o += " (transpose_b)";
    // The filter of a convolution and the b of a MatMul are their second input; a Gather's table its first.
    const bool gather = o == "GatherV2" || o == "ResourceGather" || o == "Gather";
    const std::size_t i = gather ? 0 : 1;
    if (i >= in->size() || !(*in)[i].is_string()) continue;
    std::string s = (*in)[i].get<std::string>();
    if (s.starts_with("^")) continue;
    if (const auto c = s.find(':'); c != std::string::npos) s.resize(c);
    out.emplace(s, o);
  }
  return out;
}

/// The layout of a graph model's weight, told by the op that consumes it.
std::optional<detail::KerasLayout> graph_layout(const std::string& op, std::size_t rank) {
  if ((op == "Conv2D" || op == "_FusedConv2D") && rank == 4) return detail::keras_hwio();
  if ((op == "DepthwiseConv2dNative" || op == "FusedDepthwiseConv2dNative") && rank == 4)
    return detail::keras_depthwise_2d();
  if ((op == "MatMul" || op == "_FusedMatMul" || op == "BatchMatMulV2") && rank == 2) return detail::keras_in_out();
  if (op == "Conv3D" && rank == 5) return detail::keras_dhwio();
  if ((op == "GatherV2" || op == "ResourceGather" || op == "Gather") && rank == 2) return detail::keras_as_pytorch();
  return std::nullopt;
}

/// TF's conventions by rank, for a tensor nothing else describes (a bare manifest).
std::optional<detail::KerasLayout> rank_layout(const std::string& name, std::size_t rank) {
  const std::string last = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
  if (rank == 4) return last.find("depthwise") != std::string::npos ? detail::keras_depthwise_2d() : detail::keras_hwio();
  if (rank == 3) return detail::keras_k_in_out();
  // Embedding tables are (vocab, dim) in TensorFlow and PyTorch alike.
  if (rank == 2) return last.find("embedding") != std::string::npos ? detail::keras_as_pytorch() : detail::keras_in_out();
  return std::nullopt;
}

class TfjsSource : public TensorSource {
 public:
  explicit TfjsSource(const std::string& path) : path_(path) {
    const std::uint64_t size = file_size_regular(path, path, "file");
    ONSAGER_CHECK(size <= kMaxJson, "{}: {} bytes is too large for a TF.js model.json or weights manifest", path,
                  size);
    json j = json::parse(read_file(path), nullptr, false);
    ONSAGER_CHECK(!j.is_discarded(), "{}: not valid JSON (expected a TF.js model.json or weights manifest)", path);
    const json* manifest = nullptr;
    std::map<std::string, std::string> layers, consumers;
    if (j.is_array()) {
      format_ = "tfjs weights manifest";
      manifest = &j;
    } else if (j.is_object()) {
      const auto wm = j.find("weightsManifest");
      ONSAGER_CHECK(wm != j.end(),
                    "{}: a JSON object without \"weightsManifest\" (expected a TF.js model.json or weights manifest)",
                    path);
      manifest = &*wm;
      std::string fmt_field;
      if (const auto f = j.find("format"); f != j.end() && f->is_string()) fmt_field = f->get<std::string>();
      const auto topo = j.find("modelTopology");
      const bool has_topo = topo != j.end() && topo->is_object();
      if (fmt_field == "graph-model" || (fmt_field.empty() && has_topo && topo->contains("node"))) {
        format_ = "tfjs graph-model";
        if (has_topo) consumers = graph_consumers(*topo);
      } else if (fmt_field == "layers-model" ||
                 (fmt_field.empty() && has_topo && (topo->contains("model_config") || topo->contains("class_name")))) {
        format_ = "tfjs layers-model";
        if (has_topo) layers = layer_classes(*topo);
      } else {
        ONSAGER_CHECK(fmt_field.empty(), "{}: unknown TF.js format {} (expected layers-model or graph-model)", path,
                      quote_name(fmt_field));
        format_ = "tfjs weights manifest";
      }
    } else {
      ONSAGER_FAIL("{}: the JSON is {}, not a TF.js model.json (an object) or weights manifest (an array)", path,
                   kind(j));
    }
    ONSAGER_CHECK(manifest->is_array(), "{}: weightsManifest must be an array of groups (it is {})", path,
                  kind(*manifest));
    const fs::path dir = fs::path(path).parent_path();
    std::set<std::string, std::less<>> names;
    for (std::size_t gi = 0; gi < manifest->size(); ++gi) {
      const json& g = (*manifest)[gi];
      ONSAGER_CHECK(g.is_object(), "{}: weights group {} must be an object (it is {})", path, gi, kind(g));
      const auto paths = g.find("paths");
      const auto weights = g.find("weights");
      ONSAGER_CHECK(paths != g.end() && paths->is_array(), "{}: weights group {} has no \"paths\" array", path, gi);
      ONSAGER_CHECK(weights != g.end() && weights->is_array(), "{}: weights group {} has no \"weights\" array", path,
                    gi);
      Group group;
      for (const json& p : *paths) {
        ONSAGER_CHECK(p.is_string(), "{}: weights group {}: a shard path is {}, not a string", path, gi, kind(p));
        const std::string name = p.get<std::string>();
        ONSAGER_CHECK(!name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
                          name.find('\\') == std::string::npos && name.find('\0') == std::string::npos,
                      "{}: weights group {}: shard path {} is not a plain file name in the manifest's directory "
                      "(absolute paths, directories and '..' are refused)",
                      path, gi, quote_name(name));
        ONSAGER_CHECK(std::none_of(group.shards.begin(), group.shards.end(),
                                   [&](const Shard& other) { return other.name == name; }),
                      "{}: weights group {} lists shard {} twice", path, gi, quote_name(name));
        Shard s;
        s.name = name;
        s.path = detail::confined_path(path, name, "shard");
        s.size = file_size_regular(s.path, path, "shard");
        s.start = group.size;
        group.size += s.size;  // each below 2^63; the sum of a few files cannot overflow 2^64 in practice
        ONSAGER_CHECK(group.size >= s.size, "{}: weights group {}: shards too large", path, gi);
        group.shards.push_back(std::move(s));
      }
      std::uint64_t offset = 0;
      for (const json& w : *weights) {
        Weight wt = parse_weight(w, gi, names);
        wt.group = gi;
        wt.offset = offset;
        if (wt.stored == Stored::str) wt.bytes = string_bytes(group, offset, wt);
        ONSAGER_CHECK(wt.bytes <= group.size - std::min(offset, group.size) && offset <= group.size,
                      "{}: weight {} needs bytes [{}, {}) of weights group {} but its shards hold {} bytes (truncated "
                      "or missing shard?)",
                      path, quote_name(wt.entry.name), offset, offset + wt.bytes, gi, group.size);
        offset += wt.bytes;
        wt.entry.index = weights_.size();
        const auto slash = wt.entry.name.rfind('/');
        const std::string param = slash == std::string::npos ? wt.entry.name : wt.entry.name.substr(slash + 1);
        const std::size_t rank = wt.entry.shape.size();
        if (wt.entry.floating) {
          if (format_ == "tfjs layers-model") {
            // The weight belongs to the innermost named layer along its path ("model/dense_1/kernel").
            std::string cls;
            std::size_t end = slash;
            while (end != std::string::npos && end > 0 && cls.empty()) {
              const auto b = wt.entry.name.rfind('/', end - 1);
              const std::string seg = wt.entry.name.substr(b == std::string::npos ? 0 : b + 1,
                                                           end - (b == std::string::npos ? 0 : b + 1));
              if (const auto it = layers.find(seg); it != layers.end()) cls = it->second;
              end = b;
            }
            if (!cls.empty()) {
              wt.layout = detail::keras_layout(cls, param, rank);
              wt.entry.op = cls;
            }
          } else if (format_ == "tfjs graph-model") {
            if (const auto it = consumers.find(wt.entry.name); it != consumers.end()) {
              wt.layout = graph_layout(it->second, rank);
              if (it->second == "MatMul (transpose_b)" || it->second == "_FusedMatMul (transpose_b)") {
                wt.layout.reset();  // already out x in
                wt.entry.canonical = rank == 2;
              }
              wt.entry.op = it->second;
            } else {
              wt.layout = rank_layout(wt.entry.name, rank);
            }
          } else {
            wt.layout = rank_layout(wt.entry.name, rank);
          }
          if (wt.layout) detail::apply_keras_layout(wt.entry, *wt.layout);
        }
        weights_.push_back(std::move(wt));
      }
      ONSAGER_CHECK(offset == group.size,
                    "{}: weights group {}: its weights need {} bytes but its shards hold {} (shard too long, or a "
                    "weight missing from the manifest)",
                    path, gi, offset, group.size);
      groups_.push_back(std::move(group));
    }
    for (const Weight& w : weights_) entries_.push_back(w.entry);
  }

  const std::vector<TensorEntry>& tensors() const override { return entries_; }

  std::vector<double> read(const TensorEntry& t) const override {
    ONSAGER_CHECK(t.index < weights_.size() && weights_[t.index].entry.name == t.name, "{}: no tensor {}", path_,
                  quote_name(t.name));
    const Weight& w = weights_[t.index];
    ONSAGER_CHECK(w.stored != Stored::str, "{}: tensor {} holds strings, not numbers", path_, quote_name(t.name));
    std::string raw(static_cast<std::size_t>(w.bytes), '\0');
    read_group(path_, groups_[w.group], w.offset, w.bytes, raw.data());
    const std::size_t n = numel(w.entry.stored_shape.empty() ? w.entry.shape : w.entry.stored_shape);
    std::vector<double> v(n);
    const char* p = raw.data();
    auto load = [p]<class T>(std::size_t i, T) {
      T x;
      std::memcpy(&x, p + i * sizeof(T), sizeof(T));
      return x;
    };
    // Quantised values as tfjs-core's decodeWeights computes them: q * scale + min in double, stored into a
    // Float32Array (rounded to float32), or Math.round into an Int32Array for an int32 target.
    // The product is rounded to double before the addition, as in JavaScript: a fused multiply-add (which
    // GCC contracts to by default on FMA hardware) gives e.g. 6.5e-18 where tfjs gives 0 (q * scale == -min).
    auto dequant = [&](double q) {
      volatile double product = q * w.scale;
      const double x = product + w.min;
      if (!w.to_int) return static_cast<double>(static_cast<float>(x));
      const double r = std::floor(x);  // Math.round: halves go up (-0.5 -> 0), unlike std::round
      return x - r >= 0.5 ? r + 1 : r;
    };
    switch (w.stored) {
      case Stored::f32:
        for (std::size_t i = 0; i < n; ++i) v[i] = load(i, float{});
        break;
      case Stored::i32:
        for (std::size_t i = 0; i < n; ++i) v[i] = load(i, std::int32_t{});
        break;
      case Stored::boolean:
        for (std::size_t i = 0; i < n; ++i) v[i] = load(i, std::uint8_t{}) != 0 ? 1 : 0;
        break;
      case Stored::u8:
        for (std::size_t i = 0; i < n; ++i) v[i] = dequant(load(i, std::uint8_t{}));
        break;
      case Stored::u16:
        for (std::size_t i = 0; i < n; ++i) v[i] = dequant(load(i, std::uint16_t{}));
        break;
      case Stored::f16:
        for (std::size_t i = 0; i < n; ++i) v[i] = half_to_float(load(i, std::uint16_t{}));
        break;
      case Stored::str: break;
    }
    if (!w.layout || w.entry.stored_shape.empty()) return v;
    return permute_axes(v, w.entry.stored_shape, w.layout->perm);
  }

  std::string format() const override { return format_; }

 private:
  static std::size_t numel(const std::vector<std::int64_t>& s) {
    std::size_t n = 1;
    for (auto d : s) n *= static_cast<std::size_t>(d);
    return n;
  }

  Weight parse_weight(const json& w, std::size_t gi, std::set<std::string, std::less<>>& names) const {
    ONSAGER_CHECK(w.is_object(), "{}: weights group {}: a weight entry is {}, not an object", path_, gi, kind(w));
    Weight wt;
    TensorEntry& e = wt.entry;
    const auto name = w.find("name");
    ONSAGER_CHECK(name != w.end() && name->is_string(), "{}: weights group {}: a weight has no \"name\" string", path_,
                  gi);
    e.name = name->get<std::string>();
    const std::string qn = quote_name(e.name);
    ONSAGER_CHECK(names.insert(e.name).second, "{}: duplicate weight name {}", path_, qn);
    const auto shape = w.find("shape");
    ONSAGER_CHECK(shape != w.end() && shape->is_array(), "{}: weight {}: \"shape\" must be an array of integers",
                  path_, qn);
    ONSAGER_CHECK(shape->size() <= kMaxRank, "{}: weight {}: shape has {} dimensions (at most {} accepted)", path_,
                  qn, shape->size(), kMaxRank);
    std::uint64_t count = 1;
    for (const json& d : *shape) {
      ONSAGER_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<std::int64_t>() >= 0),
                    "{}: weight {}: shape must hold non-negative integers (found {})", path_, qn,
                    d.is_number() ? d.dump() : kind(d));
      const std::uint64_t v = d.get<std::uint64_t>();
      ONSAGER_CHECK(v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) &&
                        !__builtin_mul_overflow(count, v, &count) &&
                        count <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                    "{}: weight {}: absurd shape {} (element count overflows)", path_, qn, shape->dump());
      e.shape.push_back(static_cast<std::int64_t>(v));
    }
    const auto dt = w.find("dtype");
    ONSAGER_CHECK(dt != w.end() && dt->is_string(), "{}: weight {}: no \"dtype\" string", path_, qn);
    const std::string dtype = dt->get<std::string>();
    std::uint64_t elem = 0;
    if (dtype == "float32") {
      wt.stored = Stored::f32, elem = 4, e.floating = true;
    } else if (dtype == "int32") {
      wt.stored = Stored::i32, elem = 4;
    } else if (dtype == "bool") {
      wt.stored = Stored::boolean, elem = 1;
    } else if (dtype == "string") {
      wt.stored = Stored::str;
    } else {
      ONSAGER_FAIL("{}: weight {}: unsupported dtype {} (TF.js weights are float32, int32, bool or string)", path_,
                   qn, quote_name(dtype));
    }
    e.dtype = dtype;
    if (const auto q = w.find("quantization"); q != w.end() && !q->is_null()) {
      ONSAGER_CHECK(q->is_object(), "{}: weight {}: \"quantization\" must be an object (it is {})", path_, qn,
                    kind(*q));
      const auto qd = q->find("dtype");
      ONSAGER_CHECK(qd != q->end() && qd->is_string(), "{}: weight {}: quantization has no \"dtype\" string", path_,
                    qn);
      const std::string qt = qd->get<std::string>();
      if (qt == "uint8" || qt == "uint16") {
        ONSAGER_CHECK(dtype == "float32" || dtype == "int32",
                      "{}: weight {}: {} quantisation of a {} weight (TF.js quantises float32 and int32 only)", path_,
                      qn, qt, dtype);
        const auto sc = q->find("scale"), mn = q->find("min");
        ONSAGER_CHECK(sc != q->end() && mn != q->end(), "{}: weight {}: {} quantisation needs \"scale\" and \"min\"",
                      path_, qn, qt);
        ONSAGER_CHECK(sc->is_number() && mn->is_number(),
                      "{}: weight {}: quantisation \"scale\" and \"min\" must be numbers (they are {} and {})", path_,
                      qn, kind(*sc), kind(*mn));
        wt.scale = sc->get<double>(), wt.min = mn->get<double>();
        ONSAGER_CHECK(std::isfinite(wt.scale) && std::isfinite(wt.min),
                      "{}: weight {}: quantisation scale {} and min {} must be finite", path_, qn, wt.scale, wt.min);
        wt.stored = qt == "uint8" ? Stored::u8 : Stored::u16;
        wt.to_int = dtype == "int32";
        elem = qt == "uint8" ? 1 : 2;
      } else if (qt == "float16") {
        ONSAGER_CHECK(dtype == "float32", "{}: weight {}: float16 quantisation of a {} weight (only float32)", path_,
                      qn, dtype);
        wt.stored = Stored::f16, elem = 2;
      } else {
        ONSAGER_FAIL("{}: weight {}: unsupported quantisation dtype {} (uint8, uint16 or float16)", path_, qn,
                     quote_name(qt));
      }
      e.dtype = fmt::format("{} (quantised {})", qt, dtype);
    }
    if (wt.stored == Stored::str) {
      e.dtype = "string (not numeric, skipped)";
      wt.bytes = count;  // elements; string_bytes() turns this into bytes
    } else {
      ONSAGER_CHECK(!__builtin_mul_overflow(count, elem, &wt.bytes), "{}: weight {}: absurd shape {} (byte count "
                    "overflows)", path_, qn, shape->dump());
    }
    return wt;
  }

  /// A string tensor's size: each element is a little-endian uint32 length and that many bytes (tfjs-core
  /// encodeWeights). Walks the lengths in the shards, each checked against what is left.
  std::uint64_t string_bytes(const Group& g, std::uint64_t offset, const Weight& w) const {
    const std::uint64_t count = w.bytes;
    std::uint64_t at = offset;
    ONSAGER_CHECK(at <= g.size && count <= (g.size - at) / 4,
                  "{}: string weight {}: {} elements need at least {} bytes but its shards hold {} from byte {}", path_,
                  quote_name(w.entry.name), count, count > UINT64_MAX / 4 ? UINT64_MAX : count * 4,
                  at <= g.size ? g.size - at : 0, at);
    for (std::uint64_t i = 0; i < count; ++i) {
      ONSAGER_CHECK(at <= g.size && g.size - at >= 4,
                    "{}: string weight {}: element {} runs past the end of its shards (truncated?)", path_,
                    quote_name(w.entry.name), i);
      std::uint32_t len = 0;
      read_group(path_, g, at, 4, reinterpret_cast<char*>(&len));
      at += 4;
      ONSAGER_CHECK(g.size - at >= len, "{}: string weight {}: element {} claims {} bytes but {} are left", path_,
                    quote_name(w.entry.name), i, len, g.size - at);
      at += len;
    }
    return at - offset;
  }

  std::string path_;
  std::string format_;
  std::vector<Group> groups_;
  std::vector<Weight> weights_;
  std::vector<TensorEntry> entries_;
};

}  // namespace

std::unique_ptr<TensorSource> open_tfjs_source(const std::string& path) { return std::make_unique<TfjsSource>(path); }

}  // namespace onsager
