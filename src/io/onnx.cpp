// The ONNX reader: a ModelProto parsed by the generated protobuf classes (Debian's libonnx-dev), its tensors
// gathered from the main graph, every subgraph held in a node attribute (If/Loop/Scan bodies) and Constant
// nodes, each checked (dtype, dims, data size, external file bounds) before anything is read. Values stay in
// the parsed message (or in their external file) until read() asks for them. How the graph uses a tensor
// (Conv, ConvTranspose, Gemm, MatMul, LSTM/GRU/RNN and their quantised forms) decides whether it is moved into
// PyTorch's layout, and whether an integer tensor is a quantised weight that read() dequantises (onnx_quant.hpp).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include <fmt/ranges.h>

#include <onnx/onnx_pb.h>

#include "onsager/core/error.hpp"
#include "confined_path.hpp"
#include "onnx_quant.hpp"
#include "onsager/io/model_formats.hpp"
#include "quote_name.hpp"
#include "onsager/io/dtype.hpp"

namespace onsager {
namespace {

using detail::int_attribute;
using detail::quote_name;

namespace fs = std::filesystem;
using onnx::TensorProto;

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian; this reader assumes the host is");

constexpr std::uint64_t kMaxModelBytes = INT_MAX;  // protobuf's 2 GB limit on one message
constexpr int kMaxRank = 64;


struct DTypeInfo {
  int type;
  const char* name;
  DType dtype;  ///< onsager's element type (io/dtype.hpp): its size, whether it is floating, its decoding
};
constexpr DTypeInfo onnx_type(int type, const char* name, DType d) { return {type, name, d}; }
// The types this reader returns. STRING, COMPLEX64/128 and types newer than ONNX 1.12 are left out (listed in
// docs/format-onnx.md): they are not real-valued weights.
constexpr DTypeInfo kTypes[] = {
    onnx_type(TensorProto::FLOAT, "FLOAT", DType::f32),
    onnx_type(TensorProto::DOUBLE, "DOUBLE", DType::f64),
    onnx_type(TensorProto::FLOAT16, "FLOAT16", DType::f16),
    onnx_type(TensorProto::BFLOAT16, "BFLOAT16", DType::bf16),
    onnx_type(TensorProto::INT8, "INT8", DType::i8),
    onnx_type(TensorProto::UINT8, "UINT8", DType::u8),
    onnx_type(TensorProto::INT16, "INT16", DType::i16),
    onnx_type(TensorProto::UINT16, "UINT16", DType::u16),
    onnx_type(TensorProto::INT32, "INT32", DType::i32),
    onnx_type(TensorProto::UINT32, "UINT32", DType::u32),
    onnx_type(TensorProto::INT64, "INT64", DType::i64),
    onnx_type(TensorProto::UINT64, "UINT64", DType::u64),
    onnx_type(TensorProto::BOOL, "BOOL", DType::boolean)};

const DTypeInfo* dtype_info(int type) {
  for (const auto& t : kTypes)
    if (t.type == type) return &t;
  return nullptr;
}

std::string type_name(int type) {
  if (const auto* d = dtype_info(type)) return d->name;
  if (TensorProto::DataType_IsValid(type)) return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(type));
  return fmt::format("data type {}", type);
}

/// Where a tensor's bytes are in an external file.
struct External {
  std::string path;  ///< model directory / location
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

/// One tensor found in the model, with how its values are stored and how they are moved.
struct Found {
  const TensorProto* proto = nullptr;
  const DTypeInfo* dtype = nullptr;
  std::vector<std::int64_t> dims;
  std::size_t numel = 0;
  std::optional<External> external;
  std::vector<int> perm;  ///< empty: returned as stored
  std::optional<detail::Dequantizer> dequant;  ///< a quantised weight: its values are dequantised (before perm)
};

/// How one node uses one of its inputs.
struct Use {
  std::string op;
  std::string layout;     ///< stored layout, e.g. "in x out"
  std::vector<int> perm;  ///< empty: already in PyTorch's layout
  bool operator==(const Use& o) const { return op == o.op && layout == o.layout && perm == o.perm; }
};

constexpr long kAbsent = -2;  ///< a zero point the node does not give (0); -1 is a value known only at run time

/// How one node dequantises one of its inputs: tensor indices of the scale (-1: unknown) and zero point.
struct QuantUse {
  std::string op, node;  ///< node: its quoted name (or its index in the graph), for messages
  long scale = -1, zero_point = kAbsent;
  std::int64_t axis = 0;
  std::optional<std::vector<std::int64_t>> scale_dims;  ///< a scale found through a Mul: its dims as a weight scale
  bool operator==(const QuantUse& o) const {
    return op == o.op && scale == o.scale && zero_point == o.zero_point && axis == o.axis;
  }
};

/// The use all of `list` agree on; null when there is none or they differ.
template <class U>
const U* agreed_use(const std::vector<U>& list) {
  for (const U& u : list)
    if (!(u == list.front())) return nullptr;
  return list.empty() ? nullptr : &list.front();
}

/// A ConvInteger / MatMulInteger weight whose scale is looked for once the graph's nodes are known.
struct PendingScale {
  int node = 0;
  std::size_t tensor = 0;
  detail::QuantInputs inputs;
  QuantUse use;
};

std::optional<std::uint64_t> parse_uint(const std::string& s) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

class OnnxSource : public TensorSource {
 public:
  explicit OnnxSource(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    ONSAGER_CHECK(fd >= 0, "{}: cannot open ({})", path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      ONSAGER_FAIL("{}: not a regular file, expected an ONNX model", path);
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > kMaxModelBytes) {
      ::close(fd);
      ONSAGER_FAIL(
          "{}: {} bytes exceeds protobuf's 2 GB limit on one message (large ONNX models keep their weights "
          "in external data files)",
          path, size);
    }
    std::string bytes(size, '\0');
    std::size_t got = 0;
    while (got < size) {
      const ssize_t r = ::read(fd, bytes.data() + got, size - got);
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    ::close(fd);
    ONSAGER_CHECK(got == size, "{}: read {} of {} bytes", path, got, size);
    ONSAGER_CHECK(model_.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())),
                  "{}: not an ONNX model (the protobuf message does not parse; truncated or corrupt file?)", path);
    bytes = std::string();
    ONSAGER_CHECK(model_.ir_version() > 0 && model_.has_graph(),
                  "{}: not an ONNX model (no ir_version or no graph in the message)", path);
    for (const auto& o : model_.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    dir_ = fs::path(path).parent_path();

    std::vector<Scope> scopes;
    visit(model_.graph(), scopes, "graph");
    resolve_layouts();
    resolve_quantization();
  }

  const std::vector<TensorEntry>& tensors() const override { return entries_; }

  std::vector<double> read(const TensorEntry& t) const override {
    ONSAGER_CHECK(t.index < found_.size() && entries_[t.index].name == t.name, "{}: no tensor {} at index {}", path_,
                  quote_name(t.name), t.index);
    const Found& f = found_[t.index];
    std::vector<double> v = read_stored(f, t.name);
    if (f.dequant) f.dequant->apply(v);
    if (!f.perm.empty()) v = permute_axes(v, f.dims, f.perm);
    return v;
  }

  std::string format() const override { return opset_ > 0 ? fmt::format("onnx (opset {})", opset_) : "onnx"; }

 private:
  /// Names visible in one graph: tensor index, or -1 for a graph input or node output that shadows outer names.
  using Scope = std::unordered_map<std::string, long>;

  static long lookup(const std::vector<Scope>& scopes, const std::string& name) {
    for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
      const auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return -1;
  }

  void visit(const onnx::GraphProto& g, std::vector<Scope>& scopes, const std::string& where) {
    scopes.emplace_back();
    for (const auto& in : g.input()) scopes.back()[in.name()] = -1;
    for (const auto& init : g.initializer()) scopes.back()[init.name()] = add(init, init.name(), where);
    std::vector<PendingScale> pending;
    for (int k = 0; k < g.node_size(); ++k) {
      const onnx::NodeProto& node = g.node(k);
      // The node's uses of tensors visible here (outer scopes included), recorded before its outputs shadow.
      for (int i = 0; i < node.input_size(); ++i) {
        const long idx = node.input(i).empty() ? -1 : lookup(scopes, node.input(i));
        if (idx < 0) continue;
        record_use(node, i, static_cast<std::size_t>(idx));
        record_quantization(node, k, i, static_cast<std::size_t>(idx), scopes, pending);
      }
      for (const auto& a : node.attribute()) {
        if (a.type() == onnx::AttributeProto::GRAPH && a.has_g()) {
          visit(a.g(), scopes, fmt::format("{} of node {}", a.name(), quote_name(node.name())));
        } else if (a.type() == onnx::AttributeProto::GRAPHS) {
          for (const auto& sub : a.graphs())
            visit(sub, scopes, fmt::format("{} of node {}", a.name(), quote_name(node.name())));
        }
      }
      const onnx::AttributeProto* value = nullptr;
      if (node.op_type() == "Constant" && detail::is_default_domain(node))
        for (const auto& a : node.attribute())
          if (a.name() == "value" && a.type() == onnx::AttributeProto::TENSOR) value = &a;
      // A DequantizeLinear's output stands for its stored weight, so that the op it feeds gives the layout.
      const bool dequantize = node.op_type() == "DequantizeLinear" && detail::is_default_domain(node) &&
                              node.input_size() > 0 && !node.input(0).empty();
      const long dequantized = dequantize ? lookup(scopes, node.input(0)) : -1;
      for (int i = 0; i < node.output_size(); ++i) {
        if (node.output(i).empty()) continue;
        long idx = -1;
        if (value != nullptr && i == 0)
          idx = add(value->t(), node.output(0), fmt::format("Constant node {}", quote_name(node.name())));
        else if (i == 0)
          idx = dequantized;
        scopes.back()[node.output(i)] = idx;
      }
    }
    if (!pending.empty()) find_dynamic_scales(g, scopes, pending);
    scopes.pop_back();
  }

  /// Records how `node` (the graph's k-th) dequantises input `input`, tensor `idx`, when it does. A zero point
  /// computed at run time leaves the weight as stored; a ConvInteger / MatMulInteger weight's scale is looked for
  /// after the graph's nodes (find_dynamic_scales).
  void record_quantization(const onnx::NodeProto& node, int k, int input, std::size_t idx,
                           const std::vector<Scope>& scopes, std::vector<PendingScale>& pending) {
    const auto q = detail::quant_inputs(node, input, found_[idx].dims.size());
    if (!q) return;
    const auto tensor = [&](int i, long absent) {
      return i < 0 || i >= node.input_size() || node.input(i).empty() ? absent : lookup(scopes, node.input(i));
    };
    QuantUse u;
    u.op = node.op_type(), u.axis = q->axis;
    u.node = node.name().empty() ? fmt::format("{} (unnamed)", k) : quote_name(node.name());
    u.zero_point = tensor(q->zero_point, kAbsent);
    if (u.zero_point == -1) return;
    if (q->scale < 0) {
      pending.push_back({k, idx, *q, std::move(u)});
      return;
    }
    u.scale = tensor(q->scale, -1);
    quant_uses_[idx].push_back(std::move(u));
  }

  /// The scales of the graph's ConvInteger / MatMulInteger weights, where the Muls after them show one.
  void find_dynamic_scales(const onnx::GraphProto& g, const std::vector<Scope>& scopes,
                           std::vector<PendingScale>& pending) {
    const detail::GraphFlow flow(g);
    for (PendingScale& p : pending) {
      const std::string name = flow.dynamic_weight_scale(p.node, p.inputs);
      const long s = name.empty() ? -1 : lookup(scopes, name);
      if (s >= 0 && is_floating(found_[static_cast<std::size_t>(s)].dtype->dtype)) {
        p.use.scale_dims =
            detail::dynamic_scale_dims(found_[static_cast<std::size_t>(s)].dims, found_[p.tensor].dims, p.inputs);
        if (p.use.scale_dims) p.use.scale = s;
      }
      quant_uses_[p.tensor].push_back(std::move(p.use));
    }
  }

  /// A tensor whose quantised uses all agree is dequantised: its parameters are checked and read now.
  void resolve_quantization() {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const QuantUse* agreed = agreed_use(quant_uses_[i]);
      if (agreed == nullptr) continue;
      const QuantUse& u = *agreed;
      const auto param = [&](long idx, const std::optional<std::vector<std::int64_t>>& dims) {
        const auto j = static_cast<std::size_t>(idx);
        detail::QuantParam p;
        p.name = entries_[j].name, p.dtype = found_[j].dtype->dtype, p.type_name = found_[j].dtype->name;
        p.dims = dims ? *dims : found_[j].dims;
        p.values = [this, j] { return read_stored(found_[j], entries_[j].name); };
        return p;
      };
      std::optional<detail::QuantParam> scale, zero_point;
      if (u.scale >= 0) scale = param(u.scale, u.scale_dims);
      if (u.zero_point >= 0) zero_point = param(u.zero_point, std::nullopt);
      TensorEntry& e = entries_[i];
      Found& f = found_[i];
      f.dequant.emplace(fmt::format("{}: {} node {}", path_, u.op, u.node), u.op, e.name, f.dtype->dtype, f.dtype->name,
                        f.dims, scale ? &*scale : nullptr, zero_point ? &*zero_point : nullptr, u.axis);
      e.floating = true;
      e.dequantized = Dequantization{u.op, f.dequant->axis(), scale ? scale->name : std::string(),
                                     zero_point ? zero_point->name : std::string()};
    }
  }

  /// Checks one tensor and appends it (returns its index), or returns -1 for a type this reader leaves out.
  long add(const TensorProto& t, const std::string& given_name, const std::string& where) {
    const std::string name = unique_name(given_name);
    const std::string q = quote_name(name);
    const DTypeInfo* d = dtype_info(t.data_type());
    if (d == nullptr) {
      const int ty = t.data_type();
      ONSAGER_CHECK(ty == TensorProto::STRING || ty == TensorProto::COMPLEX64 || ty == TensorProto::COMPLEX128,
                    "{}: tensor {} ({}) has unsupported {}", path_, q, where, type_name(ty));
      return -1;  // not a real-valued tensor: left out
    }
    ONSAGER_CHECK(!t.has_segment(), "{}: tensor {} is segmented (TensorProto.segment), which onsager does not read",
                  path_, q);
    Found f;
    f.proto = &t, f.dtype = d;
    ONSAGER_CHECK(t.dims_size() <= kMaxRank, "{}: tensor {} has {} dimensions (more than {})", path_, q, t.dims_size(),
                  kMaxRank);
    f.dims.assign(t.dims().begin(), t.dims().end());
    std::int64_t numel = 1;
    for (const auto dim : f.dims) {
      ONSAGER_CHECK(dim >= 0, "{}: tensor {} has a negative dimension in dims [{}]", path_, q, fmt::join(f.dims, ", "));
      ONSAGER_CHECK(!__builtin_mul_overflow(numel, dim, &numel),
                    "{}: tensor {} has absurd dims [{}] (element count overflows)", path_, q, fmt::join(f.dims, ", "));
    }
    std::uint64_t bytes = 0;
    ONSAGER_CHECK(!__builtin_mul_overflow(static_cast<std::uint64_t>(numel), dtype_size(d->dtype), &bytes),
                  "{}: tensor {} has absurd dims [{}] (byte count overflows)", path_, q, fmt::join(f.dims, ", "));
    f.numel = static_cast<std::size_t>(numel);

    if (t.data_location() == TensorProto::EXTERNAL) {
      ONSAGER_CHECK(t.raw_data().empty() && typed_count(t) == 0,
                    "{}: tensor {} is marked external but also holds data in the model", path_, q);
      f.external = external_of(t, q, bytes);
    } else {
      const std::size_t typed = typed_count(t);
      if (!t.raw_data().empty()) {
        ONSAGER_CHECK(typed == 0, "{}: tensor {} holds both raw_data and typed data", path_, q);
        ONSAGER_CHECK(t.raw_data().size() == bytes, "{}: tensor {} ({} [{}]) claims {} bytes but raw_data holds {}",
                      path_, q, d->name, fmt::join(f.dims, ", "), bytes, t.raw_data().size());
      } else {
        ONSAGER_CHECK(typed == f.numel, "{}: tensor {} ({} [{}]) claims {} elements but its {} holds {}", path_, q,
                      d->name, fmt::join(f.dims, ", "), numel, typed_field(t.data_type()), typed);
        if (d->type == TensorProto::FLOAT16 || d->type == TensorProto::BFLOAT16)
          for (int i = 0; i < t.int32_data_size(); ++i)
            ONSAGER_CHECK(t.int32_data(i) >= 0 && t.int32_data(i) <= 0xFFFF,
                          "{}: tensor {}: int32_data[{}] = {} is not a 16-bit {} bit pattern", path_, q, i,
                          t.int32_data(i), d->name);
      }
    }
    TensorEntry e;
    e.name = name, e.shape = f.dims, e.dtype = d->name, e.floating = is_floating(d->dtype), e.index = entries_.size();
    entries_.push_back(std::move(e));
    found_.push_back(std::move(f));
    uses_.emplace_back();
    quant_uses_.emplace_back();
    return static_cast<long>(entries_.size() - 1);
  }

  /// `name`, or `name#2`, `name#3`, ... when an earlier tensor (in another subgraph) already took it.
  /// (The next suffix to try is kept per name, so a hostile model repeating one name n times costs O(n log n).)
  std::string unique_name(const std::string& name) {
    if (names_.insert(name).second) return name;
    for (std::size_t& k = next_suffix_.try_emplace(name, 2).first->second;; ++k) {
      std::string n = fmt::format("{}#{}", name, k);
      if (names_.insert(n).second) return n;
    }
  }

  static const char* typed_field(int type) {
    switch (type) {
      case TensorProto::FLOAT:
        return "float_data";
      case TensorProto::DOUBLE:
        return "double_data";
      case TensorProto::INT64:
        return "int64_data";
      case TensorProto::UINT32:
      case TensorProto::UINT64:
        return "uint64_data";
      default:
        return "int32_data";
    }
  }

  static std::size_t typed_count(const TensorProto& t) {
    switch (t.data_type()) {
      case TensorProto::FLOAT:
        return static_cast<std::size_t>(t.float_data_size());
      case TensorProto::DOUBLE:
        return static_cast<std::size_t>(t.double_data_size());
      case TensorProto::INT64:
        return static_cast<std::size_t>(t.int64_data_size());
      case TensorProto::UINT32:
      case TensorProto::UINT64:
        return static_cast<std::size_t>(t.uint64_data_size());
      default:
        return static_cast<std::size_t>(t.int32_data_size());
    }
  }

  External external_of(const TensorProto& t, const std::string& q, std::uint64_t bytes) const {
    std::optional<std::string> location;
    std::optional<std::uint64_t> offset, length;
    for (const auto& kv : t.external_data()) {
      if (kv.key() == "location") {
        location = kv.value();
      } else if (kv.key() == "offset" || kv.key() == "length") {
        const auto v = parse_uint(kv.value());
        ONSAGER_CHECK(v.has_value(), "{}: tensor {}: external data {} {} is not a non-negative integer", path_, q,
                      kv.key(), quote_name(kv.value()));
        (kv.key() == "offset" ? offset : length) = v;
      }
    }
    ONSAGER_CHECK(location && !location->empty(), "{}: tensor {} is external but names no location", path_, q);
    const fs::path rel(*location);
    ONSAGER_CHECK(!rel.is_absolute() && location->find('\\') == std::string::npos,
                  "{}: tensor {}: external data location {} is not a relative path in the model's directory", path_, q,
                  quote_name(*location));
    for (const auto& part : rel)
      ONSAGER_CHECK(part != "..", "{}: tensor {}: external data location {} leaves the model's directory ('..')", path_,
                    q, quote_name(*location));
    External x;
    x.path = detail::confined_path(path_, *location, fmt::format("tensor {}: external data", q));
    x.offset = offset.value_or(0);
    x.length = length.value_or(bytes);
    ONSAGER_CHECK(x.length == bytes, "{}: tensor {}: external data length {} but {} [{}] needs {} bytes", path_, q,
                  x.length, dtype_info(t.data_type())->name, fmt::join(t.dims(), ", "), bytes);
    struct stat st {};
    ONSAGER_CHECK(::stat(x.path.c_str(), &st) == 0, "{}: tensor {}: external data file {} ({})", path_, q, x.path,
                  std::strerror(errno));
    ONSAGER_CHECK(S_ISREG(st.st_mode), "{}: tensor {}: external data {} is not a regular file", path_, q, x.path);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    ONSAGER_CHECK(x.offset <= size && x.length <= size - x.offset,
                  "{}: tensor {}: external data [{}, {}+{}) lies beyond the end of {} ({} bytes)", path_, q, x.offset,
                  x.offset, x.length, x.path, size);
    return x;
  }

  void record_use(const onnx::NodeProto& node, int input, std::size_t idx) {
    const std::string& op = node.op_type();
    if (!detail::is_default_domain(node)) return;
    const std::size_t rank = found_[idx].dims.size();
    std::optional<Use> u;
    if (((op == "Conv" || op == "ConvInteger") && input == 1 && rank >= 3) ||
        (op == "QLinearConv" && input == 3 && rank >= 3)) {
      u = Use{op, "", {}};
    } else if (op == "ConvTranspose" && input == 1 && rank >= 3) {
      std::vector<int> perm(rank);
      for (std::size_t i = 0; i < rank; ++i) perm[i] = static_cast<int>(i);
      std::swap(perm[0], perm[1]);
      u = Use{"ConvTranspose", rank == 3 ? "in x out x k" : "in x out x kh x kw", perm};
      if (rank > 4) u->layout = "in x out x spatial";
    } else if (op == "Gemm" && (input == 0 || input == 1) && rank == 2) {
      // Y = A' B': a weight in B is in x out unless transB; a weight in A is out x in unless transA.
      const bool trans = int_attribute(node, input == 0 ? "transA" : "transB", 0) != 0;
      const bool transpose = input == 1 ? !trans : trans;
      u = transpose ? Use{"Gemm", "in x out", {1, 0}} : Use{"Gemm", "", {}};
    } else if ((op == "MatMul" || op == "MatMulInteger") && (input == 0 || input == 1) && rank == 2) {
      u = input == 1 ? Use{op, "in x out", {1, 0}} : Use{op, "", {}};
    } else if (op == "QLinearMatMul" && (input == 0 || input == 3) && rank == 2) {
      u = input == 3 ? Use{op, "in x out", {1, 0}} : Use{op, "", {}};
    } else if ((op == "LSTM" || op == "GRU" || op == "RNN") && (input == 1 || input == 2) && rank == 3) {
      u = Use{op, input == 1 ? "dirs x gates*hidden x in" : "dirs x gates*hidden x hidden", {1, 2, 0}};
    }
    if (u) uses_[idx].push_back(std::move(*u));  // other uses (Shape, Add, ...) say nothing about the layout
  }

  /// A tensor whose weight uses all agree is moved into PyTorch's layout.
  void resolve_layouts() {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const Use* agreed = agreed_use(uses_[i]);
      if (agreed == nullptr) continue;
      const Use& u = *agreed;
      TensorEntry& e = entries_[i];
      e.canonical = true;
      e.op = u.op;
      if (!u.perm.empty()) {
        e.stored_shape = e.shape;
        e.stored_layout = u.layout;
        for (std::size_t a = 0; a < u.perm.size(); ++a)
          e.shape[a] = found_[i].dims[static_cast<std::size_t>(u.perm[a])];
        found_[i].perm = u.perm;
      }
    }
  }

  /// The values as stored: no dequantisation, no permutation.
  std::vector<double> read_stored(const Found& f, const std::string& name) const {
    return f.external ? read_external(f, name) : read_inline(f, name);
  }

  std::vector<double> read_inline(const Found& f, const std::string& name) const {
    const TensorProto& t = *f.proto;
    std::vector<double> out(f.numel);
    if (!t.raw_data().empty() || f.numel == 0) {
      ONSAGER_CHECK(t.raw_data().size() == f.numel * dtype_size(f.dtype->dtype), "{}: tensor {}: raw_data changed size", path_,
                    quote_name(name));
      decode(reinterpret_cast<const std::byte*>(t.raw_data().data()), f, out, name);
      return out;
    }
    switch (t.data_type()) {
      case TensorProto::FLOAT:
        for (std::size_t i = 0; i < f.numel; ++i) out[i] = t.float_data(static_cast<int>(i));
        break;
      case TensorProto::DOUBLE:
        for (std::size_t i = 0; i < f.numel; ++i) out[i] = t.double_data(static_cast<int>(i));
        break;
      case TensorProto::INT64:
        for (std::size_t i = 0; i < f.numel; ++i) out[i] = static_cast<double>(t.int64_data(static_cast<int>(i)));
        break;
      case TensorProto::UINT32:
      case TensorProto::UINT64:
        for (std::size_t i = 0; i < f.numel; ++i) out[i] = static_cast<double>(t.uint64_data(static_cast<int>(i)));
        break;
      case TensorProto::FLOAT16:
      case TensorProto::BFLOAT16: {
        const bool half = t.data_type() == TensorProto::FLOAT16;
        for (std::size_t i = 0; i < f.numel; ++i) {
          const auto b = static_cast<std::uint16_t>(t.int32_data(static_cast<int>(i)));  // range checked on open
          out[i] = half ? half_to_float(b) : bfloat16_to_float(b);
        }
        break;
      }
      default:  // INT8/UINT8/INT16/UINT16/INT32/BOOL: values in int32_data
        for (std::size_t i = 0; i < f.numel; ++i) out[i] = t.int32_data(static_cast<int>(i));
        break;
    }
    return out;
  }

  void decode(const std::byte* p, const Found& f, std::vector<double>& out, const std::string&) const {
    convert_elements(f.dtype->dtype, p, f.numel, out.data());
  }

  std::vector<double> read_external(const Found& f, const std::string& name) const {
    const External& x = *f.external;
    const int fd = ::open(x.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    ONSAGER_CHECK(fd >= 0, "{}: tensor {}: cannot open external data {} ({})", path_, quote_name(name), x.path,
                  std::strerror(errno));
    std::string buf(x.length, '\0');
    std::size_t got = 0;
    while (got < x.length) {
      const ssize_t r = ::pread(fd, buf.data() + got, x.length - got, static_cast<off_t>(x.offset + got));
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
    ::close(fd);
    ONSAGER_CHECK(got == x.length,
                  "{}: tensor {}: external data {} holds {} of the {} bytes at offset {} (file "
                  "truncated since it was opened?)",
                  path_, quote_name(name), x.path, got, x.length, x.offset);
    std::vector<double> out(f.numel);
    decode(reinterpret_cast<const std::byte*>(buf.data()), f, out, name);
    return out;
  }

  std::string path_;
  fs::path dir_;
  onnx::ModelProto model_;
  std::int64_t opset_ = 0;
  std::set<std::string> names_;
  std::unordered_map<std::string, std::size_t> next_suffix_;
  std::vector<TensorEntry> entries_;
  std::vector<Found> found_;
  std::vector<std::vector<Use>> uses_;  ///< per tensor, its weight uses
  std::vector<std::vector<QuantUse>> quant_uses_;  ///< per tensor, the nodes that dequantise it
};

}  // namespace

std::unique_ptr<TensorSource> open_onnx_source(const std::string& path) { return std::make_unique<OnnxSource>(path); }

}  // namespace onsager
