#include "onsager/spectral/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "onsager/core/error.hpp"

namespace onsager {

SpectralMetrics spectral_metrics(std::span<const double> evals, std::size_t m, double alpha) {
  ONSAGER_CHECK(!evals.empty(), "spectral metrics: the ESD is empty");
  SpectralMetrics r;
  double sum = 0, lmax = 0;
  for (double v : evals) {
    ONSAGER_CHECK(std::isfinite(v) && v >= 0, "spectral metrics: eigenvalue {} is not finite and >= 0", v);
    sum += v;
    lmax = std::max(lmax, v);
  }
  ONSAGER_CHECK(lmax > 0, "spectral metrics: every eigenvalue is 0 (an all-zero matrix)");
  const double tol = 16.0 * static_cast<double>(m) * std::numeric_limits<double>::epsilon() * lmax;
  double h = 0, alpha_sum = 0;
  for (double v : evals) {
    if (v > tol) ++r.matrix_rank;
    if (v > 0) {
      const double p = v / sum;
      h -= p * std::log(p);
      if (std::isfinite(alpha)) alpha_sum += std::pow(v, alpha);
    }
  }
  r.rank_loss = evals.size() - r.matrix_rank;
  r.lambda_max = lmax;
  r.log_norm = std::log10(sum);
  r.log_spectral_norm = std::log10(lmax);
  r.stable_rank = sum / lmax;
  r.entropy = r.matrix_rank > 1 ? h / std::log(static_cast<double>(r.matrix_rank)) : 0.0;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  r.alpha_weighted = std::isfinite(alpha) ? alpha * r.log_spectral_norm : nan;
  r.log_alpha_norm = std::isfinite(alpha) ? std::log10(alpha_sum) : nan;
  return r;
}

namespace {

// The singular values s = √λ above WeightWatcher's tolerance n·ε·s_max.
std::size_t ww_rank(std::span<const double> evals, std::size_t n) {
  const double smax = std::sqrt(*std::max_element(evals.begin(), evals.end()));
  const double tol = smax * static_cast<double>(n) * std::numeric_limits<double>::epsilon();
  return static_cast<std::size_t>(std::count_if(evals.begin(), evals.end(), [&](double v) { return std::sqrt(v) > tol; }));
}

}  // namespace

std::size_t ww_rank_loss(std::span<const double> evals, std::size_t n) {
  ONSAGER_CHECK(!evals.empty(), "ww_rank_loss: the ESD is empty");
  return evals.size() - ww_rank(evals, n);
}

void set_ww_rank(SpectralMetrics& metrics, std::span<const double> evals, std::size_t n, std::size_t slice_rank_loss) {
  ONSAGER_CHECK(!evals.empty(), "set_ww_rank: the ESD is empty");
  constexpr double kEpsilon = 1e-10;  // WeightWatcher's EPSILON (constants.py)
  metrics.matrix_rank = ww_rank(evals, n);
  metrics.rank_loss = slice_rank_loss;
  double sum = 0;
  for (double v : evals) sum += v;
  double h = 0;
  for (double v : evals) {
    const double p = v / sum + kEpsilon;
    h -= p * std::log(p);
  }
  metrics.entropy = h / std::log(static_cast<double>(metrics.matrix_rank) + kEpsilon);
}

}  // namespace onsager
