// The lab's MLP experiments (lab/mlp_lab.hpp): batch size and random labels.

#include "onsager/lab/mlp_lab.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/spectral/phase.hpp"

namespace onsager {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

nlohmann::json num(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd m;
  double sum = 0;
  for (double x : v)
    if (std::isfinite(x)) sum += x, ++m.n;
  if (m.n == 0) return {kNan, kNan, 0};
  m.mean = sum / static_cast<double>(m.n);
  double ss = 0;
  for (double x : v)
    if (std::isfinite(x)) ss += (x - m.mean) * (x - m.mean);
  m.sd = m.n > 1 ? std::sqrt(ss / static_cast<double>(m.n - 1)) : 0.0;
  return m;
}

nlohmann::json to_json(const MeanSd& m) { return {{"mean", num(m.mean)}, {"sd", num(m.sd)}, {"n", m.n}}; }

nlohmann::json layer_json(const LayerSpectrum& l) {
  return {{"name", l.name},           {"alpha", num(l.alpha)},           {"phase", l.phase},
          {"mp_softrank", num(l.mp_softrank)}, {"num_spikes", l.num_spikes}, {"stable_rank", num(l.stable_rank)},
          {"lambda_max", num(l.lambda_max)}};
}

// The rows an experiment trains and tests on, loaded once.
struct LabData {
  Dataset train, test;
};

LabData load_lab_data(const MlpDataSpec& spec, int inputs, int classes, std::uint64_t seed) {
  MlpDataSpec clean = spec;
  clean.label_noise = 0;
  MlpData d = load_mlp_data(clean, inputs, classes, seed);
  ONSAGER_CHECK(d.test.x.rows() > 0, "lab: the experiments need test rows (data.test_split is '{}')", spec.test_split);
  return {std::move(d.train), std::move(d.test)};
}

LabRun train_one(const LabTraining& t, const std::vector<int>& arch, int batch, std::uint64_t seed, const LabData& data,
                 const std::vector<int>& labels) {
  MlpConfig c;
  c.arch = arch;
  c.activation = t.activation;
  c.loss = t.loss;
  c.batch_size = batch;
  c.lr = t.lr;
  c.momentum = t.momentum;
  c.lr_decay = t.lr_decay;
  c.epochs = t.epochs;
  c.early_stop = t.early_stop;
  c.early_stop_min_delta = t.early_stop_min_delta;
  c.stop_accuracy = t.stop_accuracy;
  c.seed = seed;
  c.spectra = false;
  MlpState s = init_mlp(c);
  const LabelledRows train{data.train.x, labels}, test{data.test.x, data.test.labels};
  const MlpOutcome outcome = train_mlp(s, c, train, &test);
  LabRun r;
  r.batch = batch;
  r.arch = arch_string(arch);
  r.seed = seed;
  r.epochs = s.epochs_done;
  r.outcome = std::string(to_string(outcome));
  if (!s.history.empty()) {
    const MlpEpochStats& e = s.history.back();
    r.train_loss = e.train_loss;
    r.train_accuracy = e.train_accuracy;
    r.test_loss = e.test_loss;
    r.test_accuracy = e.test_accuracy;
  }
  for (const MlpEpochStats& e : s.history) r.seconds += e.seconds;
  for (int l = 0; l < s.model.num_layers(); ++l)
    r.layers.push_back(layer_spectrum(s.model, l, l == 0 ? &r.first_layer : nullptr));
  r.history = std::move(s.history);
  return r;
}

// Runs grouped by (batch, fraction, arch), in first-seen order.
std::vector<LabSummary> summarize(const std::vector<LabRun>& runs) {
  std::vector<LabSummary> out;
  std::vector<std::vector<const LabRun*>> groups;
  for (const LabRun& r : runs) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
      return g[0]->batch == r.batch && g[0]->fraction == r.fraction && g[0]->arch == r.arch;
    });
    if (it == groups.end()) groups.push_back({&r});
    else it->push_back(&r);
  }
  for (const auto& g : groups) {
    for (std::size_t l = 0; l < g[0]->layers.size(); ++l) {
      LabSummary s;
      s.batch = g[0]->batch;
      s.fraction = g[0]->fraction;
      s.arch = g[0]->arch;
      s.layer = g[0]->layers[l].name;
      auto collect = [&](auto f) {
        std::vector<double> v;
        for (const LabRun* r : g) v.push_back(f(*r));
        return mean_sd(v);
      };
      s.alpha = collect([&](const LabRun& r) { return r.layers[l].alpha; });
      s.mp_softrank = collect([&](const LabRun& r) { return r.layers[l].mp_softrank; });
      s.num_spikes = collect([&](const LabRun& r) { return static_cast<double>(r.layers[l].num_spikes); });
      s.stable_rank = collect([&](const LabRun& r) { return r.layers[l].stable_rank; });
      s.lambda_max = collect([&](const LabRun& r) { return r.layers[l].lambda_max; });
      s.train_accuracy = collect([](const LabRun& r) { return r.train_accuracy; });
      s.test_accuracy = collect([](const LabRun& r) { return r.test_accuracy; });
      s.epochs = collect([](const LabRun& r) { return static_cast<double>(r.epochs); });
      std::map<std::string, int> counts;
      for (const LabRun* r : g) ++counts[r->layers[l].phase];
      int best = 0;
      for (Phase p : kAllPhases) {
        const auto it = counts.find(std::string(to_string(p)));
        if (it != counts.end() && it->second > best) best = it->second, s.phase = it->first;
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

// ρ between the knob (batch size or fraction) and every layer metric and score, per architecture.
std::vector<LabCorrelation> correlate(const std::vector<LabRun>& runs, bool by_batch) {
  std::vector<LabCorrelation> out;
  std::vector<std::string> archs;
  for (const LabRun& r : runs)
    if (std::find(archs.begin(), archs.end(), r.arch) == archs.end()) archs.push_back(r.arch);
  for (const std::string& arch : archs) {
    std::vector<const LabRun*> rs;
    for (const LabRun& r : runs)
      if (r.arch == arch) rs.push_back(&r);
    std::vector<double> knob;
    for (const LabRun* r : rs) knob.push_back(by_batch ? static_cast<double>(r->batch) : r->fraction);
    auto add = [&](const std::string& layer, const std::string& metric, auto f) {
      std::vector<double> v;
      for (const LabRun* r : rs) v.push_back(f(*r));
      const double rho = spearman_rho(knob, v);
      std::size_t n = 0;
      for (double x : v) n += std::isfinite(x);
      out.push_back({arch, layer, metric, rho, n});
    };
    add("", "train_accuracy", [](const LabRun& r) { return r.train_accuracy; });
    add("", "test_accuracy", [](const LabRun& r) { return r.test_accuracy; });
    add("", "generalization_gap", [](const LabRun& r) { return r.train_accuracy - r.test_accuracy; });
    add("", "epochs", [](const LabRun& r) { return static_cast<double>(r.epochs); });
    for (std::size_t l = 0; l < rs[0]->layers.size(); ++l) {
      const std::string name = rs[0]->layers[l].name;
      add(name, "alpha", [&](const LabRun& r) { return r.layers[l].alpha; });
      add(name, "mp_softrank", [&](const LabRun& r) { return r.layers[l].mp_softrank; });
      add(name, "num_spikes", [&](const LabRun& r) { return static_cast<double>(r.layers[l].num_spikes); });
      add(name, "stable_rank", [&](const LabRun& r) { return r.layers[l].stable_rank; });
      add(name, "lambda_max", [&](const LabRun& r) { return r.layers[l].lambda_max; });
    }
  }
  return out;
}

void validate_training(const LabTraining& t, const char* where) {
  ONSAGER_CHECK(std::isfinite(t.lr) && t.lr > 0, "{}: options.training.lr must be > 0 (got {})", where, t.lr);
  ONSAGER_CHECK(t.epochs >= 1, "{}: options.training.epochs must be >= 1 (got {})", where, t.epochs);
  ONSAGER_CHECK(t.momentum >= 0 && t.momentum < 1, "{}: options.training.momentum must be in [0, 1) (got {})", where,
                t.momentum);
  ONSAGER_CHECK(t.lr_decay > 0 && t.lr_decay <= 1, "{}: options.training.lr_decay must be in (0, 1] (got {})", where,
                t.lr_decay);
  ONSAGER_CHECK(t.early_stop >= 0, "{}: options.training.early_stop must be >= 0 (got {})", where, t.early_stop);
}

}  // namespace

double spearman_rho(const std::vector<double>& x, const std::vector<double>& y) {
  ONSAGER_CHECK(x.size() == y.size(), "spearman_rho: {} values against {}", x.size(), y.size());
  std::vector<std::pair<double, double>> p;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) p.emplace_back(x[i], y[i]);
  if (p.size() < 3) return kNan;
  auto ranks = [&](bool first) {
    std::vector<std::size_t> idx(p.size());
    std::iota(idx.begin(), idx.end(), 0);
    auto key = [&](std::size_t i) { return first ? p[i].first : p[i].second; };
    std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
    std::vector<double> r(p.size());
    for (std::size_t i = 0; i < idx.size();) {
      std::size_t j = i;
      while (j + 1 < idx.size() && key(idx[j + 1]) == key(idx[i])) ++j;
      const double mean_rank = 0.5 * static_cast<double>(i + j) + 1.0;
      for (std::size_t k = i; k <= j; ++k) r[idx[k]] = mean_rank;
      i = j + 1;
    }
    return r;
  };
  const std::vector<double> rx = ranks(true), ry = ranks(false);
  const double n = static_cast<double>(p.size()), mean = (n + 1) / 2;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    sxy += (rx[i] - mean) * (ry[i] - mean);
    sxx += (rx[i] - mean) * (rx[i] - mean);
    syy += (ry[i] - mean) * (ry[i] - mean);
  }
  if (sxx == 0 || syy == 0) return kNan;
  return sxy / std::sqrt(sxx * syy);
}

void BatchSizeOptions::validate() const {
  ONSAGER_CHECK(!batches.empty(), "run_batch_size: options.batches is empty");
  for (int b : batches) ONSAGER_CHECK(b >= 1, "run_batch_size: options.batches must be >= 1 (got {})", b);
  ONSAGER_CHECK(seeds >= 1, "run_batch_size: options.seeds must be >= 1 (got {})", seeds);
  ONSAGER_CHECK(training.arch.size() >= 2, "run_batch_size: options.training.arch needs at least two widths");
  validate_training(training, "run_batch_size");
}

void RandomLabelsOptions::validate() const {
  ONSAGER_CHECK(!archs.empty(), "run_random_labels: options.archs is empty");
  for (const auto& a : archs)
    ONSAGER_CHECK(a.size() >= 2, "run_random_labels: options.archs needs at least two widths each (got {})",
                  arch_string(a));
  ONSAGER_CHECK(!fractions.empty(), "run_random_labels: options.fractions is empty");
  for (double f : fractions)
    ONSAGER_CHECK(f >= 0 && f <= 1, "run_random_labels: options.fractions must be in [0, 1] (got {})", f);
  ONSAGER_CHECK(seeds >= 1, "run_random_labels: options.seeds must be >= 1 (got {})", seeds);
  ONSAGER_CHECK(training.batch_size >= 1, "run_random_labels: options.training.batch_size must be >= 1 (got {})",
                training.batch_size);
  for (const auto& a : archs)
    ONSAGER_CHECK(a.front() == archs.front().front() && a.back() == archs.front().back(),
                  "run_random_labels: options.archs must share their inputs and classes ({} vs {})", arch_string(a),
                  arch_string(archs.front()));
  validate_training(training, "run_random_labels");
}

LabReport run_batch_size(const BatchSizeOptions& o, const LabProgress& progress) {
  o.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const LabData data = load_lab_data(o.data, o.training.arch.front(), o.training.arch.back(), o.seed);
  LabReport r;
  r.experiment = "batch-size";
  r.data = o.data;
  r.train_rows = static_cast<std::size_t>(data.train.x.rows());
  r.test_rows = static_cast<std::size_t>(data.test.x.rows());
  r.training = o.training;
  const std::size_t total = o.batches.size() * static_cast<std::size_t>(o.seeds);
  for (int b : o.batches)
    for (int s = 0; s < o.seeds; ++s) {
      if (progress) progress(r.runs.size(), total, nullptr);
      r.runs.push_back(train_one(o.training, o.training.arch, b, o.seed + static_cast<std::uint64_t>(s), data,
                                 data.train.labels));
      if (progress) progress(r.runs.size(), total, &r.runs.back());
    }
  r.summary = summarize(r.runs);
  r.correlations = correlate(r.runs, true);
  r.threads = num_threads();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

LabReport run_random_labels(const RandomLabelsOptions& o, const LabProgress& progress) {
  o.validate();
  const auto t0 = std::chrono::steady_clock::now();
  const int inputs = o.archs.front().front(), classes = o.archs.front().back();
  const LabData data = load_lab_data(o.data, inputs, classes, o.seed);
  LabReport r;
  r.experiment = "random-labels";
  r.data = o.data;
  r.train_rows = static_cast<std::size_t>(data.train.x.rows());
  r.test_rows = static_cast<std::size_t>(data.test.x.rows());
  r.training = o.training;
  const std::size_t total = o.archs.size() * o.fractions.size() * static_cast<std::size_t>(o.seeds);
  for (const auto& arch : o.archs)
    for (double f : o.fractions)
      for (int s = 0; s < o.seeds; ++s) {
        const std::uint64_t seed = o.seed + static_cast<std::uint64_t>(s);
        if (progress) progress(r.runs.size(), total, nullptr);
        const std::vector<int> labels = randomize_labels(data.train.labels, f, classes, seed);
        LabRun run = train_one(o.training, arch, o.training.batch_size, seed, data, labels);
        run.fraction = f;
        r.runs.push_back(std::move(run));
        if (progress) progress(r.runs.size(), total, &r.runs.back());
      }
  r.summary = summarize(r.runs);
  r.correlations = correlate(r.runs, false);
  r.threads = num_threads();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

nlohmann::json to_json(const LabReport& r) {
  const bool labels = r.experiment == "random-labels";
  nlohmann::json runs = nlohmann::json::array();
  for (const LabRun& run : r.runs) {
    nlohmann::json layers = nlohmann::json::array();
    for (const LayerSpectrum& l : run.layers) layers.push_back(layer_json(l));
    nlohmann::json history = nlohmann::json::array();
    for (const MlpEpochStats& e : run.history)
      history.push_back({{"epoch", e.epoch},
                         {"train_loss", num(e.train_loss)},
                         {"train_accuracy", num(e.train_accuracy)},
                         {"test_accuracy", num(e.test_accuracy)}});
    nlohmann::json j = {{"batch", run.batch},
                        {"arch", run.arch},
                        {"seed", run.seed},
                        {"epochs", run.epochs},
                        {"outcome", run.outcome},
                        {"train_loss", num(run.train_loss)},
                        {"train_accuracy", num(run.train_accuracy)},
                        {"test_loss", num(run.test_loss)},
                        {"test_accuracy", num(run.test_accuracy)},
                        {"seconds", run.seconds},
                        {"layers", layers},
                        {"history", history}};
    if (labels) j["fraction"] = run.fraction;
    runs.push_back(std::move(j));
  }
  nlohmann::json summary = nlohmann::json::array();
  for (const LabSummary& s : r.summary) {
    nlohmann::json j = {{"batch", s.batch},
                        {"arch", s.arch},
                        {"layer", s.layer},
                        {"phase", s.phase},
                        {"alpha", to_json(s.alpha)},
                        {"mp_softrank", to_json(s.mp_softrank)},
                        {"num_spikes", to_json(s.num_spikes)},
                        {"stable_rank", to_json(s.stable_rank)},
                        {"lambda_max", to_json(s.lambda_max)},
                        {"train_accuracy", to_json(s.train_accuracy)},
                        {"test_accuracy", to_json(s.test_accuracy)},
                        {"epochs", to_json(s.epochs)}};
    if (labels) j["fraction"] = s.fraction;
    summary.push_back(std::move(j));
  }
  nlohmann::json corr = nlohmann::json::array();
  for (const LabCorrelation& c : r.correlations)
    corr.push_back({{"arch", c.arch}, {"layer", c.layer}, {"metric", c.metric}, {"spearman_rho", num(c.rho)}, {"n", c.n}});
  const LabTraining& t = r.training;
  return {{"experiment", r.experiment},
          {"data", to_json(r.data)},
          {"train_rows", r.train_rows},
          {"test_rows", r.test_rows},
          {"training",
           {{"arch", t.arch}, {"activation", to_string(t.activation)}, {"loss", to_string(t.loss)},
            {"batch_size", t.batch_size}, {"lr", t.lr}, {"momentum", t.momentum}, {"lr_decay", t.lr_decay},
            {"epochs", t.epochs}, {"early_stop", t.early_stop}, {"early_stop_min_delta", t.early_stop_min_delta},
            {"stop_accuracy", t.stop_accuracy}}},
          {"runs", runs},
          {"summary", summary},
          {"correlations", corr},
          {"threads", r.threads},
          {"seconds", r.seconds}};
}

std::string lab_runs_csv(const LabReport& r) {
  std::string s =
      "experiment,batch,fraction,arch,seed,epochs,outcome,train_loss,train_accuracy,test_loss,test_accuracy,seconds,"
      "layer,alpha,phase,mp_softrank,num_spikes,stable_rank,lambda_max\n";
  auto f = [](double x) { return std::isfinite(x) ? fmt::format("{:.10g}", x) : std::string(); };
  for (const LabRun& run : r.runs)
    for (const LayerSpectrum& l : run.layers)
      s += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.experiment, run.batch,
                       f(run.fraction), run.arch, run.seed, run.epochs, run.outcome, f(run.train_loss),
                       f(run.train_accuracy), f(run.test_loss), f(run.test_accuracy), f(run.seconds), l.name, f(l.alpha),
                       l.phase, f(l.mp_softrank), l.num_spikes, f(l.stable_rank), f(l.lambda_max));
  return s;
}

}  // namespace onsager
