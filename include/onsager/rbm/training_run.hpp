#pragma once
// A training run: its settings, its state, the data it trains on and where that data came from, and the rules
// for continuing a saved run. A run checkpoints its model atomically after every epoch and then appends the
// epoch's line to its log, so the log never runs ahead of the model a resume starts from. `onsager rbm train`
// is parse -> TrainingRun -> print; a C++ caller gets the same checkpoints, resume policy and provenance:
//
//   auto run = onsager::TrainingRun::start(config, {.source = "digits"});
//   run.run({.out = "rbm.safetensors"});
//   auto more = onsager::TrainingRun::resume("rbm.safetensors", {.epochs = 40});  // same data, same settings
//   more.run({.out = "rbm.safetensors"});

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onsager/data/dataset.hpp"
#include "onsager/rbm/train.hpp"

namespace onsager {

/// Where a run's data comes from. It is recorded in the model file (its `data` metadata entry), so that a
/// resumed run, `rbm eval` and `rbm info` know the rows it trained on.
struct DataSpec {
  std::string source;                      ///< a named data set (digits, mnist, fashion-mnist) or a data file
  std::string split = "train";             ///< the rows trained on
  std::string valid_split = "validation";  ///< named data sets: the free-energy monitor's rows, or "none"
  std::string binarize = "threshold:0.5";  ///< parse_binarization's syntax
  std::string data_dir;                    ///< where named data sets live (empty: default_data_dir())
};

/// What a resumed run may change. Its settings (TrainConfig) and binarization are the model's own; so is its
/// data when the model records it: setting `source`, `split` or `valid_split` then throws, since the run and
/// the model's provenance would no longer agree. A model that records no data (written by another program)
/// needs `source`.
struct ResumeOptions {
  int epochs = 0;                          ///< the total number of epochs (0: the model's own)
  std::optional<std::string> source, split, valid_split;
  std::string data_dir;                    ///< where named data sets live (empty: default_data_dir())
};

struct TrainingRunOptions {
  std::string out;         ///< the model file, written atomically after every epoch (empty: not written)
  std::string log;         ///< per-epoch monitors as JSON lines (empty: none); a resumed run's log starts as the
                           ///< model's own history, whatever a kill left in the file before
  bool progress = true;    ///< progress bar on stderr (terminal only)
  EpochCallback on_epoch;  ///< called after the epoch's checkpoint and log line; return false to stop
};

class TrainingRun {
 public:
  /// A new run: validates `config`, loads and binarizes the data (and, for a named data set whose
  /// valid_split is not "none", the monitor's rows), initialises the state. Throws onsager::Error.
  static TrainingRun start(const TrainConfig& config, const DataSpec& data);

  /// Continues the run saved in `model_path` (a model file with training state) on the data it records.
  /// Throws onsager::Error for a model without training state, fewer epochs than it has done, data the
  /// model's provenance forbids (see ResumeOptions), or data whose width differs from the model's.
  static TrainingRun resume(const std::string& model_path, const ResumeOptions& options = {});

  /// Trains to config().epochs, checkpointing as TrainingRunOptions says. On NaN/Inf, saturated weights or a
  /// collapsed pseudo-likelihood the state rolls back to the last good epoch, which the checkpoint holds, and the outcome says why (see
  /// failure_message). A run with nothing left to do writes its model once.
  TrainOutcome run(const TrainingRunOptions& options = {});

  /// One line saying why the last run() did not finish ("TrainingRun::run: training diverged ..."), naming
  /// the last checkpointed epoch; empty when it finished or was stopped by its callback.
  std::string failure_message() const;

  /// The summary `rbm train --json` prints: model file, settings, data record, epochs done, training
  /// seconds, threads, the last epoch's monitors.
  nlohmann::json report() const;

  const TrainConfig& config() const { return config_; }
  const TrainState& state() const { return state_; }
  const DataSpec& data() const { return data_; }       ///< resolved: a resumed run's is the model's
  const Dataset& train_set() const { return train_; }  ///< binarized
  const Dataset* valid_set() const { return valid_ ? &*valid_ : nullptr; }
  /// The `data` metadata entry the model file gets: source, split, valid_split, binarize, samples,
  /// features, image_shape.
  const nlohmann::json& data_record() const { return record_; }
  /// The epoch a resumed run started from; -1 for a new run.
  int resumed_from() const { return resumed_from_; }
  /// Said once, when the run was set up (e.g. the training split contains the monitor's rows).
  const std::vector<std::string>& warnings() const { return warnings_; }
  /// The last epoch written to TrainingRunOptions::out; -1 before any.
  int saved_epoch() const { return saved_epoch_; }
  /// Total seconds of the epochs in the history.
  double train_seconds() const;

 private:
  TrainingRun() = default;
  void load_data(const std::string& who);

  TrainConfig config_;
  TrainState state_;
  DataSpec data_;
  Dataset train_;
  std::optional<Dataset> valid_;
  nlohmann::json record_;
  std::vector<std::string> warnings_;
  int resumed_from_ = -1;
  int saved_epoch_ = -1;
  std::string out_;
  TrainOutcome last_ = TrainOutcome::finished;
};

}  // namespace onsager
