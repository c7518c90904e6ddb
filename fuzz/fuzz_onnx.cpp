// libFuzzer target: an ONNX model (protobuf ModelProto) next to a fixed 64-byte file `w.bin`, so that inputs
// whose tensors name external data (location "w.bin", offset, length) reach the external-data checks and reads.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string weights = [] {
    std::string w(64, '\0');
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<char>(i * 37 + 11);
    return w;
  }();
  return onsager::fuzz::open_and_read({{"model.onnx", onsager::fuzz::bytes(data, size)}, {"w.bin", weights}},
                                      "model.onnx");
}
