#pragma once
// The readers behind open_tensor_source (io/tensor_source.hpp), one per model format. Each opens and validates
// the file's structure up front, reads tensor values on request, never executes anything from the file, and
// throws onsager::Error naming the file for anything malformed, unsupported or larger than the file justifies.

#include <memory>
#include <string>

#include "onsager/io/tensor_source.hpp"

namespace onsager {

/// An ONNX model (.onnx): the graph's initializers (subgraphs included) and Constant node tensors; float,
/// float16, bfloat16 and double; raw or typed data; external data files next to the model. Conv weights and
/// the weight inputs of Gemm/MatMul are marked with their op and put into PyTorch's layout.
std::unique_ptr<TensorSource> open_onnx_source(const std::string& path);

/// A PyTorch checkpoint saved by torch.save (the zip format of PyTorch >= 1.6: .pt, .pth, pytorch_model.bin),
/// read by a pickle subset that rebuilds only tensors and containers; nested state dicts are found.
std::unique_ptr<TensorSource> open_pytorch_source(const std::string& path);
/// A sharded checkpoint: pytorch_model.bin.index.json and the shards it names.
std::unique_ptr<TensorSource> open_pytorch_sharded_source(const std::string& index_path);

/// A TensorFlow.js model: a layers or graph model.json (with "weightsManifest") or a bare weights manifest
/// (a JSON array of {paths, weights}), with its binary shards; uint8/uint16 quantised and float16 weights.
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
