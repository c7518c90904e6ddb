#pragma once
// The HDF5 access layer of the Keras HDF5 reader (keras_h5.cpp): the one mutex every HDF5 call runs under,
// handles closed on destruction, and the reader's checked view of one file, its objects, attributes and
// datasets (every size checked against the bytes the file holds before libhdf5 sees it; hdf5_checks.hpp).

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "hdf5_checks.hpp"
#include "onsager/core/error.hpp"
#include "quote_name.hpp"

namespace onsager::hdf5 {

using detail::quote_name;

constexpr std::size_t kMaxRank = 16;                 // Keras kernels have rank <= 5; bounds hostile shapes
constexpr std::uint64_t kMaxDecodeRatio = 1024;      // chunked data: decoded bytes <= 1024 x stored bytes
constexpr std::size_t kMaxObjects = 100'000;         // layers, weights or walked objects per file
constexpr int kMaxAttributeChunks = 10'000;          // layer_names0, layer_names1, ...

/// The mutex every HDF5 call runs under: Debian's serial libhdf5 is not meant to be driven concurrently.
std::mutex& hdf5_mutex();

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


std::string hdf5_reason();

/// "a/b/c" -> {"a", "b", "c"}.
std::vector<std::string> split_path(const std::string& p);

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
std::optional<DatasetInfo> inspect_dataset(const File& f, hid_t d, const std::string& name, bool skip_unsupported);

}  // namespace onsager::hdf5
