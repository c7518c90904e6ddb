#include "onsager/core/error.hpp"
#include "onsager/io/model_formats.hpp"

namespace onsager {

std::unique_ptr<TensorSource> open_keras_h5_source(const std::string& path) {
  ONSAGER_FAIL("{}: Keras HDF5 files are not supported yet", path);
}

}  // namespace onsager
