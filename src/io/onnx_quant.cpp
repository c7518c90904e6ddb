#include "onnx_quant.hpp"

#include <cmath>
#include <utility>

#include <fmt/ranges.h>

#include "onsager/core/error.hpp"
#include "quote_name.hpp"

namespace onsager::detail {

bool is_default_domain(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

std::int64_t int_attribute(const onnx::NodeProto& n, const std::string& name, std::int64_t fallback) {
  for (const auto& a : n.attribute())
    if (a.name() == name && a.type() == onnx::AttributeProto::INT) return a.i();
  return fallback;
}

std::optional<QuantInputs> quant_inputs(const onnx::NodeProto& node, int input, std::size_t rank) {
  if (!is_default_domain(node)) return std::nullopt;
  const std::string& op = node.op_type();
  QuantInputs q;
  if (op == "ConvInteger" && input == 1 && rank >= 3) {
    q.zero_point = 3, q.axis = 0, q.activation = 0, q.out_trailing = static_cast<int>(rank) - 2;
  } else if (op == "MatMulInteger" && (input == 0 || input == 1) && rank == 2) {
    // B (K x N) per column: axis 1, the output's last; A (M x K) per row: axis 0, the output's rows.
    q.zero_point = 2 + input, q.axis = input == 1 ? 1 : 0, q.activation = 1 - input, q.out_trailing = 1 - input;
  } else if (op == "QLinearConv" && input == 3 && rank >= 3) {
    q.scale = 4, q.zero_point = 5, q.axis = 0;
  } else if (op == "QLinearMatMul" && (input == 0 || input == 3) && rank == 2) {
    q.scale = input + 1, q.zero_point = input + 2, q.axis = input == 3 ? 1 : 0;
  } else if (op == "DequantizeLinear" && input == 0 && int_attribute(node, "block_size", 0) == 0) {
    q.scale = 1, q.zero_point = 2, q.axis = int_attribute(node, "axis", 1);
  } else {
    return std::nullopt;
  }
  return q;
}

GraphFlow::GraphFlow(const onnx::GraphProto& g) : g_(g) {
  for (int k = 0; k < g.node_size(); ++k) {
    const auto& n = g.node(k);
    for (int j = 0; j < n.output_size(); ++j)
      if (!n.output(j).empty()) producer_.try_emplace(n.output(j), k, j);
    for (int j = 0; j < n.input_size(); ++j) {
      auto& list = consumers_[n.input(j)];
      if (list.empty() || list.back() != k) list.push_back(k);
    }
  }
}

const onnx::NodeProto* GraphFlow::only_consumer(const std::string& value) const {
  const auto it = consumers_.find(value);
  return it == consumers_.end() || it->second.size() != 1 ? nullptr : &g_.node(it->second.front());
}

const onnx::NodeProto* GraphFlow::producer(const std::string& value, int output) const {
  const auto it = producer_.find(value);
  return it == producer_.end() || it->second.second != output ? nullptr : &g_.node(it->second.first);
}

std::string GraphFlow::dynamic_weight_scale(int k, const QuantInputs& q) const {
  const auto is = [](const onnx::NodeProto* n, const char* op) {
    return n != nullptr && n->op_type() == op && is_default_domain(*n) && n->output_size() >= 1;
  };
  const onnx::NodeProto& node = g_.node(k);
  if (node.output_size() < 1 || q.activation < 0 || q.activation >= node.input_size()) return {};
  // The scale of the activation: DynamicQuantizeLinear's output 1, or QuantizeLinear's y_scale input.
  const std::string& act = node.input(q.activation);
  std::string act_scale;
  if (const auto* d = producer(act, 0); is(d, "DynamicQuantizeLinear") && d->output_size() >= 2)
    act_scale = d->output(1);
  else if (is(d, "QuantizeLinear") && d->input_size() >= 2)
    act_scale = d->input(1);
  if (act_scale.empty()) return {};
  // The node's output, through an optional Add (a quantised bias) and a Cast, into a Mul.
  std::string v = node.output(0);
  const onnx::NodeProto* c = only_consumer(v);
  for (const char* pass : {"Add", "Cast"})
    if (is(c, pass)) v = c->output(0), c = only_consumer(v);
  if (!is(c, "Mul") || c->input_size() != 2 || (c->input(0) == v) == (c->input(1) == v)) return {};
  const onnx::NodeProto* m = producer(c->input(0) == v ? c->input(1) : c->input(0), 0);
  if (!is(m, "Mul") || m->input_size() != 2) return {};
  if (m->input(0) == act_scale && m->input(1) != act_scale) return m->input(1);
  if (m->input(1) == act_scale && m->input(0) != act_scale) return m->input(0);
  return {};
}

std::optional<std::vector<std::int64_t>> dynamic_scale_dims(const std::vector<std::int64_t>& scale_dims,
                                                            const std::vector<std::int64_t>& weight_dims,
                                                            const QuantInputs& q) {
  std::size_t first = 0;
  while (first < scale_dims.size() && scale_dims[first] == 1) ++first;
  if (first == scale_dims.size()) return std::vector<std::int64_t>{};  // all ones: per-tensor
  // What is left must be [C, 1, ..., 1]: C on the output's channel axis, ones on the axes after it.
  if (scale_dims.size() - first != static_cast<std::size_t>(q.out_trailing) + 1) return std::nullopt;
  for (std::size_t j = first + 1; j < scale_dims.size(); ++j)
    if (scale_dims[j] != 1) return std::nullopt;
  if (q.axis < 0 || static_cast<std::size_t>(q.axis) >= weight_dims.size() ||
      scale_dims[first] != weight_dims[static_cast<std::size_t>(q.axis)])
    return std::nullopt;
  return std::vector<std::int64_t>{scale_dims[first]};
}

namespace {

/// The values an integer weight type holds.
std::pair<double, double> integer_range(DType d) {
  switch (d) {
    case DType::i8:
      return {-128, 127};
    case DType::u8:
      return {0, 255};
    case DType::i16:
      return {-32768, 32767};
    case DType::u16:
      return {0, 65535};
    default:  // i32
      return {-2147483648.0, 2147483647.0};
  }
}

}  // namespace

Dequantizer::Dequantizer(std::string where, const std::string& op, std::string weight, DType dtype,
                         std::string type_name, const std::vector<std::int64_t>& dims, const QuantParam* scale,
                         const QuantParam* zero_point, std::int64_t axis)
    : where_(std::move(where)), weight_(quote_name(weight)), type_name_(std::move(type_name)), dtype_(dtype),
      dims_(dims) {
  const bool dql = op == "DequantizeLinear";
  const bool allowed = dtype == DType::i8 || dtype == DType::u8 ||
                       (dql && (dtype == DType::i16 || dtype == DType::u16 || dtype == DType::i32));
  ONSAGER_CHECK(allowed, "{}: weight {} is {}; {} dequantises {}", where_, weight_, type_name_, op,
                dql ? "INT8, UINT8, INT16, UINT16 or INT32" : "INT8 or UINT8");
  // The axis matters only for a per-axis (1-D, more than one value) scale or zero point: per-tensor
  // quantisation ignores it, as onnxruntime does (a QDQ bias [M] keeps DequantizeLinear's default axis 1).
  const auto is_scalar = [](const QuantParam* p) {
    return p == nullptr || p->dims.empty() || (p->dims.size() == 1 && p->dims[0] == 1);
  };
  const auto rank = static_cast<std::int64_t>(dims_.size());
  if (rank > 0 && !(is_scalar(scale) && is_scalar(zero_point))) {
    ONSAGER_CHECK(axis >= -rank && axis < rank, "{}: axis {} is out of range for weight {} of rank {} (allowed {}..{})",
                  where_, axis, weight_, rank, -rank, rank - 1);
    axis_ = axis < 0 ? axis + rank : axis;
    channels_ = static_cast<std::size_t>(dims_[static_cast<std::size_t>(axis_)]);
    for (std::size_t j = static_cast<std::size_t>(axis_) + 1; j < dims_.size(); ++j)
      inner_ *= static_cast<std::size_t>(dims_[j]);
  }
  scale_ = scale ? checked(*scale, "scale", true) : std::vector<double>{1.0};
  if (zero_point) {
    ONSAGER_CHECK(zero_point->dtype == dtype, "{}: zero point {} is {} but weight {} is {} (they must have one type)",
                  where_, quote_name(zero_point->name), zero_point->type_name, weight_, type_name_);
    zero_point_ = checked(*zero_point, "zero point", false);
  } else {
    zero_point_ = {0.0};
  }
  per_channel_ = scale_.size() != 1 || zero_point_.size() != 1;
}

std::vector<double> Dequantizer::checked(const QuantParam& p, const char* what, bool is_scale) const {
  const std::string q = quote_name(p.name);
  if (is_scale)
    ONSAGER_CHECK(p.dtype == DType::f32 || p.dtype == DType::f16 || p.dtype == DType::bf16,
                  "{}: scale {} of weight {} is {} (FLOAT, FLOAT16 or BFLOAT16 expected)", where_, q, weight_,
                  p.type_name);
  const bool scalar = p.dims.empty() || (p.dims.size() == 1 && p.dims[0] == 1);
  const bool per_axis = !dims_.empty() && p.dims.size() == 1 && static_cast<std::size_t>(p.dims[0]) == channels_;
  ONSAGER_CHECK(scalar || per_axis, "{}: {} {} has shape [{}] but weight {} [{}] takes a scalar{}", where_, what, q,
                fmt::join(p.dims, ", "), weight_, fmt::join(dims_, ", "),
                dims_.empty() ? std::string() : fmt::format(" or [{}] (axis {})", channels_, axis_));
  std::vector<double> v = p.values();
  ONSAGER_CHECK(v.size() == (scalar ? 1 : channels_), "{}: {} {} holds {} values for shape [{}]", where_, what, q,
                v.size(), fmt::join(p.dims, ", "));
  const auto [lo, hi] = integer_range(dtype_);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (is_scale)
      ONSAGER_CHECK(std::isfinite(v[i]), "{}: scale {} of weight {} holds {} at element {} (a scale must be finite)",
                    where_, q, weight_, v[i], i);
    else
      ONSAGER_CHECK(v[i] >= lo && v[i] <= hi && v[i] == std::floor(v[i]),
                    "{}: zero point {} holds {} at element {}, outside {}'s range {}..{}", where_, q, v[i], i,
                    type_name_, lo, hi);
  }
  return v;
}

void Dequantizer::apply(std::vector<double>& q) const {
  const auto [lo, hi] = integer_range(dtype_);
  for (std::size_t i = 0; i < q.size(); ++i) {
    const double x = q[i];
    ONSAGER_CHECK(x >= lo && x <= hi && x == std::floor(x), "{}: weight {} holds {} at element {}, outside {}'s range {}..{}",
                  where_, weight_, x, i, type_name_, lo, hi);
    const std::size_t c = per_channel_ ? (i / inner_) % channels_ : 0;
    const double s = scale_.size() == 1 ? scale_[0] : scale_[c];
    const double z = zero_point_.size() == 1 ? zero_point_[0] : zero_point_[c];
    q[i] = (x - z) * s;  // exact in double for 8- and 16-bit weights and a float, float16 or bfloat16 scale
  }
}

}  // namespace onsager::detail
