#pragma once
// Norm metrics of an ESD, WeightWatcher's definitions (DESIGN.md §6): with λ the eigenvalues of WᵀW,
//   log_norm = log10 Σλ,  log_spectral_norm = log10 λ_max,  alpha_weighted = α log10 λ_max,
//   log_alpha_norm = log10 Σ λ^α,  stable_rank = Σλ / λ_max,  entropy = -Σ p ln p / ln(rank), p = λ/Σλ.
// matrix_rank counts λ above 16·M·ε·λ_max: the Gram route's rounding floor (esd.hpp), far below any
// eigenvalue of a full-rank trained layer.

#include <cstddef>
#include <span>

namespace onsager {

struct SpectralMetrics {
  double lambda_max = 0, log_norm = 0, log_spectral_norm = 0, stable_rank = 0, entropy = 0;
  double alpha_weighted = 0, log_alpha_norm = 0;  ///< NaN without a power-law α
  std::size_t matrix_rank = 0, rank_loss = 0;
};

/// Metrics of the ascending eigenvalues `evals` (≥ 0) of matrices whose min dimension is `m`; `alpha` is the
/// power-law exponent (NaN when there is none). Throws onsager::Error on an empty or all-zero ESD.
SpectralMetrics spectral_metrics(std::span<const double> evals, std::size_t m, double alpha);

}  // namespace onsager
