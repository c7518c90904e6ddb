#pragma once
// A model's tensors, whatever file they come in: a safetensors file (onsager's own model files included),
// a sharded Hugging Face directory (model.safetensors.index.json and its shards), a NumPy .npy file (one
// tensor, named after the file) or an .npz archive, an ONNX model, a PyTorch checkpoint (zip archive, single
// or sharded by pytorch_model.bin.index.json), a TensorFlow.js model (model.json or a weights manifest, with
// its binary shards) or a Keras HDF5 file. Files are opened and validated up front; tensor values are read on
// request, one tensor at a time, so a model larger than memory streams through. No reader executes anything
// a file contains.
//
// Layouts: where a file says what a tensor is (an ONNX Conv or Gemm input, a Keras/TF.js kernel), the reader
// returns it in PyTorch's layout (DESIGN.md §6: dense out x in, conv (out, in, kh, kw) or (out, in, k)),
// records the stored shape and layout, and marks it `canonical` so --conv-layout does not apply to it.
//
// Quantised weights: where a file says how an integer tensor encodes real values (ONNX's ConvInteger,
// MatMulInteger, QLinearConv, QLinearMatMul and DequantizeLinear: (q - zero_point) * scale), read() returns the
// dequantised values, the entry is `floating`, and `dequantized` says how (its `dtype` stays the stored one).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace onsager {

/// How a reader turned a quantised integer tensor into the real values read() returns.
struct Dequantization {
  std::string op;          ///< the node that says how: "ConvInteger", "QLinearMatMul", "DequantizeLinear", ...
  int axis = -1;           ///< stored axis the scale or zero point runs along (per-channel); -1: per-tensor
  std::string scale;       ///< the scale tensor's name; empty when the file does not show it (values q - zero_point)
  std::string zero_point;  ///< the zero-point tensor's name; empty when there is none (0)
  bool per_channel() const { return axis >= 0; }
  bool scale_known() const { return !scale.empty(); }
  /// "per-tensor, scale 'w_scale'", "per-channel (axis 0), scale unknown (values are q - zero_point)", ...
  std::string describe() const;
};

struct TensorEntry {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string dtype;      ///< as the file names it: "F32", "BF16", "<f4", ...
  bool floating = false;  ///< a floating-point dtype (only those can be layers)
  std::size_t index = 0;  ///< position in tensors()
  /// The shape as stored when the reader moved axes into PyTorch's layout; empty when `shape` is as stored.
  std::vector<std::int64_t> stored_shape;
  std::string stored_layout;  ///< how the file lays it out when moved ("HWIO", "in x out", ...); else empty
  bool canonical = false;     ///< shape and values are in PyTorch's layout because the file says what it is
  std::string op;             ///< what uses the tensor, where the file says ("Conv", "Gemm", "Dense", ...)
  std::optional<Dequantization> dequantized;  ///< set when read() returns dequantised integer data
  /// Stored as 64-bit floats (any reader's spelling: "F64", "float64", "<f8", "DOUBLE"), which single precision
  /// would round.
  bool float64() const;
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  /// Every tensor, in file order.
  virtual const std::vector<TensorEntry>& tensors() const = 0;
  /// The tensor's values as doubles, C order. Safe to call from several threads at once.
  virtual std::vector<double> read(const TensorEntry& t) const = 0;
  /// Rows [row, row + nrows) and columns [col, col + ncols) of the tensor viewed as a matrix shape[0] x (the
  /// product of the other dimensions), as float, into `out` (nrows x ncols, row-major), reading only those
  /// values. Returns false, writing nothing, where the source can only read() whole tensors (the default).
  /// Safe to call from several threads at once.
  virtual bool read_block(const TensorEntry& /*t*/, std::size_t /*row*/, std::size_t /*nrows*/, std::size_t /*col*/,
                          std::size_t /*ncols*/, float* /*out*/) const {
    return false;
  }
  /// Tells the source that a tensor read in blocks is done with (a memory-mapped source drops its pages).
  virtual void release(const TensorEntry& /*t*/) const {}
  /// "safetensors", "safetensors (3 shards)", "npy", "npz", "onnx", "pytorch", "tfjs", "keras-h5", ...
  virtual std::string format() const = 0;
};

/// Opens `path`: a directory (sharded or single-file Hugging Face layout, a PyTorch index, a TF.js model.json),
/// an index .json, a .npy, an .npz, an .onnx, a PyTorch zip checkpoint, a TF.js model.json or weights
/// manifest, a Keras .h5 or a safetensors file (recognised by content where the format has a signature).
/// Throws onsager::Error naming the file.
std::unique_ptr<TensorSource> open_tensor_source(const std::string& path);

/// `values` (C order, shape `stored_shape`) with its axes permuted: axis i of the result is axis perm[i] of
/// the input. Used by readers to move a tensor into PyTorch's layout.
std::vector<double> permute_axes(const std::vector<double>& values, const std::vector<std::int64_t>& stored_shape,
                                 const std::vector<int>& perm);

}  // namespace onsager
