#include "onsager/plot/image_grid.hpp"

#include <algorithm>
#include <cmath>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"

namespace onsager {

std::pair<int, int> image_shape_for(long features, std::pair<int, int> hint) {
  if (hint.first > 0 && hint.second > 0) {
    ONSAGER_CHECK(static_cast<long>(hint.first) * hint.second == features,
                  "image_shape_for: hint {}x{} does not match the model's {} visible units", hint.first, hint.second, features);
    return hint;
  }
  const auto side = static_cast<long>(std::lround(std::sqrt(static_cast<double>(features))));
  ONSAGER_CHECK(side * side == features,
                "image_shape_for: {} visible units are not a square image; give the tile shape as hint HxW", features);
  return {static_cast<int>(side), static_cast<int>(side)};
}

std::vector<unsigned char> render_image_grid(const ConstMatrixFRef& tiles, const ImageGridOptions& opt, int& out_w,
                                             int& out_h) {
  const long n = tiles.rows();
  ONSAGER_CHECK(n > 0, "image grid: nothing to draw");
  ONSAGER_CHECK(opt.height > 0 && opt.width > 0 && static_cast<long>(opt.height) * opt.width == tiles.cols(),
                "image grid: tile shape {}x{} does not match {} values per tile", opt.height, opt.width, tiles.cols());
  ONSAGER_CHECK(opt.zoom >= 1 && opt.zoom <= 64 && opt.border >= 0 && opt.border <= 64,
                "image grid: zoom must be in 1..64 and border in 0..64");
  const long cols = opt.columns > 0 ? opt.columns : static_cast<long>(std::ceil(std::sqrt(static_cast<double>(n))));
  const long rows = (n + cols - 1) / cols;
  const long tw = static_cast<long>(opt.width) * opt.zoom, th = static_cast<long>(opt.height) * opt.zoom;
  const long w = cols * tw + (cols + 1) * opt.border, h = rows * th + (rows + 1) * opt.border;
  ONSAGER_CHECK(w <= 32768 && h <= 32768, "image grid: {}x{} pixels is too large (at most 32768 per side)", w, h);
  std::vector<unsigned char> px(static_cast<std::size_t>(w * h), 64);  // dark grey borders
  for (long t = 0; t < n; ++t) {
    const auto row = tiles.row(t);
    float lo = 0.0f, hi = 1.0f;
    if (opt.scale == TileScale::per_tile) {
      lo = row.minCoeff();
      hi = row.maxCoeff();
    }
    const float span = hi > lo ? hi - lo : 1.0f;
    const long x0 = opt.border + (t % cols) * (tw + opt.border), y0 = opt.border + (t / cols) * (th + opt.border);
    for (long y = 0; y < th; ++y)
      for (long x = 0; x < tw; ++x) {
        const float v = row((y / opt.zoom) * opt.width + x / opt.zoom);
        const float u = std::isfinite(v) ? std::clamp((v - lo) / span, 0.0f, 1.0f) : 0.0f;
        px[static_cast<std::size_t>((y0 + y) * w + x0 + x)] = static_cast<unsigned char>(std::lround(255.0f * u));
      }
  }
  out_w = static_cast<int>(w);
  out_h = static_cast<int>(h);
  return px;
}

void write_image_grid_png(const std::string& path, const ConstMatrixFRef& tiles, const ImageGridOptions& opt) {
  int w = 0, h = 0;
  const auto px = render_image_grid(tiles, opt, w, h);
  std::string png;
  auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
  };
  ONSAGER_CHECK(stbi_write_png_to_func(sink, &png, w, h, 1, px.data(), w) != 0, "{}: PNG encoding failed", path);
  write_file_atomic(path, png);
}

}  // namespace onsager
