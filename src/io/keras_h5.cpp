// Keras HDF5 files (Keras 2 / tf.keras `model.save("m.h5")` and `model.save_weights("w.h5")`), read with the
// HDF5 C library. Structure (Keras's hdf5_format.py, save_weights_to_hdf5_group): a group (the root of a
// weights-only file, `model_weights` of a whole-model file) carries the attribute `layer_names`; each layer's
// group carries `weight_names` ("dense/kernel:0", ...), the paths of its datasets under that group. Long lists
// are split into `layer_names0`, `layer_names1`, ... (Keras's 64 KB attribute limit). A whole-model file also
// has the root attribute `model_config` (JSON), from which each layer's Keras class gives its kernels' layout.
// With neither `layer_names` attribute the reader walks every dataset in the file.
//
// Safety: HDF5 is a library with a large attack surface, so the reader only follows hard links, refuses
// external raw-data files, virtual datasets and filters other than deflate/shuffle/fletcher32/n-bit/
// scale-offset, never loads filter plugins, and checks every dataset's size against the bytes the file holds
// before reading it (contiguous data must lie within the file; chunked data may decode to at most
// kMaxDecodeRatio times its stored bytes). Every HDF5 call runs under one mutex: read() is called from
// several threads, and Debian's serial libhdf5 is not meant to be driven concurrently.

#include <hdf5.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/io/model_formats.hpp"
#include "quote_name.hpp"

#include "hdf5_checks.hpp"
#include "io/hdf5_file.hpp"
#include "io/keras_layout.hpp"

namespace onsager {
namespace {

using detail::quote_name;
using namespace hdf5;  // the HDF5 access layer (io/hdf5_file.hpp)

constexpr std::size_t kMaxWalkDepth = 32;            // group nesting in the fallback walk
constexpr std::size_t kMaxJsonDepth = 256;           // model_config nesting

/// Nesting depth of a JSON text (outside strings), so that a hostile model_config cannot exhaust the stack.
std::size_t json_depth(const std::string& s) {
  std::size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : s) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// ---------------------------------------------------------------------------------------------------

struct Item {
  std::string dataset;  ///< path from the root, hard links only
  std::vector<int> perm;
};

class KerasH5Source final : public TensorSource {
 public:
  KerasH5Source(File file, std::vector<TensorEntry> entries, std::vector<Item> items, std::string format)
      : file_(std::move(file)), entries_(std::move(entries)), items_(std::move(items)), format_(std::move(format)) {}
  ~KerasH5Source() override {
    Hdf5Lock lock;
    file_.id.reset();
  }
  KerasH5Source(const KerasH5Source&) = delete;
  KerasH5Source& operator=(const KerasH5Source&) = delete;

  const std::vector<TensorEntry>& tensors() const override { return entries_; }
  std::string format() const override { return format_; }

  std::vector<double> read(const TensorEntry& t) const override {
    ONSAGER_CHECK(t.index < entries_.size() && entries_[t.index].name == t.name, "{}: no tensor {}", file_.path,
                  quote_name(t.name));
    const Item& item = items_[t.index];
    std::vector<double> values;
    {
      Hdf5Lock lock;
      Handle d = file_.open_object(file_.id.get(), item.dataset, "dataset " + quote_name(item.dataset));
      if (file_.object_type(d.get()) != H5O_TYPE_DATASET) file_.fail("dataset " + quote_name(item.dataset) + " is gone");
      const auto info = inspect_dataset(file_, d.get(), item.dataset, false);
      const auto& stored = item.perm.empty() ? t.shape : t.stored_shape;
      if (!info || info->shape != stored)
        file_.fail(fmt::format("dataset {} changed since the file was opened", quote_name(item.dataset)));
      std::size_t numel = 1;
      for (auto dim : info->shape) numel *= static_cast<std::size_t>(dim);
      values.resize(numel);
      if (numel > 0 && H5Dread(d.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
        file_.fail(fmt::format("cannot read dataset {}{}", quote_name(item.dataset), hdf5_reason()));
    }
    if (!item.perm.empty()) values = permute_axes(values, t.stored_shape, item.perm);
    return values;
  }

 private:
  File file_;
  std::vector<TensorEntry> entries_;
  std::vector<Item> items_;
  std::string format_;
};

/// Builds entries: names, dtypes, layouts.
class Builder {
 public:
  Builder(const File& f, std::map<std::string, std::string> classes, bool have_config)
      : f_(f), classes_(std::move(classes)), have_config_(have_config) {}

  std::vector<TensorEntry> entries;
  std::vector<Item> items;

  /// Tensor names: the weight names without ":0"; a name that occurs more than once gets its layer's name in
  /// front ("dense_1/kernel"), and one still repeated a "#2", "#3", ... suffix.
  void finish() {
    std::map<std::string, int> count;
    for (const auto& e : entries) ++count[e.name];
    std::set<std::string> used;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      auto& name = entries[i].name;
      if (count[name] > 1 && !layers_[i].empty()) name = layers_[i] + "/" + name;
      const std::string base = name;
      for (int k = 2; used.count(name) != 0; ++k) name = fmt::format("{}#{}", base, k);
      used.insert(name);
    }
  }

  /// A dataset at `dataset` (path from the root) named `weight` ("dense/kernel:0") in layer `layer`.
  void add(const std::string& dataset, const std::string& layer, std::string weight, const DatasetInfo& info) {
    if (entries.size() >= kMaxObjects) f_.fail(fmt::format("more than {} tensors", kMaxObjects));
    if (weight.size() > 2 && weight.ends_with(":0")) weight.resize(weight.size() - 2);
    auto parts = split_path(weight);
    const std::string var = parts.back();
    const std::string name = weight;
    layers_.push_back(layer);

    // The Keras class: the innermost path component that names a layer, else the layer's own group.
    std::string cls;
    parts.pop_back();
    for (auto it = parts.rbegin(); it != parts.rend() && cls.empty(); ++it)
      if (auto c = classes_.find(*it); c != classes_.end()) cls = c->second;
    if (cls.empty() && !layer.empty())
      if (auto c = classes_.find(layer); c != classes_.end()) cls = c->second;

    TensorEntry e;
    e.name = name;
    e.shape = info.shape;
    e.dtype = info.dtype;
    e.floating = info.floating;
    e.index = entries.size();
    Item item{dataset, {}};
    std::optional<detail::KerasLayout> layout;
    if (!cls.empty()) {
      e.op = cls;
      layout = detail::keras_layout(cls, var, info.shape.size());
      e.canonical = layout.has_value() || info.shape.size() <= 1;
    } else if (!have_config_) {
      if (auto g = detail::keras_layout_by_name(var, info.shape.size())) {
        e.op = g->first;
        layout = g->second;
      }
    }
    if (layout) {
      detail::apply_keras_layout(e, *layout);
      if (!e.stored_shape.empty()) item.perm = layout->perm;
    }
    entries.push_back(std::move(e));
    items.push_back(std::move(item));
  }

 private:
  const File& f_;
  std::map<std::string, std::string> classes_;
  bool have_config_;
  std::vector<std::string> layers_;
};

/// Keras's structure: `group` (at `group_path`, "" for the root) lists its layers in `layer_names`.
void read_layers(const File& f, hid_t group, const std::string& group_path, const std::vector<std::string>& layers,
                 Builder& b) {
  if (layers.size() > kMaxObjects) f.fail(fmt::format("layer_names lists {} layers (at most {})", layers.size(), kMaxObjects));
  for (const auto& layer : layers) {
    const std::string what = "layer " + quote_name(layer) + " named in layer_names";
    Handle g = f.open_object(group, layer, what);
    if (f.object_type(g.get()) != H5O_TYPE_GROUP) f.fail(what + " is not a group");
    const auto weights = f.read_string_list(g.get(), "weight_names");
    if (!weights) f.fail(fmt::format("layer {} has no weight_names attribute", quote_name(layer)));
    for (const auto& w : *weights) {
      const std::string wwhat = fmt::format("weight {} of layer {}", quote_name(w), quote_name(layer));
      Handle d = f.open_object(g.get(), w, wwhat);
      if (f.object_type(d.get()) != H5O_TYPE_DATASET) f.fail(wwhat + " is not a dataset");
      const std::string full = (group_path.empty() ? "" : group_path + "/") + layer + "/" + w;
      const auto info = inspect_dataset(f, d.get(), full, false);
      b.add(full, layer, w, *info);
    }
  }
}

/// No layer_names anywhere: every numeric dataset reachable by hard links, depth first, names in HDF5's order.
void walk(const File& f, hid_t group, const std::string& prefix, std::size_t depth, std::set<haddr_t>& seen,
          std::size_t& visited, Builder& b) {
  if (depth > kMaxWalkDepth) f.fail(fmt::format("groups nested deeper than {} at {}", kMaxWalkDepth, quote_name(prefix)));
  struct Links {
    std::vector<std::string> names;
    std::size_t budget;
    bool overflow = false;
  } links{{}, kMaxObjects - std::min(visited, kMaxObjects)};
  hsize_t idx = 0;
  const herr_t r = H5Literate(
      group, H5_INDEX_NAME, H5_ITER_INC, &idx,
      [](hid_t, const char* name, const H5L_info_t* info, void* data) -> herr_t {
        auto* l = static_cast<Links*>(data);
        if (l->names.size() >= l->budget) {
          l->overflow = true;
          return 1;
        }
        if (info->type == H5L_TYPE_HARD) l->names.emplace_back(name);
        return 0;
      },
      &links);
  if (r < 0) f.fail(fmt::format("cannot list group {}{}", quote_name(prefix.empty() ? "/" : prefix), hdf5_reason()));
  if (links.overflow) f.fail(fmt::format("more than {} objects", kMaxObjects));
  visited += links.names.size();
  for (const auto& name : links.names) {
    const std::string full = prefix.empty() ? name : prefix + "/" + name;
    Handle obj = f.open_object(group, name, "object " + quote_name(full));
    H5O_info_t info{};
    if (H5Oget_info2(obj.get(), &info, H5O_INFO_BASIC) < 0) f.fail("cannot read object " + quote_name(full) + hdf5_reason());
    if (!seen.insert(info.addr).second) continue;  // a second hard link to an object already seen
    if (info.type == H5O_TYPE_GROUP) {
      walk(f, obj.get(), full, depth + 1, seen, visited, b);
    } else if (info.type == H5O_TYPE_DATASET) {
      if (const auto d = inspect_dataset(f, obj.get(), full, true)) b.add(full, "", full, *d);
    }
  }
}

}  // namespace

std::unique_ptr<TensorSource> open_keras_h5_source(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  ONSAGER_CHECK(!ec, "{}: cannot read the file ({})", path, ec.message());
  Hdf5Lock lock;
  File f;
  f.path = path;
  f.size = size;
  f.checks = detail::Hdf5Checks(path, size);
  f.checks.check_superblock();
  {
    Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (!fapl.valid() || H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG) < 0)
      f.fail("cannot set up HDF5" + hdf5_reason());
    f.id = Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
    if (!f.id.valid()) f.fail("not a readable HDF5 file" + hdf5_reason());
  }
  Handle root(H5Gopen2(f.id.get(), "/", H5P_DEFAULT), H5Gclose);
  if (!root.valid()) f.fail("cannot open the root group" + hdf5_reason());
  {
    Handle fcpl(H5Fget_create_plist(f.id.get()), H5Pclose);
    hsize_t userblock = 0;
    std::size_t sizeof_addr = 0, sizeof_size = 0;
    if (!fcpl.valid() || H5Pget_userblock(fcpl.get(), &userblock) < 0 ||
        H5Pget_sizes(fcpl.get(), &sizeof_addr, &sizeof_size) < 0)
      f.fail("cannot read the superblock's settings" + hdf5_reason());
    if (sizeof_addr < 2 || sizeof_addr > 8 || sizeof_size < 2 || sizeof_size > 8)
      f.fail(fmt::format("unsupported address/length sizes {}/{}", sizeof_addr, sizeof_size));
    f.checks.set_layout(userblock, sizeof_addr, sizeof_size);
  }

  std::map<std::string, std::string> classes;
  bool have_config = false;
  if (f.has_attribute(root.get(), "model_config")) {
    const auto text = f.read_strings(root.get(), "model_config");
    if (text.size() != 1) f.fail("attribute 'model_config' is not one string");
    if (json_depth(text[0]) > kMaxJsonDepth) f.fail(fmt::format("model_config nests deeper than {}", kMaxJsonDepth));
    const auto j = nlohmann::json::parse(text[0], nullptr, false);
    if (j.is_discarded()) f.fail("attribute 'model_config' is not valid JSON");
    classes = detail::keras_layer_classes(j, static_cast<int>(kMaxJsonDepth));
    have_config = true;
  }
  Builder b(f, std::move(classes), have_config);

  std::string format = "keras-h5";
  bool done = false;
  if (H5Lexists(root.get(), "model_weights", H5P_DEFAULT) > 0) {
    Handle mw = f.open_object(root.get(), "model_weights", "group 'model_weights'");
    if (f.object_type(mw.get()) != H5O_TYPE_GROUP) f.fail("'model_weights' is not a group");
    if (const auto layers = f.read_string_list(mw.get(), "layer_names")) {
      read_layers(f, mw.get(), "model_weights", *layers, b);
      done = true;
    }
  }
  H5Eclear2(H5E_DEFAULT);
  if (!done) {
    if (const auto layers = f.read_string_list(root.get(), "layer_names")) {
      read_layers(f, root.get(), "", *layers, b);
      done = true;
    }
  }
  if (!done) {
    std::set<haddr_t> seen;
    std::size_t visited = 0;
    walk(f, root.get(), "", 0, seen, visited, b);
    format = "hdf5";
  }
  root.reset();
  b.finish();
  return std::make_unique<KerasH5Source>(std::move(f), std::move(b.entries), std::move(b.items), format);
}

}  // namespace onsager
