#pragma once
// The readers behind open_tensor_source (io/tensor_source.hpp), one per model format. Each opens and validates
// the file's structure up front, reads tensor values on request, never executes anything from the file, and
// throws onsager::Error naming the file for anything malformed, unsupported or larger than the file justifies.

#include <memory>
#include <string>

#include "onsager/io/tensor_source.hpp"

namespace onsager {

/// An ONNX model (.onnx; docs/format-onnx.md): the initializers of the graph and of every subgraph held in a
/// node attribute (If/Loop/Scan bodies), then Constant node tensors, depth first in file order; a name repeated
/// by a later tensor becomes name#2, name#3, .... Floating: FLOAT, DOUBLE, FLOAT16, BFLOAT16; integer and BOOL
/// tensors are listed as non-floating; STRING/COMPLEX ones are left out. raw_data or the typed fields; external
/// data only in the model's directory, bounds-checked on open and read lazily. Weights of Conv (as stored),
/// ConvTranspose, Gemm, MatMul and LSTM/GRU/RNN are marked with their op and put into PyTorch's layout; a
/// tensor whose uses disagree is returned as stored. format() is "onnx (opset N)".
std::unique_ptr<TensorSource> open_onnx_source(const std::string& path);

/// A PyTorch checkpoint saved by torch.save (the zip format of PyTorch >= 1.6: .pt, .pth, pytorch_model.bin),
/// read by a pickle subset (io/pickle.hpp) that rebuilds only tensors and containers and calls nothing; any
/// other global, the legacy (pre-1.6) format and big-endian files are refused. The state dict is found inside
/// checkpoints ({"model": ...}, {"state_dict": ...}; optimizer state skipped) and flattened to dotted names;
/// views (size, stride, offset) are checked against their storage. Shapes as stored (PyTorch's layout), dtype
/// as PyTorch names it ("float32", "bfloat16", ...). docs/format-pytorch.md has the rules.
std::unique_ptr<TensorSource> open_pytorch_source(const std::string& path);
/// A sharded checkpoint: pytorch_model.bin.index.json's weight_map (shard names must be plain file names in the
/// index's directory) and the shards it names, each read as open_pytorch_source does.
std::unique_ptr<TensorSource> open_pytorch_sharded_source(const std::string& index_path);

/// A TensorFlow.js model: a layers or graph model.json (with "weightsManifest") or a bare weights manifest
/// (a JSON array of {paths, weights}), with its binary shards (plain files next to the manifest; a group's
/// shards hold its weights back to back). float32, int32, bool; uint8/uint16-quantised weights dequantised
/// as tfjs-core's decodeWeights does (float32(q * scale + min), bit for bit), float16; string weights listed as
/// non-numeric. Kernels are moved into PyTorch's layout: by the layer class for a layers model, by the
/// consuming node for a graph model, by TensorFlow's conventions per rank otherwise (docs/format-tfjs.md).
std::unique_ptr<TensorSource> open_tfjs_source(const std::string& path);

/// A Keras HDF5 file (.h5, docs/format-keras-h5.md) read with libhdf5: a whole-model file (`model_weights` and
/// `model_config`) or a weights-only file, each layer's `weight_names` in `layer_names` order, named without ":0";
/// with neither `layer_names` attribute, every numeric dataset. float16/32/64 are floating, integers are not.
/// Kernels are moved into PyTorch's layout by their Keras class in model_config (Dense, ConvND,
/// ConvNDTranspose, DepthwiseConv2D, SeparableConv, LSTM/GRU; Embedding as is), without one by TF's conventions
/// for tensors named *kernel*. Only hard links are followed; dataset sizes are checked against the file (chunked
/// data: at most 1024x its stored bytes) before reading. Thread-safe: every HDF5 call runs under one mutex.
std::unique_ptr<TensorSource> open_keras_h5_source(const std::string& path);

}  // namespace onsager
