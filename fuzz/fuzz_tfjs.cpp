// libFuzzer target: a TensorFlow.js model.json or weights manifest and its shard. The input is the JSON text, a
// NUL byte, then the bytes of the shard "a.bin" (a manifest may name it more than once); without a NUL the
// whole input is the JSON. The seed corpus is written by fuzz/make_tfjs_corpus.py.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string in = onsager::fuzz::bytes(data, size);
  const auto nul = in.find('\0');
  std::map<std::string, std::string> files{{"model.json", in.substr(0, nul)}};
  if (nul != std::string::npos) files["a.bin"] = in.substr(nul + 1);
  return onsager::fuzz::open_and_read(files, "model.json");
}
