// libFuzzer target: a Keras HDF5 file (.h5), read through libhdf5 (not instrumented; see docs/format-keras-h5.md
// for the malformed inputs known to crash inside libhdf5 1.10.8 itself).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return onsager::fuzz::open_and_read({{"model.h5", onsager::fuzz::bytes(data, size)}}, "model.h5");
}
