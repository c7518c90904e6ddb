#include "onsager/core/error.hpp"
#include "onsager/io/model_formats.hpp"

namespace onsager {

std::unique_ptr<TensorSource> open_tfjs_source(const std::string& path) {
  ONSAGER_FAIL("{}: TensorFlow.js models are not supported yet", path);
}

}  // namespace onsager
