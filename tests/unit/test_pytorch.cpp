// PyTorch checkpoints: pickles and zip archives assembled by hand (every opcode of the safe subset, containers,
// memo, views into shared storages), checkpoints written by torch.save itself (an independent writer) read back
// bit-exactly against values NumPy wrote out, and hostile or malformed input (refused globals, stack and memo
// misuse, huge claimed lengths, storages too small for a view, truncation at every offset, deep nesting, and
// files of a few KB that describe gigabytes of names, objects, copies or repeated elements) that must give one
// onsager::Error naming the file.

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "onsager/core/error.hpp"
#include "onsager/io/model_formats.hpp"
#include "io/npy.hpp"
#include "io/pickle.hpp"
#include "onsager/io/tensor_source.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;
using testing::read_bytes;
using testing::write_bytes;
using Kind = PickleObject::Kind;

std::string test_dir() { return testing::test_dir("pytorch"); }

std::string le(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

// Pickle opcodes, as CPython's pickletools documents them.
std::string su(const std::string& s) { return "\x8c" + le(s.size(), 1) + s; }  // SHORT_BINUNICODE
std::string bu(const std::string& s) { return "X" + le(s.size(), 4) + s; }      // BINUNICODE
std::string glob(const std::string& mod, const std::string& name) { return "c" + mod + "\n" + name + "\n"; }
std::string int4(std::int64_t v) { return "J" + le(static_cast<std::uint64_t>(v), 4); }  // BININT
std::string ints(const std::vector<std::int64_t>& v) {
  std::string s = "(";
  for (auto x : v) s += int4(x);
  return s + "t";
}
const std::string kProto = std::string("\x80\x02", 2);

// torch.save's pickling of a tensor: _rebuild_tensor_v2(persistent storage, offset, size, stride, False, {}).
std::string tensor_pkl(const std::string& key, const std::string& storage, std::int64_t offset,
                       const std::vector<std::int64_t>& size, const std::vector<std::int64_t>& stride,
                       std::int64_t numel) {
  return glob("torch._utils", "_rebuild_tensor_v2") + "(" + "(" + su("storage") + glob("torch", storage) + su(key) +
         su("cpu") + int4(numel) + "tQ" + int4(offset) + ints(size) + ints(stride) + "\x89" +
         glob("collections", "OrderedDict") + ")Rt" + "R";
}

// A dict pickle {name: value, ...} from already-pickled values.
std::string dict_pkl(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string s = kProto + "}(";
  for (const auto& [k, v] : items) s += su(k) + v;
  return s + "u.";
}

std::uint32_t crc32_of(const std::string& s) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// A zip archive of stored members; the member named `deflated`, if any, is marked deflated and claims `claimed`
// bytes once inflated (for limits a reader must apply to the header, before inflating anything).
std::string zip_of(const std::vector<std::pair<std::string, std::string>>& members, const std::string& deflated = "",
                   std::uint64_t claimed = 0) {
  std::string out, cd;
  for (const auto& [name, data] : members) {
    const bool d = name == deflated;
    const std::string common = le(20, 2) + le(0, 2) + le(d ? 8 : 0, 2) + le(0, 2) + le(0x21, 2) +
                               le(crc32_of(data), 4) + le(data.size(), 4) + le(d ? claimed : data.size(), 4) +
                               le(name.size(), 2) + le(0, 2);
    const std::size_t offset = out.size();
    out += le(0x04034b50, 4) + common + name + data;
    cd += le(0x02014b50, 4) + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + name;
  }
  const std::size_t cd_offset = out.size();
  out += cd + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(members.size(), 2) + le(members.size(), 2) +
         le(cd.size(), 4) + le(cd_offset, 4) + le(0, 2);
  return out;
}

std::string floats(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// A torch.save-style checkpoint: archive/data.pkl, archive/data/<key>..., archive/version.
std::string checkpoint(const std::string& pkl, const std::vector<std::pair<std::string, std::string>>& storages,
                       const std::string& extra_name = "", const std::string& extra = "") {
  std::vector<std::pair<std::string, std::string>> m = {{"archive/data.pkl", pkl}};
  if (!extra_name.empty()) m.push_back({"archive/" + extra_name, extra});
  for (const auto& [k, v] : storages) m.push_back({"archive/data/" + k, v});
  m.push_back({"archive/version", "3\n"});
  return zip_of(m);
}

void expect_error(const std::string& path, const std::string& part) {
  try {
    auto s = open_tensor_source(path);
    for (const auto& t : s->tensors()) s->read(t);
    ADD_FAILURE() << path << ": no error (wanted one containing '" << part << "')";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fs::path(path).filename().string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(part), std::string::npos) << "wanted '" << part << "' in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

std::string pickle_error(const std::string& bytes) {
  try {
    run_pickle(bytes, "t.pkl");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PyTorchPickle, EveryOpcodeOfTheSubset) {
  // {'a': [1, -2, 300, -5 (LONG1), 2.5, True, False, None, 'x', 'yy', 'zzz', b'b', b'cc'],
  //  'b': ('t',), 'c': (1, 2), 'd': (1, 2, 3), 'e': (memo'd list, same list), 'f': OrderedDict (REDUCE, BUILD),
  //  'g': OrderedDict (NEWOBJ), 'h': set -> list [7], 'i': frozenset -> [8], 'j': dtype global}
  std::string p = kProto + std::string("\x95", 1) + le(0, 8) + "}" + "q" + le(0, 1) + "(";
  p += bu("a") + "](" + "K\x01" + int4(-2) + "M" + le(300, 2) + "\x8a\x01\xfb" + "G" +
       std::string("\x40\x04\x00\x00\x00\x00\x00\x00", 8) + "\x88\x89N" + su("x") + bu("yy") + "\x8d" + le(3, 8) +
       "zzz" + "C\x01" + "b" + "B" + le(2, 4) + "cc" + "e";
  p += su("b") + su("t") + "\x85";
  p += su("c") + "K\x01K\x02\x86";
  p += su("d") + "K\x01K\x02K\x03\x87";
  p += su("e") + "]r" + le(7, 4) + "0" + "(" + "j" + le(7, 4) + "h" + le(0, 1) + "0" + "j" + le(7, 4) + "t";
  p += su("f") + "\x8c\x0b" + "collections" + "\x94" + "\x8c\x0bOrderedDict\x93)R}b";
  p += su("g") + glob("collections", "OrderedDict") + ")\x81" + "2" + "0";
  p += su("h") + "\x8f(K\x07\x90";
  p += su("i") + "(K\x08\x91";
  p += su("j") + glob("torch", "float32") + "(K\x09\x31";
  p += "u" + su("k") + "K\x0a" + "s" + ".";
  const PickleResult r = run_pickle(p, "t.pkl");
  const PickleObject& d = r.at(r.root);
  ASSERT_EQ(d.kind, Kind::dict);
  ASSERT_EQ(d.items.size(), 22u);
  const auto val = [&](std::size_t k) -> const PickleObject& { return r.at(d.items[2 * k + 1]); };
  EXPECT_EQ(r.at(d.items[0]).text, "a");
  const PickleObject& a = val(0);
  ASSERT_EQ(a.kind, Kind::list);
  ASSERT_EQ(a.items.size(), 13u);
  EXPECT_EQ(r.at(a.items[0]).integer, 1);
  EXPECT_EQ(r.at(a.items[1]).integer, -2);
  EXPECT_EQ(r.at(a.items[2]).integer, 300);
  EXPECT_EQ(r.at(a.items[3]).integer, -5);
  EXPECT_EQ(r.at(a.items[4]).floating, 2.5);
  EXPECT_EQ(r.at(a.items[5]).kind, Kind::boolean);
  EXPECT_EQ(r.at(a.items[5]).integer, 1);
  EXPECT_EQ(r.at(a.items[6]).integer, 0);
  EXPECT_EQ(r.at(a.items[7]).kind, Kind::none);
  EXPECT_EQ(r.at(a.items[8]).text, "x");
  EXPECT_EQ(r.at(a.items[9]).text, "yy");
  EXPECT_EQ(r.at(a.items[10]).text, "zzz");
  EXPECT_EQ(r.at(a.items[11]).kind, Kind::bytes);
  EXPECT_EQ(r.at(a.items[12]).text, "cc");
  EXPECT_EQ(val(1).kind, Kind::tuple);
  EXPECT_EQ(r.at(val(1).items.at(0)).text, "t");
  EXPECT_EQ(val(2).items.size(), 2u);
  EXPECT_EQ(val(3).items.size(), 3u);
  ASSERT_EQ(val(4).items.size(), 2u);  // the memo'd list, twice: one object
  EXPECT_EQ(val(4).items[0], val(4).items[1]);
  EXPECT_EQ(r.at(val(4).items[0]).kind, Kind::list);
  EXPECT_EQ(val(5).kind, Kind::dict);
  EXPECT_EQ(val(6).kind, Kind::dict);
  EXPECT_EQ(r.at(val(7).items.at(0)).integer, 7);
  EXPECT_EQ(r.at(val(8).items.at(0)).integer, 8);
  EXPECT_EQ(val(9).text, "torch.float32");
  EXPECT_EQ(r.at(d.items[20]).text, "k");
  EXPECT_EQ(val(10).integer, 10);
}

TEST(PyTorchPickle, RefusesEveryOtherCallableAndNamesIt) {
  for (const auto& [mod, name] : std::vector<std::pair<std::string, std::string>>{
           {"posix", "system"}, {"os", "system"}, {"builtins", "eval"}, {"subprocess", "Popen"},
           {"builtins", "getattr"}, {"torch", "load"}, {"torch.nn.modules.linear", "Linear"}}) {
    const std::string call = su("touch MARKER") + "\x85R.";
    for (const std::string& g : {glob(mod, name), su(mod) + su(name) + "\x93"}) {
      const std::string msg = pickle_error(kProto + g + call);
      EXPECT_NE(msg.find(mod + "." + name + ", which onsager does not run"), std::string::npos) << msg;
      EXPECT_NE(msg.find("t.pkl"), std::string::npos) << msg;
    }
  }
  EXPECT_NE(pickle_error(kProto + glob("torch.nn.modules.linear", "Linear") + ")\x81.").find("state_dict()"),
            std::string::npos);
  // Allowed names that are not functions cannot be called.
  EXPECT_NE(pickle_error(kProto + glob("torch", "FloatStorage") + ")R.").find("does not run"), std::string::npos);
  EXPECT_NE(pickle_error(kProto + "K\x01)R.").find("not a function"), std::string::npos);
}

TEST(PyTorchPickle, MalformedPicklesGiveOneClearError) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kProto + ".", "underflow"},
      {kProto + "K\x01\x86.", "underflow"},
      {kProto + "(K\x01" + "0" + "0.", "underflow"},  // POP may not reach below a MARK
      {kProto + "NK\x01K\x02s.", "not a dict"},
      {kProto + "}K" + le(1, 1) + "a.", "not a list"},
      {kProto + "]t.", "MARK"},
      {kProto + "h\x05.", "memo entry 5"},
      {kProto + "j" + le(0xFFFFFFFF, 4) + ".", "memo entry 4294967295"},
      {kProto + "X" + le(0xFFFFFFF0u, 4) + "ab.", "claims 4294967280 bytes"},
      {kProto + "\x8d" + le(std::uint64_t{1} << 62, 8) + "ab.", "claims"},
      {kProto + "\x8b" + le(0x7FFFFFFF, 4) + ".", "claims"},
      {kProto + "I1\n.", "opcode 0x49"},
      {std::string("\x80\x09", 2) + ".", "protocol 9"},
      {kProto + "}(K\x01u.", "odd number"},
      {kProto + "K\x01Q.", "persistent id"},
      {kProto + "(" + su("storage") + glob("torch", "ComplexFloatStorage") + su("0") + su("cpu") + "K\x01tQ.",
       "ComplexFloatStorage"},
      {kProto + "(" + su("storage") + glob("torch", "FloatStorage") + su("0") + su("cpu") + "K\x01tQ" +
           glob("torch._utils", "_rebuild_tensor_v2") + "(K\x01K\x01tR.",
       "malformed argument 1"},
      {kProto + "c" + std::string(2000, 'a'), "GLOBAL"},
      {kProto + "]", "truncated"},
  };
  for (const auto& [bytes, part] : cases) {
    const std::string msg = pickle_error(bytes);
    EXPECT_NE(msg.find(part), std::string::npos) << "wanted '" << part << "' in: '" << msg << "'";
    EXPECT_NE(msg.find("t.pkl"), std::string::npos) << msg;
  }
  // Truncated at every offset: an error, never a crash.
  const std::string good = dict_pkl({{"w", tensor_pkl("0", "FloatStorage", 0, {2, 2}, {2, 1}, 4)}});
  ASSERT_NO_THROW(run_pickle(good, "t.pkl"));
  for (std::size_t n = 0; n < good.size(); ++n) EXPECT_NE(pickle_error(good.substr(0, n)), "") << n;
}

TEST(PyTorchFile, ViewsIntoSharedStoragesReadExactly) {
  const std::string dir = test_dir();
  std::vector<float> st(12);
  for (int i = 0; i < 12; ++i) st[i] = static_cast<float>(i) - 0.25f;
  // w: 3x4 contiguous; wt: its transpose; s: w[1:3, ::2] (offset 4, stride (4, 2)); h: float16 storage.
  const std::string half = le(0x3C00, 2) + le(0xC000, 2) + le(0x7BFF, 2);  // 1, -2, 65504
  const std::string bf = le(0x3FC0, 2) + le(0xBF80, 2);                      // 1.5, -1
  const std::string pkl = dict_pkl({{"w", tensor_pkl("0", "FloatStorage", 0, {3, 4}, {4, 1}, 12)},
                                    {"wt", tensor_pkl("0", "FloatStorage", 0, {4, 3}, {1, 4}, 12)},
                                    {"s", tensor_pkl("0", "FloatStorage", 4, {2, 2}, {4, 2}, 12)},
                                    {"h", tensor_pkl("1", "HalfStorage", 0, {3}, {1}, 3)},
                                    {"b", tensor_pkl("2", "BFloat16Storage", 0, {2}, {1}, 2)},
                                    {"n", tensor_pkl("3", "LongStorage", 0, {}, {}, 1)},
                                    {"e", tensor_pkl("0", "FloatStorage", 12, {0, 5}, {5, 1}, 12)},
                                    {"epoch", "K\x03"}});
  write_bytes(dir + "/m.pt", checkpoint(pkl, {{"0", floats(st)}, {"1", half}, {"2", bf}, {"3", le(42, 8)}},
                                        "byteorder", "little"));
  auto s = open_tensor_source(dir + "/m.pt");
  EXPECT_EQ(s->format(), "pytorch");
  ASSERT_EQ(s->tensors().size(), 7u);
  const auto& t = s->tensors();
  EXPECT_EQ(t[0].name, "w");
  EXPECT_EQ(t[0].dtype, "float32");
  EXPECT_TRUE(t[0].floating);
  EXPECT_EQ(t[1].shape, (std::vector<std::int64_t>{4, 3}));
  std::vector<double> w(st.begin(), st.end()), wt;
  EXPECT_EQ(s->read(t[0]), w);
  for (int c = 0; c < 4; ++c)
    for (int r = 0; r < 3; ++r) wt.push_back(w[r * 4 + c]);
  EXPECT_EQ(s->read(t[1]), wt);
  EXPECT_EQ(s->read(t[2]), (std::vector<double>{w[4], w[6], w[8], w[10]}));
  EXPECT_EQ(s->read(t[3]), (std::vector<double>{1, -2, 65504}));
  EXPECT_EQ(t[4].dtype, "bfloat16");
  EXPECT_EQ(s->read(t[4]), (std::vector<double>{1.5, -1}));
  EXPECT_EQ(t[5].dtype, "int64");
  EXPECT_FALSE(t[5].floating);
  EXPECT_EQ(s->read(t[5]), (std::vector<double>{42}));
  EXPECT_TRUE(s->read(t[6]).empty());
  // Concurrent reads agree.
  std::vector<std::vector<double>> got(8);
  std::vector<std::thread> threads;
  for (int k = 0; k < 8; ++k) threads.emplace_back([&, k] { got[k] = s->read(t[k % 2]); });
  for (auto& th : threads) th.join();
  for (int k = 0; k < 8; ++k) EXPECT_EQ(got[k], k % 2 ? wt : w);
}

TEST(PyTorchFile, FindsTheStateDictInsideCheckpoints) {
  const std::string dir = test_dir();
  const std::string st = floats({1, 2, 3, 4});
  const std::string t = tensor_pkl("0", "FloatStorage", 0, {2, 2}, {2, 1}, 4);
  const std::string inner = "}(" + su("encoder") + "}(" + su("layer") + "](" + "}(" + su("weight") + t + "u" +
                            "e" + "u" + su("head.bias") + tensor_pkl("0", "FloatStorage", 2, {2}, {1}, 4) + "u";
  const std::string opt = "}(" + su("state") + std::string("}(K\x00}(", 6) + su("exp_avg") + t + "uu" + "u";
  for (const std::string key : {"state_dict", "model", "model_state_dict"}) {
    write_bytes(dir + "/c.pt", checkpoint(kProto + "}(" + su("epoch") + "K\x03" + su(key) + inner + su("optimizer") +
                                              opt + "u.",
                                          {{"0", st}}));
    auto s = open_tensor_source(dir + "/c.pt");
    ASSERT_EQ(s->tensors().size(), 2u) << key;
    EXPECT_EQ(s->tensors()[0].name, "encoder.layer.0.weight");
    EXPECT_EQ(s->tensors()[1].name, "head.bias");
    EXPECT_EQ(s->read(s->tensors()[1]), (std::vector<double>{3, 4}));
  }
  // No state-dict key: the whole object, minus the training state at the top; a bare tensor takes the file's name.
  write_bytes(dir + "/flat.pt",
              checkpoint(kProto + "}(" + su("w") + t + su("optimizer") + opt + su("n") + "K\x01u.", {{"0", st}}));
  auto s = open_tensor_source(dir + "/flat.pt");
  ASSERT_EQ(s->tensors().size(), 1u);
  EXPECT_EQ(s->tensors()[0].name, "w");
  // A dict with tensors of its own is the state dict, even when a key is called "model".
  write_bytes(dir + "/own.pt", checkpoint(kProto + "}(" + su("w") + t + su("model") + "}(" + su("x") + t + "uu.",
                                          {{"0", st}}));
  auto own = open_tensor_source(dir + "/own.pt");
  ASSERT_EQ(own->tensors().size(), 2u);
  EXPECT_EQ(own->tensors()[1].name, "model.x");
  write_bytes(dir + "/bare.pt", checkpoint(kProto + t + ".", {{"0", st}}));
  EXPECT_EQ(open_tensor_source(dir + "/bare.pt")->tensors().at(0).name, "bare");
  write_bytes(dir + "/none.pt", checkpoint(kProto + "}(" + su("epoch") + "K\x03u.", {}));
  expect_error(dir + "/none.pt", "holds no tensors");
}

TEST(PyTorchFile, HostileAndMalformedCheckpointsGiveOneClearError) {
  const std::string dir = test_dir();
  const std::string st = floats(std::vector<float>(15, 1.0f));
  const auto one = [&](const std::string& name, const std::string& tensor) {
    write_bytes(dir + "/" + name, checkpoint(dict_pkl({{"w", tensor}}), {{"0", st}}));
    return dir + "/" + name;
  };
  expect_error(one("small.pt", tensor_pkl("0", "FloatStorage", 0, {4, 4}, {4, 1}, 16)), "reaches element 15");
  expect_error(one("offset.pt", tensor_pkl("0", "FloatStorage", 15, {1}, {1}, 15)), "reaches element 15");
  expect_error(one("stride.pt", tensor_pkl("0", "FloatStorage", 0, {2, 2}, {1, 14}, 15)), "reaches element 15");
  expect_error(one("huge.pt", tensor_pkl("0", "FloatStorage", 0, {2, 2}, {0x7FFFFFFF, 0x7FFFFFFF}, 15)),
               "reaches element");
  expect_error(one("repeat.pt", tensor_pkl("0", "FloatStorage", 0, {0x7FFFFFFF, 0x7FFFFFFF}, {0, 0}, 15)),
               "repeats");
  expect_error(one("negative.pt", tensor_pkl("0", "FloatStorage", 0, {-1}, {1}, 15)), "non-negative");
  expect_error(one("missing.pt", tensor_pkl("7", "FloatStorage", 0, {1}, {1}, 1)), "no member archive/data/7");
  expect_error(one("double.pt", tensor_pkl("0", "DoubleStorage", 0, {8}, {1}, 8)), "reaches element 7");
  write_bytes(dir + "/big.pt", checkpoint(dict_pkl({{"w", tensor_pkl("0", "FloatStorage", 0, {1}, {1}, 1)}}),
                                          {{"0", st}}, "byteorder", "big"));
  expect_error(dir + "/big.pt", "big-endian");
  write_bytes(dir + "/system.pt",
              checkpoint(kProto + glob("posix", "system") + su("touch MARKER") + "\x85R.", {}));
  expect_error(dir + "/system.pt", "the pickle calls posix.system, which onsager does not run");
  write_bytes(dir + "/nopkl.pt", zip_of({{"archive/version", "3\n"}}));
  expect_error(dir + "/nopkl.pt", "data.pkl");
  write_bytes(dir + "/legacy.pt", kProto + "\x8a\x0a" + std::string(10, '\x01') + ".");
  expect_error(dir + "/legacy.pt", "legacy");
  // Deep nesting, a list that holds itself, and a DAG with 2^40 paths: bounded, not recursed without limit.
  std::string deep = kProto;
  for (int k = 0; k < 100000; ++k) deep += "]";
  for (int k = 0; k < 99999; ++k) deep += "a";
  write_bytes(dir + "/deep.pt", checkpoint(deep + ".", {}));
  expect_error(dir + "/deep.pt", "deeper than 64");
  write_bytes(dir + "/cycle.pt", checkpoint(kProto + "]2a.", {}));
  expect_error(dir + "/cycle.pt", "deeper than 64");
  std::string dag = kProto + "]";
  for (int k = 0; k < 40; ++k) dag += "2\x86";  // t = (t, t)
  write_bytes(dir + "/dag.pt", checkpoint(dag + ".", {}));
  expect_error(dir + "/dag.pt", "more than");
  // Truncated at every offset, and single bytes flipped: errors, never crashes.
  const std::string good = checkpoint(
      dict_pkl({{"a", tensor_pkl("0", "FloatStorage", 0, {3, 5}, {5, 1}, 15)},
                {"b", tensor_pkl("0", "FloatStorage", 1, {2, 2}, {1, 3}, 15)}}),
      {{"0", st}});
  write_bytes(dir + "/good.pt", good);
  ASSERT_NO_THROW(open_tensor_source(dir + "/good.pt"));
  for (std::size_t n = 0; n < good.size(); n += 1) {
    write_bytes(dir + "/cut.pt", good.substr(0, n));
    try {
      auto s = open_tensor_source(dir + "/cut.pt");
      for (const auto& t : s->tensors()) s->read(t);
      ADD_FAILURE() << "truncated at " << n << " gave no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.pt"), std::string::npos) << e.what();
    }
  }
  for (std::size_t n = 0; n < good.size(); ++n) {
    std::string bad = good;
    bad[n] = static_cast<char>(bad[n] ^ 0x5A);
    write_bytes(dir + "/flip.pt", bad);
    try {
      auto s = open_tensor_source(dir + "/flip.pt");
      for (const auto& t : s->tensors()) s->read(t);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("flip.pt"), std::string::npos) << e.what();
    }
  }
}

// Hostile checkpoints of a few KB that made the reader use gigabytes of memory or minutes of time.
// Each must now give one onsager::Error, in well under a second.

TEST(PyTorchFile, TensorNamesAndCountAreBoundedAcrossTheFile) {
  // A memoised long key and a DAG of dicts {K1: prev, K2: prev}, `depth` deep: 2^depth names of depth*|K| bytes.
  const auto dag = [](int depth, std::size_t key_len) {
    std::string p = kProto + tensor_pkl("0", "FloatStorage", 0, {1}, {1}, 1) + "q" + le(0, 1) + bu(std::string(key_len, 'k')) +
                    "q\x01" + bu(std::string(key_len, 'j')) + "q\x02";
    int prev = 0;
    for (int d = 0; d < depth; ++d) {
      p += "}(h\x01h" + le(prev, 1) + "h\x02h" + le(prev, 1) + "uq" + le(3 + d, 1);
      prev = 3 + d;
    }
    return p + ".";
  };
  const std::string dir = test_dir();
  const std::string st = floats({1});
  // 4.7 KB: 65,536 names of 32 KB each (2 GB, copied four times) before the cap on the names' bytes.
  write_bytes(dir + "/names.pt", checkpoint(dag(16, 2000), {{"0", st}}));
  expect_error(dir + "/names.pt", "tensor names add up to more than 67108864 bytes");
  // Short keys: 262,144 tensors found in 524,287 visits, with 9 MB of names: the tensor count is what refuses it.
  write_bytes(dir + "/count.pt", checkpoint(dag(18, 1), {{"0", st}}));
  expect_error(dir + "/count.pt", "more than 250000 tensors");
  // A few shared paths are fine.
  write_bytes(dir + "/shared.pt", checkpoint(dag(4, 10), {{"0", st}}));
  EXPECT_EQ(open_tensor_source(dir + "/shared.pt")->tensors().size(), 16u);
}

TEST(PyTorchFile, PickleWorkIsBoundedByFixedCapsNotByItsLength) {
  const std::string dir = test_dir();
  const auto run = [&](const std::string& name, const std::string& pkl, const std::string& part) {
    write_bytes(dir + "/" + name, checkpoint(pkl, {}));
    expect_error(dir + "/" + name, part);
  };
  // 1-byte opcodes that each make a ~200-byte object (a 20 KB deflated file reached 6.5 GB).
  run("objects.pt", kProto + std::string(1'100'000, 'N') + ".", "builds more than 1000000 objects");
  // DUP: one stack entry per byte; MEMOIZE: one memo entry per byte.
  run("stack.pt", kProto + "N" + std::string(1'100'000, '2') + ".", "stack holds more than 1000000 entries");
  run("memo.pt", kProto + "N" + std::string(1'100'000, '\x94') + ".", "memo holds more than 1000000 entries");
  // APPENDS of one object again and again: references, not objects.
  std::string refs = kProto + "]";
  for (int k = 0; k < 5; ++k) refs += "(N" + std::string(900'000, '2') + "e";
  run("refs.pt", refs + ".", "hold more than 4000000 entries");
  // data.pkl is refused from its claimed size, before anything is inflated (64 MiB + 1 from 64 KB).
  const std::uint64_t claimed = (std::uint64_t{64} << 20) + 1;
  write_bytes(dir + "/bigpkl.pt",
              zip_of({{"archive/data.pkl", std::string(claimed / 1032 + 1, '\0')}, {"archive/version", "3\n"}},
                     "archive/data.pkl", claimed));
  expect_error(dir + "/bigpkl.pt", "data.pkl claims 67108865 bytes");
}

TEST(PyTorchPickle, ReduceRefusesLongArgumentTuples) {
  // One memoised tuple of 100,000 entries passed to OrderedDict 20,000 times: copying it on each REDUCE took
  // 2e9 steps. No function rebuilt here takes more than 8 arguments.
  std::string p = kProto + glob("collections", "OrderedDict") + "q" + le(0, 1) + "(N" + std::string(99'999, '2') + "tq\x01" + "0";
  for (int k = 0; k < 20'000; ++k) p += "h" + le(0, 1) + "h\x01R0";
  const std::string msg = pickle_error(p + "}.");
  EXPECT_NE(msg.find("passes 100000 arguments; no function onsager rebuilds takes more than 8"), std::string::npos)
      << msg;
  // Real calls pass 0 to 7.
  EXPECT_NO_THROW(run_pickle(kProto + glob("collections", "OrderedDict") + ")R.", "t.pkl"));
  EXPECT_NE(pickle_error(kProto + glob("collections", "OrderedDict") + "(NNNNNNNNNtR.").find("passes 9 arguments"),
            std::string::npos);
}

TEST(PyTorchFile, RepeatedViewsAreBoundedAcrossTheFile) {
  const std::string dir = test_dir();
  // One float repeated into a 4096x4096 tensor (stride 0): allowed once (2^24 elements), not under 40 names (a
  // 750-byte file made `onsager convert` use 5.3 GB).
  const std::string t = tensor_pkl("0", "FloatStorage", 0, {4096, 4096}, {0, 0}, 1) + "q" + le(0, 1);
  write_bytes(dir + "/repeat1.pt", checkpoint(kProto + "}(" + su("w0") + t + "u.", {{"0", floats({1})}}));
  EXPECT_EQ(open_tensor_source(dir + "/repeat1.pt")->tensors().at(0).shape, (std::vector<std::int64_t>{4096, 4096}));
  std::string p = kProto + "}(" + su("w0") + t;
  for (int k = 1; k < 40; ++k) p += su("w" + std::to_string(k)) + "h" + le(0, 1);
  write_bytes(dir + "/repeat.pt", checkpoint(p + "u.", {{"0", floats({1})}}));
  expect_error(dir + "/repeat.pt", "40 tensors hold 671088640 elements in all, from storages of 1 elements");
  // Tied weights and views of a real size are fine: 16 names over one 1M-element storage.
  const std::string big = tensor_pkl("0", "FloatStorage", 0, {1024, 1024}, {1024, 1}, 1 << 20) + "q" + le(0, 1);
  std::string tied = kProto + "}(" + su("t0") + big;
  for (int k = 1; k < 16; ++k) tied += su("t" + std::to_string(k)) + "h" + le(0, 1);
  write_bytes(dir + "/tied.pt", checkpoint(tied + "u.", {{"0", std::string(4 << 20, '\0')}}));
  EXPECT_EQ(open_tensor_source(dir + "/tied.pt")->tensors().size(), 16u);
}

bool have_torch() { return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

TEST(PyTorchTorchWritten, StateDictsReadBitExactly) {
  ASSERT_TRUE(have_torch()) << "/usr/bin/python3 with torch is missing (scripts/setup.sh installs python3-torch)";
  const std::string dir = test_dir();
  // Each tensor's expected values go to <name>.npy (float64: every value of these dtypes is exact in float64).
  const std::string script = R"(
import sys, torch, numpy as np
d = sys.argv[1]
torch.manual_seed(0)
net = torch.nn.ModuleDict({'fc': torch.nn.Linear(7, 5), 'conv': torch.nn.Conv2d(3, 4, (3, 2)),
                           'c1': torch.nn.Conv1d(2, 6, 3), 'emb': torch.nn.Embedding(11, 4)})
for dt in ['float32', 'float64', 'float16', 'bfloat16']:
    sd = {k: v.to(getattr(torch, dt)) for k, v in net.state_dict().items()}
    w = sd['fc.weight']
    sd['view.t'] = w.t()
    sd['view.slice'] = w[1:4, ::3]
    torch.save(sd, f'{d}/{dt}.pt')
    names = []
    for k, v in torch.load(f'{d}/{dt}.pt').items():
        np.save(f'{d}/{dt}.{k}.npy', np.ascontiguousarray(v.to(torch.float64).numpy()))
        names.append(f'{k} {dt} ' + 'x'.join(map(str, v.shape)))
    open(f'{d}/{dt}.txt', 'w').write('\n'.join(names) + '\n')
torch.save({'epoch': 3, 'model': {k: v for k, v in net.state_dict().items()}, 'optimizer': {'lr': 0.1}},
           f'{d}/ckpt.pt')
torch.save(net.state_dict(), f'{d}/legacy.pt', _use_new_zipfile_serialization=False)
sd = net.state_dict()
torch.save({k: sd[k] for k in ['fc.weight', 'fc.bias']}, f'{d}/pytorch_model-00001-of-00002.bin')
torch.save({k: sd[k] for k in ['conv.weight']}, f'{d}/pytorch_model-00002-of-00002.bin')
import json
json.dump({'metadata': {}, 'weight_map': {'fc.weight': 'pytorch_model-00001-of-00002.bin',
           'conv.weight': 'pytorch_model-00002-of-00002.bin', 'fc.bias': 'pytorch_model-00001-of-00002.bin'}},
          open(f'{d}/pytorch_model.bin.index.json', 'w'))
)";
  write_bytes(dir + "/w.py", script);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + dir + "/w.py " + dir).c_str()), 0);
  for (const std::string dt : {"float32", "float64", "float16", "bfloat16"}) {
    auto s = open_tensor_source(dir + "/" + dt + ".pt");
    std::string listed;
    for (const auto& t : s->tensors()) {
      std::string shape;
      for (std::size_t k = 0; k < t.shape.size(); ++k) shape += (k ? "x" : "") + std::to_string(t.shape[k]);
      listed += t.name + " " + t.dtype + " " + shape + "\n";
      EXPECT_TRUE(t.floating);
      const NpyArray want = read_npy_array(dir + "/" + dt + "." + t.name + ".npy");
      EXPECT_EQ(s->read(t), want.values) << dt << " " << t.name;
    }
    EXPECT_EQ(listed, read_bytes(dir + "/" + dt + ".txt"));
  }
  auto c = open_tensor_source(dir + "/ckpt.pt");
  ASSERT_EQ(c->tensors().size(), 7u);
  EXPECT_EQ(c->tensors()[0].name, "fc.weight");
  EXPECT_EQ(c->read(c->tensors()[0]), read_npy_array(dir + "/float32.fc.weight.npy").values);
  expect_error(dir + "/legacy.pt", "legacy");
  for (const std::string& p : {dir + "/pytorch_model.bin.index.json", dir}) {
    auto sh = open_tensor_source(p);
    EXPECT_EQ(sh->format(), "pytorch (2 shards)");
    ASSERT_EQ(sh->tensors().size(), 3u);
    // In the weight map's key order, as nlohmann::json keeps it (sorted), like the safetensors index reader.
    EXPECT_EQ(sh->tensors()[0].name, "conv.weight");
    EXPECT_EQ(sh->tensors()[0].shape, (std::vector<std::int64_t>{4, 3, 3, 2}));
    EXPECT_EQ(sh->read(sh->tensors()[0]), read_npy_array(dir + "/float32.conv.weight.npy").values);
    EXPECT_EQ(sh->tensors()[1].name, "fc.bias");
    EXPECT_EQ(sh->read(sh->tensors()[1]), read_npy_array(dir + "/float32.fc.bias.npy").values);
  }
  write_bytes(dir + "/bad.index.json", R"({"weight_map": {"fc.weight": "../float32.pt"}})");
  expect_error(dir + "/bad.index.json", "not a plain file name");
  write_bytes(dir + "/lie.index.json", R"({"weight_map": {"nope": "float32.pt"}})");
  expect_error(dir + "/lie.index.json", "tensor 'nope' is listed");
}

}  // namespace
}  // namespace onsager
