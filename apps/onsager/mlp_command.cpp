// onsager mlp train: the lab's MLP trainer (nn/mlp.hpp) with per-epoch scores and spectra, atomic checkpoints
// and exact resume.

#include <cmath>
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/output.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/nn/mlp.hpp"
#include "onsager/nn/mlp_file.hpp"

namespace onsager::cli {
namespace {

struct MlpTrainArgs {
  MlpConfig config;
  MlpDataSpec data;
  std::string arch = "784-300-100-10", activation = "relu", loss = "ce", optimizer = "sgd";
  std::string out, log, resume;
  bool no_spectra = false;
  int threads = 0;
  bool quiet = false;
  JsonOutput json;
  CLI::App* cmd = nullptr;
};

// Flags that define the run; a resumed run keeps the model's own values.
constexpr const char* kRunFlags[] = {"--arch",       "--activation", "--loss",      "--optimizer",    "--batch",
                                     "--lr",         "--lr-decay",   "--momentum",  "--l2",           "--dropout",
                                     "--early-stop", "--min-delta",  "--stop-accuracy", "--seed",     "--label-noise",
                                     "--subset",     "--no-spectra", "--data",      "--split",        "--test-split"};

std::string num(double x, int prec = 4) { return std::isfinite(x) ? fmt::format("{:.{}f}", x, prec) : "-"; }

void print_epoch(std::FILE* out, const MlpEpochStats& s, int total) {
  std::string alphas;
  for (const LayerSpectrum& l : s.layers) alphas += (alphas.empty() ? "" : " ") + num(l.alpha, 2);
  fmt::print(out, "epoch {:>3}/{}  loss {}  acc {}  test loss {}  acc {}{}  {:.3g}s\n", s.epoch, total,
             num(s.train_loss), num(s.train_accuracy), num(s.test_loss), num(s.test_accuracy),
             alphas.empty() ? std::string() : "  alpha " + alphas, s.seconds);
}

nlohmann::json report_json(const MlpTrainArgs& a, const MlpConfig& c, const MlpDataSpec& d, const MlpState& s,
                           const MlpData& data, std::string_view outcome, double seconds) {
  nlohmann::json layers = nlohmann::json::array();
  nlohmann::json last = nlohmann::json::object();
  if (!s.history.empty()) {
    last = to_json(s.history.back());
    layers = last["layers"];
  }
  return {{"model", a.out},
          {"arch", c.arch},
          {"settings", to_json(c)},
          {"data", to_json(d)},
          {"train_rows", data.train.x.rows()},
          {"test_rows", data.test.x.rows()},
          {"noisy_labels", data.noisy_labels},
          {"epochs", s.epochs_done},
          {"outcome", outcome},
          {"train_loss", last.value("train_loss", nlohmann::json(nullptr))},
          {"train_accuracy", last.value("train_accuracy", nlohmann::json(nullptr))},
          {"test_loss", last.value("test_loss", nlohmann::json(nullptr))},
          {"test_accuracy", last.value("test_accuracy", nlohmann::json(nullptr))},
          {"train_seconds", seconds},
          {"threads", num_threads()},
          {"layers", layers},
          {"log", a.log.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.log)}};
}

void write_log(const std::string& path, const MlpState& s) {
  if (path.empty()) return;
  std::string text;
  for (const MlpEpochStats& e : s.history) text += to_json(e).dump() + "\n";
  write_file_atomic(path, text);
}

void run_mlp_train(MlpTrainArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(!a.out.empty(), "mlp train: --out MODEL.safetensors is required");
  const bool resuming = !a.resume.empty();
  MlpConfig config = a.config;
  MlpDataSpec spec = a.data;
  MlpState state;
  if (resuming) {
    for (const char* flag : kRunFlags)
      ONSAGER_CHECK(a.cmd->count(flag) == 0,
                    "mlp train: {} cannot be given with --resume; the run continues with the model's own settings", flag);
  } else {
    ONSAGER_CHECK(!spec.source.empty(), "mlp train: --data NAME|PATH is required");
    config.arch = parse_arch(a.arch);
    config.activation = parse_activation(a.activation);
    config.loss = parse_mlp_loss(a.loss);
    config.optimizer = parse_mlp_optimizer(a.optimizer);
    config.spectra = !a.no_spectra;
    config.validate();
  }

  const std::vector<NamedPath> outputs = {{a.out, "--out"}, {a.log, "--log"}, {json_file(a.json), "--json"}};
  check_outputs({outputs.begin() + 1, outputs.end()}, {{a.resume, "the --resume model"}});
  const std::vector<OutputLock> locks = guard_outputs(outputs, {{data_file(spec.source), "--data"}});

  if (resuming) {
    MlpModelFile f = load_mlp_model(a.resume);
    ONSAGER_CHECK(f.has_train_state, "mlp train: {} holds no training state to resume from", a.resume);
    ONSAGER_CHECK(f.data.has_value(), "mlp train: {} does not record its data; it cannot be resumed", a.resume);
    const int epochs = a.cmd->count("--epochs") ? a.config.epochs : f.config.epochs;
    ONSAGER_CHECK(epochs >= f.state.epochs_done, "mlp train: --epochs {} is fewer than the {} epochs {} has done",
                  epochs, f.state.epochs_done, a.resume);
    config = f.config;
    config.epochs = epochs;
    spec = *f.data;
    spec.data_dir = a.data.data_dir;
    state = std::move(f.state);
  }
  const MlpData data = load_mlp_data(spec, config.arch.front(), config.arch.back(), config.seed);
  check_outputs(outputs, {{data.train.source, "the data file"}});
  if (!resuming) state = init_mlp(config);

  if (!a.quiet)
    fmt::print(stderr, "training MLP {} ({}, {} loss, {} lr {} batch {}) on {} {} ({} rows{}), {} threads{}\n",
               arch_string(config.arch), to_string(config.activation), to_string(config.loss),
               to_string(config.optimizer), config.lr, config.batch_size, spec.source, spec.split,
               data.train.x.rows(),
               data.noisy_labels > 0 ? fmt::format(", {} labels randomized", data.noisy_labels) : std::string(),
               num_threads(), resuming ? fmt::format(", resumed at epoch {}", state.epochs_done) : "");

  write_log(a.log, state);  // a resumed run's log starts as the model's own history
  const LabelledRows train{data.train.x, data.train.labels};
  const LabelledRows test{data.test.x, data.test.labels};
  const MlpOutcome outcome = train_mlp(state, config, train, data.test.x.rows() > 0 ? &test : nullptr,
                                       [&](const MlpState& s, const MlpEpochStats& st) {
                                         save_mlp_model(a.out, s, config, spec);
                                         write_log(a.log, s);
                                         if (!a.quiet) print_epoch(stderr, st, config.epochs);
                                         return true;
                                       });
  if (outcome == MlpOutcome::diverged)
    fmt::print(stderr, "warning: epoch {}: the training loss became NaN or Inf; the model is that of epoch {}\n",
               state.epochs_done + 1, state.epochs_done);
  save_mlp_model(a.out, state, config, spec, to_string(outcome));
  double seconds = 0;
  for (const MlpEpochStats& e : state.history) seconds += e.seconds;
  const nlohmann::json report = report_json(a, config, spec, state, data, to_string(outcome), seconds);
  if (a.json.to_stdout()) {
    emit_json(a.json, report);
    return;
  }
  fmt::print("model            {} (MLP {}, {}, {} loss)\n", a.out, arch_string(config.arch), to_string(config.activation),
             to_string(config.loss));
  fmt::print("data             {} {} ({} rows{}), test {} ({} rows)\n", spec.source, spec.split, data.train.x.rows(),
             data.noisy_labels > 0 ? fmt::format(", {} labels randomized", data.noisy_labels) : std::string(),
             spec.test_split, data.test.x.rows());
  fmt::print("epochs           {} ({}; {:.3g} s training, {:.3g} s per epoch)\n", state.epochs_done, to_string(outcome),
             seconds, state.history.empty() ? 0.0 : seconds / static_cast<double>(state.history.size()));
  if (!state.history.empty()) {
    const MlpEpochStats& e = state.history.back();
    fmt::print("train            loss {}  accuracy {}\n", num(e.train_loss), num(e.train_accuracy));
    fmt::print("test             loss {}  accuracy {}\n", num(e.test_loss), num(e.test_accuracy));
    for (const LayerSpectrum& l : e.layers)
      fmt::print("{:<16} alpha {}  {}  spikes {}  MP soft rank {}  stable rank {}  sigma_max {}\n", l.name,
                 num(l.alpha, 2), l.phase, l.num_spikes, num(l.mp_softrank, 3), num(l.stable_rank, 2),
                 num(l.spectral_norm, 3));
  }
  if (!a.log.empty()) fmt::print("log              {}\n", a.log);
  emit_json(a.json, report);
}

struct MlpEvalArgs {
  std::string model, data, split = "test", data_dir;
  int threads = 0;
  bool quiet = false;
  JsonOutput json;
};

void run_mlp_eval(const MlpEvalArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(!a.model.empty(), "mlp eval: --model MODEL.safetensors is required");
  const MlpModelFile f = load_mlp_model(a.model);
  MlpDataSpec spec;
  spec.source = a.data.empty() && f.data ? f.data->source : a.data;
  ONSAGER_CHECK(!spec.source.empty(), "mlp eval: --data NAME|PATH is required (the model does not record its data)");
  spec.split = a.split;
  spec.test_split = "none";
  spec.data_dir = a.data_dir;
  const MlpData data = load_mlp_data(spec, f.config.arch.front(), f.config.arch.back(), f.config.seed);
  const MlpScore score = score_mlp(f.state.model, f.config.loss, data.train.x, data.train.labels);
  const nlohmann::json j = {{"model", a.model},       {"data", spec.source},
                            {"split", spec.split},    {"rows", data.train.x.rows()},
                            {"loss_function", to_string(f.config.loss)},
                            {"loss", score.loss},     {"accuracy", score.accuracy}};
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("model      {} (MLP {}, {} epochs)\n", a.model, arch_string(f.config.arch), f.state.epochs_done);
  fmt::print("data       {} {} ({} rows)\n", spec.source, spec.split, data.train.x.rows());
  fmt::print("loss       {} ({})\n", num(score.loss), to_string(f.config.loss));
  fmt::print("accuracy   {}\n", num(score.accuracy));
  emit_json(a.json, j);
}

}  // namespace

void register_mlp_commands(CLI::App& app) {
  auto* mlp = app.add_subcommand("mlp", "Multilayer perceptrons: train one (with per-epoch spectra of its layers), score one");
  mlp->require_subcommand(1);
  auto a = std::make_shared<MlpTrainArgs>();
  auto* cmd = mlp->add_subcommand(
      "train",
      "Train a dense network (relu/tanh/sigmoid/linear hidden layers, a linear output scored by softmax\n"
      "cross-entropy or MSE) by SGD with momentum or Adam, and after every epoch score it on the training and\n"
      "test rows and measure each weight matrix's spectrum (alpha, phase, MP soft rank, spikes, stable rank).\n"
      "Example: onsager mlp train --data fashion-mnist --arch 784-300-100-10 --batch 16 --lr 0.01 \\\n"
      "           --momentum 0.9 --lr-decay 0.95 --epochs 20 --out mlp.safetensors --log mlp.jsonl\n"
      "The model file has PyTorch's names (layers.0.weight [out, in], layers.0.bias, ...); it is checkpointed\n"
      "atomically after every epoch and a run continues exactly with --resume.");
  a->cmd = cmd;
  MlpConfig& c = a->config;
  cmd->add_option("--data", a->data.source, "digits, mnist, fashion-mnist, or an IDX image file with its labels-idx1 file beside it")
      ->type_name("NAME|PATH");
  cmd->add_option("--split", a->data.split, "Split to train on: train, trainval, all, ...")->capture_default_str();
  cmd->add_option("--test-split", a->data.test_split, "Split scored after every epoch, or none")->capture_default_str();
  add_data_dir_option(cmd, a->data.data_dir);
  cmd->add_option("--arch", a->arch, "Widths, inputs first and classes last, e.g. 784-300-100-10")->capture_default_str();
  cmd->add_option("--activation", a->activation, "Hidden layers: relu, tanh, sigmoid or linear")->capture_default_str();
  cmd->add_option("--loss", a->loss, "ce (softmax cross-entropy) or mse (against one-hot targets)")->capture_default_str();
  cmd->add_option("--optimizer", a->optimizer, "sgd (with --momentum) or adam")->capture_default_str();
  cmd->add_option("--batch", c.batch_size, "Minibatch size (1 up to the training rows)")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--momentum", c.momentum, "SGD momentum in [0, 1)")->capture_default_str();
  cmd->add_option("--lr-decay", c.lr_decay, "The learning rate is multiplied by this after every epoch")
      ->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "Epochs at most (the total, when resuming)")->capture_default_str();
  cmd->add_option("--l2", c.l2, "L2 weight decay (weights, not biases)")->capture_default_str();
  cmd->add_option("--dropout", c.dropout, "Dropout probability of the hidden units in training")->capture_default_str();
  cmd->add_option("--early-stop", c.early_stop,
                  "Stop after this many epochs without a training-loss improvement of more than --min-delta (0: off)")
      ->type_name("PATIENCE")
      ->capture_default_str();
  cmd->add_option("--min-delta", c.early_stop_min_delta, "Early stopping: the improvement that counts")
      ->capture_default_str();
  cmd->add_option("--stop-accuracy", c.stop_accuracy, "Stop once the training accuracy reaches this (0: off)")
      ->capture_default_str();
  cmd->add_option("--label-noise", a->data.label_noise,
                  "Replace this fraction of the training labels by uniformly random ones (seeded)")
      ->type_name("P")
      ->capture_default_str();
  cmd->add_option("--subset", a->data.subset, "Train on this many rows of the split, drawn at random (0: all)")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_flag("--no-spectra", a->no_spectra, "Skip the per-epoch spectra of the weight matrices");
  cmd->add_option("--seed", c.seed, "Random seed (same seed, same model, for any --threads)")->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->add_option("--out", a->out, "Model file to write (safetensors)")->type_name("MODEL");
  cmd->add_option("--log", a->log, "Per-epoch scores and spectra as JSON lines")->type_name("FILE.jsonl");
  cmd->add_option("--resume", a->resume, "Continue the run saved in MODEL (to --epochs in total)")->type_name("MODEL");
  add_quiet_flag(cmd, a->quiet);
  add_json_option(cmd, a->json);
  cmd->callback([a] { run_mlp_train(*a); });

  auto e = std::make_shared<MlpEvalArgs>();
  auto* ev = mlp->add_subcommand("eval",
                                 "Score an MLP model file on labelled rows: mean loss and accuracy.\n"
                                 "Example: onsager mlp eval --model mlp.safetensors --data fashion-mnist --split test");
  ev->add_option("--model", e->model, "MLP model file (from mlp train)")->type_name("MODEL");
  ev->add_option("--data", e->data, "Data set or labelled file (default: the model's training data)")
      ->type_name("NAME|PATH");
  ev->add_option("--split", e->split, "Split to score")->capture_default_str();
  add_data_dir_option(ev, e->data_dir);
  add_threads_option(ev, e->threads);
  add_quiet_flag(ev, e->quiet);
  add_json_option(ev, e->json);
  ev->callback([e] { run_mlp_eval(*e); });
}

}  // namespace onsager::cli
