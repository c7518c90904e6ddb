#pragma once
// Marchenko–Pastur fit of an ESD's bulk (DESIGN.md §6). The eigenvalues are rescaled so their mean is 1;
// the MP law of an N x M matrix (Q = N/M ≥ 1) with entry scale σ then has the density
//   ρ(x) = Q √((λ₊ - x)(x - λ₋)) / (2π σ² x),   λ± = σ² (1 ± 1/√Q)²,
// (for Q = 1 a quarter circle in √x). σ is fitted by minimising the Kolmogorov distance between the
// empirical distribution and the MP law: spikes move that distance by at most their fraction of the ESD,
// so the fit follows the bulk. Spikes are eigenvalues above λ₊ + √Δ_TW with the Tracy–Widom margin
// Δ_TW = Q^{-1/2} λ₊^{2/3} M^{-2/3}; mp_softrank = λ₊ / λ_max.

#include <cstddef>
#include <span>

namespace onsager {

struct MarchenkoPasturFit {
  double sigma = 0;                       ///< fitted MP scale (of the mean-1 ESD)
  double lambda_minus = 0, lambda_plus = 0;  ///< bulk edges of the mean-1 ESD
  double scale = 1;                       ///< the mean eigenvalue the ESD was divided by
  double tw_margin = 0;                   ///< Δ_TW
  double ks = 1;                          ///< Kolmogorov distance at the fitted σ
  std::size_t num_spikes = 0;             ///< eigenvalues above λ₊ + √Δ_TW
  std::size_t num_above_edge = 0;         ///< eigenvalues above λ₊
  double softrank = 0;                    ///< λ₊ / λ_max
  double spike_mass = 0;                  ///< fraction of Σλ carried by the spikes
};

/// MP cumulative distribution at x of the law with ratio Q ≥ 1 and scale σ (Simpson-integrated on 4,096 angles,
/// linear interpolation between them).
double mp_cdf(double x, double q, double sigma);
/// MP density at x (0 outside the bulk).
double mp_density(double x, double q, double sigma);

/// Fits the MP law to the ascending eigenvalues `evals` (all M of them, zeros included) of a matrix with
/// aspect ratio q = N/M ≥ 1 and min dimension m (the slice size for pooled conv layers).
/// Throws onsager::Error when q < 1, the ESD is empty or all zero.
MarchenkoPasturFit fit_marchenko_pastur(std::span<const double> evals, double q, std::size_t m);

}  // namespace onsager
