// libFuzzer target: the fuzzer's bytes are the data.pkl of an otherwise valid checkpoint (a stored zip with
// float32 storages "0" of 16 elements and "1" of 4, and a version member), so every input reaches the pickle
// machine, the state-dict search and the view checks instead of dying in the zip reader.
#include "fuzz_common.hpp"

namespace {

std::string le(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

std::uint32_t crc32_of(const std::string& s) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

std::string zip_of(const std::map<std::string, std::string>& members) {
  std::string out, cd;
  for (const auto& [name, data] : members) {
    const std::string common = le(20, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0x21, 2) + le(crc32_of(data), 4) +
                               le(data.size(), 4) + le(data.size(), 4) + le(name.size(), 2) + le(0, 2);
    const std::size_t offset = out.size();
    out += le(0x04034b50, 4) + common + name + data;
    cd += le(0x02014b50, 4) + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + name;
  }
  const std::size_t cd_offset = out.size();
  out += cd + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(members.size(), 2) + le(members.size(), 2) +
         le(cd.size(), 4) + le(cd_offset, 4) + le(0, 2);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string s0, s1;
  for (int k = 0; k < 16; ++k) s0 += le(0x3F800000u + static_cast<std::uint32_t>(k), 4);
  for (int k = 0; k < 4; ++k) s1 += le(0x40000000u + static_cast<std::uint32_t>(k), 4);
  const std::string zip = zip_of({{"archive/data.pkl", onsager::fuzz::bytes(data, size)},
                                  {"archive/data/0", s0},
                                  {"archive/data/1", s1},
                                  {"archive/version", "3\n"}});
  return onsager::fuzz::open_and_read({{"model.pt", zip}}, "model.pt");
}
