#pragma once
// A model's tensors, whatever file they come in: a safetensors file (onsager's own model files included),
// a sharded Hugging Face directory (model.safetensors.index.json and its shards), a NumPy .npy file (one
// tensor, named after the file) or an .npz archive. Files are opened and validated up front; tensor values
// are read on request, one tensor at a time, so a model larger than memory streams through.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace onsager {

struct TensorEntry {
  std::string name;
  std::vector<std::int64_t> shape;
  std::string dtype;      ///< as the file names it: "F32", "BF16", "<f4", ...
  bool floating = false;  ///< a floating-point dtype (only those can be layers)
  std::size_t index = 0;  ///< position in tensors()
};

class TensorSource {
 public:
  virtual ~TensorSource() = default;
  /// Every tensor, in file order.
  virtual const std::vector<TensorEntry>& tensors() const = 0;
  /// The tensor's values as doubles, C order. Safe to call from several threads at once.
  virtual std::vector<double> read(const TensorEntry& t) const = 0;
  /// "safetensors", "safetensors (3 shards)", "npy" or "npz".
  virtual std::string format() const = 0;
};

/// Opens `path`: a directory (sharded or single-file Hugging Face layout), an index .json, a .npy, an .npz or a
/// safetensors file (recognised by content, not only by extension). Throws onsager::Error naming the file.
std::unique_ptr<TensorSource> open_tensor_source(const std::string& path);

}  // namespace onsager
