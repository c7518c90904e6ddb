#pragma once
// Training a Bernoulli RBM by contrastive divergence (CD-k, Hinton 2002), persistent CD (PCD-k,
// Tieleman 2008), or deterministically by the extended-mean-field free energy (naive mean field, TAP2,
// TAP3; Gabrié, Tramel & Krzakala 2015, docs/tap.md): the negative phase is a fixed point of the TAP
// equations and the gradient is data term + ∂Γ/∂θ, with no sampling. The refinements of Hinton's practical guide (2010): momentum,
// L1/L2 weight decay, a max-norm constraint, learning-rate schedules, visible biases from the data
// marginals, and per-epoch monitors (reconstruction error, pseudo-likelihood, the train/validation
// free-energy gap, and the weight scale that plays the role of 1/T).
//
// Determinism: the epoch's shuffle and every Bernoulli draw come from streams keyed by
// (seed, epoch, batch, row), so the same seed gives the same model for any thread count, and a run
// resumed from its saved state continues exactly as the uninterrupted run would have.

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "onsager/core/matrix.hpp"
#include "onsager/rbm/rbm.hpp"

namespace onsager {

enum class TrainMethod { cd, pcd, mf, tap2, tap3 };
enum class LrSchedule { constant, linear, exponential };
/// TAP methods, persistent magnetisations: what happens to a row that has merged with another (docs/tap-training.md,
/// "Re-seeding"). merged: it restarts from a random minibatch row; none: it stays (rows that met stay together).
enum class TapReseed { none, merged };
/// The visible units: binary, or Gaussian with learned variances (Rbm::log_var; CD and PCD only).
enum class VisibleType { bernoulli, gaussian };
std::string_view to_string(VisibleType v);
/// "bernoulli" or "gaussian"; throws onsager::Error otherwise.
VisibleType parse_visible_type(std::string_view s);

std::string_view to_string(TrainMethod m);
/// "constant", "linear", "exponential" (the names model files record).
std::string_view to_string(LrSchedule s);
/// "constant", "linear", "exp" or "exponential"; throws onsager::Error naming the allowed values.
LrSchedule parse_lr_schedule(std::string_view s);
std::string_view to_string(TapReseed r);
/// "merged" or "none"; throws onsager::Error otherwise.
TapReseed parse_tap_reseed(std::string_view s);
/// "cd", "pcd", "mf" (also "naive"), "tap2", "tap3"; throws onsager::Error naming the allowed values.
TrainMethod parse_train_method(std::string_view s);
/// True for the deterministic methods mf, tap2 and tap3.
bool is_tap_method(TrainMethod m);

struct TrainConfig {
  TrainMethod method = TrainMethod::pcd;
  VisibleType visible = VisibleType::bernoulli;
  /// Gaussian visible units: the floor of every σ_i² (a pixel that never varies would otherwise shrink its variance,
  /// and grow its density, without bound); the initial σ_i² is the data's variance, floored.
  double min_variance = 1e-2;
  /// Gaussian visible units: the log-variances' learning rate as a fraction of lr (0 keeps the data's variances).
  double variance_lr_scale = 1.0;
  int hidden = 500;
  int k = 1;                 ///< Gibbs steps per update
  int epochs = 10;
  int batch_size = 100;
  double lr = 0.05;
  LrSchedule lr_schedule = LrSchedule::constant;
  double lr_final = 0.0;     ///< linear: lr reached at the last epoch
  double lr_decay = 1.0;     ///< exponential: lr multiplied by this each epoch
  double momentum = 0.0;     ///< constant momentum (ignored when momentum_schedule is set)
  bool momentum_schedule = false;  ///< Hinton's schedule: 0.5 for the first 5 epochs, then 0.9
  /// Momentum on the weights only; the biases (and Gaussian log-variances) take plain gradient steps, as the TAP
  /// reference implementation does (docs/tap-training.md). false: on every parameter.
  bool momentum_weights_only = false;
  double l1 = 0.0;
  double l2 = 0.0;
  double max_norm = 0.0;     ///< > 0: each hidden unit's incoming weight vector is kept within this L2 norm
  int chains = 0;            ///< PCD persistent chains / TAP persistent magnetisations; 0 means batch_size
  double init_std = 0.01;    ///< initial weights ~ N(0, init_std²)
  std::uint64_t seed = 0;
  int monitor_samples = 1000;  ///< rows of the training / validation data used by the monitors (0: none)
  int tap_iters = 3;         ///< TAP methods: damped fixed-point sweeps per update, at most
  double tap_damping = 0.5;  ///< TAP methods: d in m ← (1-d)·m_new + d·m
  double tap_tol = 1e-4;     ///< TAP methods: a row stops iterating when max |Δm| in a sweep is below this
  int tap_persist_from = 0;  ///< TAP methods: first epoch (0-based) whose magnetisations persist across
                             ///< minibatches; earlier updates start from their minibatch; -1: never persist
  /// TAP methods, persistent magnetisations: after each update, rows within kTapMergeDistance (max-abs over m_v)
  /// of an earlier row are restarted from random minibatch rows (merged), or left (none).
  TapReseed tap_reseed = TapReseed::merged;
  double tap_restart_fraction = 0.0;  ///< TAP, persistent: also restart this fraction of the rows each update

  /// Throws onsager::Error naming the offending field ("TrainConfig::validate: config.hidden must be ...").
  void validate() const;
  /// The learning rate of epoch e (0-based).
  double lr_at(int epoch) const;
  /// The momentum of epoch e (0-based).
  double momentum_at(int epoch) const;
  int num_chains() const { return chains > 0 ? chains : batch_size; }
  /// TAP methods: whether the updates of epoch e (0-based) use persistent magnetisations.
  bool tap_persistent_at(int epoch) const { return tap_persist_from >= 0 && epoch >= tap_persist_from; }
};

nlohmann::json to_json(const TrainConfig& c);
TrainConfig train_config_from_json(const nlohmann::json& j);

/// What the monitors measured after one epoch. Values that were not computed are NaN.
struct EpochStats {
  int epoch = 0;  ///< 1-based
  double lr = 0, momentum = 0;
  double recon_error = 0;             ///< per pixel, on the training monitor subset
  double pseudo_likelihood = 0;       ///< per feature, training monitor subset
  double pseudo_likelihood_scaled = 0;  ///< scikit-learn's value: per feature times V
  double free_energy_train = 0;       ///< mean F(v), training monitor subset
  double free_energy_valid = 0;       ///< mean F(v), validation subset (NaN without validation data)
  double weight_norm = 0;             ///< ‖W‖_F
  double weight_sigma_max = 0;        ///< largest singular value of W
  double weight_mean_abs = 0;         ///< mean |W_ij|
  // TAP methods only (NaN otherwise): Γ = -entropy + energy + onsager, the mean over the negative phase's
  // magnetisations at the end of the epoch (refined by tap_iters sweeps on the final model), and the mean
  // number of fixed-point sweeps per update during the epoch.
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  double tap_free_energy = nan, tap_entropy = nan, tap_energy = nan, tap_onsager = nan;
  double tap_sweeps = nan;
  /// TAP, persistent magnetisations: the distinct states among the rows (kTapMergeDistance apart) that each update's
  /// negative phase held (before re-seeding), averaged over the epoch's updates; and the rows re-seeded (merged or
  /// restarted) during the epoch.
  double tap_distinct_states = nan, tap_reseeded = nan;
  double seconds = 0;                 ///< training time of the epoch (monitors excluded)
  double monitor_seconds = 0;
};

nlohmann::json to_json(const EpochStats& s);
EpochStats epoch_stats_from_json(const nlohmann::json& j);

/// Everything a run needs to continue: the model, the optimiser state and the persistent chains.
struct TrainState {
  Rbm rbm;
  MatrixF weight_velocity;   ///< H x V
  VectorF visible_velocity;  ///< V
  VectorF hidden_velocity;   ///< H
  MatrixF chains;            ///< PCD: num_chains x H hidden states; empty for CD
  MatrixF tap_m_v, tap_m_h;  ///< TAP: persistent magnetisations (num_chains x V, x H); empty until persistence starts
  VectorF log_var_velocity;  ///< Gaussian visible units: V; empty otherwise
  int epochs_done = 0;
  std::vector<EpochStats> history;
};

/// A fresh run: weights ~ N(0, init_std²), visible biases logit of the data marginals, PCD chains from
/// random training rows. Gaussian visible units (config.visible): visible biases the data's means, log σ_i² the log
/// of its variances floored at config.min_variance, and the data may take any finite values. Throws onsager::Error on
/// an invalid config or data.
TrainState init_training(const ConstMatrixFRef& data, const TrainConfig& config);

/// Called after each epoch; return false to stop early.
using EpochCallback = std::function<bool(const TrainState&, const EpochStats&)>;

/// Why train() returned: all epochs done, the callback stopped it, NaN/Inf parameters, saturated weights
/// (the RMS weight ‖W‖_F / √(HV) grew in one epoch to more than kSaturationGrowth times max(its value before,
/// kSaturationFloor)), or a collapsed pseudo-likelihood (per feature, it fell in one epoch by more than
/// kPseudoLikelihoodCollapse nats below min(the epoch before's, -ln 2); judged when the monitor has at least
/// kPseudoLikelihoodMinRows rows).
enum class TrainOutcome { finished, stopped, diverged, saturated, collapsed };
/// "finished", "stopped", "diverged", "saturated", "collapsed".
std::string_view to_string(TrainOutcome o);

/// The one-epoch growth of the RMS weight that counts as saturation, and the floor it is measured from (so
/// that a run from zero or tiny initial weights is judged against an RMS weight of 1). Healthy runs stay far
/// below: mnist, 500 hidden, lr 0.05 grows the RMS weight 0.010 -> 0.016 -> 0.027 and reaches 0.084 after 20
/// epochs; a learning rate far too large (lr 1e6) grows it about 10^6-fold and pins the hidden units at 0 or 1.
inline constexpr double kSaturationGrowth = 100.0;
inline constexpr double kSaturationFloor = 0.01;

/// A one-epoch fall of the per-feature pseudo-likelihood that counts as collapse: the training rows became
/// e times less likely per pixel than the epoch before (or than a fair coin, -ln 2, for the first epoch or
/// after a poor one). The monitor's noise on 1000 rows is a few hundredths of a nat; a collapse is a model
/// that no longer describes its data, as a learning rate a few times too large makes it without the weights
/// growing a hundredfold.
inline constexpr double kPseudoLikelihoodCollapse = 1.0;
inline constexpr int kPseudoLikelihoodMinRows = 100;

struct TrainOptions {
  bool progress = true;                ///< progress bar on stderr (terminal only)
  const MatrixF* validation = nullptr; ///< validation data for the free-energy monitor
  EpochCallback on_epoch;
};

/// Trains until state.epochs_done == config.epochs. On NaN/Inf parameters, saturated weights or a collapsed
/// pseudo-likelihood the state is rolled back to the last good epoch and TrainOutcome::diverged, ::saturated or
/// ::collapsed is returned.
TrainOutcome train(TrainState& state, const ConstMatrixFRef& data, const TrainConfig& config,
                   const TrainOptions& options = {});

/// The monitors train() records after an epoch, for `rbm` as it stands (e.g. before the first epoch): the same
/// monitor rows of `data` and `validation` (may be null) that train() draws from `config`, and the pseudo-likelihood
/// stream of `epoch` (0-based; train() measures epoch e with e). Seconds fields left 0.
EpochStats measure_monitors(const Rbm& rbm, const ConstMatrixFRef& data, const MatrixF* validation,
                            const TrainConfig& config, int epoch);

/// The monitors of EpochStats for `rbm` (seconds fields left 0).
EpochStats measure_epoch(const Rbm& rbm, const ConstMatrixFRef& train_subset, const MatrixF* valid_subset,
                         std::uint64_t seed);

/// Persistent TAP rows closer than this (max-abs over m_v) are one state.
inline constexpr float kTapMergeDistance = 1e-3f;

/// The rows of `m` that repeat an earlier one: repeats[r] is true when some earlier row that is itself not a
/// repeat lies within `distance` of row r (max-abs over its entries). The others are the distinct states.
std::vector<bool> repeated_rows(const ConstMatrixFRef& m, float distance = kTapMergeDistance);

/// The largest singular value of W (via the eigenvalues of the smaller Gram matrix, in double).
double largest_singular_value(const ConstMatrixFRef& w);

/// Scratch buffers reused across minibatches (no allocation in the training loop).
struct TrainWorkspace {
  MatrixF visible;       ///< (B + C) x V: the minibatch, then the chains' visible samples
  MatrixF hidden;        ///< (B + C) x H: the matching hidden probabilities
  MatrixF chain_hidden;  ///< C x H: the chains' hidden states
  VectorF grad_visible, grad_hidden;
  MatrixF tap_m_v, tap_m_h;  ///< TAP: the last update's negative-phase magnetisations
  long long tap_sweeps = 0, tap_updates = 0;  ///< TAP: sweeps and updates since the counters were reset
  long long tap_reseeded = 0;  ///< TAP, persistent: rows re-seeded since the counters were reset
  /// TAP, persistent: the distinct states of the negative phase summed over the updates since the counters were
  /// reset, and those updates; and the last update's count (-1 before the first).
  long long tap_distinct_sum = 0, tap_persistent_updates = 0;
  int tap_distinct = -1;
};

/// One parameter update on a minibatch (exposed for tests and benchmarks): `step` keys the random streams
/// (CD/PCD). Updates state.rbm, the velocities and the PCD chains or the persistent TAP magnetisations
/// (persistent when config.tap_persistent_at(state.epochs_done); started from the minibatch's rows, cycled
/// to num_chains rows, the first time).
void train_step(TrainState& state, const ConstMatrixFRef& batch, const TrainConfig& config, float lr, float momentum,
                std::uint64_t step, TrainWorkspace& ws);

}  // namespace onsager
