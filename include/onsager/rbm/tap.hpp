#pragma once
// Extended mean field (EMF / TAP / Plefka) free energy of a Bernoulli RBM, after Gabrié, Tramel & Krzakala,
// "Training Restricted Boltzmann Machines via the Thouless-Anderson-Palmer free energy" (NIPS 2015), and the
// derivation in docs/tap.md. With magnetisations m_v ∈ (0,1)^V, m_h ∈ (0,1)^H, a = m - m², d = ½ - m:
//
//   Γ(m_v, m_h) = -S(m_v) - S(m_h) - b·m_v - c·m_h - m_hᵀ W m_v                 (naive mean field)
//                 - ½   Σ_ji W_ji²  a_hj a_vi                                     (TAP2, Onsager reaction)
//                 - ⅔   Σ_ji W_ji³  (a_hj d_hj)(a_vi d_vi)                         (TAP3, third Plefka order)
//
// S the binary entropy. -log Z ≈ Γ at a stationary point ∂Γ/∂m = 0, found by damped alternating iteration of
//   m_h ← σ(c + W m_v   + Σ_k α_k u_k'(m_h) ⊙ (W^∘k u_k(m_v))),   m_v ← σ(b + Wᵀ m_h + Σ_k α_k u_k'(m_v) ⊙ (W^∘kᵀ u_k(m_h))),
// where term k of the list above is -α_k u_k(m_h)ᵀ W^∘k u_k(m_v) (α_2 = ½, u_2 = a; α_3 = ⅔, u_3 = a d).
// Γ, its parts, the fixed-point update and ∂Γ/∂θ are all computed from that one list of terms (src/rbm/tap.cpp),
// so they cannot disagree. Iteration is float (BLAS GEMM, as training uses it); Γ, its parts and log Z are
// evaluated in double. Batches are row-major, one set of magnetisations per row (core/matrix.hpp).

#include <string_view>
#include <vector>

#include "onsager/core/matrix.hpp"
#include "onsager/rbm/rbm.hpp"

namespace onsager {

/// Truncation order of the Plefka expansion: naive mean field, TAP2 (Onsager term), TAP3.
enum class TapOrder { naive = 1, second = 2, third = 3 };

/// "naive", "tap2", "tap3".
std::string_view to_string(TapOrder order);
/// Parses "naive"/"mf"/"1", "tap2"/"2", "tap3"/"3"; throws onsager::Error naming the allowed values.
TapOrder parse_tap_order(std::string_view s);

struct TapOptions {
  TapOrder order = TapOrder::second;
  int max_iters = 1000;  ///< sweeps (hidden then visible) at most; >= 1
  float damping = 0.5f;  ///< d in m ← (1-d)·m_new + d·m; 0 <= d < 1
  double tol = 1e-4;     ///< a row stops when max |Δm| over both layers in one sweep is below tol; >= 0
  // `rbm eval --tap` uses these defaults; a training update (TrainConfig::tap_iters, 3) takes a few sweeps
  // from persistent magnetisations instead, with the same damping and tolerance.

  /// Throws onsager::Error naming the bad setting and its value.
  void validate(const char* where) const;
};

/// Magnetisations after damped iteration, one row per start.
struct TapFixedPoint {
  MatrixF m_v;                  ///< B x V
  MatrixF m_h;                  ///< B x H
  std::vector<int> iterations;  ///< per row: sweeps until its change fell below tol (then it is frozen); -1: never
  int sweeps = 0;               ///< sweeps run on the batch
  int num_converged = 0;        ///< rows with iterations[r] >= 0
  bool converged = false;       ///< every row converged
};

/// Runs up to options.max_iters damped sweeps (hidden layer, then visible) from m_v (B x V) and m_h (B x H),
/// each row until its own change is below options.tol; returns the result. For persistent magnetisations
/// carried across minibatches: `fp = tap_iterate(rbm, std::move(fp.m_v), std::move(fp.m_h), options)`. Throws onsager::Error on bad shapes, values outside [0, 1],
/// an invalid model or options.
TapFixedPoint tap_iterate(const Rbm& rbm, MatrixF m_v, MatrixF m_h, const TapOptions& options);

/// Fixed points from data-initialised magnetisations: m_v = the rows of m_v0 (B x V, values in [0, 1]),
/// m_h = σ(c + W m_v). Throws as tap_iterate.
TapFixedPoint tap_fixed_point(const Rbm& rbm, const ConstMatrixFRef& m_v0, const TapOptions& options);

/// The three parts of Γ per row, Γ = -entropy + energy + onsager:
/// entropy = S(m_v) + S(m_h); energy = -b·m_v - c·m_h - m_hᵀ W m_v; onsager = the order-2 and order-3 terms.
struct TapFreeEnergyParts {
  VectorD entropy, energy, onsager;
  VectorD total() const { return -entropy + energy + onsager; }
};

/// Γ's parts of each row of (m_v, m_h) (B x V, B x H, in [0, 1]) in double. Throws on bad shapes.
TapFreeEnergyParts tap_free_energy_parts(const Rbm& rbm, const Eigen::Ref<const MatrixD>& m_v,
                                         const Eigen::Ref<const MatrixD>& m_h, TapOrder order);
TapFreeEnergyParts tap_free_energy_parts(const Rbm& rbm, const TapFixedPoint& fp, TapOrder order);

/// Γ of each row (B entries), in double: tap_free_energy_parts(...).total().
VectorD tap_free_energy(const Rbm& rbm, const Eigen::Ref<const MatrixD>& m_v, const Eigen::Ref<const MatrixD>& m_h,
                        TapOrder order);
VectorD tap_free_energy(const Rbm& rbm, const TapFixedPoint& fp, TapOrder order);

/// ∂Γ/∂m_v (B x V) and ∂Γ/∂m_h (B x H) of each row, in double; zero at a fixed point. Needs m in (0, 1).
struct TapMagnetisationGradient {
  MatrixD m_v, m_h;
  double max_abs() const;  ///< ‖·‖∞ over both: the stationarity residual
};
TapMagnetisationGradient tap_magnetisation_gradient(const Rbm& rbm, const Eigen::Ref<const MatrixD>& m_v,
                                                    const Eigen::Ref<const MatrixD>& m_h, TapOrder order);

/// ∂Γ/∂θ at fixed magnetisations, averaged over the rows (the total derivative at a stationary point):
///   ∂Γ/∂b = -⟨m_v⟩, ∂Γ/∂c = -⟨m_h⟩,
///   ∂Γ/∂W = -⟨m_h m_vᵀ⟩ - W ⊙ ⟨a_h a_vᵀ⟩ [TAP2+] - 2 W² ⊙ ⟨(a_h d_h)(a_v d_v)ᵀ⟩ [TAP3].
/// A TAP training step uses  positive phase (data) + ∂Γ/∂θ  as its log-likelihood gradient.
struct TapGradient {
  MatrixF weight;        ///< H x V
  VectorF visible_bias;  ///< V
  VectorF hidden_bias;   ///< H
};
/// Float (GEMM) version for training; throws on bad shapes or an empty batch.
TapGradient tap_gradient(const Rbm& rbm, const ConstMatrixFRef& m_v, const ConstMatrixFRef& m_h, TapOrder order);
TapGradient tap_gradient(const Rbm& rbm, const TapFixedPoint& fp, TapOrder order);

namespace detail {
/// tap_iterate and tap_gradient without their input checks, for the training loop, which has validated the model
/// and keeps the magnetisations in [0, 1] itself.
TapFixedPoint tap_iterate_unchecked(const Rbm& rbm, MatrixF m_v, MatrixF m_h, const TapOptions& options);
TapGradient tap_gradient_unchecked(const Rbm& rbm, const ConstMatrixFRef& m_v, const ConstMatrixFRef& m_h,
                                   TapOrder order);
}  // namespace detail

/// The TAP estimate of log Z: the largest -Γ over the fixed points reached from several starts.
struct TapLogZ {
  double log_z = 0;      ///< max over converged rows of -Γ (over all rows when none converged)
  int starts = 0;        ///< rows of `starts`
  int converged = 0;     ///< how many of them reached a fixed point
  int best_row = -1;     ///< the row giving log_z
  int sweeps = 0;        ///< sweeps run
  VectorD neg_gamma;     ///< -Γ of every row (starts entries)
  double max_residual = 0;  ///< max |m - σ(field)| over the units of the best row (fixed-point residual)
};

/// TAP log Z from starts (N x V in [0, 1]: data rows, or random binary rows), m_h initialised as in
/// tap_fixed_point. Not a bound: accurate at weak coupling, see docs/tap.md. Throws as tap_iterate, or on no rows.
TapLogZ log_partition_tap(const Rbm& rbm, const ConstMatrixFRef& starts, const TapOptions& options = {});

}  // namespace onsager
