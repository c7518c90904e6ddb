#pragma once
// Which tensors of a model are layers, and the matrices each one contributes (DESIGN.md §6):
//   2-D weights (dense layers, embeddings): one N x M matrix;
//   4-D conv weights, PyTorch (out, in, kh, kw) by default or Keras (kh, kw, in, out): kh·kw matrices
//   W[:, :, i, j], their eigenvalues pooled into one ESD (WeightWatcher's pool=True) or, per slice, one
//   layer each; 3-D conv weights (out, in, k) or (k, in, out) likewise with k slices.
// Skipped: rank 0, 1 (biases, norms), onsager's "train_state.*" optimizer buffers, ranks above 4, non-floating dtypes, tensors the --layers regex does
// not match, and layers whose ESD would hold fewer than min_evals eigenvalues. There is no size cap.

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "onsager/io/tensor_source.hpp"

namespace onsager {

enum class ConvLayout { oihw, hwio };

/// "oihw" (PyTorch) or "hwio" (Keras); throws onsager::Error naming the allowed values otherwise.
ConvLayout parse_conv_layout(std::string_view layout);

struct LayerSelection {
  std::string regex;           ///< ECMAScript regex searched in tensor names; empty: every tensor
  std::size_t min_evals = 10;  ///< skip layers with fewer eigenvalues
  bool per_slice = false;      ///< one layer per conv slice instead of a pooled ESD
  ConvLayout conv_layout = ConvLayout::oihw;
};

struct LayerSpec {
  std::string name;    ///< the tensor name, with "[i,j]" for a conv slice
  std::string kind;    ///< "dense", "embedding", "conv1d", "conv2d" or "recurrent" (an ONNX LSTM/GRU/RNN weight)
  std::size_t tensor = 0;  ///< index into TensorSource::tensors()
  std::vector<std::int64_t> shape;  ///< the tensor's shape
  ConvLayout layout = ConvLayout::oihw;  ///< --conv-layout, or oihw for tensors a reader put into PyTorch's layout
  std::size_t rows = 0, cols = 0;   ///< each matrix's shape as stored
  std::vector<std::size_t> slices;  ///< the slice indices this layer pools (one entry for dense layers)
  std::string dequantized;  ///< a quantised weight: "ConvInteger, per-tensor, scale 'w_scale'", ...; else empty
  std::size_t n() const { return std::max(rows, cols); }
  std::size_t m() const { return std::min(rows, cols); }
  std::size_t num_evals() const { return m() * slices.size(); }
};

struct SkippedTensor {
  std::string name;
  std::string reason;
};

struct LayerPlan {
  std::vector<LayerSpec> layers;
  std::vector<SkippedTensor> skipped;
};

/// Plans the layers of `tensors`; throws onsager::Error on an invalid regex.
LayerPlan plan_layers(const std::vector<TensorEntry>& tensors, const LayerSelection& selection);

/// Matrix `slice` of a layer (rows x cols, row-major) cut from the tensor's values (C order), in the
/// layer's layout.
std::vector<double> layer_matrix(std::span<const double> values, const LayerSpec& layer, std::size_t slice);

}  // namespace onsager
