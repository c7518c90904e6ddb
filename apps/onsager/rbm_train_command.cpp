// onsager rbm train: CD-k / PCD-k / mean-field and TAP training with per-epoch monitors, atomic checkpoints and
// exact resume.

#include <cmath>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "common.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/output.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/rbm/model_file.hpp"
#include "rbm_commands.hpp"

namespace onsager::cli {
namespace {

struct TrainArgs {
  TrainConfig config;
  std::string data, split = "train", valid_split = "validation", binarize = "threshold:0.5", data_dir;
  std::string method = "pcd", lr_schedule = "constant", momentum = "0";
  std::string out, log, resume;
  int threads = 0;
  bool quiet = false;
  JsonOutput json;
  CLI::App* cmd = nullptr;
};

// Flags that define the run; a resumed run keeps the model's own values.
constexpr const char* kRunFlags[] = {"--hidden",   "--method",   "--k",        "--batch",       "--lr",
                                     "--lr-schedule", "--lr-final", "--lr-decay", "--momentum", "--l1",
                                     "--l2",       "--max-norm", "--chains",   "--init-std",    "--seed",
                                     "--binarize", "--monitor-samples", "--tap-iters", "--tap-damping",
                                     "--tap-tol", "--tap-persist-from"};

std::string fmt_num(double x, int prec = 4) { return std::isfinite(x) ? fmt::format("{:.{}f}", x, prec) : "-"; }

// "pcd-1", "cd-10", "tap2".
std::string method_name(const TrainConfig& c) {
  return is_tap_method(c.method) ? std::string(to_string(c.method)) : fmt::format("{}-{}", to_string(c.method), c.k);
}

void apply_momentum(TrainConfig& c, const std::string& m) {
  if (m == "hinton") {
    c.momentum_schedule = true;
    return;
  }
  try {
    std::size_t pos = 0;
    c.momentum = std::stof(m, &pos);
    ONSAGER_CHECK(pos == m.size(), "");
  } catch (const std::exception&) {
    ONSAGER_FAIL("rbm train: --momentum must be a number in [0, 1) or 'hinton' (got '{}')", m);
  }
}

Dataset load_split(const std::string& source, const std::string& split, const Binarization& bin,
                   const std::string& data_dir) {
  Dataset d = load_dataset(source, parse_split(split), data_dir);
  binarize(d.x, bin);
  return d;
}

void run_train(TrainArgs& a) {
  set_num_threads(a.threads);
  TrainConfig config = a.config;
  TrainState state;
  bool resumed = false;
  std::string data_dir = a.data_dir.empty() ? default_data_dir() : a.data_dir;
  ONSAGER_CHECK(!a.out.empty(), "rbm train: --out MODEL.safetensors is required");

  if (!a.resume.empty()) {
    for (const char* flag : kRunFlags)
      ONSAGER_CHECK(a.cmd->count(flag) == 0,
                    "rbm train: {} cannot be given with --resume; the run continues with the model's own settings",
                    flag);
    RbmModel m = load_rbm_model(a.resume);
    ONSAGER_CHECK(m.config.has_value() && m.has_train_state,
                  "rbm train: {} has no training state to resume from (was it written by 'onsager rbm train'?)",
                  a.resume);
    // The data is part of the run and of the model's provenance: a resumed run reads what the model records.
    if (m.data_info.is_object() && !m.data_info.value("source", "").empty())
      for (const char* flag : {"--data", "--split", "--valid-split"})
        ONSAGER_CHECK(a.cmd->count(flag) == 0,
                      "rbm train: {} cannot be given with --resume; {} records its data ({} {}), and the run "
                      "continues on it",
                      flag, a.resume, m.data_info.value("source", ""), m.data_info.value("split", ""));
    const int epochs = a.cmd->count("--epochs") ? config.epochs : m.config->epochs;
    config = *m.config;
    config.epochs = epochs;
    ONSAGER_CHECK(config.epochs >= m.state.epochs_done,
                  "rbm train: --epochs {} is fewer than the {} epochs the model has already done", config.epochs,
                  m.state.epochs_done);
    if (a.data.empty() && m.data_info.is_object()) {
      a.data = m.data_info.value("source", "");
      a.split = m.data_info.value("split", a.split);
      a.valid_split = m.data_info.value("valid_split", a.valid_split);
    }
    a.binarize = m.data_info.is_object() ? m.data_info.value("binarize", a.binarize) : a.binarize;
    state = std::move(m.state);
    resumed = true;
  } else {
    config.method = parse_train_method(a.method);
    apply_momentum(config, a.momentum);
    config.lr_schedule = parse_lr_schedule(a.lr_schedule);
    config.validate();
  }
  ONSAGER_CHECK(!a.data.empty(), "rbm train: --data NAME|PATH is required (digits, mnist, fashion-mnist or a file)");

  const Binarization bin = parse_binarization(a.binarize);
  // Nothing is read before the outputs are known to be safe: no output may be an input or another output, and
  // each is locked for the run (a second run writing the same --out or --log stops here, naming this one).
  const std::vector<NamedPath> outputs = {{a.out, "--out"}, {a.log, "--log"}, {json_file(a.json), "--json"}};
  // --resume M --out M continues a run in place (that is the point); its log and JSON may not overwrite it.
  check_outputs({outputs.begin() + 1, outputs.end()}, {{a.resume, "the --resume model"}});
  const std::vector<OutputLock> locks = guard_outputs(outputs, {{data_file(a.data), "--data"}});
  const Dataset train_set = load_split(a.data, a.split, bin, data_dir);
  check_outputs(outputs, {{train_set.source, "the data file"}});  // a named data set's own file, too
  std::optional<Dataset> valid_set;
  if (is_dataset_name(a.data) && a.valid_split != "none") {
    valid_set = load_split(a.data, a.valid_split, bin, data_dir);
    if (!a.quiet && splits_overlap(a.data, parse_split(a.split), parse_split(a.valid_split)))
      fmt::print(stderr,
                 "warning: the training split '{}' contains the rows of the monitor's split '{}', so the free-energy "
                 "gap cannot show over-fitting (use --split train, or --valid-split none)\n",
                 a.split, a.valid_split);
  }

  if (resumed) {
    ONSAGER_CHECK(train_set.x.cols() == state.rbm.num_visible(),
                  "rbm train: {} has {} features but the model {} has {} visible units", a.data, train_set.x.cols(),
                  a.resume, state.rbm.num_visible());
    ONSAGER_CHECK(config.method != TrainMethod::pcd || state.chains.rows() > 0,
                  "rbm train: {} is a PCD model without stored chains", a.resume);
  } else {
    state = init_training(train_set.x, config);
  }

  const nlohmann::json data_info = {{"source", a.data},
                                    {"split", a.split},
                                    {"valid_split", valid_set ? a.valid_split : "none"},
                                    {"binarize", to_string(bin)},
                                    {"samples", train_set.x.rows()},
                                    {"features", train_set.x.cols()},
                                    {"image_shape", train_set.height > 0 ? nlohmann::json{train_set.height, train_set.width}
                                                                        : nlohmann::json(nullptr)}};

  std::ofstream log;
  if (!a.log.empty()) {
    // A resumed run's log starts as the model's own history: exactly its epochs, whatever a kill left behind.
    if (resumed) write_epoch_log(a.log, state.history);
    log.open(a.log, resumed ? std::ios::app : std::ios::trunc);
    ONSAGER_CHECK(log.good(), "rbm train: cannot write the log file {}", a.log);
  }
  if (!a.quiet)
    fmt::print(stderr, "training {} RBM {} x {} on {} ({} samples, binarize {}), {} threads{}\n",
               method_name(config), train_set.x.cols(), config.hidden, a.data, train_set.x.rows(),
               to_string(bin), num_threads(), resumed ? fmt::format(", resumed at epoch {}", state.epochs_done) : "");

  TrainOptions opts;
  opts.progress = !a.quiet;
  opts.validation = valid_set ? &valid_set->x : nullptr;
  bool saved = false;
  opts.on_epoch = [&](const TrainState& s, const EpochStats& st) {
    if (!a.quiet) print_epoch_line(stderr, st, config.epochs);
    // The model first, then its log line: the log never runs ahead of the model a resume would start from.
    save_rbm_model(a.out, s, config, data_info);
    saved = true;
    if (log.is_open()) {
      log << to_json(st).dump() << '\n';
      log.flush();
    }
    return true;
  };
  const TrainOutcome outcome = train(state, train_set.x, config, opts);
  if (outcome == TrainOutcome::saturated) {
    const std::string kept = saved ? fmt::format("{} keeps the model of epoch {}", a.out, state.epochs_done)
                                   : std::string("no model written");
    ONSAGER_FAIL("rbm train: the weights blew up in epoch {} (their RMS grew to more than {:g} times that of the "
                 "epoch before, or than {:g}x{:g}); {}; try a smaller --lr or a --max-norm",
                 state.epochs_done + 1, kSaturationGrowth, kSaturationGrowth, kSaturationFloor, kept);
  }
  if (outcome == TrainOutcome::diverged) {
    if (saved)
      ONSAGER_FAIL(
          "rbm train: training diverged (NaN or Inf parameters) in epoch {}; {} keeps the model of epoch {}; "
          "try a smaller --lr or a --max-norm",
          state.epochs_done + 1, a.out, state.epochs_done);
    ONSAGER_FAIL("rbm train: training diverged (NaN or Inf parameters) in epoch {}; no model written; try a smaller "
                 "--lr",
                 state.epochs_done + 1);
  }
  if (config.epochs == state.epochs_done && state.history.empty()) save_rbm_model(a.out, state, config, data_info);

  double seconds = 0;
  for (const auto& e : state.history) seconds += e.seconds;
  nlohmann::json report = {{"model", a.out},
                           {"settings", to_json(config)},
                           {"data", data_info},
                           {"epochs_done", state.epochs_done},
                           {"train_seconds", seconds},
                           {"threads", num_threads()},
                           {"last_epoch", state.history.empty() ? nlohmann::json(nullptr) : to_json(state.history.back())}};
  if (a.json.to_stdout()) {
    emit_json(a.json, report);
    return;
  }
  fmt::print("model            {} ({} visible x {} hidden, {})\n", a.out, train_set.x.cols(), config.hidden,
             method_name(config));
  fmt::print("data             {} {} ({} samples, binarize {})\n", a.data, a.split, train_set.x.rows(), to_string(bin));
  fmt::print("epochs           {} ({:.3g} s training, {:.3g} s per epoch)\n", state.epochs_done, seconds,
             state.history.empty() ? 0.0 : seconds / static_cast<double>(state.history.size()));
  if (!state.history.empty()) {
    const EpochStats& e = state.history.back();
    fmt::print("recon error      {} per pixel\n", fmt_num(e.recon_error));
    fmt::print("pseudo-lik.      {} per feature ({} scikit-learn scale)\n", fmt_num(e.pseudo_likelihood),
               fmt_num(e.pseudo_likelihood_scaled, 2));
    fmt::print("free energy      train {}  validation {}  gap {}\n", fmt_num(e.free_energy_train, 2),
               fmt_num(e.free_energy_valid, 2), fmt_num(e.free_energy_valid - e.free_energy_train, 2));
    fmt::print("weights          |W|_F {}  sigma_max {}  mean |W| {}\n", fmt_num(e.weight_norm, 3),
               fmt_num(e.weight_sigma_max, 3), fmt_num(e.weight_mean_abs, 5));
    if (std::isfinite(e.tap_free_energy))
      fmt::print("TAP free energy  {} = -entropy {} + energy {} + Onsager {}  ({} sweeps per update)\n",
                 fmt_num(e.tap_free_energy, 2), fmt_num(e.tap_entropy, 2), fmt_num(e.tap_energy, 2),
                 fmt_num(e.tap_onsager, 2), fmt_num(e.tap_sweeps, 2));
  }
  if (!a.log.empty()) fmt::print("log              {}\n", a.log);
  emit_json(a.json, report);
}

}  // namespace

void print_epoch_line(std::FILE* out, const EpochStats& s, int total_epochs) {
  fmt::print(out, "epoch {:>3}/{}  recon {}  pl {} ({})  F train {} valid {} gap {}  |W| {}  smax {}  {:.3g}s\n",
             s.epoch, total_epochs, fmt_num(s.recon_error), fmt_num(s.pseudo_likelihood),
             fmt_num(s.pseudo_likelihood_scaled, 2), fmt_num(s.free_energy_train, 2), fmt_num(s.free_energy_valid, 2),
             fmt_num(s.free_energy_valid - s.free_energy_train, 2), fmt_num(s.weight_norm, 2),
             fmt_num(s.weight_sigma_max, 2), s.seconds);
  if (std::isfinite(s.tap_free_energy))
    fmt::print(out, "           Gamma {} (S {} U {} O {})  sweeps {}\n", fmt_num(s.tap_free_energy, 2),
               fmt_num(s.tap_entropy, 2), fmt_num(s.tap_energy, 2), fmt_num(s.tap_onsager, 3), fmt_num(s.tap_sweeps, 2));
}

void register_rbm_train(CLI::App& rbm) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = rbm.add_subcommand(
      "train",
      "Train a Bernoulli RBM by CD-k, persistent CD (PCD-k), or deterministically by the naive mean-field (mf),\n"
      "TAP2 or TAP3 free energy (no sampling: the negative phase is a fixed point of the TAP equations).\n"
      "Example: onsager rbm train --data mnist --hidden 500 --method pcd --epochs 10 --out rbm.safetensors\n"
      "         onsager rbm train --data mnist --hidden 500 --method tap2 --epochs 10 --out tap2.safetensors\n"
      "One line per epoch on stderr (reconstruction error, pseudo-likelihood, train/validation free energy,\n"
      "weight norms); the model is checkpointed atomically after every epoch and can be resumed exactly.");
  a->cmd = cmd;
  auto& c = a->config;
  add_data_flags(cmd, a->data, a->split, a->binarize, a->data_dir, false, "Split to train on: train, trainval, all, ...");
  cmd->add_option("--valid-split", a->valid_split, "Split for the free-energy over-fitting monitor, or none")
      ->capture_default_str();
  cmd->add_option("--hidden", c.hidden, "Hidden units")->capture_default_str();
  cmd->add_option("--method", a->method, "cd, pcd, mf (naive mean field), tap2 or tap3")->capture_default_str();
  cmd->add_option("--k", c.k, "Gibbs steps per update (CD-k, PCD-k)")->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "Epochs (the total, when resuming)")->capture_default_str();
  cmd->add_option("--batch", c.batch_size, "Minibatch size")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--lr-schedule", a->lr_schedule, "constant, linear (to --lr-final) or exp (times --lr-decay per epoch)")
      ->capture_default_str();
  cmd->add_option("--lr-final", c.lr_final, "Final learning rate of the linear schedule")->capture_default_str();
  cmd->add_option("--lr-decay", c.lr_decay, "Per-epoch factor of the exp schedule")->capture_default_str();
  cmd->add_option("--momentum", a->momentum, "Momentum in [0,1), or 'hinton' (0.5 for 5 epochs, then 0.9)")
      ->capture_default_str();
  cmd->add_option("--l1", c.l1, "L1 weight decay")->capture_default_str();
  cmd->add_option("--l2", c.l2, "L2 weight decay")->capture_default_str();
  cmd->add_option("--max-norm", c.max_norm, "Max L2 norm of each hidden unit's weights (0: off)")->capture_default_str();
  cmd->add_option("--chains", c.chains, "PCD persistent chains / TAP persistent magnetisations (0: the batch size)")
      ->capture_default_str();
  add_tap_options(cmd, c.tap_iters, c.tap_damping, c.tap_tol, true);
  cmd->add_option("--tap-persist-from", c.tap_persist_from,
                  "TAP methods: epoch (0-based) from which magnetisations persist across minibatches; -1: never,\n"
                  "every update starts from its minibatch")
      ->capture_default_str();
  cmd->add_option("--init-std", c.init_std, "Initial weights ~ N(0, std^2)")->capture_default_str();
  cmd->add_option("--monitor-samples", c.monitor_samples, "Rows used by the per-epoch monitors")->capture_default_str();
  cmd->add_option("--seed", c.seed, "Random seed (same seed, same model, for any --threads)")->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->add_option("--out", a->out, "Model file to write (safetensors)")->type_name("MODEL");
  cmd->add_option("--log", a->log, "Per-epoch monitors as JSON lines")->type_name("FILE.jsonl");
  cmd->add_option("--resume", a->resume, "Continue the run saved in MODEL (to --epochs in total)")->type_name("MODEL");
  add_quiet_flag(cmd, a->quiet);
  add_json_option(cmd, a->json);
  cmd->callback([a] { run_train(*a); });
}

}  // namespace onsager::cli
