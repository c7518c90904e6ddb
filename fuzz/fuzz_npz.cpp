// libFuzzer target: a NumPy .npz archive (zip of .npy members, stored or deflated).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return onsager::fuzz::open_and_read({{"weights.npz", onsager::fuzz::bytes(data, size)}}, "weights.npz");
}
