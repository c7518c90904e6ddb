#pragma once
// Pictures of images: a grid of grey-scale tiles (RBM samples, filters) written as PNG with
// stb_image_write (Debian's libstb-dev), atomically.

#include <string>
#include <vector>

#include "onsager/core/matrix.hpp"

namespace onsager {

enum class TileScale {
  unit,      ///< values already in [0, 1] (samples, probabilities): 0 is black, 1 white
  per_tile,  ///< each tile stretched to its own min..max (weight filters)
};

struct ImageGridOptions {
  int height = 0, width = 0;  ///< tile shape; height * width must equal the number of columns
  int columns = 0;            ///< tiles per row (0: about square)
  int zoom = 2;               ///< pixels per value
  int border = 1;             ///< pixels between tiles
  TileScale scale = TileScale::unit;
};

/// The grid as 8-bit grey pixels (row-major, `out_w` x `out_h`), one tile per row of `tiles`.
/// Throws onsager::Error on a shape mismatch or an absurd size.
std::vector<unsigned char> render_image_grid(const ConstMatrixFRef& tiles, const ImageGridOptions& opt, int& out_w,
                                             int& out_h);

/// Renders `tiles` and writes a PNG atomically.
void write_image_grid_png(const std::string& path, const ConstMatrixFRef& tiles, const ImageGridOptions& opt);

/// The tile shape for `features` values: `hint` when it is set (h * w == features), else a square when
/// features is a perfect square; throws otherwise, naming `--shape`.
std::pair<int, int> image_shape_for(long features, std::pair<int, int> hint);

}  // namespace onsager
