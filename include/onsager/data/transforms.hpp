#pragma once
// Transforms on data sets: binarization (an RBM's visible units are binary) and row subsets.
// Stochastic binarization draws one random stream per row (stream_seed(seed, row)), so its result is the
// same for any thread count.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "onsager/core/matrix.hpp"
#include "onsager/data/dataset.hpp"

namespace onsager {

struct Binarization {
  enum class Kind { none, threshold, stochastic };
  Kind kind = Kind::none;
  float threshold = 0.5f;  ///< threshold: x > threshold -> 1, else 0
  std::uint64_t seed = 0;  ///< stochastic: x -> 1 with probability x, seeded
};

/// Parses "none", "threshold:T" (T in [0, 1]) or "stochastic:SEED" (SEED a non-negative integer);
/// throws onsager::Error otherwise.
Binarization parse_binarization(std::string_view spec);

/// The spec parse_binarization reads back ("none", "threshold:0.5", "stochastic:7").
std::string to_string(const Binarization& b);

/// Binarizes `x` (n x d, values in [0, 1]) in place; `none` leaves it unchanged. Stochastic: row i uses the
/// stream stream_seed(b.seed, i), so the result does not depend on the thread count.
void binarize(MatrixF& x, const Binarization& b);

/// The rows `rows` of `d` (with their labels), in that order; other fields are copied.
/// Throws onsager::Error when a row index is out of range.
Dataset take_rows(const Dataset& d, const std::vector<std::size_t>& rows);

}  // namespace onsager
