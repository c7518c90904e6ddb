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
#include "io/keras_layout.hpp"

namespace onsager {
namespace {

using detail::quote_name;

constexpr std::size_t kMaxRank = 16;                 // Keras kernels have rank <= 5; bounds hostile shapes
constexpr std::uint64_t kMaxDecodeRatio = 1024;      // chunked data: decoded bytes <= 1024 x stored bytes
constexpr std::size_t kMaxObjects = 100'000;         // layers, weights or walked objects per file
constexpr std::size_t kMaxWalkDepth = 32;            // group nesting in the fallback walk
constexpr std::size_t kMaxJsonDepth = 256;           // model_config nesting
constexpr int kMaxAttributeChunks = 10'000;          // layer_names0, layer_names1, ...

std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

/// Holds the HDF5 mutex; silences HDF5's own error printing (the setting is per thread in a thread-safe
/// build, so it is renewed on every entry) and keeps filter plugins from being loaded.
class Hdf5Lock {
 public:
  Hdf5Lock() : guard_(hdf5_mutex()) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    H5PLset_loading_state(0);
  }

 private:
  std::lock_guard<std::mutex> guard_;
};

/// An HDF5 identifier closed on destruction (always destroyed while the lock is held).
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer close) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = H5I_INVALID_HID;
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset() {
    if (id_ >= 0 && close_ != nullptr) close_(id_);
    id_ = H5I_INVALID_HID;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer close_ = nullptr;
};

/// The innermost message on HDF5's error stack (one line), for the end of an error message.
std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        if (n == 0 && e != nullptr && e->desc != nullptr) *static_cast<std::string*>(data) = e->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  return reason.empty() ? std::string() : " (HDF5: " + reason + ")";
}


std::vector<std::string> split_path(const std::string& p) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const auto slash = p.find('/', start);
    parts.push_back(p.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

// ---------------------------------------------------------------------------------------------------
// The reader's view of one file: open handle, its size, and checked access to objects and attributes.

struct File {
  std::string path;
  std::uint64_t size = 0;
  Handle id;
  mutable detail::Hdf5Checks checks;  ///< raw-byte checks made before libhdf5 reads what they cover

  [[noreturn]] void fail(const std::string& what) const { ONSAGER_FAIL("{}: {}", path, what); }

  H5O_type_t object_type(hid_t obj) const {
    H5O_info_t info{};
    if (H5Oget_info2(obj, &info, H5O_INFO_BASIC) < 0) fail("cannot read an object header" + hdf5_reason());
    return info.type;
  }

  /// Opens `rel` (a '/'-separated path) below `loc`, following hard links only.
  Handle open_object(hid_t loc, const std::string& rel, const std::string& what) const {
    Handle cur(H5Oopen(loc, ".", H5P_DEFAULT), H5Oclose);
    if (!cur.valid()) fail(fmt::format("cannot open {}{}", what, hdf5_reason()));
    for (const auto& part : split_path(rel)) {
      if (part.empty() || part == "." || part == "..")
        fail(fmt::format("{}: path {} has an empty or relative component", what, quote_name(rel)));
      if (object_type(cur.get()) != H5O_TYPE_GROUP)
        fail(fmt::format("{}: {} is not a group", what, quote_name(rel)));
      const htri_t exists = H5Lexists(cur.get(), part.c_str(), H5P_DEFAULT);
      if (exists <= 0) fail(fmt::format("{}: {} does not exist{}", what, quote_name(rel), hdf5_reason()));
      H5L_info_t link{};
      if (H5Lget_info(cur.get(), part.c_str(), &link, H5P_DEFAULT) < 0)
        fail(fmt::format("{}: cannot read link {}{}", what, quote_name(part), hdf5_reason()));
      if (link.type != H5L_TYPE_HARD)
        fail(fmt::format("{}: {} is a soft or external link (onsager follows only hard links)", what, quote_name(rel)));
      checks.check_header(link.u.address);
      Handle next(H5Oopen(cur.get(), part.c_str(), H5P_DEFAULT), H5Oclose);
      if (!next.valid()) fail(fmt::format("cannot open {} {}{}", what, quote_name(rel), hdf5_reason()));
      cur = std::move(next);
    }
    return cur;
  }

  void check_attributes(hid_t obj) const {
    H5O_info_t info{};
    if (H5Oget_info2(obj, &info, H5O_INFO_BASIC) < 0) fail("cannot read an object header" + hdf5_reason());
    checks.check_header(info.addr);
  }

  bool has_attribute(hid_t obj, const std::string& name) const {
    check_attributes(obj);
    const htri_t r = H5Aexists(obj, name.c_str());
    if (r < 0) fail(fmt::format("cannot look up attribute {}{}", quote_name(name), hdf5_reason()));
    return r > 0;
  }

  /// The strings of attribute `name` (fixed or variable length, scalar or 1-D); an empty numeric array (as
  /// Keras writes for a layer without weights) is an empty list.
  std::vector<std::string> read_strings(hid_t obj, const std::string& name) const {
    check_attributes(obj);
    {
      H5O_info_t info{};
      if (H5Oget_info2(obj, &info, H5O_INFO_BASIC) < 0) fail("cannot read an object header" + hdf5_reason());
      const auto c = checks.attribute_class(info.addr, name);
      if (c && *c != 0 && *c != 1 && *c != 3 && *c != 9)
        fail(fmt::format("attribute {} is not a list of strings (HDF5 type class {})", quote_name(name), *c));
    }
    Handle attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
    if (!attr.valid()) fail(fmt::format("cannot open attribute {}{}", quote_name(name), hdf5_reason()));
    Handle type(H5Aget_type(attr.get()), H5Tclose);
    Handle space(H5Aget_space(attr.get()), H5Sclose);
    if (!type.valid() || !space.valid()) fail(fmt::format("attribute {} is unreadable{}", quote_name(name), hdf5_reason()));
    const H5S_class_t sclass = H5Sget_simple_extent_type(space.get());
    if (sclass == H5S_NULL) return {};
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (sclass != H5S_SCALAR && sclass != H5S_SIMPLE) fail(fmt::format("attribute {} has no valid shape", quote_name(name)));
    if (rank > 1) fail(fmt::format("attribute {} has rank {} (expected a list of strings)", quote_name(name), rank));
    const hssize_t npoints = H5Sget_simple_extent_npoints(space.get());
    if (npoints < 0 || static_cast<std::uint64_t>(npoints) > size)
      fail(fmt::format("attribute {} claims {} entries in a {}-byte file", quote_name(name), npoints, size));
    const auto n = static_cast<std::size_t>(npoints);
    const H5T_class_t tclass = H5Tget_class(type.get());
    if (tclass != H5T_STRING) {
      if (n == 0) return {};
      fail(fmt::format("attribute {} is not a list of strings", quote_name(name)));
    }
    std::vector<std::string> out;
    out.reserve(n);
    const htri_t is_var = H5Tis_variable_str(type.get());
    if (is_var < 0) fail(fmt::format("attribute {} has an unreadable string type", quote_name(name)));
    if (is_var > 0) {
      Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
      if (!mem.valid() || H5Tset_size(mem.get(), H5T_VARIABLE) < 0 ||
          H5Tset_cset(mem.get(), H5Tget_cset(type.get())) < 0)
        fail("cannot make a string type" + hdf5_reason());
      std::vector<char*> buf(n, nullptr);
      if (H5Aread(attr.get(), mem.get(), buf.data()) < 0)
        fail(fmt::format("cannot read attribute {}{}", quote_name(name), hdf5_reason()));
      for (char* s : buf) out.emplace_back(s != nullptr ? s : "");
      H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, buf.data());
      return out;
    }
    const std::size_t width = H5Tget_size(type.get());
    if (width == 0 || (n > 0 && width > size / n))
      fail(fmt::format("attribute {} claims {} strings of {} bytes in a {}-byte file", quote_name(name), n, width, size));
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    if (!mem.valid() || H5Tset_size(mem.get(), width) < 0 || H5Tset_strpad(mem.get(), H5T_STR_NULLPAD) < 0 ||
        H5Tset_cset(mem.get(), H5Tget_cset(type.get())) < 0)
      fail("cannot make a string type" + hdf5_reason());
    std::string buf(n * width, '\0');
    if (n > 0 && H5Aread(attr.get(), mem.get(), buf.data()) < 0)
      fail(fmt::format("cannot read attribute {}{}", quote_name(name), hdf5_reason()));
    const bool space_pad = H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD;
    for (std::size_t i = 0; i < n; ++i) {
      std::string s = buf.substr(i * width, width);
      s.resize(std::strlen(s.c_str()));
      if (space_pad) s.erase(s.find_last_not_of(' ') + 1);
      out.push_back(std::move(s));
    }
    return out;
  }

  /// Keras's save_attributes_to_hdf5_group: `name`, or `name0`, `name1`, ... when the list was split.
  std::optional<std::vector<std::string>> read_string_list(hid_t obj, const std::string& name) const {
    if (has_attribute(obj, name)) return read_strings(obj, name);
    if (!has_attribute(obj, name + "0")) return std::nullopt;
    std::vector<std::string> all;
    for (int chunk = 0; has_attribute(obj, fmt::format("{}{}", name, chunk)); ++chunk) {
      if (chunk >= kMaxAttributeChunks) fail(fmt::format("attribute {} is split into too many parts", quote_name(name)));
      for (auto& s : read_strings(obj, fmt::format("{}{}", name, chunk))) all.push_back(std::move(s));
      if (all.size() > kMaxObjects) fail(fmt::format("attribute {} lists more than {} names", quote_name(name), kMaxObjects));
    }
    return all;
  }
};

// ---------------------------------------------------------------------------------------------------
// Datasets: type, shape and storage checked against the file before anything is read.

struct DatasetInfo {
  std::vector<std::int64_t> shape;
  std::string dtype;
  bool floating = false;
};

/// Checks dataset `d` (named `name` in messages); throws naming the file when it cannot be read safely.
/// Returns nullopt (when `skip_unsupported`) for datasets that hold no numbers (strings, compounds, ...).
std::optional<DatasetInfo> inspect_dataset(const File& f, hid_t d, const std::string& name, bool skip_unsupported) {
  const std::string what = "dataset " + quote_name(name);
  {
    H5O_info_t oinfo{};
    if (H5Oget_info2(d, &oinfo, H5O_INFO_BASIC) < 0) f.fail("cannot read an object header" + hdf5_reason());
    f.checks.check_header(oinfo.addr);
    const auto c = f.checks.dataset_class(oinfo.addr);
    if (c && *c != 0 && *c != 1) {  // neither integer nor float
      if (skip_unsupported) return std::nullopt;
      f.fail(fmt::format("{} holds no numbers (HDF5 type class {})", what, *c));
    }
  }
  Handle type(H5Dget_type(d), H5Tclose);
  Handle space(H5Dget_space(d), H5Sclose);
  Handle dcpl(H5Dget_create_plist(d), H5Pclose);
  if (!type.valid() || !space.valid() || !dcpl.valid()) f.fail(fmt::format("{} is unreadable{}", what, hdf5_reason()));

  DatasetInfo info;
  const H5T_class_t tclass = H5Tget_class(type.get());
  const std::size_t tsize = H5Tget_size(type.get());
  const H5T_order_t order = H5Tget_order(type.get());
  const bool plain_order = order == H5T_ORDER_LE || order == H5T_ORDER_BE;
  if (tclass == H5T_FLOAT) {
    std::size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
    H5Tget_fields(type.get(), &spos, &epos, &esize, &mpos, &msize);
    const std::size_t bias = H5Tget_ebias(type.get());
    const bool ieee_layout = plain_order && H5Tget_offset(type.get()) == 0 &&
                             H5Tget_precision(type.get()) == 8 * tsize && mpos == 0 &&
                             H5Tget_norm(type.get()) == H5T_NORM_IMPLIED;
    struct Ieee { std::size_t size, spos, epos, esize, msize, bias; const char* name; };
    constexpr Ieee kIeee[] = {{2, 15, 10, 5, 10, 15, "float16"}, {4, 31, 23, 8, 23, 127, "float32"},
                              {8, 63, 52, 11, 52, 1023, "float64"}};
    for (const auto& k : kIeee)
      if (ieee_layout && tsize == k.size && spos == k.spos && epos == k.epos && esize == k.esize &&
          msize == k.msize && bias == k.bias)
        info.dtype = k.name;
    if (info.dtype.empty()) f.fail(fmt::format("{} has an unsupported {}-byte float type (onsager reads IEEE "
                                               "float16, float32 and float64)", what, tsize));
    info.floating = true;
  } else if (tclass == H5T_INTEGER) {
    const H5T_sign_t sign = H5Tget_sign(type.get());
    if (!plain_order || (tsize != 1 && tsize != 2 && tsize != 4 && tsize != 8) || H5Tget_offset(type.get()) != 0 ||
        H5Tget_precision(type.get()) != 8 * tsize || sign == H5T_SGN_ERROR)
      f.fail(fmt::format("{} has an unsupported integer type", what));
    info.dtype = fmt::format("{}int{}", sign == H5T_SGN_NONE ? "u" : "", 8 * tsize);
  } else {
    if (skip_unsupported) return std::nullopt;
    f.fail(fmt::format("{} holds no numbers (HDF5 type class {})", what, static_cast<int>(tclass)));
  }

  const H5S_class_t sclass = H5Sget_simple_extent_type(space.get());
  if (sclass == H5S_NULL) {
    if (skip_unsupported) return std::nullopt;
    f.fail(fmt::format("{} has no data space", what));
  }
  if (sclass != H5S_SCALAR && sclass != H5S_SIMPLE) f.fail(fmt::format("{} has an invalid data space", what));
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || static_cast<std::size_t>(rank) > kMaxRank)
    f.fail(fmt::format("{} has rank {} (at most {} allowed)", what, rank, kMaxRank));
  std::array<hsize_t, H5S_MAX_RANK> dims{};
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) != rank)
    f.fail(fmt::format("{} has unreadable dimensions{}", what, hdf5_reason()));
  // numel * tsize must fit in the file (checked per case below); bound the product as it is formed.
  std::uint64_t numel = 1;
  const std::uint64_t limit = (f.size + 1) * kMaxDecodeRatio;
  for (int i = 0; i < rank; ++i) {
    info.shape.push_back(static_cast<std::int64_t>(std::min<hsize_t>(dims[static_cast<std::size_t>(i)], INT64_MAX)));
    const hsize_t dim = dims[static_cast<std::size_t>(i)];
    if (dim != 0 && numel > limit / dim)
      f.fail(fmt::format("{} claims shape [{}{}] (more elements than a {}-byte file can hold)", what,
                         fmt::join(info.shape, ", "), i + 1 < rank ? ", ..." : "", f.size));
    numel *= dim;
  }
  if (numel != 0 && tsize > limit / numel)
    f.fail(fmt::format("{} claims {} elements of {} bytes (more than a {}-byte file can hold)", what, numel, tsize, f.size));
  const std::uint64_t needed = numel * tsize;

  if (H5Pget_external_count(dcpl.get()) != 0)
    f.fail(fmt::format("{} stores its data in external files (refused)", what));
  const int nfilters = H5Pget_nfilters(dcpl.get());
  if (nfilters < 0) f.fail(fmt::format("{} has an unreadable filter pipeline{}", what, hdf5_reason()));
  for (int i = 0; i < nfilters; ++i) {
    unsigned flags = 0;
    std::size_t nelmts = 0;
    unsigned config = 0;
    std::array<char, 64> fname{};
    const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nelmts, nullptr,
                                           fname.size(), fname.data(), &config);
    if (id != H5Z_FILTER_DEFLATE && id != H5Z_FILTER_SHUFFLE && id != H5Z_FILTER_FLETCHER32 &&
        id != H5Z_FILTER_NBIT && id != H5Z_FILTER_SCALEOFFSET)
      f.fail(fmt::format("{} uses filter {} (onsager decodes deflate, shuffle, fletcher32, n-bit and "
                         "scale-offset only)", what, static_cast<int>(id)));
  }

  const H5D_layout_t layout = H5Pget_layout(dcpl.get());
  const hsize_t stored = H5Dget_storage_size(d);
  switch (layout) {
    case H5D_CONTIGUOUS: {
      if (needed == 0) break;
      const haddr_t offset = H5Dget_offset(d);
      if (offset == HADDR_UNDEF || stored < needed)
        f.fail(fmt::format("{} claims {} bytes but has {} stored", what, needed, offset == HADDR_UNDEF ? 0 : stored));
      if (offset > f.size || needed > f.size - offset)
        f.fail(fmt::format("{} claims bytes {}..{} but the file has {}", what, offset, offset + needed, f.size));
      break;
    }
    case H5D_COMPACT:
      if (stored < needed) f.fail(fmt::format("{} claims {} bytes but holds {}", what, needed, stored));
      break;
    case H5D_CHUNKED:
      if (stored > f.size) f.fail(fmt::format("{} claims {} stored bytes in a {}-byte file", what, stored, f.size));
      if (needed > kMaxDecodeRatio * stored)
        f.fail(fmt::format("{} claims {} bytes from {} stored (more than {}x; refused)", what, needed, stored,
                           kMaxDecodeRatio));
      break;
    default: f.fail(fmt::format("{} has an unsupported storage layout (virtual or unknown)", what));
  }
  return info;
}

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
