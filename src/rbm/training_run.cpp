#include "onsager/rbm/training_run.hpp"

#include <fstream>

#include <fmt/format.h>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/rbm/model_file.hpp"

namespace onsager {
namespace {

Dataset load_split(const DataSpec& d, const std::string& split, const Binarization& bin) {
  Dataset set = load_dataset(d.source, parse_split(split), d.data_dir.empty() ? default_data_dir() : d.data_dir);
  binarize(set.x, bin);
  return set;
}

}  // namespace

void TrainingRun::load_data(const std::string& who) {
  ONSAGER_CHECK(!data_.source.empty(),
                "{}: data.source is required (digits, mnist, fashion-mnist or a data file)", who);
  const Binarization bin = parse_binarization(data_.binarize);
  train_ = load_split(data_, data_.split, bin);
  if (is_dataset_name(data_.source) && data_.valid_split != "none") {
    valid_ = load_split(data_, data_.valid_split, bin);
    if (splits_overlap(data_.source, parse_split(data_.split), parse_split(data_.valid_split)))
      warnings_.push_back(fmt::format(
          "the training split '{}' contains the rows of the monitor's split '{}', so the free-energy gap cannot "
          "show over-fitting (train on split train, or set the validation split to none)",
          data_.split, data_.valid_split));
  } else {
    data_.valid_split = "none";
  }
  data_.binarize = to_string(bin);
  record_ = {{"source", data_.source},
             {"split", data_.split},
             {"valid_split", data_.valid_split},
             {"binarize", data_.binarize},
             {"samples", train_.x.rows()},
             {"features", train_.x.cols()},
             {"image_shape", train_.height > 0 ? nlohmann::json{train_.height, train_.width} : nlohmann::json(nullptr)}};
}

TrainingRun TrainingRun::start(const TrainConfig& config, const DataSpec& data) {
  config.validate();
  TrainingRun run;
  run.config_ = config;
  run.data_ = data;
  run.load_data("TrainingRun::start");
  run.state_ = init_training(run.train_.x, run.config_);
  return run;
}

TrainingRun TrainingRun::resume(const std::string& model_path, const ResumeOptions& options) {
  constexpr const char* who = "TrainingRun::resume";
  RbmModel m = load_rbm_model(model_path);
  ONSAGER_CHECK(m.config.has_value() && m.has_train_state,
                "{}: {} has no training state to resume from (was it written by 'onsager rbm train'?)", who,
                model_path);
  const nlohmann::json& rec = m.data_info;
  const std::string recorded = rec.is_object() ? rec.value("source", "") : "";
  // The data is part of the run and of the model's provenance: a resumed run reads what the model records.
  if (!recorded.empty()) {
    const std::pair<const char*, const std::optional<std::string>*> given[] = {
        {"options.source", &options.source}, {"options.split", &options.split},
        {"options.valid_split", &options.valid_split}};
    for (const auto& [field, value] : given)
      ONSAGER_CHECK(!value->has_value(),
                    "{}: {} cannot be set when resuming; {} records its data ({} {}), and the run continues on it",
                    who, field, model_path, recorded, rec.value("split", ""));
  }
  ONSAGER_CHECK(options.epochs >= 0, "{}: options.epochs must be at least 0 (got {})", who, options.epochs);

  TrainingRun run;
  run.config_ = *m.config;
  if (options.epochs > 0) run.config_.epochs = options.epochs;
  ONSAGER_CHECK(run.config_.epochs >= m.state.epochs_done,
                "{}: options.epochs {} is fewer than the {} epochs {} has already done", who, run.config_.epochs,
                m.state.epochs_done, model_path);
  DataSpec& d = run.data_;
  d.data_dir = options.data_dir;
  if (rec.is_object()) {
    d.source = recorded;
    d.split = rec.value("split", d.split);
    d.valid_split = rec.value("valid_split", d.valid_split);
    d.binarize = rec.value("binarize", d.binarize);
  }
  if (options.source) d.source = *options.source;
  if (options.split) d.split = *options.split;
  if (options.valid_split) d.valid_split = *options.valid_split;
  run.load_data(who);

  run.state_ = std::move(m.state);
  run.resumed_from_ = run.state_.epochs_done;
  ONSAGER_CHECK(run.train_.x.cols() == run.state_.rbm.num_visible(),
                "{}: {} has {} features but the model {} has {} visible units", who, d.source, run.train_.x.cols(),
                model_path, run.state_.rbm.num_visible());
  ONSAGER_CHECK(run.config_.method != TrainMethod::pcd || run.state_.chains.rows() > 0,
                "{}: {} is a PCD model without stored chains", who, model_path);
  return run;
}

TrainOutcome TrainingRun::run(const TrainingRunOptions& options) {
  out_ = options.out;
  std::ofstream log;
  if (!options.log.empty()) {
    // A resumed run's log starts as the model's own history: exactly its epochs, whatever a kill left behind.
    if (resumed_from_ >= 0) write_epoch_log(options.log, state_.history);
    log.open(options.log, resumed_from_ >= 0 ? std::ios::app : std::ios::trunc);
    ONSAGER_CHECK(log.good(), "TrainingRun::run: cannot write the log file {}", options.log);
  }
  TrainOptions opts;
  opts.progress = options.progress;
  opts.validation = valid_ ? &valid_->x : nullptr;
  opts.on_epoch = [&](const TrainState& s, const EpochStats& st) {
    // The model first, then its log line: the log never runs ahead of the model a resume would start from.
    if (!out_.empty()) {
      save_rbm_model(out_, s, config_, record_);
      saved_epoch_ = s.epochs_done;
    }
    if (log.is_open()) {
      log << to_json(st).dump() << '\n';
      log.flush();
      ONSAGER_CHECK(log.good(), "TrainingRun::run: cannot write the log file {}", options.log);
    }
    return options.on_epoch ? options.on_epoch(s, st) : true;
  };
  last_ = train(state_, train_.x, config_, opts);
  if (config_.epochs == state_.epochs_done && saved_epoch_ < 0 && !out_.empty() &&
      (last_ == TrainOutcome::finished)) {
    save_rbm_model(out_, state_, config_, record_);  // nothing was left to train: the model is written once
    saved_epoch_ = state_.epochs_done;
  }
  return last_;
}

std::string TrainingRun::failure_message() const {
  const std::string kept = saved_epoch_ >= 0 ? fmt::format("{} keeps the model of epoch {}", out_, saved_epoch_)
                                             : std::string("no model written");
  switch (last_) {
    case TrainOutcome::saturated:
      return fmt::format(
          "TrainingRun::run: the weights blew up in epoch {} (their RMS grew to more than {:g} times that of the "
          "epoch before, or than {:g}x{:g}); {}; try a smaller config.lr or a config.max_norm",
          state_.epochs_done + 1, kSaturationGrowth, kSaturationGrowth, kSaturationFloor, kept);
    case TrainOutcome::collapsed:
      return fmt::format(
          "TrainingRun::run: the pseudo-likelihood collapsed in epoch {} (it fell in one epoch by more than {:g} nat "
          "per feature below that of the epoch before, or of a fair coin); {}; try a smaller config.lr or a "
          "config.max_norm",
          state_.epochs_done + 1, kPseudoLikelihoodCollapse, kept);
    case TrainOutcome::diverged:
      return fmt::format(
          "TrainingRun::run: training diverged (NaN or Inf parameters) in epoch {}; {}; try a smaller config.lr or "
          "a config.max_norm",
          state_.epochs_done + 1, kept);
    case TrainOutcome::finished:
    case TrainOutcome::stopped:
      break;
  }
  return {};
}

double TrainingRun::train_seconds() const {
  double seconds = 0;
  for (const auto& e : state_.history) seconds += e.seconds;
  return seconds;
}

nlohmann::json TrainingRun::report() const {
  return {{"model", out_},
          {"settings", to_json(config_)},
          {"data", record_},
          {"epochs_done", state_.epochs_done},
          {"train_seconds", train_seconds()},
          {"threads", num_threads()},
          {"last_epoch", state_.history.empty() ? nlohmann::json(nullptr) : to_json(state_.history.back())}};
}

}  // namespace onsager
