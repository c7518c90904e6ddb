#pragma once
// The `onsager analyze` pipeline: plan the layers of a model, compute each layer's ESD (in parallel over
// layers, one tensor in memory per thread), fit the power law and the Marchenko–Pastur bulk, compute the
// metrics, optionally the randomised baseline, and classify the phase. Results are in layer order and do
// not depend on the thread count.

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onsager/io/tensor_source.hpp"
#include "onsager/spectral/esd.hpp"
#include "onsager/spectral/layers.hpp"
#include "onsager/spectral/marchenko_pastur.hpp"
#include "onsager/spectral/metrics.hpp"
#include "onsager/spectral/phase.hpp"
#include "onsager/spectral/powerlaw.hpp"

namespace onsager {

struct AnalyzeOptions {
  LayerSelection selection;
  EsdMethod esd_method = EsdMethod::gram;
  /// The Gram route's precision. automatic: for weights stored in 32 bits or fewer, a single-precision Gram
  /// matrix with the double eigensolver, each matrix redone in double where single cannot resolve what the
  /// double route would report (an eigenvalue within twice single_precision_floor() of 0, or within it of
  /// min_eval); double for 64-bit weights. f32: single throughout (fastest; small eigenvalues are noise).
  EsdPrecision precision = EsdPrecision::automatic;
  PowerLawOptions powerlaw;
  double min_eval = 1e-5;   ///< eigenvalues ≤ this are dropped before the tail fit (WeightWatcher's rule)
  bool randomize = false;   ///< also analyse each layer with its entries shuffled
  std::uint64_t seed = 0;   ///< the shuffle's seed
  bool keep_evals = false;  ///< keep the ESDs in the results (for plots)
  /// WeightWatcher's numbers where its defaults differ (docs/analyze.md, "WeightWatcher compatibility"): Conv2D
  /// eigenvalues times conv2d_count/2 (its conv2d_norm: ½ pooled, kh·kw/2 per slice), and its rank rule
  /// (set_ww_rank: singular values above n·ε·s_max, rank_loss per slice), a matrix's ESD taken from its SVD where
  /// the Gram route cannot resolve that.
  bool ww_compat = false;

  /// Throws onsager::Error naming the field ("analyze: options.powerlaw.min_tail must be at least 2 (got 1)").
  /// analyze() calls it first.
  void validate() const;
};

/// The randomised baseline of a layer (entries of each matrix shuffled, ESD recomputed).
struct RandomizedResult {
  double lambda_max = 0;
  std::size_t num_traps = 0;  ///< correlation traps: spikes of the shuffled ESD beyond its MP bulk + √Δ_TW
  double mp_sigma = 0;
  double distance = 0;        ///< Jensen–Shannon distance between the histograms of log10 λ (0 = same, 1 = disjoint)
  std::vector<double> evals;  ///< kept with keep_evals
};

struct LayerResult {
  LayerSpec spec;
  std::size_t N = 0, M = 0, num_evals = 0;
  double Q = 1;
  std::size_t num_fit_evals = 0;  ///< eigenvalues > min_eval, the ones the power law sees
  std::string esd_precision = "double";  ///< "single", "double" or "mixed" (pooled matrices some in each)
  SpectralMetrics metrics;
  PowerLawFit powerlaw;
  MarchenkoPasturFit mp;
  PhaseDecision phase;
  std::optional<RandomizedResult> randomized;
  std::vector<double> evals;  ///< ascending; kept with keep_evals
  /// A valid power-law fit on a layer large enough to trust (the ones the summary averages).
  bool valid_fit() const { return powerlaw.valid && phase.phase != Phase::too_small; }
};

struct AnalyzeSummary {
  std::size_t num_layers = 0, num_valid = 0;
  double alpha = 0, alpha_weighted = 0, log_norm = 0, log_spectral_norm = 0, log_alpha_norm = 0, stable_rank = 0,
         entropy = 0, D = 0;  ///< means over layers with a valid fit (NaN when none)
  std::vector<std::pair<Phase, std::size_t>> phase_counts;  ///< every phase, in kAllPhases order
};

struct AnalyzeReport {
  std::string source, format;
  std::vector<LayerResult> layers;
  std::vector<SkippedTensor> skipped;
  AnalyzeSummary summary;
};

/// Analyses one matrix set: the ESD of `matrices` (each rows x cols, pooled) and everything derived from it.
/// Used directly by tests and hosts holding the matrices; automatic precision means double here (the values'
/// stored precision is unknown).
LayerResult analyze_matrices(const LayerSpec& spec, const std::vector<std::vector<double>>& matrices,
                             const AnalyzeOptions& options);

/// The record of an analysis that lets it continue after an interruption (`onsager analyze --resume FILE`): a
/// JSON-lines file whose first line names the options and the planned layers (names and shapes), then one line
/// per finished layer, each written and flushed to disk as the layer finishes. A last line cut short by a kill
/// is dropped when the file is opened again.
class AnalyzeJournal {
 public:
  /// Opens `path` for the analysis of `source` under `options`: reads the layers an earlier run finished, or
  /// starts the file when it does not exist or is empty. Throws onsager::Error when the file was written for
  /// another model, layer selection or options, or a line other than the last is not a finished layer.
  AnalyzeJournal(std::string path, const TensorSource& source, const AnalyzeOptions& options);
  ~AnalyzeJournal();
  AnalyzeJournal(const AnalyzeJournal&) = delete;
  AnalyzeJournal& operator=(const AnalyzeJournal&) = delete;

  /// The layers earlier runs finished, by name (null: all zeros).
  const std::map<std::string, std::optional<LayerResult>>& finished() const { return finished_; }
  /// Appends a finished layer (null: all zeros) and flushes it to disk.
  void record(const LayerSpec& spec, const LayerResult* layer);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::map<std::string, std::optional<LayerResult>> finished_;
};

/// Analyses every layer of `source`; all-zero layers (e.g. fresh optimizer state) are listed as skipped.
/// `on_layer(done, total, layer)` is called (serialised) as each layer finishes (layer is null when skipped).
/// With a journal, the layers it holds are taken from it (not called back) and each new one is recorded in it
/// once `on_layer` has returned; the report is then the one an uninterrupted run gives.
/// Throws onsager::Error on unreadable tensors or when no tensor is a layer.
AnalyzeReport analyze(const TensorSource& source, const std::string& source_name, const AnalyzeOptions& options,
                      const std::function<void(std::size_t, std::size_t, const LayerResult*)>& on_layer = {},
                      AnalyzeJournal* journal = nullptr);

/// A layer's share of the work, for progress bars and for splitting an analysis across processes: N·M² + M³ per
/// matrix (its Gram matrix and the eigensolver).
double layer_cost(const LayerSpec& spec);

/// Which of `parts` processes analyses each layer of `plan` (one entry per layer, in 0..parts-1). A tensor's
/// layers stay together (it is read once); the tensors go, costliest first (layer_cost), each to the process with
/// the least work so far (ties: the lowest-numbered), so every process computes the same split from the same plan.
std::vector<std::size_t> share_layers(const LayerPlan& plan, std::size_t parts);

/// One process's place among those sharing an analysis (`onsager analyze` under mpirun: the rank and the size).
struct AnalyzePart {
  std::size_t index = 0, count = 1;
};

/// analyze()'s work for one of several processes: only the tensors of the layers share_layers gives `part` are
/// read and analysed. Returns those layers by their index in plan_layers(source.tensors(), options.selection)
/// (null: all zeros); `on_layer` counts this part's layers only. Throws as analyze() does.
std::map<std::size_t, std::optional<LayerResult>> analyze_part(
    const TensorSource& source, const std::string& source_name, const AnalyzeOptions& options, AnalyzePart part,
    const std::function<void(std::size_t, std::size_t, const LayerResult*)>& on_layer = {});

/// The report analyze() gives, from every planned layer's result (indexed as analyze_part's; null: all zeros).
AnalyzeReport assemble_report(const TensorSource& source, const std::string& source_name, const AnalyzeOptions& options,
                              std::vector<std::optional<LayerResult>> results);

/// Means and phase counts over `layers`.
AnalyzeSummary summarize(const std::vector<LayerResult>& layers);

/// The JSON report: {"source", "format", "layers": [...], "skipped": [...], "summary": {...}}; the MP fields are
/// included with `with_mp`, the randomised ones when the layer has them. NaN becomes null.
nlohmann::json to_json(const AnalyzeReport& report, bool with_mp);

/// One layer's object of the JSON report's "layers".
nlohmann::json to_json(const LayerResult& layer, bool with_mp);

/// The layer back from its JSON object written with the MP fields (to_json(layer, true)), for `spec` (the
/// layer the plan names): every field to_json writes comes back as it was (the ESD and the fit's internals
/// do not). Throws onsager::Error (or nlohmann's) on a missing or mistyped field.
LayerResult layer_from_json(const LayerSpec& spec, const nlohmann::json& j);

/// One CSV line per layer with a header line; the same fields as the JSON layers.
std::string to_csv(const AnalyzeReport& report, bool with_mp);

}  // namespace onsager
