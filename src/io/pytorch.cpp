// PyTorch checkpoints as torch.save writes them since PyTorch 1.6: a zip archive (io/zip.hpp) holding
// <archive>/data.pkl (the pickled object; storages are persistent ids), <archive>/data/<key> (each storage's raw
// little-endian bytes), <archive>/version and, in newer versions, <archive>/byteorder. data.pkl runs on the safe
// pickle subset (io/pickle.hpp), which rebuilds tensors and containers and calls nothing. The state dict is then
// found and flattened into dotted names (docs/format-pytorch.md gives the rule).

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include <fmt/ranges.h>

#include "confined_path.hpp"
#include "shard_index.hpp"
#include "onsager/core/error.hpp"
#include "onsager/io/model_formats.hpp"
#include "io/pickle.hpp"
#include "onsager/io/dtype.hpp"
#include "io/zip.hpp"

namespace onsager {
namespace {

namespace fs = std::filesystem;
using Kind = PickleObject::Kind;

// torch.save writes 118-158 bytes of data.pkl per tensor (state dicts of 1,444 and 24,000 tensors, PyTorch 1.13),
// so 64 MiB is over 400,000 tensors, beyond what the pickle's object cap (io/pickle.hpp) lets through anyway.
constexpr std::uint64_t kMaxPickleBytes = std::uint64_t{64} << 20;
constexpr int kMaxDepth = 64;
// The walk over the containers, summed over every walk of one file (probes for the state dict included): entries
// visited, tensors found, and bytes of the dotted names built. A DAG of containers can hold exponentially many
// paths, each as long as its depth times a memoised key, so visits alone do not bound the names.
constexpr std::size_t kMaxVisits = 1'000'000;
constexpr std::size_t kMaxTensors = 250'000;
constexpr std::size_t kMaxNameBytes = std::size_t{64} << 20;
// A tensor may hold more elements than its storage only by repeating them (stride 0); up to this many.
constexpr std::uint64_t kMaxRepeatedNumel = std::uint64_t{1} << 24;
// Across the file, the tensors' elements may exceed their distinct storages' elements at most this many times, plus
// kMaxRepeatedNumel: tied weights and views share storage, but a few small storages must not become many huge tensors.
constexpr std::uint64_t kMaxViewFactor = 16;

// Keys under which checkpoints keep the model's state dict, in the order they are tried.
constexpr const char* kStateDictKeys[] = {"state_dict", "model_state_dict", "model", "module", "net", "network"};
// Top-level keys of a checkpoint that hold training state, not layers.
constexpr const char* kTrainingStateKeys[] = {"optimizer", "optimizer_state_dict", "optim", "optimizer_states",
                                              "scheduler", "lr_scheduler", "lr_schedulers", "scaler"};

struct TorchTensor {
  std::size_t member = 0;  // the storage's zip member
  std::size_t item_size = 0;
  std::string dtype;
  std::int64_t offset = 0;
  std::vector<std::int64_t> size, stride;
};

std::string first_bytes(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  ONSAGER_CHECK(in.good(), "{}: cannot open", path);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

bool is_floating(const std::string& dtype) {
  const std::optional<DType> d = dtype_from_name(dtype);
  return d && is_floating(*d);
}

// Flattens the tensors under an object into dotted names; keys that are neither strings nor integers, and
// leaves that are not tensors, are skipped.
struct WalkBudget {
  std::size_t visits = 0, tensors = 0, name_bytes = 0;
};

class Flattener {
 public:
  Flattener(const PickleResult& p, const std::string& path, WalkBudget& budget)
      : p_(p), path_(path), budget_(budget) {}
  struct Found {
    std::string name;
    std::size_t tensor;
  };
  std::vector<Found> found;
  bool first_only = false;  ///< stop at the first tensor (a probe for "holds tensors")

  void walk(std::size_t obj, const std::string& prefix, int depth, bool skip_training_state) {
    if (first_only && !found.empty()) return;
    ONSAGER_CHECK(depth <= kMaxDepth, "{}: the checkpoint nests containers deeper than {} levels", path_, kMaxDepth);
    ONSAGER_CHECK(++budget_.visits <= kMaxVisits, "{}: the checkpoint's containers hold more than {} entries", path_,
                  kMaxVisits);
    const PickleObject& o = p_.at(obj);
    const auto child = [&](const std::string& k) {
      budget_.name_bytes += prefix.size() + 1 + k.size();
      ONSAGER_CHECK(budget_.name_bytes <= kMaxNameBytes,
                    "{}: the checkpoint's tensor names add up to more than {} bytes (a name {} bytes long, at depth "
                    "{}); refused as hostile", path_, kMaxNameBytes, prefix.size() + 1 + k.size(), depth + 1);
      return prefix.empty() ? k : prefix + "." + k;
    };
    if (o.kind == Kind::tensor) {
      ONSAGER_CHECK(++budget_.tensors <= kMaxTensors, "{}: the checkpoint holds more than {} tensors; refused as hostile",
                    path_, kMaxTensors);
      found.push_back({prefix, obj});
    } else if (o.kind == Kind::dict) {
      for (std::size_t k = 0; k + 1 < o.items.size(); k += 2) {
        const PickleObject& key = p_.at(o.items[k]);
        std::string name;
        if (key.kind == Kind::string) name = key.text;
        else if (key.kind == Kind::integer) name = std::to_string(key.integer);
        else continue;
        if (skip_training_state && std::find(std::begin(kTrainingStateKeys), std::end(kTrainingStateKeys), name) !=
                                       std::end(kTrainingStateKeys))
          continue;
        walk(o.items[k + 1], child(name), depth + 1, false);
      }
    } else if (o.kind == Kind::list || o.kind == Kind::tuple) {
      for (std::size_t k = 0; k < o.items.size(); ++k) walk(o.items[k], child(std::to_string(k)), depth + 1, false);
    }
  }

 private:
  const PickleResult& p_;
  const std::string& path_;
  WalkBudget& budget_;
};

// The value of string key `key` in dict `d` (the last one, as Python keeps), or none.
std::optional<std::size_t> dict_get(const PickleResult& p, const PickleObject& d, std::string_view key) {
  std::optional<std::size_t> v;
  for (std::size_t k = 0; k + 1 < d.items.size(); k += 2) {
    const PickleObject& o = p.at(d.items[k]);
    if (o.kind == Kind::string && o.text == key) v = d.items[k + 1];
  }
  return v;
}

class PyTorchFile {
 public:
  explicit PyTorchFile(const std::string& path) : path_(path), zip_(open_zip(path)) {
    // <archive>/data.pkl names the archive's folder.
    const ZipMember* pkl = nullptr;
    for (const ZipMember& m : zip_.members())
      if (m.name.ends_with("/data.pkl") && m.name.find('/') == m.name.size() - 9) {
        pkl = &m;
        break;
      }
    ONSAGER_CHECK(pkl != nullptr, "{}: a zip archive without <archive>/data.pkl; not a checkpoint written by torch.save",
                  path);
    const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8);
    if (const ZipMember* bo = zip_.find(prefix + "byteorder")) {
      const std::string order = zip_.read_checked(*bo);
      ONSAGER_CHECK(order != "big", "{}: a big-endian checkpoint, which onsager does not read; re-save it on a "
                    "little-endian machine", path);
      ONSAGER_CHECK(order == "little", "{}: unknown byteorder '{}' (expected 'little')", path, order.substr(0, 20));
    }
    ONSAGER_CHECK(pkl->size <= kMaxPickleBytes, "{}: data.pkl claims {} bytes; more than onsager reads ({}; torch.save "
                  "writes about 150 bytes per tensor)", path,
                  pkl->size, kMaxPickleBytes);
    const PickleResult p = run_pickle(zip_.read_checked(*pkl), path);

    // The state dict: follow kStateDictKeys while they lead to a dict holding tensors; else the whole object,
    // minus the training state at its top.
    std::size_t root = p.root;
    bool descended = false;
    WalkBudget budget;
    for (int hop = 0; hop < 8; ++hop) {
      const PickleObject& o = p.at(root);
      if (o.kind != Kind::dict) break;
      bool holds_tensors = false;  // a dict with tensors of its own is the state dict itself
      for (std::size_t k = 1; k < o.items.size(); k += 2) holds_tensors |= p.at(o.items[k]).kind == Kind::tensor;
      if (holds_tensors) break;
      bool moved = false;
      for (const char* key : kStateDictKeys) {
        const auto v = dict_get(p, o, key);
        if (!v || p.at(*v).kind != Kind::dict) continue;
        Flattener probe(p, path, budget);
        probe.first_only = true;
        probe.walk(*v, "", 0, false);
        if (probe.found.empty()) continue;
        root = *v, moved = true, descended = true;
        break;
      }
      if (!moved) break;
    }
    Flattener flat(p, path, budget);
    flat.walk(root, "", 0, !descended);
    const std::string stem = fs::path(path).stem().string();
    std::map<std::string, std::size_t> at_name;
    std::vector<std::string> names;
    for (const auto& f : flat.found) {
      const std::string name = f.name.empty() ? stem : f.name;
      const auto [it, fresh] = at_name.emplace(name, tensors_.size());
      if (!fresh) {  // a repeated key: the last value wins, as in Python
        tensors_[it->second] = make_tensor(p, f.tensor, name, prefix);
        continue;
      }
      tensors_.push_back(make_tensor(p, f.tensor, name, prefix));
      names.push_back(name);
    }
    ONSAGER_CHECK(!tensors_.empty(), "{}: the checkpoint holds no tensors", path);
    check_total_elements();
    for (std::size_t k = 0; k < tensors_.size(); ++k) {
      TensorEntry e;
      e.name = names[k];
      e.shape = tensors_[k].size;
      e.dtype = tensors_[k].dtype;
      e.floating = is_floating(e.dtype);
      e.index = k;
      entries_.push_back(std::move(e));
    }
  }

  const std::string& path() const { return path_; }
  const std::vector<TensorEntry>& tensors() const { return entries_; }

  std::vector<double> read(std::size_t index) const {
    const TorchTensor& t = tensors_.at(index);
    std::size_t numel = 1;
    for (auto d : t.size) numel *= static_cast<std::size_t>(d);
    std::vector<double> out(numel);
    if (numel == 0) return out;
    const std::string bytes = zip_.read_checked(zip_.members().at(t.member));
    const std::size_t rank = t.size.size();
    std::vector<std::size_t> idx(rank, 0);
    std::size_t src = static_cast<std::size_t>(t.offset);
    // Bounds were checked on opening against the member's size; the member cannot change size since (CRC).
    ONSAGER_CHECK(bytes.size() == zip_.members().at(t.member).size, "{}: storage member changed", path_);
    for (std::size_t k = 0; k < numel; ++k) {
      out[k] = value(t, bytes.data() + src * t.item_size);
      for (std::size_t a = rank; a-- > 0;) {
        const auto stride = static_cast<std::size_t>(t.stride[a]);
        if (++idx[a] < static_cast<std::size_t>(t.size[a])) {
          src += stride;
          break;
        }
        src -= stride * (idx[a] - 1);
        idx[a] = 0;
      }
    }
    return out;
  }

 private:
  // Tensors may share storages (tied weights, views) and repeat elements (stride 0), but their elements in all
  // may exceed their distinct storages' elements only kMaxViewFactor times, plus kMaxRepeatedNumel.
  void check_total_elements() const {
    std::map<std::size_t, std::uint64_t> storage_numel;  // by zip member
    std::uint64_t numel = 0;
    for (const TorchTensor& t : tensors_) {
      storage_numel[t.member] = zip_.members().at(t.member).size / t.item_size;
      std::uint64_t n = 1;
      for (auto d : t.size) n *= static_cast<std::uint64_t>(d);  // checked by make_tensor: no overflow
      if (__builtin_add_overflow(numel, n, &numel)) numel = UINT64_MAX;
    }
    std::uint64_t stored = 0, allowed = 0;
    for (const auto& [member, n] : storage_numel) stored += n;  // each below the file's size times 1032
    if (__builtin_mul_overflow(kMaxViewFactor, stored, &allowed) ||
        __builtin_add_overflow(allowed, kMaxRepeatedNumel, &allowed))
      allowed = UINT64_MAX;
    ONSAGER_CHECK(numel <= allowed,
                  "{}: the checkpoint's {} tensors hold {} elements in all, from storages of {} elements; more than "
                  "onsager expands ({} x the storages + 2^24 = {})",
                  path_, tensors_.size(), numel, stored, kMaxViewFactor, allowed);
  }

  static ZipArchive open_zip(const std::string& path) {
    const std::string head = first_bytes(path, 512);
    if (!head.starts_with("PK\x03\x04") && !head.starts_with("PK\x05\x06")) {
      // The legacy format: a pickle stream opening with torch's magic number (a LONG1), or a tar file.
      const bool legacy = head.starts_with("\x80\x02\x8a\x0a") || (head.size() >= 262 && head.substr(257, 5) == "ustar");
      ONSAGER_CHECK(!legacy,
                    "{}: a PyTorch checkpoint in the legacy (pre-1.6, non-zip) format, which onsager does not read; "
                    "re-save it in the zip format with PyTorch >= 1.6: torch.save(torch.load(OLD), NEW)",
                    path);
      const bool pickle = head.size() >= 2 && head[0] == '\x80' && head[1] >= 2 && head[1] <= 5;
      ONSAGER_FAIL("{}: not a PyTorch checkpoint (no zip signature){}", path,
                   pickle ? "; it is a bare pickle, which onsager does not run"
                          : "; a TensorFlow.js weight shard (.bin) is read through its model.json or weights manifest");
    }
    return ZipArchive(path, "PyTorch checkpoint");
  }

  static double value(const TorchTensor& t, const char* p) {
    // Storage dtypes are PyTorch's names, which are io/dtype.hpp's (the pickle machine admits no others).
    double v = 0;
    convert_elements(dtype_from_name(t.dtype).value_or(DType::boolean), p, 1, &v);
    return v;
  }


  TorchTensor make_tensor(const PickleResult& p, std::size_t obj, const std::string& name, const std::string& prefix) {
    const PickleObject& o = p.at(obj);
    const PickleObject& s = p.at(o.storage);
    const std::string member_name = prefix + "data/" + s.text;
    const ZipMember* m = zip_.find(member_name);
    ONSAGER_CHECK(m != nullptr, "{}: tensor '{}' uses storage '{}', but the archive has no member {}", path_, name,
                  s.text, member_name);
    TorchTensor t;
    t.member = static_cast<std::size_t>(m - zip_.members().data());
    t.item_size = s.item_size, t.dtype = s.dtype, t.offset = o.offset, t.size = o.size, t.stride = o.stride;
    const std::uint64_t have = m->size / s.item_size;
    std::uint64_t numel = 1, last = static_cast<std::uint64_t>(o.offset);
    bool overflow = false;
    for (std::size_t a = 0; a < o.size.size(); ++a) {
      const auto n = static_cast<std::uint64_t>(o.size[a]), st = static_cast<std::uint64_t>(o.stride[a]);
      overflow |= __builtin_mul_overflow(numel, n, &numel);
      std::uint64_t reach = 0;
      if (n > 0) overflow |= __builtin_mul_overflow(n - 1, st, &reach) || __builtin_add_overflow(last, reach, &last);
    }
    ONSAGER_CHECK(!overflow, "{}: tensor '{}' has a size or stride too large to address", path_, name);
    ONSAGER_CHECK(numel == 0 || last < have,
                  "{}: tensor '{}' (size {}, stride {}, offset {}) reaches element {} of storage '{}', which holds {} "
                  "{} elements ({} bytes)",
                  path_, name, fmt::join(o.size, "x"), fmt::join(o.stride, ","), o.offset, last, s.text, have, s.dtype,
                  m->size);
    ONSAGER_CHECK(numel <= std::max(have, kMaxRepeatedNumel),
                  "{}: tensor '{}' repeats its storage's {} elements into {}; more than onsager expands", path_, name,
                  have, numel);
    return t;
  }

  std::string path_;
  ZipArchive zip_;
  std::vector<TorchTensor> tensors_;
  std::vector<TensorEntry> entries_;
};

class PyTorchSource : public TensorSource {
 public:
  explicit PyTorchSource(const std::string& path) : file_(path) {}
  const std::vector<TensorEntry>& tensors() const override { return file_.tensors(); }
  std::vector<double> read(const TensorEntry& t) const override { return file_.read(t.index); }
  std::string format() const override { return "pytorch"; }

 private:
  PyTorchFile file_;
};

class PyTorchShardedSource : public TensorSource {
 public:
  explicit PyTorchShardedSource(const std::string& index_path) {
    std::map<std::string, std::size_t> shard_of_file;
    std::vector<std::map<std::string, std::size_t>> names;
    for (const auto& [name, f] :
         detail::read_shard_index(index_path, "checkpoint index", "pytorch_model.bin.index.json")) {
      auto [it, fresh] = shard_of_file.emplace(f, shards_.size());
      if (fresh) {
        shards_.push_back(std::make_unique<PyTorchFile>(detail::confined_path(index_path, f, "shard")));
        names.emplace_back();
        for (const TensorEntry& e : shards_.back()->tensors()) names.back()[e.name] = e.index;
      }
      const auto found = names[it->second].find(name);
      ONSAGER_CHECK(found != names[it->second].end(), "{}: tensor '{}' is listed in the index but {} does not hold it",
                    index_path, name, shards_[it->second]->path());
      TensorEntry e = shards_[it->second]->tensors()[found->second];
      e.index = entries_.size();
      entries_.push_back(std::move(e));
      where_.emplace_back(it->second, found->second);
    }
  }
  const std::vector<TensorEntry>& tensors() const override { return entries_; }
  std::vector<double> read(const TensorEntry& t) const override {
    const auto& [shard, index] = where_.at(t.index);
    return shards_[shard]->read(index);
  }
  std::string format() const override { return fmt::format("pytorch ({} shards)", shards_.size()); }

 private:
  std::vector<std::unique_ptr<PyTorchFile>> shards_;
  std::vector<TensorEntry> entries_;
  std::vector<std::pair<std::size_t, std::size_t>> where_;
};

}  // namespace

std::unique_ptr<TensorSource> open_pytorch_source(const std::string& path) {
  return std::make_unique<PyTorchSource>(path);
}

std::unique_ptr<TensorSource> open_pytorch_sharded_source(const std::string& index_path) {
  return std::make_unique<PyTorchShardedSource>(index_path);
}

}  // namespace onsager
