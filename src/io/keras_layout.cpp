#include "io/keras_layout.hpp"

#include <algorithm>
#include <initializer_list>

#include <nlohmann/json.hpp>

namespace onsager::detail {

KerasLayout keras_in_out() { return {{1, 0}, "in x out", false}; }
KerasLayout keras_k_in_out() { return {{2, 1, 0}, "k x in x out", false}; }
KerasLayout keras_hwio() { return {{3, 2, 0, 1}, "HWIO", false}; }
KerasLayout keras_dhwio() { return {{4, 3, 0, 1, 2}, "DHWIO", false}; }
KerasLayout keras_depthwise_2d() { return {{2, 3, 0, 1}, "kh x kw x in x mult", true}; }
KerasLayout keras_depthwise_1d() { return {{1, 2, 0}, "k x in x mult", true}; }
KerasLayout keras_as_pytorch() { return {}; }

std::optional<KerasLayout> keras_layout(std::string_view cls, std::string_view var, std::size_t rank) {
  auto is = [&](std::initializer_list<std::string_view> names) {
    return std::any_of(names.begin(), names.end(), [&](std::string_view n) { return cls == n; });
  };
  // A layer has one weight of each rank > 1, except RNN kernels (one layout for both) and separable convolutions
  // (told apart by the weight's name), so the rank says which weight it is.
  if (is({"Dense"}) && rank == 2) return keras_in_out();
  if (is({"Conv1D", "Convolution1D"}) && rank == 3) return keras_k_in_out();
  if (is({"Conv2D", "Convolution2D"}) && rank == 4) return keras_hwio();
  if (is({"Conv3D", "Convolution3D"}) && rank == 5) return keras_dhwio();
  // Transposed convolutions store (..., out, in); they are given as (out, in, ...) like every convolution, as
  // the ONNX reader gives ConvTranspose (each slice an out x in matrix).
  if (is({"Conv1DTranspose", "Convolution1DTranspose"}) && rank == 3) return KerasLayout{{1, 2, 0}, "k x out x in"};
  if (is({"Conv2DTranspose", "Convolution2DTranspose", "Deconvolution2D"}) && rank == 4)
    return KerasLayout{{2, 3, 0, 1}, "HWOI"};
  if (is({"Conv3DTranspose", "Convolution3DTranspose", "Deconvolution3D"}) && rank == 5)
    return KerasLayout{{3, 4, 0, 1, 2}, "DHWOI"};
  if (is({"DepthwiseConv2D"}) && rank == 4) return keras_depthwise_2d();
  if (is({"DepthwiseConv1D"}) && rank == 3) return keras_depthwise_1d();
  if (is({"SeparableConv2D", "SeparableConvolution2D"}) && rank == 4) {
    if (var == "depthwise_kernel") return keras_depthwise_2d();
    if (var == "pointwise_kernel") return keras_hwio();
  }
  if (is({"SeparableConv1D", "SeparableConvolution1D"}) && rank == 3) {
    if (var == "depthwise_kernel") return keras_depthwise_1d();
    if (var == "pointwise_kernel") return keras_k_in_out();
  }
  if (is({"Embedding"}) && rank == 2) return keras_as_pytorch();
  if (is({"LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "LSTMCell", "GRUCell", "SimpleRNNCell",
          "Bidirectional"}) &&
      rank == 2)  // every rank-2 RNN weight, so that Keras 1 names (lstm_1_W_i, lstm_1_U) are moved too
    return var == "recurrent_kernel" ? KerasLayout{{1, 0}, "units x gates*units"}
                                     : KerasLayout{{1, 0}, "in x gates*units"};
  return std::nullopt;
}

std::optional<std::pair<std::string, KerasLayout>> keras_layout_by_name(std::string_view var, std::size_t rank) {
  if (var == "kernel") {
    switch (rank) {
      case 2: return std::pair{std::string("Dense"), keras_in_out()};
      case 3: return std::pair{std::string("Conv1D"), keras_k_in_out()};
      case 4: return std::pair{std::string("Conv2D"), keras_hwio()};
      case 5: return std::pair{std::string("Conv3D"), keras_dhwio()};
      default: return std::nullopt;
    }
  }
  if (var == "recurrent_kernel" && rank == 2)
    return std::pair{std::string("RNN"), KerasLayout{{1, 0}, "units x gates*units"}};
  if (var == "depthwise_kernel" && rank == 4) return std::pair{std::string("DepthwiseConv2D"), keras_depthwise_2d()};
  if (var == "depthwise_kernel" && rank == 3) return std::pair{std::string("DepthwiseConv1D"), keras_depthwise_1d()};
  if (var == "pointwise_kernel" && rank == 4) return std::pair{std::string("Conv2D"), keras_hwio()};
  if (var == "embeddings" && rank == 2) return std::pair{std::string("Embedding"), keras_as_pytorch()};
  return std::nullopt;
}

namespace {

void collect(const nlohmann::json& j, std::map<std::string, std::string>& out, int depth, int max_depth) {
  if (depth > max_depth) return;
  if (j.is_array()) {
    for (const auto& e : j) collect(e, out, depth + 1, max_depth);
    return;
  }
  if (!j.is_object()) return;
  const auto cls = j.find("class_name");
  const auto cfg = j.find("config");
  if (cls != j.end() && cls->is_string() && cfg != j.end() && cfg->is_object()) {
    const auto name = cfg->find("name");
    const std::string c = cls->get<std::string>();
    const auto inner = cfg->find("layer");  // TimeDistributed, Bidirectional: a wrapped layer
    const bool wrapper = inner != cfg->end() && inner->is_object() && inner->contains("class_name") &&
                         (*inner)["class_name"].is_string();
    const std::string inner_cls = wrapper ? (*inner)["class_name"].get<std::string>() : std::string();
    if (name != cfg->end() && name->is_string())
      out.emplace(name->get<std::string>(), wrapper && c != "Bidirectional" ? inner_cls : c);
    if (wrapper && c == "Bidirectional" && inner->contains("config") && (*inner)["config"].is_object() &&
        (*inner)["config"].contains("name") && (*inner)["config"]["name"].is_string()) {
      const std::string inner_name = (*inner)["config"]["name"].get<std::string>();
      out.emplace("forward_" + inner_name, inner_cls);
      out.emplace("backward_" + inner_name, inner_cls);
    }
  }
  for (const auto& [key, value] : j.items())
    if (value.is_structured()) collect(value, out, depth + 1, max_depth);
}

}  // namespace

std::map<std::string, std::string> keras_layer_classes(const nlohmann::json& model_config, int max_depth) {
  std::map<std::string, std::string> out;
  collect(model_config, out, 0, max_depth);
  return out;
}

void apply_keras_layout(TensorEntry& e, const KerasLayout& layout) {
  e.canonical = true;
  if (layout.perm.empty() || layout.perm.size() != e.shape.size()) return;
  const std::vector<std::int64_t> stored = e.shape;
  for (std::size_t i = 0; i < layout.perm.size(); ++i) e.shape[i] = stored[static_cast<std::size_t>(layout.perm[i])];
  if (layout.depthwise) {  // C order of (in, mult, ...) is that of (in * mult, 1, ...)
    e.shape[0] *= e.shape[1];
    e.shape[1] = 1;
  }
  e.stored_shape = stored;
  e.stored_layout = layout.stored;
}

}  // namespace onsager::detail
