// onsager dbn ...: deep belief networks, trained greedily from RBMs (rbm/dbn.hpp): train, eval, features, sample.

#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/output.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/readers.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/nn/mlp_file.hpp"
#include "onsager/nn/softmax_regression.hpp"
#include "onsager/plot/image_grid.hpp"
#include "onsager/rbm/dbn.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/sampling.hpp"

namespace onsager::cli {
namespace {

// One value for every layer, or one per layer.
template <class T, class Parse>
std::vector<T> per_layer(const std::string& s, std::size_t layers, const char* flag, Parse parse) {
  const std::vector<std::string> parts = split_commas(s);
  ONSAGER_CHECK(parts.size() == 1 || parts.size() == layers,
                "dbn train: {} takes one value or one per layer ({} given for {} layers)", flag, parts.size(), layers);
  std::vector<T> out;
  for (std::size_t l = 0; l < layers; ++l) {
    const std::string& p = parts[parts.size() == 1 ? 0 : l];
    try {
      out.push_back(parse(p));
    } catch (const Error&) {
      throw;
    } catch (const std::exception&) {
      ONSAGER_FAIL("dbn train: {} entry '{}' is not a valid value", flag, p);
    }
  }
  return out;
}

int parse_int(const std::string& p) {
  std::size_t used = 0;
  const int v = std::stoi(p, &used);
  ONSAGER_CHECK(used == p.size(), "dbn train: '{}' is not a whole number", p);
  return v;
}

double parse_double(const std::string& p) {
  std::size_t used = 0;
  const double v = std::stod(p, &used);
  ONSAGER_CHECK(used == p.size(), "dbn train: '{}' is not a number", p);
  return v;
}

Dataset load_binarized(const std::string& source, const std::string& split, const std::string& binarize,
                       const std::string& data_dir) {
  Dataset d = load_dataset(source, parse_split(split), data_dir.empty() ? default_data_dir() : data_dir);
  onsager::binarize(d.x, parse_binarization(binarize));
  return d;
}

struct DbnTrainArgs {
  std::string data, split = "train", binarize = "threshold:0.5", data_dir;
  std::string layers = "500,500,2000", method = "pcd", epochs = "10", lr = "0.05", batch = "100", k = "1";
  std::string propagate = "probabilities";
  TrainConfig shared;
  std::string out, resume;
  int threads = 0;
  bool quiet = false;
  JsonOutput json;
  CLI::App* cmd = nullptr;
};

constexpr const char* kDbnRunFlags[] = {"--layers", "--method", "--lr", "--batch", "--k", "--momentum", "--l1", "--l2",
                                        "--max-norm", "--chains", "--init-std", "--seed", "--propagate", "--data",
                                        "--split", "--binarize"};

void run_dbn_train(DbnTrainArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(!a.out.empty(), "dbn train: --out DBN.safetensors is required");
  DbnConfig config;
  DbnState state;
  nlohmann::json record;
  if (!a.resume.empty()) {
    for (const char* flag : kDbnRunFlags)
      ONSAGER_CHECK(a.cmd->count(flag) == 0, "dbn train: {} cannot be given with --resume; the run keeps its own", flag);
    check_outputs({{json_file(a.json), "--json"}}, {{a.resume, "the --resume model"}});
  }
  const auto locks = guard_outputs({{a.out, "--out"}, {json_file(a.json), "--json"}}, {{data_file(a.data), "--data"}});
  if (!a.resume.empty()) {
    DbnModel m = load_dbn_model(a.resume);
    ONSAGER_CHECK(m.config.has_value() && m.data_info.is_object(), "dbn train: {} records no settings or data to resume",
                  a.resume);
    config = *m.config;
    if (a.cmd->count("--epochs")) {
      const auto e = per_layer<int>(a.epochs, config.layers.size(), "--epochs", parse_int);
      for (std::size_t l = 0; l < e.size(); ++l) config.layers[l].epochs = e[l];
    }
    state = std::move(m.state);
    record = m.data_info;
    a.data = record.value("source", "");
    a.split = record.value("split", "train");
    a.binarize = record.value("binarize", "threshold:0.5");
  } else {
    ONSAGER_CHECK(!a.data.empty(), "dbn train: --data NAME|PATH is required");
    const auto widths = per_layer<int>(a.layers, split_commas(a.layers).size(), "--layers", parse_int);
    const std::size_t n = widths.size();
    const auto methods = per_layer<TrainMethod>(a.method, n, "--method", [](const std::string& s) { return parse_train_method(s); });
    const auto epochs = per_layer<int>(a.epochs, n, "--epochs", parse_int);
    const auto lrs = per_layer<double>(a.lr, n, "--lr", parse_double);
    const auto batches = per_layer<int>(a.batch, n, "--batch", parse_int);
    const auto ks = per_layer<int>(a.k, n, "--k", parse_int);
    for (std::size_t l = 0; l < n; ++l) {
      TrainConfig c = a.shared;
      c.hidden = widths[l];
      c.method = methods[l];
      c.epochs = epochs[l];
      c.lr = lrs[l];
      c.batch_size = batches[l];
      c.k = ks[l];
      c.seed = a.shared.seed + l;
      c.monitor_samples = std::min(c.monitor_samples, 1000);
      config.layers.push_back(c);
    }
    config.propagation = parse_dbn_propagation(a.propagate);
    config.validate();
    record = {{"source", a.data}, {"split", a.split}, {"binarize", a.binarize}};
  }
  const Dataset d = load_binarized(a.data, a.split, a.binarize, a.data_dir);
  check_outputs({{a.out, "--out"}}, {{d.source, "the data file"}});
  record["samples"] = d.x.rows();
  record["features"] = d.x.cols();
  if (d.height > 0) record["image_shape"] = {d.height, d.width};
  if (!a.quiet) {
    std::string widths = std::to_string(d.x.cols());
    for (const TrainConfig& c : config.layers) widths += "-" + std::to_string(c.hidden);
    fmt::print(stderr, "training DBN {} on {} {} ({} rows, {} propagation), {} threads{}\n", widths, a.data, a.split,
               d.x.rows(), to_string(config.propagation), num_threads(),
               a.resume.empty() ? "" : fmt::format(", resumed with {} layers done", state.dbn.layers.size()));
  }
  const auto t0 = std::chrono::steady_clock::now();
  const TrainOutcome outcome = train_dbn(state, d.x, config, [&](int l, const TrainState& s, const EpochStats& e) {
    save_dbn_model(a.out, state, config, record);
    if (!a.quiet)
      fmt::print(stderr, "layer {} ({} -> {}, {}) epoch {:>3}/{}  recon {:.4f}  pl {:.4f}  |W| {:.2f}  {:.3g}s\n", l,
                 s.rbm.num_visible(), s.rbm.num_hidden(), to_string(config.layers[static_cast<std::size_t>(l)].method),
                 e.epoch, config.layers[static_cast<std::size_t>(l)].epochs, e.recon_error, e.pseudo_likelihood,
                 e.weight_norm, e.seconds);
    return true;
  });
  save_dbn_model(a.out, state, config, record);
  ONSAGER_CHECK(outcome == TrainOutcome::finished,
                "dbn train: layer {} stopped ({}); {} holds the layers done and that layer's last good epoch",
                state.dbn.layers.size(), to_string(outcome), a.out);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json layers = nlohmann::json::array();
  for (std::size_t l = 0; l < state.dbn.layers.size(); ++l) {
    const auto& h = state.history[l];
    layers.push_back({{"visible", state.dbn.layers[l].num_visible()},
                      {"hidden", state.dbn.layers[l].num_hidden()},
                      {"method", to_string(config.layers[l].method)},
                      {"epochs", h.size()},
                      {"last_epoch", h.empty() ? nlohmann::json(nullptr) : to_json(h.back())}});
  }
  const nlohmann::json j = {{"model", a.out}, {"widths", state.dbn.widths()}, {"layers", layers}, {"data", record},
                            {"propagation", to_string(config.propagation)}, {"seconds", seconds},
                            {"threads", num_threads()}};
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("model   {} (DBN {}, {:.1f} s)\n", a.out, fmt::join(state.dbn.widths(), "-"), seconds);
  for (std::size_t l = 0; l < state.dbn.layers.size(); ++l)
    if (!state.history[l].empty())
      fmt::print("layer {} {} x {}: recon {:.4f}, pseudo-likelihood {:.4f} per feature\n", l,
                 state.dbn.layers[l].num_visible(), state.dbn.layers[l].num_hidden(),
                 state.history[l].back().recon_error, state.history[l].back().pseudo_likelihood);
  emit_json(a.json, j);
}

// A DBN file's finished layers, and the data it records (or the flags').
struct LoadedDbn {
  DbnModel model;
  std::string source, binarize;
};

LoadedDbn load_for(const std::string& path, const std::string& data, const std::string& binarize, const char* who) {
  LoadedDbn r{load_dbn_model(path), data, binarize};
  ONSAGER_CHECK(!r.model.state.dbn.layers.empty(), "{}: {} has no finished layer yet", who, path);
  if (r.source.empty() && r.model.data_info.is_object()) r.source = r.model.data_info.value("source", "");
  if (r.binarize.empty())
    r.binarize = r.model.data_info.is_object() ? r.model.data_info.value("binarize", "threshold:0.5") : "threshold:0.5";
  ONSAGER_CHECK(!r.source.empty(), "{}: --data NAME|PATH is required (the model does not record its data)", who);
  return r;
}

struct DbnEvalArgs {
  std::string model, data, split = "test", train_split = "train", binarize, data_dir;
  int samples = 100, ais_runs = 100, ais_betas = 0, threads = 0;
  std::uint64_t seed = 0;
  bool quiet = false;
  JsonOutput json;
};

// log Z of an RBM: exact when its smaller layer has at most 20 units, else AIS from `marginals`.
struct LogZ {
  double value = 0, err = 0;
  std::string method;
};
LogZ log_z_of(const Rbm& rbm, const VectorF& marginals, const DbnEvalArgs& a) {
  if (std::min(rbm.num_visible(), rbm.num_hidden()) <= 20) return {log_partition_exact(rbm), 0.0, "exact"};
  AisOptions o;
  o.runs = a.ais_runs;
  o.betas = a.ais_betas;
  o.seed = a.seed;
  o.progress = !a.quiet;
  const AisResult r = log_partition_ais(rbm, marginals, o);
  const double err = std::isfinite(r.log_z_hi) && std::isfinite(r.log_z_lo) ? (r.log_z_hi - r.log_z_lo) / 6 : INFINITY;
  return {r.log_z, err, "ais"};
}

void run_dbn_eval(const DbnEvalArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(!a.model.empty(), "dbn eval: --model DBN.safetensors is required");
  const LoadedDbn m = load_for(a.model, a.data, a.binarize, "dbn eval");
  const Dbn& dbn = m.model.state.dbn;
  ONSAGER_CHECK(dbn.layers.size() >= 2, "dbn eval: the bound needs two layers; {} has {}", a.model, dbn.layers.size());
  Dbn two;
  two.layers = {dbn.layers[0], dbn.layers[1]};
  const Dataset test = load_binarized(m.source, a.split, m.binarize, a.data_dir);
  const Dataset train = load_binarized(m.source, a.train_split, m.binarize, a.data_dir);
  ONSAGER_CHECK(test.x.cols() == dbn.layers[0].num_visible(), "dbn eval: {} has {} columns, the DBN {} visible units",
                m.source, test.x.cols(), dbn.layers[0].num_visible());
  const VectorF pix = train.x.colwise().mean().transpose();
  const VectorF hid = dbn.layers[0].hidden_probs(train.x).colwise().mean().transpose();
  const LogZ z1 = log_z_of(dbn.layers[0], pix, a);
  const LogZ z2 = log_z_of(dbn.layers[1], hid, a);
  const DbnBound b = dbn_lower_bound(two, test.x, z2.value, a.samples, a.seed);
  const double rbm_ll = -dbn.layers[0].free_energy(test.x).mean() - z1.value;
  const double bound_err = std::sqrt(b.err * b.err + z2.err * z2.err);
  auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  const nlohmann::json j = {{"model", a.model},
                            {"data", m.source},
                            {"split", a.split},
                            {"rows", test.x.rows()},
                            {"lower_bound", num(b.mean)},
                            {"lower_bound_err", num(bound_err)},
                            {"rbm_log_likelihood", num(rbm_ll)},
                            {"rbm_log_likelihood_err", num(z1.err)},
                            {"log_z", {{"layer0", num(z1.value)}, {"layer0_err", num(z1.err)}, {"layer0_method", z1.method},
                                       {"layer1", num(z2.value)}, {"layer1_err", num(z2.err)}, {"layer1_method", z2.method}}},
                            {"samples_per_row", a.samples}};
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("model              {} (DBN {}; the bound uses layers 0 and 1)\n", a.model, fmt::join(dbn.widths(), "-"));
  fmt::print("data               {} {} ({} rows, binarize {})\n", m.source, a.split, test.x.rows(), m.binarize);
  fmt::print("DBN lower bound    {:.2f} +- {:.2f} nats per row (log Z of layer 1 by {})\n", b.mean, bound_err, z2.method);
  fmt::print("RBM (layer 0)      {:.2f} +- {:.2f} nats per row (log Z by {})\n", rbm_ll, z1.err, z1.method);
  fmt::print("{}\n", b.mean > rbm_ll ? "the second layer raises the bound above the first RBM's own likelihood"
                                     : "the bound is below the first RBM's own likelihood: the second layer did not help "
                                       "measurably");
  emit_json(a.json, j);
}

struct DbnFeaturesArgs {
  std::string model, data, split = "test", train_split = "train", binarize, data_dir, out;
  bool classify = false, quiet = false;
  int threads = 0;
  JsonOutput json;
};

void run_dbn_features(const DbnFeaturesArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(!a.model.empty(), "dbn features: --model DBN.safetensors is required");
  const LoadedDbn m = load_for(a.model, a.data, a.binarize, "dbn features");
  const auto locks = guard_outputs({{a.out, "--out"}, {json_file(a.json), "--json"}},
                                   {{a.model, "the model"}, {data_file(m.source), "--data"}});
  const Dbn& dbn = m.model.state.dbn;
  const int top = static_cast<int>(dbn.layers.size()) - 1;
  const Dataset test = load_binarized(m.source, a.split, m.binarize, a.data_dir);
  const MatrixF f = dbn.up(test.x, top);
  if (!a.out.empty()) write_npy(a.out, f);
  nlohmann::json j = {{"model", a.model}, {"data", m.source}, {"split", a.split}, {"rows", f.rows()}, {"features", f.cols()},
                      {"out", a.out.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.out)}};
  if (a.classify) {
    const Dataset train = load_binarized(m.source, a.train_split, m.binarize, a.data_dir);
    ONSAGER_CHECK(!train.labels.empty() && !test.labels.empty(), "dbn features: --classify needs labelled data");
    int classes = 0;
    for (int y : train.labels) classes = std::max(classes, y + 1);
    const MatrixF ft = dbn.up(train.x, top);
    const SoftmaxRegression fit = fit_softmax_regression(ft, train.labels, classes);
    j["classify"] = {{"train_accuracy", fit.accuracy(ft, train.labels)}, {"test_accuracy", fit.accuracy(f, test.labels)},
                     {"iterations", fit.iterations}, {"status", fit.status}};
  }
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("features   {} x {} (top layer of DBN {}) on {} {}\n", f.rows(), f.cols(), fmt::join(dbn.widths(), "-"),
             m.source, a.split);
  if (!a.out.empty()) fmt::print("out        {}\n", a.out);
  if (a.classify)
    fmt::print("classify   test accuracy {:.2f}% (train {:.2f}%), softmax regression on the top layer\n",
               100 * j["classify"]["test_accuracy"].get<double>(), 100 * j["classify"]["train_accuracy"].get<double>());
  emit_json(a.json, j);
}

struct DbnSampleArgs {
  std::string model, png;
  SampleOptions sample;
  int threads = 0;
  bool quiet = false;
};

void run_dbn_sample(DbnSampleArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(!a.model.empty() && !a.png.empty(), "dbn sample: --model DBN.safetensors and --png FILE are required");
  const DbnModel m = load_dbn_model(a.model);
  const Dbn& dbn = m.state.dbn;
  ONSAGER_CHECK(!dbn.layers.empty(), "dbn sample: {} has no finished layer yet", a.model);
  const auto locks = guard_outputs({{a.png, "--png"}}, {{a.model, "the model"}});
  std::pair<int, int> shape{0, 0};
  if (m.data_info.is_object() && m.data_info.contains("image_shape"))
    shape = {m.data_info["image_shape"][0].get<int>(), m.data_info["image_shape"][1].get<int>()};
  const auto [h, w] = image_shape_for(dbn.layers[0].num_visible(), shape);
  a.sample.progress = !a.quiet;
  // Gibbs in the top RBM, then one down pass of probabilities through the directed layers.
  const SampleResult top = sample_rbm(dbn.layers.back(), MatrixF(), a.sample);
  MatrixF x = top.probabilities;
  for (int l = static_cast<int>(dbn.layers.size()) - 2; l >= 0; --l) x = dbn.layers[static_cast<std::size_t>(l)].visible_probs(x);
  ImageGridOptions g;
  g.height = h;
  g.width = w;
  write_image_grid_png(a.png, x, g);
  if (!a.quiet) fmt::print(stderr, "wrote {} ({} samples, {} Gibbs sweeps in the top RBM)\n", a.png, a.sample.n, a.sample.steps);
}

struct DbnFinetuneArgs {
  std::string model, out;
  MlpDataSpec data;
  MlpConfig config;
  std::string loss = "ce";
  bool no_baseline = false, quiet = false;
  int threads = 0;
  JsonOutput json;
};

void run_dbn_finetune(DbnFinetuneArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(!a.model.empty(), "dbn finetune: --model DBN.safetensors is required");
  const DbnModel m = load_dbn_model(a.model);
  ONSAGER_CHECK(!m.state.dbn.layers.empty(), "dbn finetune: {} has no finished layer yet", a.model);
  if (a.data.source.empty() && m.data_info.is_object()) a.data.source = m.data_info.value("source", "");
  ONSAGER_CHECK(!a.data.source.empty(), "dbn finetune: --data NAME|PATH is required (the model does not record its data)");
  const auto locks = guard_outputs({{a.out, "--out"}, {json_file(a.json), "--json"}},
                                   {{a.model, "the model"}, {data_file(a.data.source), "--data"}});
  a.config.loss = parse_mlp_loss(a.loss);
  a.config.spectra = false;
  ONSAGER_CHECK(a.config.epochs >= 1, "dbn finetune: --epochs must be at least 1 (got {})", a.config.epochs);
  MlpConfig c = a.config;
  // Any label the data has sets the classes (the output layer is new).
  const MlpData data = load_mlp_data(a.data, m.state.dbn.widths().front(), 1 << 30, c.seed);
  int classes = 2;
  for (int y : data.train.labels) classes = std::max(classes, y + 1);
  MlpState pre = unroll_dbn(m.state.dbn, classes, c);
  c.validate();
  const LabelledRows train{data.train.x, data.train.labels}, test{data.test.x, data.test.labels};
  const LabelledRows* t = data.test.x.rows() > 0 ? &test : nullptr;
  auto line = [&](const char* what) {
    return [&a, what, &c](const MlpState&, const MlpEpochStats& e) {
      if (!a.quiet)
        fmt::print(stderr, "{:<10} epoch {:>3}/{}  loss {:.4f}  train {:.4f}  test {:.4f}  {:.3g}s\n", what, e.epoch, c.epochs,
                   e.train_loss, e.train_accuracy, e.test_accuracy, e.seconds);
      return true;
    };
  };
  if (!a.quiet)
    fmt::print(stderr, "fine-tuning DBN {} as a sigmoid MLP {} on {} ({} rows), {} epochs, lr {}, batch {}\n",
               fmt::join(m.state.dbn.widths(), "-"), arch_string(c.arch), a.data.source, data.train.x.rows(), c.epochs,
               c.lr, c.batch_size);
  const MlpOutcome pre_outcome = train_mlp(pre, c, train, t, line("pretrained"));
  if (!a.out.empty()) save_mlp_model(a.out, pre, c, a.data, to_string(pre_outcome));
  auto num = [](double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  // A run whose first epoch diverged has no history: its scores are null and its outcome says why.
  auto score = [&](const MlpState& s, MlpOutcome outcome) {
    const MlpEpochStats e = s.history.empty() ? MlpEpochStats{} : s.history.back();
    return nlohmann::json{{"train_accuracy", num(e.train_accuracy)}, {"test_accuracy", num(e.test_accuracy)},
                          {"train_loss", num(e.train_loss)},         {"test_loss", num(e.test_loss)},
                          {"epochs", s.epochs_done},                 {"outcome", to_string(outcome)}};
  };
  nlohmann::json j = {{"model", a.model}, {"arch", c.arch}, {"data", to_json(a.data)},
                      {"pretrained", score(pre, pre_outcome)},
                      {"out", a.out.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.out)}};
  if (!a.no_baseline) {
    MlpState rnd = init_mlp(c);  // the same architecture, Glorot-normal weights, the same budget
    const MlpOutcome rnd_outcome = train_mlp(rnd, c, train, t, line("random"));
    j["random_init"] = score(rnd, rnd_outcome);
  }
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  auto show = [](const nlohmann::json& x) { return x.is_number() ? fmt::format("{:.4f}", x.get<double>()) : std::string("-"); };
  fmt::print("pretrained   test accuracy {}  (train {}; {})\n", show(j["pretrained"]["test_accuracy"]),
             show(j["pretrained"]["train_accuracy"]), j["pretrained"]["outcome"].get<std::string>());
  if (!a.no_baseline)
    fmt::print("random init  test accuracy {}  (train {}; {}), same architecture and budget\n",
               show(j["random_init"]["test_accuracy"]), show(j["random_init"]["train_accuracy"]),
               j["random_init"]["outcome"].get<std::string>());
  if (!a.out.empty()) fmt::print("model        {}\n", a.out);
  emit_json(a.json, j);
}

}  // namespace

void register_dbn_commands(CLI::App& app) {
  auto* dbn = app.add_subcommand("dbn", "Deep belief networks: train greedily from RBMs, evaluate, extract features, sample, fine-tune");
  dbn->require_subcommand(1);

  auto t = std::make_shared<DbnTrainArgs>();
  auto* tc = dbn->add_subcommand(
      "train",
      "Train a DBN greedily: layer 0 is an RBM on the data, each next layer an RBM on the hidden probabilities\n"
      "(or samples) of the one below. --method, --epochs, --lr, --batch and --k take one value or one per layer.\n"
      "Example: onsager dbn train --data mnist --layers 500,500,2000 --epochs 10 --out dbn.safetensors");
  t->cmd = tc;
  add_data_flags(tc, t->data, t->split, t->binarize, t->data_dir, false, "Split to train on");
  tc->add_option("--layers", t->layers, "Hidden widths, bottom first")->type_name("LIST")->capture_default_str();
  tc->add_option("--method", t->method, "cd, pcd, mf, tap2 or tap3 (one, or one per layer)")->capture_default_str();
  tc->add_option("--epochs", t->epochs, "Epochs (one, or one per layer; the totals when resuming)")->capture_default_str();
  tc->add_option("--lr", t->lr, "Learning rate (one, or one per layer)")->capture_default_str();
  tc->add_option("--batch", t->batch, "Minibatch size (one, or one per layer)")->capture_default_str();
  tc->add_option("--k", t->k, "Gibbs steps per update (one, or one per layer)")->capture_default_str();
  tc->add_option("--momentum", t->shared.momentum, "Momentum")->capture_default_str();
  tc->add_option("--l1", t->shared.l1, "L1 weight decay")->capture_default_str();
  tc->add_option("--l2", t->shared.l2, "L2 weight decay")->capture_default_str();
  tc->add_option("--max-norm", t->shared.max_norm, "Max norm of each hidden unit's weights (0: off)")->capture_default_str();
  tc->add_option("--chains", t->shared.chains, "PCD chains (0: the batch size)")->capture_default_str();
  tc->add_option("--init-std", t->shared.init_std, "Initial weights ~ N(0, std^2)")->capture_default_str();
  tc->add_option("--propagate", t->propagate, "What a layer trains on: probabilities or samples of the one below")
      ->capture_default_str();
  tc->add_option("--seed", t->shared.seed, "Random seed (layer l uses seed + l)")->capture_default_str();
  add_threads_option(tc, t->threads);
  tc->add_option("--out", t->out, "DBN file to write (safetensors)")->type_name("DBN");
  tc->add_option("--resume", t->resume, "Continue the run saved in DBN")->type_name("DBN");
  add_quiet_flag(tc, t->quiet);
  add_json_option(tc, t->json);
  tc->callback([t] { run_dbn_train(*t); });

  auto e = std::make_shared<DbnEvalArgs>();
  auto* ec = dbn->add_subcommand(
      "eval",
      "Salakhutdinov & Murray's variational lower bound on the test log-likelihood of the DBN's first two layers,\n"
      "next to the first RBM's own log-likelihood (log Z exact for small layers, else AIS).\n"
      "Example: onsager dbn eval --model dbn.safetensors --split test");
  ec->add_option("--model", e->model, "DBN file")->type_name("DBN");
  ec->add_option("--data", e->data, "Data set or file (default: the model's)")->type_name("NAME|PATH");
  ec->add_option("--split", e->split, "Split to evaluate")->capture_default_str();
  ec->add_option("--train-split", e->train_split, "Split whose marginals start AIS")->capture_default_str();
  ec->add_option("--binarize", e->binarize, "none, threshold:T or stochastic:SEED (default: the model's)");
  add_data_dir_option(ec, e->data_dir);
  ec->add_option("--samples", e->samples, "Draws of h ~ Q(h|v) per row")->capture_default_str();
  ec->add_option("--ais-runs", e->ais_runs, "AIS runs")->capture_default_str();
  ec->add_option("--ais-betas", e->ais_betas, "AIS temperatures (0: the default schedule)")->capture_default_str();
  ec->add_option("--seed", e->seed, "Random seed")->capture_default_str();
  add_threads_option(ec, e->threads);
  add_quiet_flag(ec, e->quiet);
  add_json_option(ec, e->json);
  ec->callback([e] { run_dbn_eval(*e); });

  auto f = std::make_shared<DbnFeaturesArgs>();
  auto* fc = dbn->add_subcommand(
      "features",
      "The top layer's hidden probabilities of each row (as .npy), and with --classify the test accuracy of a\n"
      "softmax regression trained on them.\n"
      "Example: onsager dbn features --model dbn.safetensors --classify");
  fc->add_option("--model", f->model, "DBN file")->type_name("DBN");
  fc->add_option("--data", f->data, "Data set or file (default: the model's)")->type_name("NAME|PATH");
  fc->add_option("--split", f->split, "Split to extract")->capture_default_str();
  fc->add_option("--train-split", f->train_split, "Split the classifier trains on")->capture_default_str();
  fc->add_option("--binarize", f->binarize, "none, threshold:T or stochastic:SEED (default: the model's)");
  add_data_dir_option(fc, f->data_dir);
  fc->add_option("--out", f->out, "Features as .npy")->type_name("FEATURES.npy");
  fc->add_flag("--classify", f->classify, "Train a softmax regression on the training split's features");
  add_threads_option(fc, f->threads);
  add_quiet_flag(fc, f->quiet);
  add_json_option(fc, f->json);
  fc->callback([f] { run_dbn_features(*f); });

  auto ft = std::make_shared<DbnFinetuneArgs>();
  ft->config.epochs = 10;
  ft->config.lr = 0.1;
  ft->config.batch_size = 32;
  auto* ftc = dbn->add_subcommand(
      "finetune",
      "Unroll the DBN into a sigmoid MLP with a new softmax output layer and train it by backprop (the lab's MLP\n"
      "trainer); the same architecture is also trained from random initial weights at the same budget, to show\n"
      "what pretraining bought. Example: onsager dbn finetune --model dbn.safetensors --epochs 10 --out mlp.safetensors");
  ftc->add_option("--model", ft->model, "DBN file")->type_name("DBN");
  ftc->add_option("--data", ft->data.source, "Data set or labelled file (default: the model's)")->type_name("NAME|PATH");
  ftc->add_option("--split", ft->data.split, "Split to train on")->capture_default_str();
  ftc->add_option("--test-split", ft->data.test_split, "Split scored after every epoch, or none")->capture_default_str();
  add_data_dir_option(ftc, ft->data.data_dir);
  ftc->add_option("--epochs", ft->config.epochs, "Epochs")->capture_default_str();
  ftc->add_option("--lr", ft->config.lr, "Learning rate")->capture_default_str();
  ftc->add_option("--batch", ft->config.batch_size, "Minibatch size")->capture_default_str();
  ftc->add_option("--momentum", ft->config.momentum, "SGD momentum")->capture_default_str();
  ftc->add_option("--loss", ft->loss, "ce or mse")->capture_default_str();
  ftc->add_option("--seed", ft->config.seed, "Random seed (the output layer, shuffles, the baseline's weights)")
      ->capture_default_str();
  ftc->add_flag("--no-baseline", ft->no_baseline, "Skip the random-initialisation run");
  ftc->add_option("--out", ft->out, "The fine-tuned MLP (an mlp train model file)")->type_name("MLP");
  add_threads_option(ftc, ft->threads);
  add_quiet_flag(ftc, ft->quiet);
  add_json_option(ftc, ft->json);
  ftc->callback([ft] { run_dbn_finetune(*ft); });

  auto s = std::make_shared<DbnSampleArgs>();
  auto* sc = dbn->add_subcommand(
      "sample",
      "Draw from the DBN: block Gibbs in the top RBM from noise, then one down pass through the layers below, as\n"
      "a PNG grid of the visible probabilities.\n"
      "Example: onsager dbn sample --model dbn.safetensors --n 64 --steps 1000 --png dbn-samples.png");
  sc->add_option("--model", s->model, "DBN file")->type_name("DBN");
  sc->add_option("--n", s->sample.n, "Samples")->capture_default_str();
  sc->add_option("--steps", s->sample.steps, "Gibbs sweeps in the top RBM")->capture_default_str();
  sc->add_option("--seed", s->sample.seed, "Random seed")->capture_default_str();
  sc->add_option("--png", s->png, "Picture to write")->type_name("FILE");
  add_threads_option(sc, s->threads);
  add_quiet_flag(sc, s->quiet);
  sc->callback([s] { run_dbn_sample(*s); });
}

}  // namespace onsager::cli
