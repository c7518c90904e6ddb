#pragma once
// Everything `onsager rbm eval` measures about a model on a data set, as one library call: log Z by exact
// enumeration, by AIS with an independent check (BAR over parallel tempering) and a verdict on the two, and by the naive / TAP2 / TAP3 free energies; the
// average log-likelihood each gives; pseudo-likelihood, reconstruction error and mean free energy; and the
// warnings that say when a number should not be trusted (docs/rbm-eval.md).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onsager/core/matrix.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/rbm.hpp"
#include "onsager/rbm/tap.hpp"

namespace onsager {

struct EvalOptions {
  bool exact = false;            ///< exact log Z (refused beyond exact_options.max_log2_states)
  ExactOptions exact_options;
  bool ais = true;               ///< AIS estimate of log Z
  AisOptions ais_options;
  bool ais_check = true;         ///< and the independent check by BAR over parallel tempering
  BarOptions bar_options;        ///< its ladder (layer, base and seed follow ais_options)
  bool mode_bound = true;        ///< with AIS: the rigorous lower bound of log_partition_mode_bound, when the
  int mode_bound_max_units = 64; ///< smaller layer has at most this many units (cost grows as its size x the other's)
  int mode_bound_starts = 100;   ///< data rows and as many random states it starts from
  bool ais_exact_states = true;  ///< AIS sums the bound's states exactly (AisOptions::exact_states) when it anneals
                                 ///< the layer the bound searched
  bool bracket = false;          ///< the rigorous bracket of log_partition_bracket (smaller layer of at most 64 units)
  BracketOptions bracket_options;
  bool ais_only_if_bracket_open = false; ///< skip AIS (and BAR) when the bracket converged
  bool tap = false;              ///< naive mean-field, TAP2 and TAP3 estimates
  TapOptions tap_options;        ///< the fixed-point iteration (TapOptions' defaults: 1000 sweeps, tol 1e-4)
  int tap_starts = 500;          ///< rows of the data used as the fixed points' starting points
  std::uint64_t seed = 0;        ///< the pseudo-likelihood's random bit flips
};

/// One TAP-family estimate.
struct TapEstimate {
  TapOrder order = TapOrder::second;
  TapLogZ result;
};

struct EvalReport {
  Eigen::Index n_samples = 0;
  double mean_free_energy = 0;              ///< mean F(v) over the data
  double pseudo_likelihood_per_feature = 0; ///< times the visible units: scikit-learn's score
  double pseudo_likelihood = 0;             ///< scikit-learn's scale (per feature x V)
  double recon_error = 0;                   ///< per pixel
  std::optional<double> log_z_exact;
  std::optional<AisReport> ais;             ///< ais->check.ladders == 0 without the check
  std::optional<ModeBound> mode_bound;      ///< log Z >= mode_bound->log_z_lower
  std::optional<BracketResult> bracket;     ///< log Z in [bracket->log_z_lo, bracket->log_z_hi]
  std::string verdict;                      ///< "agree", "disagree" or "unchecked" (empty without AIS)
  std::vector<std::string> below_bound;     ///< the estimates ("AIS", "BAR") whose upper end is below the bound
  std::vector<std::string> outside_bracket; ///< the estimates ("AIS", "BAR") whose error bar misses the bracket
  std::vector<TapEstimate> tap;             ///< naive, TAP2, TAP3 when asked for
  std::vector<std::string> warnings;
  /// The average log-likelihood -mean F - log Z that `log_z` gives.
  double avg_log_likelihood(double log_z) const { return -mean_free_energy - log_z; }
};

/// Evaluates `rbm` on `data` (N x V, values in [0, 1]). `base_pixel_marginals` (V entries, usually the training
/// split's pixel_marginals) defines AIS's base model; empty for the uniform base. Throws onsager::Error on an
/// invalid model, data of the wrong width, empty data, or invalid options (naming the function and field).
EvalReport evaluate_rbm(const Rbm& rbm, const ConstMatrixFRef& data, const ConstVectorFRef& base_pixel_marginals,
                        const EvalOptions& options);

/// {"n_samples", "log_z": {exact, ais, ais_err, ais_lo, ais_hi, bar, bar_err, ais_bar_gap, verdict, naive, tap2,
///  tap3}, "avg_log_likelihood": {exact, ais, bar, naive, tap2, tap3}, "mean_free_energy", "pseudo_likelihood",
///  "pseudo_likelihood_per_feature", "recon_error", "warnings", "details"}; what was not computed is null.
nlohmann::json to_json(const EvalReport& report);

}  // namespace onsager
