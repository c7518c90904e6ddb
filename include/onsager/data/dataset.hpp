#pragma once
// Data sets: the three named ones installed by scripts/setup.sh (digits, mnist, fashion-mnist, DESIGN.md §4)
// with fixed, documented splits, and files or directories given by path (docs/data.md).
// Every data set is a row-major samples x features float matrix with values in [0, 1]
// (core/matrix.hpp), plus labels when the source has them.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "onsager/core/matrix.hpp"

namespace onsager {

struct Dataset {
  std::string name;           ///< "digits", "mnist", "fashion-mnist", or the path given
  std::string source;         ///< what was read (file or directory)
  MatrixF x;                  ///< samples x features, values in [0, 1]
  std::vector<int> labels;    ///< one per sample; empty when the source has none
  int height = 0, width = 0;  ///< image shape (0 when not an image); height * width == x.cols() when set
  double raw_min = 0, raw_max = 0;  ///< value range in the file(s) read, before scaling
  double scale = 1;                 ///< x = raw / scale
};

enum class Split { train, validation, test, trainval, all };

/// The seed of the fixed permutation that splits digits and mnist (1944: Onsager's solution of the 2-D
/// Ising model). Changing it changes every published split; don't.
inline constexpr std::uint64_t split_seed = 1944;

/// Parses "train", "validation" (or "valid"), "test", "trainval", "all"; throws onsager::Error otherwise.
Split parse_split(std::string_view s);

/// The canonical name of a split ("train", "validation", ...).
std::string_view to_string(Split s);

/// $ONSAGER_DATA when set; else ./data when it is a directory; else data/ (or share/onsager/data/) one level
/// above the running program's directory (build/onsager finds the source tree's data/); else "data".
std::string default_data_dir();

/// The named data sets: {"digits", "mnist", "fashion-mnist"}.
std::vector<std::string> dataset_names();

/// True when `s` is one of dataset_names().
bool is_dataset_name(std::string_view s);

/// Row indices (into the `all` order) of a named data set's split; throws for an unknown name.
/// digits and mnist use random_permutation(n, split_seed); fashion-mnist uses its files' own order.
std::vector<std::size_t> split_rows(std::string_view name, Split split);

/// True when splits `a` and `b` of the named data set `name` share rows (e.g. "all" and "validation"), false
/// for a name that is not a named data set.
bool splits_overlap(std::string_view name, Split a, Split b);

/// Loads split `split` of a named data set from `data_dir`, or a file/directory given by path
/// (IDX, CSV, NPY, mnist JSON directory; a path is read whole, so `split` must be `all` or `train`).
/// Throws onsager::Error naming the file and what to do when it is missing, corrupt or out of range.
Dataset load_dataset(const std::string& name_or_path, Split split = Split::train,
                     const std::string& data_dir = default_data_dir());

}  // namespace onsager
