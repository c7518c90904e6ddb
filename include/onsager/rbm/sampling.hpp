#pragma once
// Drawing from a trained RBM: block-Gibbs chains from noise or from data rows (what `rbm sample` draws), and
// the hidden units' filters in display order (what `rbm filters` draws).

#include <cstdint>
#include <string_view>
#include <vector>

#include "onsager/core/matrix.hpp"
#include "onsager/rbm/rbm.hpp"

namespace onsager {

struct SampleOptions {
  int n = 64;                 ///< chains (1..10000)
  int steps = 1000;           ///< block-Gibbs sweeps v -> h -> v (0..1e8)
  std::uint64_t seed = 0;     ///< every draw's random stream; the same seed gives the same samples for any thread count
  bool progress = false;      ///< progress bar on stderr (terminal only)
};

struct SampleResult {
  MatrixF states;         ///< n x V visible states after the last sweep (binary; real for a Gaussian model)
  MatrixF probabilities;  ///< n x V: p(v = 1 | h) (Gaussian: E[v | h]) with h ~ p(h | states), one more half-step,
                          ///< smoother to look at
  double mean_free_energy = 0;  ///< mean F(v) of the states
};

/// Runs options.n chains of block Gibbs sampling. `start` (R x V, values in [0, 1]) gives the chains' first
/// states, cycled when R < n; an empty `start` starts every chain from uniform noise (Gaussian models: from N(b, σ²)). Throws onsager::Error
/// for out-of-range options or a `start` of the wrong width.
SampleResult sample_rbm(const Rbm& rbm, const ConstMatrixFRef& start, const SampleOptions& options);

enum class FilterOrder { norm, index };
/// "norm" (largest weight norm first) or "index"; throws onsager::Error otherwise.
FilterOrder parse_filter_order(std::string_view s);

/// The first min(n, H) hidden units' weight vectors W[j, :] (rows of the result), in `order`: by descending
/// ‖W[j, :]‖ (ties by index) or by index. Throws onsager::Error for n < 1.
MatrixF filter_tiles(const Rbm& rbm, int n, FilterOrder order);

}  // namespace onsager
