#pragma once
// A Bernoulli-Bernoulli restricted Boltzmann machine (DESIGN.md §3, §5):
//   E(v, h) = -b·v - c·h - hᵀ W v,   p(h_j = 1 | v) = σ(c_j + W_j·v),   p(v_i = 1 | h) = σ(b_i + Wᵀ_i·h),
//   F(v) = -b·v - Σ_j softplus(c_j + W_j·v),   log p(v) = -F(v) - log Z.
// Or, when `log_var` is set, a Gaussian-Bernoulli RBM in the parametrisation of Cho, Ilin & Raiko (ICANN 2011),
// with learned variances σ_i² = exp(log_var_i) (docs/gaussian-rbm.md):
//   E(v, h) = Σ_i (v_i - b_i)²/(2σ_i²) - c·h - Σ_ij h_j W_ji v_i/σ_i²,
//   p(h_j = 1 | v) = σ(c_j + Σ_i W_ji v_i/σ_i²),   v_i | h ~ N(b_i + Wᵀ_i·h, σ_i²),
//   F(v) = Σ_i (v_i - b_i)²/(2σ_i²) - Σ_j softplus(c_j + Σ_i W_ji v_i/σ_i²),   log p(v) = -F(v) - log Z (a density).
// W is H x V (out x in), visible bias b has V entries, hidden bias c has H. Batches are row-major,
// samples x units (core/matrix.hpp).

#include <cstdint>

#include "onsager/core/matrix.hpp"

namespace onsager {

/// Gaussian visible units: |log σ²| at most this (σ² in [1e-30, 1e30]), so that 1/σ² stays finite in float.
inline constexpr float kMaxAbsLogVar = 69.0776f;

struct Rbm {
  MatrixF weight;        ///< H x V
  VectorF visible_bias;  ///< V
  VectorF hidden_bias;   ///< H
  VectorF log_var;       ///< Gaussian visible units: log σ_i² (V entries); empty for Bernoulli visible units

  Rbm() = default;
  /// All-zero parameters; throws onsager::Error unless both sizes are positive.
  Rbm(Eigen::Index visible, Eigen::Index hidden);
  /// Weights drawn from N(0, std²), zero biases; the same seed gives the same model everywhere.
  static Rbm random(Eigen::Index visible, Eigen::Index hidden, float std, std::uint64_t seed);

  Eigen::Index num_visible() const { return weight.cols(); }
  Eigen::Index num_hidden() const { return weight.rows(); }
  /// True for a Gaussian-Bernoulli RBM (log_var set).
  bool gaussian() const { return log_var.size() > 0; }
  /// "gaussian" or "bernoulli", the visible type model files record.
  const char* visible_type() const { return gaussian() ? "gaussian" : "bernoulli"; }
  /// Throws onsager::Error naming `where` when the model has Gaussian visible units (for the code that handles
  /// Bernoulli models only).
  void require_bernoulli(const char* where) const;
  /// Gaussian models: 1/σ_i² (V entries).
  VectorF precision() const;

  /// Throws onsager::Error naming `where` unless the shapes agree and every parameter is finite.
  void validate(const char* where) const;

  /// E(v, h) of one configuration (v has V entries, h has H), in double.
  double energy(const Eigen::Ref<const VectorF>& v, const Eigen::Ref<const VectorF>& h) const;

  /// p(h = 1 | v) for a B x V batch into a B x H matrix.
  void hidden_probs(const ConstMatrixFRef& v, MatrixFRef out) const;
  MatrixF hidden_probs(const ConstMatrixFRef& v) const;
  /// p(v = 1 | h) for a B x H batch into a B x V matrix; for a Gaussian model the mean E[v | h] = b + Wᵀh.
  void visible_probs(const ConstMatrixFRef& h, MatrixFRef out) const;
  MatrixF visible_probs(const ConstMatrixFRef& h) const;

  /// Free energy F(v) of each row of a B x V batch, in double.
  VectorD free_energy(const ConstMatrixFRef& v) const;

  /// Mean over samples and pixels of (v - E[v | E[h | v]])², the mean-field one-step reconstruction.
  double reconstruction_error(const ConstMatrixFRef& v) const;

  /// Per-feature pseudo-log-likelihood estimate: mean over rows of log σ(F(ṽ) - F(v)), where ṽ flips one
  /// feature chosen at random per row (scikit-learn's `score_samples`, divided by V). Seeded. NaN for a Gaussian
  /// model (its units have no value to flip to).
  double pseudo_likelihood(const ConstMatrixFRef& v, std::uint64_t seed) const;
};

/// Elementwise logistic function, in place.
void sigmoid_inplace(MatrixFRef x);

/// Numerically stable log(1 + exp(x)).
double softplus(double x);

/// Replaces every entry p of `probs` by a Bernoulli(p) draw (0 or 1). Entry (r, j) compares p with
/// counter_uniform(stream_seed(seed, tag, step, r), j), so the result does not depend on the thread count.
void sample_bernoulli(MatrixFRef probs, std::uint64_t seed, std::uint64_t tag, std::uint64_t step);

/// Replaces every entry m of `means` (B x V) by a draw from N(m, sigma_i²), sigma indexed by column. Entry (r, i) adds
/// sigma_i counter_normal(stream_seed(seed, tag, step, r), i), so nothing depends on the thread count.
void sample_gaussian(MatrixFRef means, const ConstVectorFRef& sigma, std::uint64_t seed, std::uint64_t tag,
                     std::uint64_t step);

/// `steps` sweeps of block Gibbs sampling v -> h -> v on each row of `v` (B x V; binary, or real for a Gaussian
/// model), in place.
void gibbs_sample(const Rbm& rbm, MatrixFRef v, int steps, std::uint64_t seed);

}  // namespace onsager
