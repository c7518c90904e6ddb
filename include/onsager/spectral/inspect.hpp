#pragma once
// What `onsager inspect` reports about a model file: every tensor (name, dtype, shape, the stored shape and
// layout when a reader moved it into PyTorch's layout, the op that uses it, how it was dequantised) and what the analysis would make of
// it under a layer selection: its layers, or why it is skipped.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onsager/io/tensor_source.hpp"
#include "onsager/spectral/layers.hpp"

namespace onsager {

struct InspectedTensor {
  TensorEntry tensor;
  std::vector<LayerSpec> layers;  ///< the analysis layers it gives (several with per_slice); empty when skipped
  std::string skipped;            ///< why it is not a layer (empty when it is one)
  /// One line: "conv2d: 9 slices of 64x32 pooled (288 eigenvalues)", "skipped: 1-D", ...
  std::string becomes() const;
};

struct InspectReport {
  std::string format;  ///< the reader's name of the format
  std::vector<InspectedTensor> tensors;
  std::size_t num_layers = 0;
};

/// The report for `source` under `selection`. Throws onsager::Error on an invalid selection.
InspectReport inspect_tensors(const TensorSource& source, const LayerSelection& selection);

/// {"format", "num_tensors", "num_layers", "tensors": [{name, dtype, shape, stored_shape, stored_layout, op,
/// dequantized, layers: [{name, kind, N, M, slices, num_evals}], skipped}]}; dequantized is null or as below.
nlohmann::json to_json(const InspectReport& report);

/// {"op", "scheme": "per-tensor" | "per-channel", "axis" (stored axis, null per-tensor), "scale" (the scale
/// tensor's name, null when unknown), "scale_known", "zero_point" (its name, null when there is none)}.
nlohmann::json to_json(const Dequantization& d);

}  // namespace onsager
