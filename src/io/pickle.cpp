// The safe pickle subset (pickle.hpp). Opcode meanings follow CPython's Lib/pickletools.py; torch.save's use of
// them (persistent ids for storages, _rebuild_tensor_v2 for tensors) follows torch/serialization.py.

#include "io/pickle.hpp"

#include <bit>
#include <cstring>
#include <map>
#include <set>

#include "onsager/core/error.hpp"

namespace onsager {
namespace {

using Kind = PickleObject::Kind;

// Fixed bounds, so that memory does not scale with what a hostile data.pkl asks for (each object costs about
// 200 bytes, so 1-byte opcodes would otherwise multiply a pickle's size by 200). torch.save makes 16-18 objects
// and about as many references per tensor (1,444 to 24,000-tensor state dicts, measured with PyTorch 1.13), so
// these allow about 55,000 tensors; a real single-file checkpoint holds a few thousand.
constexpr std::size_t kMaxObjects = 1'000'000;
constexpr std::size_t kMaxReferences = 4'000'000;  // container items plus tensor sizes and strides, in all
constexpr std::size_t kMaxStack = 1'000'000;       // stack entries, and memo entries
// Every callable allowed takes at most 7 arguments (_rebuild_tensor_v2 with PyTorch 2's metadata argument).
constexpr std::size_t kMaxArguments = 8;

struct StorageType {
  const char* dtype;
  std::size_t item_size;
};

const std::map<std::string, StorageType, std::less<>>& storage_types() {
  static const std::map<std::string, StorageType, std::less<>> m = {
      {"torch.FloatStorage", {"float32", 4}},  {"torch.DoubleStorage", {"float64", 8}},
      {"torch.HalfStorage", {"float16", 2}},   {"torch.BFloat16Storage", {"bfloat16", 2}},
      {"torch.LongStorage", {"int64", 8}},     {"torch.IntStorage", {"int32", 4}},
      {"torch.ShortStorage", {"int16", 2}},    {"torch.CharStorage", {"int8", 1}},
      {"torch.ByteStorage", {"uint8", 1}},     {"torch.BoolStorage", {"bool", 1}},
  };
  return m;
}

// Names that may be looked up, beyond the storage types. Functions are given their meaning in reduce();
// the others are inert values (dtypes, classes used as markers, harmless NumPy scalar helpers).
const std::set<std::string, std::less<>>& allowed_globals() {
  static const std::set<std::string, std::less<>> s = {
      "collections.OrderedDict",
      "torch._utils._rebuild_tensor",
      "torch._utils._rebuild_tensor_v2",
      "torch._utils._rebuild_parameter",
      "torch._utils._rebuild_parameter_with_state",
      "torch._tensor._rebuild_from_type_v2",
      "torch.nn.parameter.Parameter",
      "torch.Tensor",
      "torch.Size",
      "torch.device",
      "torch.float32", "torch.float64", "torch.float16", "torch.bfloat16", "torch.int64", "torch.int32",
      "torch.int16", "torch.int8", "torch.uint8", "torch.bool",
      "numpy.core.multiarray.scalar",
      "numpy.core.multiarray._reconstruct",
      "numpy.ndarray",
      "numpy.dtype",
      "_codecs.encode",
  };
  return s;
}

class Machine {
 public:
  Machine(std::string_view bytes, const std::string& name) : b_(bytes), name_(name) {}

  PickleResult run() {
    while (true) {
      const std::size_t at = pos_;
      const auto op = static_cast<unsigned char>(take(1)[0]);
      switch (op) {
        case 0x80: {  // PROTO
          const unsigned v = static_cast<unsigned char>(take(1)[0]);
          ONSAGER_CHECK(v >= 2 && v <= 5, "{}: pickle protocol {} is not supported (2 to 5 are)", name_, v);
          break;
        }
        case 0x95: take(8); break;  // FRAME: a length hint only
        case '}': push(make(Kind::dict)); break;
        case ']': push(make(Kind::list)); break;
        case ')': push(make(Kind::tuple)); break;
        case 0x8f: push(make(Kind::list)); break;  // EMPTY_SET, kept as a list
        case '(': marks_.push_back(stack_.size()); break;
        case 0x85: tuple_of(1); break;
        case 0x86: tuple_of(2); break;
        case 0x87: tuple_of(3); break;
        case 't': {
          const std::size_t m = pop_mark(at);
          tuple_from(m);
          break;
        }
        case 0x91: {  // FROZENSET
          const std::size_t m = pop_mark(at);
          tuple_from(m);
          objects_[stack_.back()].kind = Kind::list;
          break;
        }
        case 'X': push_text(Kind::string, le(4)); break;
        case 0x8c: push_text(Kind::string, le(1)); break;
        case 0x8d: push_text(Kind::string, le(8)); break;
        case 'B': push_text(Kind::bytes, le(4)); break;
        case 'C': push_text(Kind::bytes, le(1)); break;
        case 0x8e: push_text(Kind::bytes, le(8)); break;
        case 'J': push_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(le(4)))); break;
        case 'K': push_int(static_cast<std::int64_t>(le(1))); break;
        case 'M': push_int(static_cast<std::int64_t>(le(2))); break;
        case 0x8a: long_int(le(1)); break;
        case 0x8b: long_int(le(4)); break;
        case 'G': {
          std::uint64_t u = 0;
          for (char c : take(8)) u = (u << 8) | static_cast<unsigned char>(c);
          const std::size_t i = make(Kind::floating);
          objects_[i].floating = std::bit_cast<double>(u);
          push(i);
          break;
        }
        case 0x88: push_bool(true); break;
        case 0x89: push_bool(false); break;
        case 'N': push(make(Kind::none)); break;
        case 's': {
          const std::size_t v = pop(at), k = pop(at);
          PickleObject& d = dict_at(top(at), at);
          count_references(2, at);
          d.items.insert(d.items.end(), {k, v});
          break;
        }
        case 'u': {
          const std::size_t m = pop_mark(at);
          ONSAGER_CHECK((stack_.size() - m) % 2 == 0, "{}: pickle SETITEMS at byte {} has an odd number of items",
                        name_, at);
          PickleObject& d = dict_at(below(m, at), at);
          count_references(stack_.size() - m, at);
          d.items.insert(d.items.end(), stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
          stack_.resize(m);
          break;
        }
        case 'a': {
          const std::size_t v = pop(at);
          PickleObject& l = list_at(top(at), at);
          count_references(1, at);
          l.items.push_back(v);
          break;
        }
        case 'e':
        case 0x90: {  // APPENDS, ADDITEMS
          const std::size_t m = pop_mark(at);
          PickleObject& l = list_at(below(m, at), at);
          count_references(stack_.size() - m, at);
          l.items.insert(l.items.end(), stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
          stack_.resize(m);
          break;
        }
        case 'q': memo_put(le(1), at); break;
        case 'r': memo_put(le(4), at); break;
        case 0x94: memo_put(memo_.size(), at); break;  // MEMOIZE
        case 'h': push(memo_get(le(1), at)); break;
        case 'j': push(memo_get(le(4), at)); break;
        case 'c': {
          const std::string module = line(at), qual = line(at);
          push(global(module, qual));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          const std::size_t q = pop(at), m = pop(at);
          ONSAGER_CHECK(objects_[m].kind == Kind::string && objects_[q].kind == Kind::string,
                        "{}: pickle STACK_GLOBAL at byte {} takes two strings", name_, at);
          push(global(objects_[m].text, objects_[q].text));
          break;
        }
        case 'R': {
          const std::size_t args = pop(at), fn = pop(at);
          push(reduce(fn, args, at));
          break;
        }
        case 0x81: {  // NEWOBJ: cls.__new__(cls, *args); only OrderedDict is a class we build
          const std::size_t args = pop(at), cls = pop(at);
          ONSAGER_CHECK(objects_[cls].kind == Kind::global && objects_[cls].text == "collections.OrderedDict",
                        "{}: the pickle creates an object of a type other than OrderedDict at byte {}; only tensors "
                        "and containers are rebuilt",
                        name_, at);
          (void)args;
          push(make(Kind::dict));
          break;
        }
        case 'b': pop(at); top(at); break;  // BUILD: the state (e.g. a state dict's _metadata) is not needed
        case 'Q': {
          const std::size_t pid = pop(at);
          push(persistent(pid, at));
          break;
        }
        case '0': pop(at); break;
        case '1': stack_.resize(pop_mark(at)); break;
        case '2': push(top(at)); break;
        case '.': {
          PickleResult r;
          r.root = pop(at);
          r.objects = std::move(objects_);
          return r;
        }
        default:
          ONSAGER_FAIL("{}: pickle opcode 0x{:02x} at byte {} is outside the subset onsager reads", name_, op, at);
      }
    }
  }

 private:
  std::string_view take(std::size_t n) {
    ONSAGER_CHECK(n <= b_.size() - pos_, "{}: the pickle is truncated (byte {} needs {} more bytes, {} are left)",
                  name_, pos_, n, b_.size() - pos_);
    const std::string_view s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::uint64_t le(std::size_t n) {
    const std::string_view s = take(n);
    std::uint64_t v = 0;
    for (std::size_t k = n; k-- > 0;) v = (v << 8) | static_cast<unsigned char>(s[k]);
    return v;
  }
  std::string line(std::size_t at) {
    const std::size_t end = b_.find('\n', pos_);
    ONSAGER_CHECK(end != std::string_view::npos && end - pos_ <= 1000, "{}: pickle GLOBAL at byte {} is malformed",
                  name_, at);
    std::string s(b_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  std::size_t make(Kind k) {
    PickleObject o;
    o.kind = k;
    return add(std::move(o));
  }
  std::size_t add(PickleObject o) {
    ONSAGER_CHECK(objects_.size() < kMaxObjects,
                  "{}: the pickle builds more than {} objects (at byte {}), far more than a state dict needs; "
                  "refused as hostile", name_, kMaxObjects, pos_);
    objects_.push_back(std::move(o));
    return objects_.size() - 1;
  }
  void count_references(std::size_t n, std::size_t at) {
    references_ += n;
    ONSAGER_CHECK(references_ <= kMaxReferences,
                  "{}: the pickle's containers and tensor shapes hold more than {} entries (at byte {}), far more "
                  "than a state dict needs; refused as hostile", name_, kMaxReferences, at);
  }
  void memo_put(std::uint64_t k, std::size_t at) {
    const std::size_t v = top(at);
    ONSAGER_CHECK(memo_.size() < kMaxStack || memo_.contains(k),
                  "{}: the pickle's memo holds more than {} entries at byte {}; refused as hostile", name_, kMaxStack,
                  at);
    memo_[k] = v;
  }
  void push(std::size_t i) {
    ONSAGER_CHECK(stack_.size() < kMaxStack, "{}: the pickle's stack holds more than {} entries at byte {}; refused "
                  "as hostile", name_, kMaxStack, pos_);
    stack_.push_back(i);
  }
  std::size_t pop(std::size_t at) {
    ONSAGER_CHECK(stack_.size() > (marks_.empty() ? 0 : marks_.back()), "{}: pickle stack underflow at byte {}",
                  name_, at);
    const std::size_t i = stack_.back();
    stack_.pop_back();
    return i;
  }
  std::size_t top(std::size_t at) {
    ONSAGER_CHECK(stack_.size() > (marks_.empty() ? 0 : marks_.back()), "{}: pickle stack underflow at byte {}",
                  name_, at);
    return stack_.back();
  }
  // The object just below stack position m (the container a MARK-ed group of items goes into).
  std::size_t below(std::size_t m, std::size_t at) {
    ONSAGER_CHECK(m > (marks_.empty() ? 0 : marks_.back()), "{}: pickle stack underflow at byte {}", name_, at);
    return stack_[m - 1];
  }
  std::size_t pop_mark(std::size_t at) {
    ONSAGER_CHECK(!marks_.empty(), "{}: pickle opcode at byte {} needs a MARK and there is none", name_, at);
    const std::size_t m = marks_.back();
    marks_.pop_back();
    return m;
  }
  void tuple_from(std::size_t m) {
    const std::size_t t = make(Kind::tuple);
    count_references(stack_.size() - m, pos_);
    objects_[t].items.assign(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    push(t);
  }
  void tuple_of(std::size_t n) {
    const std::size_t floor = marks_.empty() ? 0 : marks_.back();
    ONSAGER_CHECK(stack_.size() >= floor + n, "{}: pickle stack underflow at byte {}", name_, pos_ - 1);
    tuple_from(stack_.size() - n);
  }
  void push_text(Kind k, std::uint64_t n) {
    ONSAGER_CHECK(n <= b_.size() - pos_, "{}: a pickle string at byte {} claims {} bytes, {} are left", name_, pos_,
                  n, b_.size() - pos_);
    const std::size_t i = make(k);
    objects_[i].text = std::string(take(static_cast<std::size_t>(n)));
    push(i);
  }
  void push_int(std::int64_t v) {
    const std::size_t i = make(Kind::integer);
    objects_[i].integer = v;
    push(i);
  }
  void push_bool(bool v) {
    const std::size_t i = make(Kind::boolean);
    objects_[i].integer = v ? 1 : 0;
    push(i);
  }
  void long_int(std::uint64_t n) {
    ONSAGER_CHECK(n <= b_.size() - pos_, "{}: a pickle integer at byte {} claims {} bytes, {} are left", name_, pos_, n,
                  b_.size() - pos_);
    const std::string_view s = take(static_cast<std::size_t>(n));
    if (n > 8) {  // too large for int64: kept as an inert value
      const std::size_t i = make(Kind::opaque);
      objects_[i].text = "a large integer";
      push(i);
      return;
    }
    std::uint64_t u = 0;
    for (std::size_t k = s.size(); k-- > 0;) u = (u << 8) | static_cast<unsigned char>(s[k]);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(s.back()) & 0x80)) u -= std::uint64_t{1} << (8 * n);
    push_int(static_cast<std::int64_t>(u));
  }
  PickleObject& dict_at(std::size_t i, std::size_t at) {
    ONSAGER_CHECK(objects_[i].kind == Kind::dict, "{}: pickle SETITEM(S) at byte {} on something that is not a dict",
                  name_, at);
    return objects_[i];
  }
  PickleObject& list_at(std::size_t i, std::size_t at) {
    ONSAGER_CHECK(objects_[i].kind == Kind::list, "{}: pickle APPEND(S) at byte {} on something that is not a list",
                  name_, at);
    return objects_[i];
  }
  std::size_t memo_get(std::uint64_t k, std::size_t at) {
    const auto it = memo_.find(k);
    ONSAGER_CHECK(it != memo_.end(), "{}: pickle memo entry {} read at byte {} was never stored", name_, k, at);
    return it->second;
  }
  std::size_t global(const std::string& module, const std::string& qual) {
    const std::string full = module + "." + qual;
    const bool known = storage_types().contains(full) || allowed_globals().contains(full);
    if (!known) {
      const bool model = module.starts_with("torch.nn") || module == "__main__" || module.starts_with("__torch__");
      ONSAGER_FAIL("{}: the pickle calls {}, which onsager does not run; only tensors and containers are rebuilt{}",
                   name_, full,
                   model ? " (a whole pickled model or TorchScript archive: save model.state_dict() instead)" : "");
    }
    const std::size_t i = make(Kind::global);
    objects_[i].text = full;
    return i;
  }
  const PickleObject& arg(const PickleObject& args, std::size_t k, Kind kind, std::string_view fn, std::size_t at) {
    ONSAGER_CHECK(k < args.items.size() && objects_[args.items[k]].kind == kind,
                  "{}: the pickle calls {} at byte {} with a malformed argument {}", name_, fn, at, k + 1);
    return objects_[args.items[k]];
  }
  std::vector<std::int64_t> ints(const PickleObject& t, std::string_view fn, std::size_t at) {
    std::vector<std::int64_t> v;
    for (std::size_t i : t.items) {
      ONSAGER_CHECK(objects_[i].kind == Kind::integer && objects_[i].integer >= 0,
                    "{}: the pickle calls {} at byte {} with a size or stride that is not a non-negative integer",
                    name_, fn, at);
      v.push_back(objects_[i].integer);
    }
    return v;
  }
  std::size_t tensor(const PickleObject& args, std::string_view fn, std::size_t at) {
    const PickleObject& st = arg(args, 0, Kind::storage, fn, at);
    const PickleObject& off = arg(args, 1, Kind::integer, fn, at);
    const PickleObject& size = arg(args, 2, Kind::tuple, fn, at);
    const PickleObject& stride = arg(args, 3, Kind::tuple, fn, at);
    PickleObject t;
    t.kind = Kind::tensor;
    t.storage = args.items[0];
    ONSAGER_CHECK(off.integer >= 0, "{}: a tensor at byte {} has a negative storage offset", name_, at);
    ONSAGER_CHECK(size.items.size() == stride.items.size() && size.items.size() <= 64,
                  "{}: a tensor at byte {} has {} sizes and {} strides", name_, at, size.items.size(),
                  stride.items.size());
    t.offset = off.integer;
    t.size = ints(size, fn, at);
    t.stride = ints(stride, fn, at);
    t.dtype = st.dtype;
    t.item_size = st.item_size;
    count_references(2 * t.size.size(), at);
    return add(std::move(t));
  }
  std::size_t reduce(std::size_t fn_i, std::size_t args_i, std::size_t at) {
    const std::string fn = objects_[fn_i].kind == Kind::global ? objects_[fn_i].text : std::string();
    ONSAGER_CHECK(objects_[args_i].kind == Kind::tuple, "{}: pickle REDUCE at byte {} without an argument tuple",
                  name_, at);
    // A copy (make() below may move objects_), which the bound keeps small: copying a long tuple on every REDUCE
    // would make a pickle quadratic.
    ONSAGER_CHECK(objects_[args_i].items.size() <= kMaxArguments,
                  "{}: pickle REDUCE at byte {} passes {} arguments; no function onsager rebuilds takes more than {}",
                  name_, at, objects_[args_i].items.size(), kMaxArguments);
    const PickleObject args = objects_[args_i];
    if (fn == "collections.OrderedDict") return make(Kind::dict);
    if (fn == "torch._utils._rebuild_tensor_v2" || fn == "torch._utils._rebuild_tensor") return tensor(args, fn, at);
    if (fn == "torch._utils._rebuild_parameter" || fn == "torch._utils._rebuild_parameter_with_state") {
      arg(args, 0, Kind::tensor, fn, at);
      return args.items[0];
    }
    if (fn == "torch._tensor._rebuild_from_type_v2") {  // (func, new_type, args, state): func(*args)
      arg(args, 0, Kind::global, fn, at);
      arg(args, 2, Kind::tuple, fn, at);
      ONSAGER_CHECK(++nested_reduce_ < 64, "{}: pickle REDUCE nests too deeply at byte {}", name_, at);
      const std::size_t r = reduce(args.items[0], args.items[2], at);
      --nested_reduce_;
      return r;
    }
    if (fn == "numpy.core.multiarray.scalar" || fn == "numpy.core.multiarray._reconstruct" || fn == "numpy.dtype" ||
        fn == "_codecs.encode" || fn == "torch.Size" || fn == "torch.device") {
      const std::size_t i = make(Kind::opaque);
      objects_[i].text = fn;
      return i;
    }
    ONSAGER_FAIL("{}: the pickle calls {} at byte {}, which onsager does not run; only tensors and containers are "
                 "rebuilt",
                 name_, fn.empty() ? "something that is not a function" : fn, at);
  }
  // torch.save's persistent id of a storage: ('storage', storage type, key, location, numel).
  std::size_t persistent(std::size_t pid_i, std::size_t at) {
    const PickleObject& pid = objects_[pid_i];
    ONSAGER_CHECK(pid.kind == Kind::tuple && pid.items.size() == 5 && objects_[pid.items[0]].kind == Kind::string &&
                      objects_[pid.items[0]].text == "storage",
                  "{}: pickle persistent id at byte {} is not a ('storage', type, key, location, size) tuple", name_,
                  at);
    const PickleObject& type = objects_[pid.items[1]];
    const PickleObject& key_obj = objects_[pid.items[2]];
    const PickleObject& numel = objects_[pid.items[4]];
    ONSAGER_CHECK(type.kind == Kind::global, "{}: pickle persistent id at byte {} has no storage type", name_, at);
    const auto st = storage_types().find(type.text);
    ONSAGER_CHECK(st != storage_types().end(), "{}: storage type {} at byte {} is not supported (float32/64/16, "
                  "bfloat16, integer and bool storages are)", name_, type.text, at);
    ONSAGER_CHECK(key_obj.kind == Kind::string && numel.kind == Kind::integer && numel.integer >= 0,
                  "{}: pickle persistent id at byte {} has a malformed key or size", name_, at);
    const std::string key = key_obj.text;
    const auto seen = storages_.find(key);
    if (seen != storages_.end()) {
      ONSAGER_CHECK(objects_[seen->second].dtype == st->second.dtype,
                    "{}: storage '{}' is used as both {} and {}", name_, key, objects_[seen->second].dtype,
                    st->second.dtype);
      return seen->second;
    }
    PickleObject s;
    s.kind = Kind::storage;
    s.text = key;
    s.dtype = st->second.dtype;
    s.item_size = st->second.item_size;
    s.numel = static_cast<std::uint64_t>(numel.integer);
    const std::size_t i = add(std::move(s));
    storages_[key] = i;
    return i;
  }

  std::string_view b_;
  const std::string& name_;
  std::size_t pos_ = 0;
  int nested_reduce_ = 0;
  std::size_t references_ = 0;
  std::vector<PickleObject> objects_;
  std::vector<std::size_t> stack_, marks_;
  std::map<std::uint64_t, std::size_t> memo_;
  std::map<std::string, std::size_t, std::less<>> storages_;
};

}  // namespace

PickleResult run_pickle(std::string_view bytes, const std::string& name) { return Machine(bytes, name).run(); }

}  // namespace onsager
