#include "onsager/core/error.hpp"
#include "onsager/io/model_formats.hpp"

namespace onsager {

std::unique_ptr<TensorSource> open_pytorch_source(const std::string& path) {
  ONSAGER_FAIL("{}: PyTorch checkpoints are not supported yet", path);
}

std::unique_ptr<TensorSource> open_pytorch_sharded_source(const std::string& index_path) {
  ONSAGER_FAIL("{}: PyTorch checkpoints are not supported yet", index_path);
}

}  // namespace onsager
