// libFuzzer target: a safetensors file (onsager's own model format).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return onsager::fuzz::open_and_read({{"model.safetensors", onsager::fuzz::bytes(data, size)}}, "model.safetensors");
}
