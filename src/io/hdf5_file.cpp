#include "io/hdf5_file.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "onsager/core/error.hpp"
#include "quote_name.hpp"

namespace onsager::hdf5 {

using detail::quote_name;

std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

/// Holds the HDF5 mutex; silences HDF5's own error printing (the setting is per thread in a thread-safe

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

}  // namespace onsager::hdf5
