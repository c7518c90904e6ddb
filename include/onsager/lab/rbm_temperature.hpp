#pragma once
// The lab's RBM temperature experiment (DESIGN.md §5, "Effective temperature"): with T = 1 fixed, the scale of
// the weights plays the role of 1/T, so an RBM "cools" as its weights grow during training: its hidden units
// saturate (p(h|v) near 0 or 1) and their entropy falls. Weight-norm constraints keep the temperature up. The
// same RBM is trained three ways (no decay, L2 decay, a max-norm bound on each hidden unit's weights) and
// measured after every epoch: ‖W‖_F, σ_max, the fraction of saturated hidden probabilities on held-out rows,
// their mean entropy, and the validation - training free-energy gap.

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "onsager/rbm/train.hpp"
#include "onsager/rbm/training_run.hpp"

namespace onsager {

struct RbmTemperatureOptions {
  DataSpec data{.source = "mnist"};
  TrainConfig training;      ///< the shared settings (l2 and max_norm are set per setting)
  double l2 = 1e-3;          ///< the L2 setting's decay
  double max_norm = 2.0;     ///< the max-norm setting's bound on each hidden unit's weight norm
  int held_out = 1000;       ///< rows of the validation split the saturation and entropy are measured on
  double saturation = 0.01;  ///< p(h|v) below this or above 1 - this counts as saturated
  /// Throws onsager::Error naming the field.
  void validate() const;
};

struct TemperatureEpoch {
  int epoch = 0;  ///< 0: the initial weights
  double weight_norm = 0, sigma_max = 0, mean_abs = 0;
  double saturated = 0;       ///< fraction of p(h_j|v) (held-out rows x hidden units) that are saturated
  double hidden_entropy = 0;  ///< mean binary entropy of p(h_j|v), bits (1: a fair coin)
  double free_energy_gap = 0; ///< mean F(validation) - mean F(training monitor rows)
  double recon_error = 0, pseudo_likelihood = 0;
};

struct TemperatureSetting {
  std::string name;  ///< "none", "l2", "max-norm"
  double l2 = 0, max_norm = 0;
  std::string outcome;
  std::vector<TemperatureEpoch> epochs;  ///< epoch 0 (initial) to the last
  double seconds = 0;
};

struct RbmTemperatureReport {
  RbmTemperatureOptions options;
  std::size_t train_rows = 0, held_out_rows = 0;
  std::vector<TemperatureSetting> settings;
  double seconds = 0;
};

nlohmann::json to_json(const RbmTemperatureReport& r);
/// One CSV row per (setting, epoch).
std::string rbm_temperature_csv(const RbmTemperatureReport& r);

/// The saturation and entropy measures of `rbm` on rows v (B x V): fills saturated and hidden_entropy.
void measure_temperature(const Rbm& rbm, const ConstMatrixFRef& v, double saturation, TemperatureEpoch& out);

/// Trains the three settings and measures every epoch. `on_epoch(setting, epoch)` is called after each.
RbmTemperatureReport run_rbm_temperature(
    const RbmTemperatureOptions& options,
    const std::function<void(const TemperatureSetting&, const TemperatureEpoch&)>& on_epoch = {});

/// The figure: one panel per measure (‖W‖_F, σ_max, saturated fraction, hidden entropy, free-energy gap) with
/// one line per setting, written as DIR/rbm_temperature.png. Returns the file. Throws when gnuplot fails.
std::vector<std::string> write_rbm_temperature_figures(const RbmTemperatureReport& r, const std::string& dir);

}  // namespace onsager
