#pragma once
// Training a Bernoulli RBM by contrastive divergence (CD-k, Hinton 2002) or persistent CD
// (PCD-k, Tieleman 2008), with the refinements of Hinton's practical guide (2010): momentum,
// L1/L2 weight decay, a max-norm constraint, learning-rate schedules, visible biases from the data
// marginals, and per-epoch monitors (reconstruction error, pseudo-likelihood, the train/validation
// free-energy gap, and the weight scale that plays the role of 1/T).
//
// Determinism: the epoch's shuffle and every Bernoulli draw come from streams keyed by
// (seed, epoch, batch, row), so the same seed gives the same model for any thread count, and a run
// resumed from its saved state continues exactly as the uninterrupted run would have.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "onsager/core/matrix.hpp"
#include "onsager/rbm/rbm.hpp"

namespace onsager {

enum class TrainMethod { cd, pcd };
enum class LrSchedule { constant, linear, exponential };

std::string_view to_string(TrainMethod m);
TrainMethod parse_train_method(std::string_view s);

struct TrainConfig {
  TrainMethod method = TrainMethod::pcd;
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
  double l1 = 0.0;
  double l2 = 0.0;
  double max_norm = 0.0;     ///< > 0: each hidden unit's incoming weight vector is kept within this L2 norm
  int chains = 0;            ///< PCD persistent chains; 0 means batch_size
  double init_std = 0.01;    ///< initial weights ~ N(0, init_std²)
  std::uint64_t seed = 0;
  int monitor_samples = 1000;  ///< rows of the training / validation data used by the monitors (0: none)

  /// Throws onsager::Error naming the offending setting (as its command-line flag) when out of range.
  void validate() const;
  /// The learning rate of epoch e (0-based).
  double lr_at(int epoch) const;
  /// The momentum of epoch e (0-based).
  double momentum_at(int epoch) const;
  int num_chains() const { return chains > 0 ? chains : batch_size; }
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
  int epochs_done = 0;
  std::vector<EpochStats> history;
};

/// A fresh run: weights ~ N(0, init_std²), visible biases logit of the data marginals, PCD chains from
/// random training rows. Throws onsager::Error on an invalid config or data.
TrainState init_training(const ConstMatrixFRef& data, const TrainConfig& config);

/// Called after each epoch; return false to stop early.
using EpochCallback = std::function<bool(const TrainState&, const EpochStats&)>;

/// Why train() returned.
enum class TrainOutcome { finished, stopped, diverged };

struct TrainOptions {
  bool progress = true;                ///< progress bar on stderr (terminal only)
  const MatrixF* validation = nullptr; ///< validation data for the free-energy monitor
  EpochCallback on_epoch;
};

/// Trains until state.epochs_done == config.epochs. On NaN/Inf parameters the state is rolled back to
/// the last good epoch and TrainOutcome::diverged is returned.
TrainOutcome train(TrainState& state, const ConstMatrixFRef& data, const TrainConfig& config,
                   const TrainOptions& options = {});

/// The monitors of EpochStats for `rbm` (seconds fields left 0).
EpochStats measure_epoch(const Rbm& rbm, const ConstMatrixFRef& train_subset, const MatrixF* valid_subset,
                         std::uint64_t seed);

/// The largest singular value of W (via the eigenvalues of the smaller Gram matrix, in double).
double largest_singular_value(const ConstMatrixFRef& w);

/// Scratch buffers reused across minibatches (no allocation in the training loop).
struct TrainWorkspace {
  MatrixF visible;       ///< (B + C) x V: the minibatch, then the chains' visible samples
  MatrixF hidden;        ///< (B + C) x H: the matching hidden probabilities
  MatrixF chain_hidden;  ///< C x H: the chains' hidden states
  VectorF grad_visible, grad_hidden;
};

/// One CD/PCD parameter update on a minibatch (exposed for tests and benchmarks): `step` keys the
/// random streams. Updates state.rbm, the velocities and (PCD) the chains.
void train_step(TrainState& state, const ConstMatrixFRef& batch, const TrainConfig& config, float lr, float momentum,
                std::uint64_t step, TrainWorkspace& ws);

}  // namespace onsager
