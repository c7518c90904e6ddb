// onsager rbm train: CD-k / PCD-k / mean-field and TAP training with per-epoch monitors, atomic checkpoints and
// exact resume.

#include <algorithm>
#include <cmath>
#include <vector>
#include <cstdio>

#include <fmt/format.h>

#include "common.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/output.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/rbm/training_run.hpp"
#include "rbm_commands.hpp"

namespace onsager::cli {
namespace {

struct TrainArgs {
  TrainConfig config;
  std::string data, split = "train", valid_split = "validation", binarize = "threshold:0.5", data_dir;
  std::string method = "pcd", lr_schedule = "constant", momentum = "0", tap_reseed = "merged", visible = "bernoulli",
              momentum_on = "all";
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
                                     "--tap-tol", "--tap-persist-from", "--tap-reseed", "--tap-restart-fraction",
                                     "--visible", "--min-variance", "--variance-lr-scale", "--momentum-on"};

constexpr double kGaussianDefaultLr = 1e-4;

float median_of(const Eigen::ArrayXf& x) {
  std::vector<float> v(x.data(), x.data() + x.size());
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

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

void run_train(TrainArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(!a.out.empty(), "rbm train: --out MODEL.safetensors is required");
  const bool resuming = !a.resume.empty();
  if (resuming) {
    for (const char* flag : kRunFlags)
      ONSAGER_CHECK(a.cmd->count(flag) == 0,
                    "rbm train: {} cannot be given with --resume; the run continues with the model's own settings",
                    flag);
  } else {
    a.config.method = parse_train_method(a.method);
    apply_momentum(a.config, a.momentum);
    ONSAGER_CHECK(a.momentum_on == "all" || a.momentum_on == "weights",
                  "rbm train: --momentum-on must be all or weights (got '{}')", a.momentum_on);
    a.config.momentum_weights_only = a.momentum_on == "weights";
    a.config.lr_schedule = parse_lr_schedule(a.lr_schedule);
    a.config.tap_reseed = parse_tap_reseed(a.tap_reseed);
    a.config.visible = parse_visible_type(a.visible);
    // Gaussian units model the values themselves: no binarization unless asked for.
    if (a.config.visible == VisibleType::gaussian && a.cmd->count("--binarize") == 0) a.binarize = "none";
    // Their gradients scale as 1/σ²: pixel data (σ 0.1-0.4) needs a learning rate hundreds of times smaller
    // (mnist: 1e-3 diverges in the first epoch, 1e-4 trains; docs/gaussian-rbm.md).
    if (a.config.visible == VisibleType::gaussian && a.cmd->count("--lr") == 0) a.config.lr = kGaussianDefaultLr;
    for (const char* flag : {"--min-variance", "--variance-lr-scale"})
      ONSAGER_CHECK(a.config.visible == VisibleType::gaussian || a.cmd->count(flag) == 0,
                    "rbm train: {} is for --visible gaussian", flag);
    a.config.validate();
  }

  // Nothing is read before the outputs are known to be safe: no output may be an input or another output, and
  // each is locked for the run (a second run writing the same --out or --log stops here, naming this one).
  const std::vector<NamedPath> outputs = {{a.out, "--out"}, {a.log, "--log"}, {json_file(a.json), "--json"}};
  // --resume M --out M continues a run in place (that is the point); its log and JSON may not overwrite it.
  check_outputs({outputs.begin() + 1, outputs.end()}, {{a.resume, "the --resume model"}});
  const std::vector<OutputLock> locks = guard_outputs(outputs, {{data_file(a.data), "--data"}});

  TrainingRun run = [&] {
    if (!resuming) return TrainingRun::start(a.config, {a.data, a.split, a.valid_split, a.binarize, a.data_dir});
    ResumeOptions r;
    if (a.cmd->count("--epochs")) r.epochs = a.config.epochs;
    if (a.cmd->count("--data")) r.source = a.data;
    if (a.cmd->count("--split")) r.split = a.split;
    if (a.cmd->count("--valid-split")) r.valid_split = a.valid_split;
    r.data_dir = a.data_dir;
    return TrainingRun::resume(a.resume, r);
  }();
  check_outputs(outputs, {{run.train_set().source, "the data file"}});  // a named data set's own file, too
  if (!a.quiet)
    for (const std::string& w : run.warnings()) fmt::print(stderr, "warning: {}\n", to_cli_message(w));

  const TrainConfig& config = run.config();
  const DataSpec& data = run.data();
  const Dataset& train_set = run.train_set();
  if (!a.quiet)
    fmt::print(stderr, "training {} {}RBM {} x {} on {} ({} samples, binarize {}), {} threads{}\n",
               method_name(config), config.visible == VisibleType::gaussian ? "Gaussian-Bernoulli " : "", train_set.x.cols(), config.hidden, data.source, train_set.x.rows(), data.binarize,
               num_threads(), resuming ? fmt::format(", resumed at epoch {}", run.resumed_from()) : "");

  TrainingRunOptions opts;
  opts.out = a.out;
  opts.log = a.log;
  opts.progress = !a.quiet;
  if (!a.quiet)
    opts.on_epoch = [&](const TrainState&, const EpochStats& st) {
      print_epoch_line(stderr, st, config.epochs);
      if (const int chains = config.num_chains(); st.tap_distinct_states < 0.1 * chains)  // false for NaN
        fmt::print(stderr,
                   "warning: epoch {}: the {} persistent TAP magnetisations held only {:.1f} distinct states per "
                   "update (under 10%): the negative phase covers few modes{}\n",
                   st.epoch, chains, st.tap_distinct_states,
                   config.tap_reseed == TapReseed::none ? "; --tap-reseed merged restarts rows that merged" : "");
      return true;
    };
  run.run(opts);
  if (const std::string why = run.failure_message(); !why.empty()) ONSAGER_FAIL("{}", why);

  const TrainState& state = run.state();
  const double seconds = run.train_seconds();
  const nlohmann::json report = run.report();
  if (a.json.to_stdout()) {
    emit_json(a.json, report);
    return;
  }
  fmt::print("model            {} ({} {} visible x {} hidden, {})\n", a.out, train_set.x.cols(),
             to_string(config.visible), config.hidden, method_name(config));
  fmt::print("data             {} {} ({} samples, binarize {})\n", data.source, data.split, train_set.x.rows(),
             data.binarize);
  fmt::print("epochs           {} ({:.3g} s training, {:.3g} s per epoch)\n", state.epochs_done, seconds,
             state.history.empty() ? 0.0 : seconds / static_cast<double>(state.history.size()));
  if (!state.history.empty()) {
    const EpochStats& e = state.history.back();
    fmt::print("recon error      {} per pixel\n", fmt_num(e.recon_error));
    if (std::isfinite(e.pseudo_likelihood))
      fmt::print("pseudo-lik.      {} per feature ({} scikit-learn scale)\n", fmt_num(e.pseudo_likelihood),
                 fmt_num(e.pseudo_likelihood_scaled, 2));
    if (state.rbm.gaussian()) {
      const Eigen::ArrayXf sd = (0.5f * state.rbm.log_var.array()).exp();
      fmt::print("visible sigma    min {}  median {}  max {}\n", fmt_num(sd.minCoeff()), fmt_num(median_of(sd)),
                 fmt_num(sd.maxCoeff()));
    }
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
    fmt::print(out, "           Gamma {} (S {} U {} O {})  sweeps {}{}\n", fmt_num(s.tap_free_energy, 2),
               fmt_num(s.tap_entropy, 2), fmt_num(s.tap_energy, 2), fmt_num(s.tap_onsager, 3), fmt_num(s.tap_sweeps, 2),
               std::isfinite(s.tap_distinct_states)
                   ? fmt::format("  distinct states {:.1f}  re-seeded {:.0f}", s.tap_distinct_states, s.tap_reseeded)
                   : std::string());
}

void register_rbm_train(CLI::App& rbm) {
  auto a = std::make_shared<TrainArgs>();
  auto* cmd = rbm.add_subcommand(
      "train",
      "Train a Bernoulli RBM by CD-k, persistent CD (PCD-k), or deterministically by the naive mean-field (mf),\n"
      "TAP2 or TAP3 free energy (no sampling: the negative phase is a fixed point of the TAP equations); or,\n"
      "with --visible gaussian, a Gaussian-Bernoulli RBM with learned variances (CD-k or PCD-k, the values\n"
      "themselves: --binarize defaults to none).\n"
      "Example: onsager rbm train --data mnist --hidden 500 --method pcd --epochs 10 --out rbm.safetensors\n"
      "         onsager rbm train --data mnist --hidden 500 --method tap2 --epochs 10 --out tap2.safetensors\n"
      "         onsager rbm train --data mnist --visible gaussian --hidden 500 --out grbm.safetensors\n"
      "One line per epoch on stderr (reconstruction error, pseudo-likelihood, train/validation free energy,\n"
      "weight norms); the model is checkpointed atomically after every epoch and can be resumed exactly.");
  a->cmd = cmd;
  auto& c = a->config;
  add_data_flags(cmd, a->data, a->split, a->binarize, a->data_dir, false, "Split to train on: train, trainval, all, ...");
  cmd->add_option("--valid-split", a->valid_split, "Split for the free-energy over-fitting monitor, or none")
      ->capture_default_str();
  cmd->add_option("--hidden", c.hidden, "Hidden units")->capture_default_str();
  cmd->add_option("--visible", a->visible,
                  "Visible units: bernoulli, or gaussian (real values, learned per-unit variances; cd or pcd)")
      ->capture_default_str();
  cmd->add_option("--min-variance", c.min_variance,
                  "Gaussian visible units: floor of each unit's variance sigma^2 (a constant pixel would shrink it\n"
                  "without bound)")
      ->capture_default_str();
  cmd->add_option("--variance-lr-scale", c.variance_lr_scale,
                  "Gaussian visible units: the log-variances' learning rate as a fraction of --lr (0: the\n"
                  "data's variances stay)")
      ->capture_default_str();
  cmd->add_option("--method", a->method, "cd, pcd, mf (naive mean field), tap2 or tap3")->capture_default_str();
  cmd->add_option("--k", c.k, "Gibbs steps per update (CD-k, PCD-k)")->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "Epochs (the total, when resuming)")->capture_default_str();
  cmd->add_option("--batch", c.batch_size, "Minibatch size")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Learning rate (--visible gaussian: default 0.0001)")->capture_default_str();
  cmd->add_option("--lr-schedule", a->lr_schedule, "constant, linear (to --lr-final) or exp (times --lr-decay per epoch)")
      ->capture_default_str();
  cmd->add_option("--lr-final", c.lr_final, "Final learning rate of the linear schedule")->capture_default_str();
  cmd->add_option("--lr-decay", c.lr_decay, "Per-epoch factor of the exp schedule")->capture_default_str();
  cmd->add_option("--momentum", a->momentum, "Momentum in [0,1), or 'hinton' (0.5 for 5 epochs, then 0.9)")
      ->capture_default_str();
  cmd->add_option("--momentum-on", a->momentum_on,
                  "all (every parameter) or weights (the biases take plain gradient steps, as the TAP reference\n"
                  "implementation does)")
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
  cmd->add_option("--tap-reseed", a->tap_reseed,
                  "TAP methods, persistent: merged (a magnetisation that came within 1e-3 of another restarts from a\n"
                  "random minibatch row, so the negative phase keeps many states) or none")
      ->capture_default_str();
  cmd->add_option("--tap-restart-fraction", c.tap_restart_fraction,
                  "TAP methods, persistent: also restart this fraction of the magnetisations each update (0-1)")
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
