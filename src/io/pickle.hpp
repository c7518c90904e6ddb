#pragma once
// A safe subset of Python's pickle (protocols 2-5, the opcodes torch.save writes): a small stack machine that
// rebuilds containers, scalars, strings, PyTorch storages (persistent ids) and tensors, and nothing else. It
// never calls anything: GLOBAL is accepted only for an allow-list of names whose meaning is rebuilt here
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch.FloatStorage, ...); any other name is
// refused with a message naming it. Objects live in one arena and refer to each other by index, so a hostile
// pickle can build cycles without leaking. Fixed caps, not the pickle's length, bound the work: at most
// 1,000,000 objects, 4,000,000 references (container items, tensor sizes and strides), 1,000,000 stack and memo
// entries, and 8 arguments per call; beyond any of them the pickle is refused.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace onsager {

/// One object rebuilt by run_pickle.
struct PickleObject {
  enum class Kind { none, boolean, integer, floating, string, bytes, tuple, list, dict, global, storage, tensor, opaque };
  Kind kind = Kind::none;
  std::int64_t integer = 0;  ///< integer, boolean (0/1)
  double floating = 0;
  /// string/bytes: the value; global: "module.name"; storage: its key; opaque: what it was.
  std::string text;
  /// tuple/list: the elements; dict: key, value, key, value, ... in insertion order (a repeated key appears twice).
  std::vector<std::size_t> items;
  // A storage: element type, as torch names it ("float32"), its size in bytes, and the element count the pickle claims.
  std::string dtype;
  std::size_t item_size = 0;
  std::uint64_t numel = 0;
  // A tensor: the storage object, and the view into it (in elements).
  std::size_t storage = 0;
  std::int64_t offset = 0;
  std::vector<std::int64_t> size, stride;
};

/// The result of run_pickle: every object made, and the one STOP returned.
struct PickleResult {
  std::vector<PickleObject> objects;
  std::size_t root = 0;
  const PickleObject& at(std::size_t i) const { return objects.at(i); }
};

/// Runs `bytes` on the safe subset. `name` labels errors ("model.pt: ..."). Throws onsager::Error for any
/// opcode or global outside the subset, malformed or truncated input, and stack/memo misuse.
PickleResult run_pickle(std::string_view bytes, const std::string& name);

}  // namespace onsager
