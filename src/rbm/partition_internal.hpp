#pragma once
// Pieces shared by AIS (partition_ais.cpp) and BAR over parallel tempering (partition_bar.cpp): both anneal one
// layer of the RBM (the "state" layer) and sum the other out analytically, through
//   log p_β*(x) = ((1-β) a + β b)·x + Σ_j softplus(β (c_j + W_j·x)),
// where (W, b, c) is the model seen from the state layer (transposed when the hidden layer is annealed) and a is
// the base model's bias on that layer.

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "onsager/core/matrix.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/rbm.hpp"

namespace onsager::detail {

/// The model seen from the annealed layer: itself for `visible`, the transposed model (W ↦ Wᵀ, b ↔ c) for `hidden`,
/// with the base model's biases a (annealed layer) and d (summed layer). Along the path
///   p_β*(x) = exp(((1-β) a + β b)·x) Π_j (1 + exp((1-β) d_j + β (c_j + W_j·x))),
/// and log Z_A = Σ softplus(a) + Σ softplus(d).
struct AnnealedModel {
  Rbm rbm;
  VectorF a, d;
  double log_z_base() const;
};

/// The base model on both layers (see AisBase), seen from the annealed layer `resolved`.
AnnealedModel annealed_model(const Rbm& rbm, const ConstVectorFRef& pixel_marginals, AisLayer resolved, AisBase base,
                             const VectorF& hidden_marginals);

/// One row of Bernoulli draws in place, keyed like sample_bernoulli(probs, seed, tag, step) row r.
inline void sample_row(float* p, Eigen::Index n, std::uint64_t seed, std::uint64_t tag, std::uint64_t step,
                       Eigen::Index r) {
  const std::uint64_t key = stream_seed(seed, tag, step, static_cast<std::uint64_t>(r));
  for (Eigen::Index j = 0; j < n; ++j) p[j] = counter_uniform(key, static_cast<std::uint32_t>(j)) < p[j] ? 1.0f : 0.0f;
}

/// Σ_j softplus(d_j + hi w_j) - softplus(d_j + lo w_j), hi = lo + delta, for one row w = c + W x - d. With
/// δ_j = delta·w_j and z_j = d_j + lo w_j each term is sign(δ) log1p(σ(z') expm1(|δ|)), z' = z for δ >= 0 and z + δ
/// for δ < 0: the log1p argument is never negative, so float keeps its relative precision (no cancellation).
/// Rows whose |δ| are all below 0.003 (most of AIS's steps) take expm1 and log1p by their series (error below float's
/// rounding); rows with |δ| >= 80 somewhere (large BAR steps; expm1 would overflow) take the exact double form
/// sign(δ) logaddexp(-softplus(z'), |δ| - softplus(-z')).
double softplus_gap_sum(const Eigen::Ref<const RowVectorF>& w, const RowVectorF& d, float lo, float delta);

/// The step size below which softplus_gap_sum (and AIS) take expm1 and log1p by their series.
inline constexpr float kGapSeriesStep = 0.003f;

/// softplus_gap_sum(w, d, lo, delta), and p = σ(d + hi w) with hi = lo + delta (the summed layer's conditional
/// probabilities at the new temperature, which AIS samples next): for small steps the gap is summed from p itself,
/// -Σ_j log1p(p_j expm1(-delta w_j)), saving an exponential per unit.
double softplus_gap_sum_and_probs(const Eigen::Ref<const RowVectorF>& w, const RowVectorF& d, float lo, float delta,
                                  float hi, Eigen::Ref<RowVectorF> p);

/// A running log Σ exp(t): the largest term so far and the sum of exp(t - max); -inf terms add nothing.
struct LogSumExp {
  double max = -std::numeric_limits<double>::infinity();
  double sum = 0;
  void add(double t) {
    if (t == -std::numeric_limits<double>::infinity()) return;
    if (t <= max) {
      sum += std::exp(t - max);
    } else {
      sum = sum * std::exp(max - t) + 1.0;
      max = t;
    }
  }
  void add(const LogSumExp& o) {
    if (o.sum == 0) return;
    if (o.max <= max) {
      sum += o.sum * std::exp(o.max - max);
    } else {
      sum = sum * std::exp(max - o.max) + o.sum;
      max = o.max;
    }
  }
  /// log Σ exp(t) (-inf when nothing was added).
  double value() const { return sum > 0 ? max + std::log(sum) : -std::numeric_limits<double>::infinity(); }
};

/// log Σ exp(l) over the entries (at least one), by the largest one.
double log_sum_exp(const std::vector<double>& l);

/// Σ_i softplus(x_i) = Σ_i max(x_i, 0) + log Π_i (1 + exp(-|x_i|)), vectorised. Each factor lies in [1, 2], so a
/// product of up to 1,000 of them stays below 2^1000 (finite in double) and costs one log instead of 1,000; its
/// relative rounding error, about 1e-13, is an absolute error of 1e-13 in the sum.
double softplus_sum(const Eigen::ArrayXd& x);

/// log p*(x) = b·x + Σ_j softplus(y_j) of a state x of one layer, with y = c + (weights to the other layer)·x the
/// other layer's field, which is summed out: in double, as both the bound and AIS's exactly summed states need it.
double log_p_star(const VectorD& b, const VectorD& x, const VectorD& y);

/// Sets res.log_z, log_z_lo, log_z_hi (±3σ of the mean weight), ess and log_weights from the runs' log weights `lw`,
/// with res.log_z_base already set.
void set_ais_estimate(AisResult& res, const std::vector<double>& lw);

/// AIS for a Gaussian-Bernoulli RBM (partition_gaussian.cpp): the visible layer annealed from independent Gaussians
/// (base_mean and options.base_variance for AisBase::data, else N(b, σ²)) along `betas`.
AisResult gaussian_ais(const Rbm& rbm, const ConstVectorFRef& base_mean, const AisOptions& options,
                       const std::vector<double>& betas);

/// AIS for a Gaussian-Bernoulli RBM on its hidden layer, the visible one integrated out in closed form:
/// log p_β*(h) = (1-β) a·h + β [c·h + Σ_i ((b_i + (Wᵀh)_i)² - b_i²)/(2σ_i²)], from independent hidden units σ(a) (the
/// data's hidden marginals, or ½ for AisBase::uniform) along `betas`.
AisResult gaussian_hidden_ais(const Rbm& rbm, const ConstVectorFRef& base_mean, const AisOptions& options,
                              const std::vector<double>& betas);

}  // namespace onsager::detail
