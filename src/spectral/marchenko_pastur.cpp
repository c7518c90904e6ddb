#include "onsager/spectral/marchenko_pastur.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <vector>

#include "onsager/core/error.hpp"

namespace onsager {
namespace {

// The MP CDF for σ = 1 as a function of θ ∈ [0, π], where x(θ) = λ₋ + h (1 - cos θ), h = (λ₊ - λ₋)/2.
// In θ the integrand h² sin²θ / (2π y x(θ)) (y = 1/Q) is smooth, also at the Q = 1 hard edge.
class MpTable {
 public:
  explicit MpTable(double q) {
    const double y = 1.0 / q;
    lm_ = std::pow(1 - std::sqrt(y), 2);
    lp_ = std::pow(1 + std::sqrt(y), 2);
    h_ = (lp_ - lm_) / 2;
    const int k = kPoints;
    cdf_.assign(k + 1, 0.0);
    auto f = [&](double t) {
      const double s2_over_x = lm_ > 0 ? std::sin(t) * std::sin(t) / (lm_ + h_ * (1 - std::cos(t)))
                                       : (1 + std::cos(t)) / h_;
      return h_ * h_ * s2_over_x / (2 * std::numbers::pi * y);
    };
    const double dt = std::numbers::pi / k;
    for (int i = 0; i < k; ++i) {  // Simpson on each cell
      const double a = i * dt, b = a + dt;
      cdf_[i + 1] = cdf_[i] + dt / 6 * (f(a) + 4 * f((a + b) / 2) + f(b));
    }
    total_ = cdf_[k];
  }
  double cdf(double x) const {
    if (x <= lm_) return 0;
    if (x >= lp_) return 1;
    const double c = std::clamp(1 - (x - lm_) / h_, -1.0, 1.0);
    const double t = std::acos(c) / std::numbers::pi * kPoints;
    const int i = std::min(static_cast<int>(t), kPoints - 1);
    const double w = t - i;
    return ((1 - w) * cdf_[i] + w * cdf_[i + 1]) / total_;
  }
  double lambda_minus() const { return lm_; }
  double lambda_plus() const { return lp_; }

 private:
  static constexpr int kPoints = 4096;
  double lm_, lp_, h_, total_;
  std::vector<double> cdf_;
};

// Tables are cached per Q (layers of one model share a few shapes); the cache is bounded.
std::shared_ptr<const MpTable> table_for(double q) {
  static std::mutex mu;
  static std::map<double, std::shared_ptr<const MpTable>> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(q); it != cache.end()) return it->second;
  if (cache.size() >= 256) cache.clear();
  auto t = std::make_shared<const MpTable>(q);
  cache.emplace(q, t);
  return t;
}

double ks_distance(const MpTable& t, std::span<const double> x, double sigma) {
  const double s2 = sigma * sigma, n = static_cast<double>(x.size());
  double d = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double f = t.cdf(x[i] / s2);
    d = std::max({d, std::abs(f - static_cast<double>(i) / n), std::abs(f - static_cast<double>(i + 1) / n)});
  }
  return d;
}

}  // namespace

double mp_cdf(double x, double q, double sigma) {
  ONSAGER_CHECK(q >= 1 && sigma > 0, "mp_cdf: need Q >= 1 and sigma > 0 (got {}, {})", q, sigma);
  return table_for(q)->cdf(x / (sigma * sigma));
}

double mp_density(double x, double q, double sigma) {
  ONSAGER_CHECK(q >= 1 && sigma > 0, "mp_density: need Q >= 1 and sigma > 0 (got {}, {})", q, sigma);
  const double s2 = sigma * sigma;
  const double lm = s2 * std::pow(1 - 1 / std::sqrt(q), 2), lp = s2 * std::pow(1 + 1 / std::sqrt(q), 2);
  if (x <= lm || x >= lp || x <= 0) return 0;
  return q * std::sqrt((lp - x) * (x - lm)) / (2 * std::numbers::pi * s2 * x);
}

MarchenkoPasturFit fit_marchenko_pastur(std::span<const double> evals, double q, std::size_t m) {
  ONSAGER_CHECK(!evals.empty() && m > 0, "MP fit: the ESD is empty");
  ONSAGER_CHECK(std::isfinite(q) && q >= 1, "MP fit: Q = N/M must be >= 1 (got {})", q);
  double sum = 0;
  for (double v : evals) sum += v;
  ONSAGER_CHECK(sum > 0 && std::isfinite(sum), "MP fit: the eigenvalues sum to {}; nothing to fit", sum);
  MarchenkoPasturFit fit;
  fit.scale = sum / static_cast<double>(evals.size());
  std::vector<double> x(evals.begin(), evals.end());
  for (double& v : x) v /= fit.scale;
  std::sort(x.begin(), x.end());
  const auto table = table_for(q);
  // Log-spaced grid search on σ ∈ [1e-4, 2] (a heavy tail can squeeze the mean-1 bulk far below 1), then
  // golden-section refinement between the grid neighbours of the best point.
  constexpr int kGrid = 400;
  const double step = std::pow(2.0 / 1e-4, 1.0 / kGrid);
  double best_sigma = 1, best_ks = 2;
  for (int k = 0; k <= kGrid; ++k) {
    const double s = 1e-4 * std::pow(step, k);
    const double d = ks_distance(*table, x, s);
    if (d < best_ks) best_ks = d, best_sigma = s;
  }
  double a = best_sigma / step, b = best_sigma * step;
  const double g = (std::sqrt(5.0) - 1) / 2;
  double c = b - g * (b - a), e = a + g * (b - a);
  double fc = ks_distance(*table, x, c), fe = ks_distance(*table, x, e);
  for (int it = 0; it < 40; ++it) {
    if (fc < fe) b = e, e = c, fe = fc, c = b - g * (b - a), fc = ks_distance(*table, x, c);
    else a = c, c = e, fc = fe, e = a + g * (b - a), fe = ks_distance(*table, x, e);
  }
  if (std::min(fc, fe) < best_ks) {
    best_ks = std::min(fc, fe);
    best_sigma = fc < fe ? c : e;
  }
  fit.sigma = best_sigma;
  fit.ks = best_ks;
  const double s2 = best_sigma * best_sigma;
  fit.lambda_minus = s2 * table->lambda_minus();
  fit.lambda_plus = s2 * table->lambda_plus();
  fit.tw_margin = std::pow(fit.lambda_plus, 2.0 / 3.0) / std::sqrt(q) / std::pow(static_cast<double>(m), 2.0 / 3.0);
  const double spike_edge = fit.lambda_plus + std::sqrt(fit.tw_margin);
  double spike_sum = 0;
  for (double v : x) {
    if (v > fit.lambda_plus) ++fit.num_above_edge;
    if (v > spike_edge) ++fit.num_spikes, spike_sum += v;
  }
  fit.spike_mass = spike_sum / static_cast<double>(x.size());
  fit.softrank = fit.lambda_plus / x.back();
  return fit;
}

}  // namespace onsager
