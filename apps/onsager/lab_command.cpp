// onsager lab ...: the experiments that show the claims (lab/): batch-size, random-labels, rbm-temperature.

#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/output.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/lab/ising_rg.hpp"
#include "onsager/lab/mlp_lab.hpp"
#include "onsager/lab/rbm_temperature.hpp"

namespace onsager::cli {
namespace {

// The entries of a list flag, none of them empty.
std::vector<std::string> list_entries(const std::string& s, const char* flag) {
  std::vector<std::string> out = split_commas(s);
  for (const std::string& e : out)
    ONSAGER_CHECK(!e.empty(), "lab: {} '{}' has an empty entry (write e.g. 2,4,8)", flag, s);
  return out;
}

std::vector<int> parse_ints(const std::string& s, const char* flag) {
  std::vector<int> out;
  for (const std::string& p : list_entries(s, flag)) {
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(p, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    ONSAGER_CHECK(used == p.size() && v >= 1, "lab: {} entries must be whole numbers >= 1 (got '{}')", flag, p);
    out.push_back(v);
  }
  return out;
}

// Numbers in (lo, hi] when lo_open, else [lo, hi]; `what` says the range in the message.
std::vector<double> parse_numbers(const std::string& s, const char* flag, double lo, double hi, bool lo_open,
                                  const char* what) {
  std::vector<double> out;
  for (const std::string& p : list_entries(s, flag)) {
    std::size_t used = 0;
    double v = NAN;
    try {
      v = std::stod(p, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    const bool above = lo_open ? v > lo : v >= lo;
    ONSAGER_CHECK(used == p.size() && above && v <= hi, "lab: {} entries must be numbers {} (got '{}')", flag, what, p);
    out.push_back(v);
  }
  return out;
}

std::vector<double> parse_fractions(const std::string& s, const char* flag) {
  return parse_numbers(s, flag, 0, 1, false, "in [0, 1]");
}

// The flags every MLP experiment shares.
struct LabArgs {
  MlpDataSpec data;
  LabTraining training;
  std::string arch, loss = "ce", activation = "relu";
  int seeds = 3;
  std::uint64_t seed = 0;
  std::string csv, plots;
  int threads = 0;
  bool quiet = false;
  JsonOutput json;
};

void add_lab_flags(CLI::App* cmd, LabArgs& a) {
  cmd->add_option("--data", a.data.source, "digits, mnist or fashion-mnist")->capture_default_str();
  cmd->add_option("--split", a.data.split, "Split to train on")->capture_default_str();
  cmd->add_option("--test-split", a.data.test_split, "Split scored as the test set")->capture_default_str();
  add_data_dir_option(cmd, a.data.data_dir);
  cmd->add_option("--subset", a.data.subset, "Train on this many rows of the split, drawn at random (0: all)")
      ->type_name("N")
      ->capture_default_str();
  cmd->add_option("--loss", a.loss, "ce (softmax cross-entropy) or mse")->capture_default_str();
  cmd->add_option("--activation", a.activation, "Hidden layers: relu, tanh, sigmoid or linear")->capture_default_str();
  cmd->add_option("--lr", a.training.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--momentum", a.training.momentum, "SGD momentum")->capture_default_str();
  cmd->add_option("--lr-decay", a.training.lr_decay, "Learning rate factor per epoch")->capture_default_str();
  cmd->add_option("--epochs", a.training.epochs, "Epochs at most per run (the cap)")->capture_default_str();
  cmd->add_option("--early-stop", a.training.early_stop,
                  "Stop a run after this many epochs without a training-loss improvement over --min-delta (0: off)")
      ->type_name("PATIENCE")
      ->capture_default_str();
  cmd->add_option("--min-delta", a.training.early_stop_min_delta, "Early stopping: the improvement that counts")
      ->capture_default_str();
  cmd->add_option("--seeds", a.seeds, "Runs (seeds) per setting")->capture_default_str();
  cmd->add_option("--seed", a.seed, "First seed (run s uses seed + s)")->capture_default_str();
  add_threads_option(cmd, a.threads);
  cmd->add_option("--csv", a.csv, "Every run and layer as CSV")->type_name("FILE");
  cmd->add_option("--plots", a.plots, "Write the figures (PNG) into DIR (created if missing)")->type_name("DIR");
  add_quiet_flag(cmd, a.quiet);
  add_json_option(cmd, a.json);
}

std::string num(double x, int prec = 3) { return std::isfinite(x) ? fmt::format("{:.{}f}", x, prec) : "-"; }

// Prints `header` once the data are loaded (before the first run), then a line per finished run.
LabProgress progress_printer(const LabArgs& a, bool fractions, std::string header) {
  if (a.quiet) return {};
  return [fractions, header](std::size_t done, std::size_t total, const LabRun* run) {
    if (run == nullptr) {
      if (done == 0) fmt::print(stderr, "{}\n", header);
      return;
    }
    std::string alphas;
    for (const LayerSpectrum& l : run->layers) alphas += (alphas.empty() ? "" : " ") + num(l.alpha, 2);
    fmt::print(stderr, "run {:>3}/{}  {}  seed {}  {} epochs ({})  train {}  test {}  alpha {}  {}  {:.1f}s\n", done,
               total,
               fractions ? fmt::format("{} labels randomised {:g}", run->arch, run->fraction)
                         : fmt::format("batch {:>4}", run->batch),
               run->seed, run->epochs, run->outcome, num(run->train_accuracy, 4), num(run->test_accuracy, 4), alphas,
               run->layers.empty() ? "" : run->layers[0].phase, run->seconds);
  };
}

std::vector<OutputLock> guard_lab_outputs(const LabArgs& a) {
  const std::vector<NamedPath> outputs = {{json_file(a.json), "--json"}, {a.csv, "--csv"}};
  std::vector<OutputLock> locks = guard_outputs(outputs, {});
  if (!a.plots.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(a.plots)) std::filesystem::create_directories(a.plots, ec);
    ONSAGER_CHECK(!ec && std::filesystem::is_directory(a.plots), "lab: --plots {} is not a directory that can be made ({})",
                  a.plots, ec ? ec.message() : "a file of that name exists");
  }
  return locks;
}

void print_summary(const LabReport& r, bool fractions) {
  fmt::print("{} on {} ({} training rows, {} test rows), {} runs, {:.0f} s, {} threads\n", r.experiment, r.data.source,
             r.train_rows, r.test_rows, r.runs.size(), r.seconds, r.threads);
  fmt::print("{:<22} {:<16} {:>13} {:>13} {:>12} {:>14} {:>12} {:>12}  {}\n", fractions ? "arch, fraction" : "batch",
             "layer", "alpha", "spikes", "MP softrank", "stable rank", "train acc", "test acc", "phase");
  for (const LabSummary& s : r.summary)
    fmt::print("{:<22} {:<16} {:>6}+-{:<5} {:>6}+-{:<5} {:>12} {:>14} {:>12} {:>12}  {}\n",
               fractions ? fmt::format("{} {:g}", s.arch, s.fraction) : fmt::format("{}", s.batch), s.layer,
               num(s.alpha.mean, 2), num(s.alpha.sd, 2), num(s.num_spikes.mean, 1), num(s.num_spikes.sd, 1),
               num(s.mp_softrank.mean), num(s.stable_rank.mean, 2), num(s.train_accuracy.mean, 4),
               num(s.test_accuracy.mean, 4), s.phase);
  fmt::print("Spearman rank correlation with the {}:\n", fractions ? "fraction randomised" : "batch size");
  for (const LabCorrelation& c : r.correlations)
    fmt::print("  {:<24} {:<16} {:<20} {:>7}  (n {})\n", c.arch, c.layer.empty() ? "(run)" : c.layer, c.metric,
               num(c.rho, 3), c.n);
}

// Runs `draw` (the figures); when it fails, the report is still written (without "plots") before the error goes
// on, so a long run's measurements survive a plotting failure.
template <class Draw>
void with_report_kept(const JsonOutput& json, const nlohmann::json& j, Draw draw) {
  try {
    draw();
  } catch (const Error&) {
    emit_json(json, j);
    throw;
  }
}

void finish_lab(const LabArgs& a, const LabReport& r, bool fractions) {
  if (!a.csv.empty()) write_file_atomic(a.csv, lab_runs_csv(r));
  nlohmann::json j = to_json(r);
  if (!a.plots.empty())
    with_report_kept(a.json, j, [&] {
      j["plots"] = fractions ? write_random_labels_figures(r, a.plots) : write_batch_size_figures(r, a.plots);
    });
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  print_summary(r, fractions);
  if (!a.csv.empty()) fmt::print("csv    {}\n", a.csv);
  if (!a.plots.empty()) fmt::print("plots  {}\n", a.plots);
  emit_json(a.json, j);
}

void apply_common(LabArgs& a) {
  a.training.loss = parse_mlp_loss(a.loss);
  a.training.activation = parse_activation(a.activation);
}

struct BatchArgs : LabArgs {
  std::string batches = "2,4,8,16,32,64,128,256,512,1024";
};

struct LabelArgs : LabArgs {
  std::string fractions = "0,0.2,0.4,0.6,0.8,1";
  int batch = 128;
  double stop_accuracy = 0.99;
};

void run_lab_batch_size(BatchArgs& a) {
  set_num_threads(a.threads);
  apply_common(a);
  BatchSizeOptions o;
  o.data = a.data;
  o.training = a.training;
  o.training.arch = parse_arch(a.arch);
  o.batches = parse_ints(a.batches, "--batch");
  o.seeds = a.seeds;
  o.seed = a.seed;
  o.validate();
  const auto locks = guard_lab_outputs(a);
  const std::string header =
      fmt::format("lab batch-size: MLP {} on {} ({}), batch sizes {}, {} seeds, up to {} epochs, {} threads",
                  arch_string(o.training.arch), o.data.source,
                  o.data.subset ? fmt::format("{} rows", o.data.subset) : o.data.split, a.batches, o.seeds,
                  o.training.epochs, num_threads());
  const LabReport r = run_batch_size(o, progress_printer(a, false, header));
  finish_lab(a, r, false);
}

void run_lab_random_labels(LabelArgs& a) {
  set_num_threads(a.threads);
  apply_common(a);
  RandomLabelsOptions o;
  o.data = a.data;
  o.training = a.training;
  o.training.batch_size = a.batch;
  o.training.stop_accuracy = a.stop_accuracy;
  o.archs.clear();
  for (const std::string& s : list_entries(a.arch, "--arch")) o.archs.push_back(parse_arch(s));
  o.fractions = parse_fractions(a.fractions, "--fractions");
  o.seeds = a.seeds;
  o.seed = a.seed;
  o.validate();
  const auto locks = guard_lab_outputs(a);
  const std::string header =
      fmt::format("lab random-labels: {} on {} ({}), fractions {}, {} seeds, batch {}, up to {} epochs, {} threads", a.arch,
                  o.data.source, o.data.subset ? fmt::format("{} rows", o.data.subset) : o.data.split, a.fractions,
                  o.seeds, a.batch, o.training.epochs, num_threads());
  const LabReport r = run_random_labels(o, progress_printer(a, true, header));
  finish_lab(a, r, true);
}

struct TemperatureArgs {
  RbmTemperatureOptions options;
  std::string method = "pcd";
  std::string csv, plots;
  int threads = 0;
  bool quiet = false;
  JsonOutput json;
};

void run_lab_rbm_temperature(TemperatureArgs& a) {
  set_num_threads(a.threads);
  a.options.training.method = parse_train_method(a.method);
  a.options.validate();
  LabArgs guard;
  guard.json = a.json;
  guard.csv = a.csv;
  guard.plots = a.plots;
  const auto locks = guard_lab_outputs(guard);
  const TrainConfig& c = a.options.training;
  if (!a.quiet)
    fmt::print(stderr, "lab rbm-temperature: {} RBM {} hidden on {}, {} epochs, lr {}; settings: no decay, L2 {}, "
               "max-norm {}; {} threads\n",
               a.method, c.hidden, a.options.data.source, c.epochs, c.lr, a.options.l2, a.options.max_norm, num_threads());
  const RbmTemperatureReport r = run_rbm_temperature(a.options, [&](const TemperatureSetting& s, const TemperatureEpoch& e) {
    if (!a.quiet)
      fmt::print(stderr, "{:<9} epoch {:>3}  |W|_F {:>8}  sigma_max {:>8}  saturated {}  entropy {} bits  F gap {}\n",
                 s.name, e.epoch, num(e.weight_norm, 2), num(e.sigma_max, 2), num(e.saturated), num(e.hidden_entropy),
                 num(e.free_energy_gap, 2));
  });
  if (!a.csv.empty()) write_file_atomic(a.csv, rbm_temperature_csv(r));
  nlohmann::json j = to_json(r);
  if (!a.plots.empty()) with_report_kept(a.json, j, [&] { j["plots"] = write_rbm_temperature_figures(r, a.plots); });
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("rbm-temperature on {} ({} training rows, {} held-out rows), {:.0f} s\n", a.options.data.source,
             r.train_rows, r.held_out_rows, r.seconds);
  fmt::print("{:<10} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}  {}\n", "setting", "epoch", "|W|_F", "sigma_max",
             "saturated", "entropy", "F gap", "outcome");
  for (const TemperatureSetting& s : r.settings)
    for (std::size_t i : {std::size_t{0}, s.epochs.size() - 1}) {
      const TemperatureEpoch& e = s.epochs[i];
      fmt::print("{:<10} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}  {}\n", s.name, e.epoch, num(e.weight_norm, 2),
                 num(e.sigma_max, 2), num(e.saturated), num(e.hidden_entropy), num(e.free_energy_gap, 2),
                 i == 0 ? "" : s.outcome);
    }
  if (!a.csv.empty()) fmt::print("csv    {}\n", a.csv);
  if (!a.plots.empty()) fmt::print("plots  {}\n", a.plots);
  emit_json(a.json, j);
}

struct IsingRgArgs {
  IsingRgOptions options;
  std::string temperatures = "2.0,2.269185,3.0", layers = "400,100,25", windows = "2,4,8", method = "pcd";
  std::string plots;
  int threads = 0;
  bool quiet = false;
  JsonOutput json;
};

void run_lab_ising_rg(IsingRgArgs& a) {
  set_num_threads(a.threads);
  a.options.temperatures = parse_numbers(a.temperatures, "--temperatures", 0, INFINITY, true, "> 0");
  a.options.layers = parse_ints(a.layers, "--layers");
  a.options.windows = parse_ints(a.windows, "--windows");
  a.options.training.method = parse_train_method(a.method);
  a.options.training.validate();
  a.options.validate();
  LabArgs guard;
  guard.json = a.json;
  guard.plots = a.plots;
  const auto locks = guard_lab_outputs(guard);
  const IsingRgOptions& o = a.options;
  if (!a.quiet)
    fmt::print(stderr, "lab ising-rg: L = {}, T = {}, DBN {}-{}, {} configurations per temperature, {} threads\n", o.L,
               a.temperatures, o.L * o.L, a.layers, o.samples, num_threads());
  const IsingRgReport r = run_ising_rg(o, [&](const std::string& line) {
    if (!a.quiet) fmt::print(stderr, "{}\n", line);
  });
  nlohmann::json j = to_json(r);
  if (!a.plots.empty()) with_report_kept(a.json, j, [&] { j["plots"] = write_ising_rg_figures(r, a.plots); });
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("ising-rg: L = {}, {} training + {} held-out configurations per temperature, {:.0f} s\n", o.L, o.samples,
             o.held_out, r.seconds);
  for (const IsingRgTemperature& t : r.temperatures) {
    std::string loc;
    for (std::size_t i = 0; i < o.windows.size(); ++i)
      loc += fmt::format("  k={}: {:.3f} (shuffled {:.3f})", o.windows[i], t.locality[i], t.locality_shuffled[i]);
    fmt::print("T = {:.4f}  data: energy {:.4f} (exact {:.4f}), |m| {:.3f}, G(1) {:.3f}, G(L/2) {:.3f}\n", t.temperature,
               t.data.energy, t.exact_energy, t.data.abs_magnetization, t.data.correlation.front(), t.data.correlation.back());
    fmt::print("  first-layer weight mass in the best window:{}\n", loc);
    for (const IsingRgLayer& l : t.layers)
      fmt::print("  samples from layer {} ({:>4} units): energy {:.4f}, |m| {:.3f}, G(1) {:.3f}, G(L/2) {:.3f}\n", l.index,
                 l.hidden, l.generated.energy, l.generated.abs_magnetization, l.generated.correlation.front(),
                 l.generated.correlation.back());
  }
  if (!a.plots.empty()) fmt::print("plots  {}\n", a.plots);
  emit_json(a.json, j);
}

void register_ising_rg_command(CLI::App& lab) {
  auto a = std::make_shared<IsingRgArgs>();
  TrainConfig& c = a->options.training;
  a->options.samples = 5000;
  c.epochs = 30;
  c.lr = 0.05;
  c.batch_size = 50;
  c.l1 = 1e-4;
  c.monitor_samples = 500;
  auto* cmd = lab.add_subcommand(
      "ising-rg",
      "Mehta & Schwab's renormalization-group experiment: Wolff samples of the 2-D Ising model at T_c and one\n"
      "temperature either side, a DBN of decreasing widths trained on each (L1 decay for local receptive fields),\n"
      "and what the RG picture predicts: local first-layer filters (weight mass in the best k x k window vs\n"
      "shuffled pixels), and samples from each layer with the data's energy and spin-spin correlations.\n"
      "Example: onsager lab ising-rg --L 40 --layers 400,100,25 --plots rg/ --json rg.json");
  cmd->add_option("--L", a->options.L, "Lattice side")->capture_default_str();
  cmd->add_option("--temperatures", a->temperatures, "Temperatures, comma-separated")->type_name("LIST")->capture_default_str();
  cmd->add_option("--samples", a->options.samples, "Training configurations per temperature")->capture_default_str();
  cmd->add_option("--held-out", a->options.held_out, "Held-out configurations per temperature")->capture_default_str();
  cmd->add_option("--sweeps-between", a->options.sweeps_between, "Wolff sweeps between configurations")->capture_default_str();
  cmd->add_option("--layers", a->layers, "DBN hidden widths, bottom first")->type_name("LIST")->capture_default_str();
  cmd->add_option("--method", a->method, "Training method of every layer")->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "Epochs per layer")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--batch", c.batch_size, "Minibatch size")->capture_default_str();
  cmd->add_option("--l1", c.l1, "L1 weight decay (the locality prior)")->capture_default_str();
  cmd->add_option("--windows", a->windows, "Window sides k for the locality measure")->type_name("LIST")->capture_default_str();
  cmd->add_option("--generated", a->options.generated, "Samples drawn from each layer")->capture_default_str();
  cmd->add_option("--gibbs-steps", a->options.gibbs_steps, "Gibbs sweeps in a layer's RBM before the down pass")
      ->capture_default_str();
  cmd->add_option("--seed", a->options.seed, "Random seed")->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->add_option("--plots", a->plots, "Write the figures (PNG) into DIR (created if missing)")->type_name("DIR");
  add_quiet_flag(cmd, a->quiet);
  add_json_option(cmd, a->json);
  cmd->callback([a] { run_lab_ising_rg(*a); });
}

void register_rbm_temperature_command(CLI::App& lab) {
  auto a = std::make_shared<TemperatureArgs>();
  TrainConfig& c = a->options.training;
  c.hidden = 100;
  c.epochs = 20;
  c.lr = 0.1;
  c.batch_size = 100;
  c.momentum = 0.5;
  auto* cmd = lab.add_subcommand(
      "rbm-temperature",
      "The weight scale of an RBM plays the role of 1/T: train the same RBM with no decay, with L2 decay and with a\n"
      "max-norm bound, and measure per epoch |W|_F, sigma_max, the fraction of saturated hidden probabilities and\n"
      "their entropy on held-out rows, and the free-energy gap.\n"
      "Example: onsager lab rbm-temperature --data mnist --hidden 100 --epochs 20 --plots temp/ --json temp.json");
  cmd->add_option("--data", a->options.data.source, "digits, mnist or fashion-mnist")->capture_default_str();
  cmd->add_option("--split", a->options.data.split, "Split to train on")->capture_default_str();
  cmd->add_option("--valid-split", a->options.data.valid_split, "Held-out rows for the measures")->capture_default_str();
  cmd->add_option("--binarize", a->options.data.binarize, "none, threshold:T or stochastic:SEED")->capture_default_str();
  add_data_dir_option(cmd, a->options.data.data_dir);
  cmd->add_option("--hidden", c.hidden, "Hidden units")->capture_default_str();
  cmd->add_option("--method", a->method, "cd, pcd, mf, tap2 or tap3")->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "Epochs")->capture_default_str();
  cmd->add_option("--batch", c.batch_size, "Minibatch size")->capture_default_str();
  cmd->add_option("--lr", c.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--momentum", c.momentum, "Momentum")->capture_default_str();
  cmd->add_option("--l2", a->options.l2, "The L2 setting's weight decay")->capture_default_str();
  cmd->add_option("--max-norm", a->options.max_norm, "The max-norm setting's bound on each hidden unit's weight norm")
      ->capture_default_str();
  cmd->add_option("--held-out", a->options.held_out, "Held-out rows the saturation and entropy are measured on")
      ->capture_default_str();
  cmd->add_option("--seed", c.seed, "Random seed")->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->add_option("--csv", a->csv, "Every setting and epoch as CSV")->type_name("FILE");
  cmd->add_option("--plots", a->plots, "Write the figure (PNG) into DIR (created if missing)")->type_name("DIR");
  add_quiet_flag(cmd, a->quiet);
  add_json_option(cmd, a->json);
  cmd->callback([a] { run_lab_rbm_temperature(*a); });
}

}  // namespace

void register_lab_commands(CLI::App& app) {
  auto* lab = app.add_subcommand("lab", "Experiments that measure the claims: batch-size, random-labels, rbm-temperature, ising-rg");
  lab->require_subcommand(1);

  auto b = std::make_shared<BatchArgs>();
  b->data.source = "fashion-mnist";
  b->arch = "784-300-100-10";
  b->training.epochs = 20;
  auto* bc = lab->add_subcommand(
      "batch-size",
      "Martin & Mahoney's heavy-tailed self-regularization experiment: train the same MLP at each batch size for\n"
      "several seeds (SGD, lr 0.01, momentum 0.9, lr x 0.95 per epoch, early stopping on the training loss) and\n"
      "report each layer's alpha, phase, MP soft rank, spikes, stable rank and lambda_max, and the accuracies.\n"
      "Example: onsager lab batch-size --subset 10000 --batch 4,16,64,256 --seeds 3 --plots bs/ --json bs.json");
  add_lab_flags(bc, *b);
  bc->add_option("--arch", b->arch, "Widths, inputs first and classes last")->capture_default_str();
  bc->add_option("--batch", b->batches, "Batch sizes, comma-separated")->type_name("LIST")->capture_default_str();
  bc->callback([b] { run_lab_batch_size(*b); });

  auto l = std::make_shared<LabelArgs>();
  l->data.source = "fashion-mnist";
  l->data.subset = 10000;
  l->arch = "784-512-10,784-512-512-512-10";
  l->training.lr_decay = 1.0;
  l->training.epochs = 100;
  l->training.early_stop = 0;
  l->training.early_stop_min_delta = 0;
  l->seeds = 1;
  auto* lc = lab->add_subcommand(
      "random-labels",
      "Zhang et al.'s memorisation experiment: replace a fraction of the training labels by random ones and train\n"
      "each MLP (no explicit regularisation) until its training accuracy reaches --stop-accuracy or the epoch cap;\n"
      "report train and test accuracy, epochs to fit, and each layer's spectral metrics per fraction.\n"
      "Example: onsager lab random-labels --subset 10000 --fractions 0,0.5,1 --plots rl/ --json rl.json");
  add_lab_flags(lc, *l);
  lc->add_option("--arch", l->arch, "Architectures, comma-separated (1x512 and 3x512 by default)")->capture_default_str();
  lc->add_option("--fractions", l->fractions, "Fractions of labels randomised, comma-separated")
      ->type_name("LIST")
      ->capture_default_str();
  lc->add_option("--batch", l->batch, "Minibatch size")->capture_default_str();
  lc->add_option("--stop-accuracy", l->stop_accuracy, "A run stops once its training accuracy reaches this")
      ->capture_default_str();
  lc->callback([l] { run_lab_random_labels(*l); });

  register_rbm_temperature_command(*lab);
  register_ising_rg_command(*lab);
}

}  // namespace onsager::cli
