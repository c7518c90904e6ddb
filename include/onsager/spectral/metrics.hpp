#pragma once
// Norm metrics of an ESD, WeightWatcher's definitions (DESIGN.md §6): with λ the eigenvalues of WᵀW,
//   log_norm = log10 Σλ,  log_spectral_norm = log10 λ_max,  alpha_weighted = α log10 λ_max,
//   log_alpha_norm = log10 Σ λ^α,  stable_rank = Σλ / λ_max,  entropy = -Σ p ln p / ln(rank), p = λ/Σλ.
// matrix_rank counts λ above 16·M·ε·λ_max: the Gram route's rounding floor (esd.hpp), far below any
// eigenvalue of a full-rank trained layer.
// WeightWatcher's rank (RMT_Util.py, matrix_rank and matrix_entropy; weightwatcher.py, combined_eigenvalues)
// instead counts singular values s > n·ε·s_max, n the larger dimension: on the pooled ESD for matrix_rank and
// entropy, per slice (each slice's own s_max) for rank_loss; set_ww_rank applies it (analyze's ww_compat).

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

/// WeightWatcher's rank loss of one matrix from its ascending eigenvalues `evals` (λ = s²): the number of singular
/// values not above n·ε·s_max, `n` the matrix's larger dimension. Only as exact as the small eigenvalues are (an SVD's).
std::size_t ww_rank_loss(std::span<const double> evals, std::size_t n);

/// Replaces matrix_rank, rank_loss and entropy of `metrics` (of the pooled ascending `evals`) by WeightWatcher's:
/// matrix_rank = #{s > n·ε·s_max} over the pooled ESD, rank_loss = `slice_rank_loss` (the sum of ww_rank_loss over
/// the slices), entropy = −Σ p ln p / ln(matrix_rank + 1e-10) with p = λ/Σλ + 1e-10 over every eigenvalue.
void set_ww_rank(SpectralMetrics& metrics, std::span<const double> evals, std::size_t n, std::size_t slice_rank_loss);

}  // namespace onsager
