// libFuzzer target: a PyTorch checkpoint (torch.save's zip: data.pkl run by the safe pickle subset, storages).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return onsager::fuzz::open_and_read({{"model.pt", onsager::fuzz::bytes(data, size)}}, "model.pt");
}
