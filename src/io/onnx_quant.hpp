#pragma once
// Quantised ONNX weights: which inputs of ConvInteger, MatMulInteger, QLinearConv, QLinearMatMul and
// DequantizeLinear hold a weight's scale and zero point; the scale of a ConvInteger / MatMulInteger weight,
// which only the graph around the node shows (onnxruntime's quantize_dynamic multiplies the node's output by
// activation scale x weight scale); and the dequantisation x = (q - zero_point) * scale, per tensor or per
// channel along one axis of the stored weight (ONNX operator spec, DequantizeLinear).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "onsager/io/dtype.hpp"

namespace onsager::detail {

/// True for a node of the default operator set ("" or "ai.onnx").
bool is_default_domain(const onnx::NodeProto& n);
/// The node's INT attribute `name`, or `fallback`.
std::int64_t int_attribute(const onnx::NodeProto& n, const std::string& name, std::int64_t fallback);

/// Where a node keeps the quantisation of one of its weight inputs.
struct QuantInputs {
  int scale = -1;          ///< input index of the weight's scale; -1: not an input (ConvInteger, MatMulInteger)
  int zero_point = -1;     ///< input index of its zero point (may be absent from the node: 0)
  std::int64_t axis = 0;   ///< stored axis a per-channel scale or zero point runs along (DequantizeLinear's unchecked)
  int activation = -1;     ///< ConvInteger / MatMulInteger: the other (activation) input
  int out_trailing = 0;    ///< output axes after the weight's channel axis (where a Mul's scale must broadcast)
};

/// The quantisation inputs of input `input` of `node` (default domain) when it is a weight the node dequantises:
/// w of ConvInteger and QLinearConv (rank >= 3), B or A of MatMulInteger and QLinearMatMul (rank 2), x of
/// DequantizeLinear (any rank, without the opset-21 block_size); nullopt otherwise.
std::optional<QuantInputs> quant_inputs(const onnx::NodeProto& node, int input, std::size_t rank);

/// Producers and consumers of the values of one graph (its own nodes, not those of its subgraphs).
class GraphFlow {
 public:
  explicit GraphFlow(const onnx::GraphProto& g);
  /// The name of the tensor that scales the weight of the ConvInteger / MatMulInteger node `g.node(k)`, as
  /// quantize_dynamic writes it: the node's output, through an optional Add and a Cast, multiplied by
  /// Mul(activation scale, weight scale), the activation scale being output 1 of the DynamicQuantizeLinear (or
  /// input 1 of the QuantizeLinear) that produces the node's activation input. "" when the graph is not so.
  std::string dynamic_weight_scale(int k, const QuantInputs& q) const;

 private:
  const onnx::NodeProto* only_consumer(const std::string& value) const;  ///< null: none or several
  const onnx::NodeProto* producer(const std::string& value, int output) const;

  const onnx::GraphProto& g_;
  std::unordered_map<std::string, std::pair<int, int>> producer_;  ///< value -> (node, output)
  std::unordered_map<std::string, std::vector<int>> consumers_;    ///< value -> the nodes that use it
};

/// The dims a scale of shape `scale_dims` has as a weight scale once multiplied into the node's output:
/// [] (per-tensor) or [C] (per-channel, C = weight_dims[q.axis]); nullopt when it broadcasts along other axes.
std::optional<std::vector<std::int64_t>> dynamic_scale_dims(const std::vector<std::int64_t>& scale_dims,
                                                            const std::vector<std::int64_t>& weight_dims,
                                                            const QuantInputs& q);

/// A scale or zero point of a weight: its type, dims and (read only after the dims are checked) values.
struct QuantParam {
  std::string name;
  DType dtype = DType::f32;
  std::string type_name;  ///< ONNX's name of the type, for messages
  std::vector<std::int64_t> dims;
  std::function<std::vector<double>()> values;
};

/// (q - zero_point) * scale for one stored weight; its type, parameters and axis are checked on construction.
class Dequantizer {
 public:
  /// `where` ("model.onnx: ConvInteger node 'c1'") starts every message. `scale` null: the values are
  /// q - zero_point; `zero_point` null: 0. `op` decides the weight types allowed (INT8 and UINT8; for
  /// DequantizeLinear also INT16, UINT16 and INT32). Throws onsager::Error on a wrong type, shape, axis, a
  /// non-finite scale or a zero point outside the weight type's range.
  Dequantizer(std::string where, const std::string& op, std::string weight, DType dtype, std::string type_name,
              const std::vector<std::int64_t>& dims, const QuantParam* scale, const QuantParam* zero_point,
              std::int64_t axis);
  /// Dequantises the stored values (C order) in place; throws when one is not an integer of the weight's type.
  void apply(std::vector<double>& q) const;
  /// The stored axis the scale or zero point runs along; -1 when both are per-tensor.
  int axis() const { return per_channel_ ? static_cast<int>(axis_) : -1; }

 private:
  std::vector<double> checked(const QuantParam& p, const char* what, bool is_scale) const;

  std::string where_, weight_, type_name_;
  DType dtype_;
  std::vector<std::int64_t> dims_;
  std::int64_t axis_ = 0;
  bool per_channel_ = false;
  std::size_t channels_ = 1, inner_ = 1;  ///< per-channel: element i is in channel (i / inner_) % channels_
  std::vector<double> scale_, zero_point_;  ///< one value (per-tensor) or channels_ values
};

}  // namespace onsager::detail
