#pragma once
// Keras and TensorFlow weight layouts, for both readers that meet them (Keras HDF5 and TensorFlow.js): which
// layer class each weight belongs to (from a model_config / modelTopology), how that class stores the weight,
// and the axis permutation into PyTorch's layout (docs/model-formats.md). One table, so the two readers
// cannot disagree about a layer class.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "onsager/io/tensor_source.hpp"

namespace onsager::detail {

/// How a weight is stored and how to move it into PyTorch's layout.
struct KerasLayout {
  std::vector<int> perm;   ///< PyTorch's axis i is stored axis perm[i]; empty: stored as PyTorch stores it
  std::string stored;      ///< the stored layout's name ("HWIO", "in x out"); empty when perm is
  bool depthwise = false;  ///< (in, mult, ...) after perm, reported as PyTorch's depthwise (in * mult, 1, ...)
};

// The layouts TensorFlow uses, by what they hold.
KerasLayout keras_in_out();        ///< Dense / MatMul kernel (in, out) -> (out, in)
KerasLayout keras_k_in_out();      ///< Conv1D (k, in, out) -> (out, in, k)
KerasLayout keras_hwio();          ///< Conv2D (kh, kw, in, out) -> (out, in, kh, kw)
KerasLayout keras_dhwio();         ///< Conv3D (kd, kh, kw, in, out) -> (out, in, kd, kh, kw)
KerasLayout keras_depthwise_2d();  ///< (kh, kw, in, mult) -> (in * mult, 1, kh, kw)
KerasLayout keras_depthwise_1d();  ///< (k, in, mult) -> (in * mult, 1, k)
KerasLayout keras_as_pytorch();    ///< Embedding tables: (vocab, dim) in both

/// The layout of weight `var` ("kernel", "depthwise_kernel", "recurrent_kernel", ...) of rank `rank` in a layer
/// of Keras class `cls`; nullopt when the class (or that weight of it) has no known layout.
std::optional<KerasLayout> keras_layout(std::string_view cls, std::string_view var, std::size_t rank);

/// Without a model description: TensorFlow's conventions for a weight named `var` of rank `rank` (kernel by
/// rank, depthwise_kernel, pointwise_kernel, recurrent_kernel, embeddings), with the class it implies.
std::optional<std::pair<std::string, KerasLayout>> keras_layout_by_name(std::string_view var, std::size_t rank);

/// Layer name -> Keras class, from every {"class_name": ..., "config": {"name": ...}} in a model_config or
/// modelTopology, nested models included. Wrappers: TimeDistributed (and any wrapper but Bidirectional) gives
/// its layer's class to its own name; Bidirectional keeps its name and gives the wrapped class to the wrapped
/// layer's name and to its "forward_" and "backward_" copies. Walks at most `max_depth` levels.
std::map<std::string, std::string> keras_layer_classes(const nlohmann::json& model_config, int max_depth = 256);

/// Moves `e` into PyTorch's layout: shape permuted (stored_shape and stored_layout keep the file's), canonical.
void apply_keras_layout(TensorEntry& e, const KerasLayout& layout);

}  // namespace onsager::detail
