#pragma once
// Files a model file names (ONNX external data, TF.js and sharded-checkpoint shards) must stay in the model's
// directory, also through symbolic links: a link `etc -> /etc` beside a model must not let it read /etc/passwd.

#include <string>

namespace onsager::detail {

/// `relative`, a path that the model file `model_path` names, resolved against the model's directory. The
/// caller has refused absolute paths and '..'; this checks that the file exists and that its real path (every
/// link resolved) lies inside the real directory of `model_path` as given, or of the file `model_path` itself
/// links to (a Hugging Face cache snapshot links each file to ../../blobs/<hash>). Throws onsager::Error naming
/// `model_path`, `what` ("external data", "shard") and `relative`.
std::string confined_path(const std::string& model_path, const std::string& relative, const std::string& what);

}  // namespace onsager::detail
