// The RBM temperature experiment (lab/rbm_temperature.hpp).

#include "onsager/lab/rbm_temperature.hpp"

#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/plot/chart.hpp"

namespace onsager {
namespace {

nlohmann::json num(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

TemperatureEpoch from_stats(const EpochStats& s) {
  TemperatureEpoch e;
  e.epoch = s.epoch;
  e.weight_norm = s.weight_norm;
  e.sigma_max = s.weight_sigma_max;
  e.mean_abs = s.weight_mean_abs;
  e.free_energy_gap = s.free_energy_valid - s.free_energy_train;
  e.recon_error = s.recon_error;
  e.pseudo_likelihood = s.pseudo_likelihood;
  return e;
}

}  // namespace

void RbmTemperatureOptions::validate() const {
  training.validate();
  ONSAGER_CHECK(std::isfinite(l2) && l2 > 0, "run_rbm_temperature: options.l2 must be > 0 (got {})", l2);
  ONSAGER_CHECK(std::isfinite(max_norm) && max_norm > 0, "run_rbm_temperature: options.max_norm must be > 0 (got {})",
                max_norm);
  ONSAGER_CHECK(held_out >= 1, "run_rbm_temperature: options.held_out must be >= 1 (got {})", held_out);
  ONSAGER_CHECK(saturation > 0 && saturation < 0.5, "run_rbm_temperature: options.saturation must be in (0, 0.5) (got {})",
                saturation);
  ONSAGER_CHECK(data.valid_split != "none", "run_rbm_temperature: data.valid_split must name held-out rows (got none)");
}

void measure_temperature(const Rbm& rbm, const ConstMatrixFRef& v, double saturation, TemperatureEpoch& out) {
  ONSAGER_CHECK(v.rows() > 0 && v.cols() == rbm.num_visible(), "measure_temperature: {} x {} rows for {} visible units",
                v.rows(), v.cols(), rbm.num_visible());
  const MatrixF p = rbm.hidden_probs(v);
  double saturated = 0, entropy = 0;
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    const double q = p.data()[i];
    saturated += q < saturation || q > 1 - saturation;
    if (q > 0 && q < 1) entropy -= q * std::log2(q) + (1 - q) * std::log2(1 - q);
  }
  out.saturated = saturated / static_cast<double>(p.size());
  out.hidden_entropy = entropy / static_cast<double>(p.size());
}

RbmTemperatureReport run_rbm_temperature(
    const RbmTemperatureOptions& o, const std::function<void(const TemperatureSetting&, const TemperatureEpoch&)>& on_epoch) {
  o.validate();
  const auto t0 = std::chrono::steady_clock::now();
  RbmTemperatureReport r;
  r.options = o;
  struct Setting {
    const char* name;
    double l2, max_norm;
  };
  for (const Setting& s : {Setting{"none", 0.0, 0.0}, Setting{"l2", o.l2, 0.0}, Setting{"max-norm", 0.0, o.max_norm}}) {
    TrainConfig c = o.training;
    c.l2 = s.l2;
    c.max_norm = s.max_norm;
    TrainingRun run = TrainingRun::start(c, o.data);
    ONSAGER_CHECK(run.valid_set() != nullptr, "run_rbm_temperature: the data has no held-out rows (data.valid_split '{}')",
                  o.data.valid_split);
    const MatrixF& valid = run.valid_set()->x;
    const Eigen::Index held = std::min<Eigen::Index>(o.held_out, valid.rows());
    r.train_rows = static_cast<std::size_t>(run.train_set().x.rows());
    r.held_out_rows = static_cast<std::size_t>(held);
    TemperatureSetting setting;
    setting.name = s.name;
    setting.l2 = s.l2;
    setting.max_norm = s.max_norm;
    {
      // The initial state, measured on the monitor rows the trainer uses (the pseudo-likelihood's stream of epoch 0
      // is the first epoch's; this draw precedes it and is independent of the training itself).
      TemperatureEpoch e = from_stats(measure_monitors(run.state().rbm, run.train_set().x, &valid, c, 0));
      e.epoch = 0;
      measure_temperature(run.state().rbm, valid.topRows(held), o.saturation, e);
      setting.epochs.push_back(e);
      if (on_epoch) on_epoch(setting, e);
    }
    TrainingRunOptions ro;
    ro.progress = false;
    ro.on_epoch = [&](const TrainState& st, const EpochStats& es) {
      TemperatureEpoch e = from_stats(es);
      measure_temperature(st.rbm, valid.topRows(held), o.saturation, e);
      setting.epochs.push_back(e);
      setting.seconds += es.seconds;
      if (on_epoch) on_epoch(setting, e);
      return true;
    };
    const TrainOutcome outcome = run.run(ro);
    setting.outcome = run.failure_message().empty() ? (outcome == TrainOutcome::finished ? "finished" : "stopped")
                                                    : run.failure_message();
    r.settings.push_back(std::move(setting));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

nlohmann::json to_json(const RbmTemperatureReport& r) {
  nlohmann::json settings = nlohmann::json::array();
  for (const TemperatureSetting& s : r.settings) {
    nlohmann::json epochs = nlohmann::json::array();
    for (const TemperatureEpoch& e : s.epochs)
      epochs.push_back({{"epoch", e.epoch},
                        {"weight_norm", num(e.weight_norm)},
                        {"sigma_max", num(e.sigma_max)},
                        {"mean_abs", num(e.mean_abs)},
                        {"saturated", num(e.saturated)},
                        {"hidden_entropy", num(e.hidden_entropy)},
                        {"free_energy_gap", num(e.free_energy_gap)},
                        {"recon_error", num(e.recon_error)},
                        {"pseudo_likelihood", num(e.pseudo_likelihood)}});
    settings.push_back({{"name", s.name},
                        {"l2", s.l2},
                        {"max_norm", s.max_norm},
                        {"outcome", s.outcome},
                        {"seconds", s.seconds},
                        {"epochs", epochs}});
  }
  const RbmTemperatureOptions& o = r.options;
  return {{"experiment", "rbm-temperature"},
          {"data", {{"source", o.data.source}, {"split", o.data.split}, {"valid_split", o.data.valid_split},
                    {"binarize", o.data.binarize}}},
          {"train_rows", r.train_rows},
          {"held_out_rows", r.held_out_rows},
          {"training", to_json(o.training)},
          {"l2", o.l2},
          {"max_norm", o.max_norm},
          {"saturation", o.saturation},
          {"settings", settings},
          {"seconds", r.seconds}};
}

std::string rbm_temperature_csv(const RbmTemperatureReport& r) {
  std::string s = "setting,epoch,weight_norm,sigma_max,mean_abs,saturated,hidden_entropy,free_energy_gap,recon_error,"
                  "pseudo_likelihood\n";
  auto f = [](double x) { return std::isfinite(x) ? fmt::format("{:.10g}", x) : std::string(); };
  for (const TemperatureSetting& t : r.settings)
    for (const TemperatureEpoch& e : t.epochs)
      s += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", t.name, e.epoch, f(e.weight_norm), f(e.sigma_max), f(e.mean_abs),
                       f(e.saturated), f(e.hidden_entropy), f(e.free_energy_gap), f(e.recon_error),
                       f(e.pseudo_likelihood));
  return s;
}

std::vector<std::string> write_rbm_temperature_figures(const RbmTemperatureReport& r, const std::string& dir) {
  ONSAGER_CHECK(!r.settings.empty(), "write_rbm_temperature_figures: the report has no settings");
  struct Measure {
    const char* title;
    double TemperatureEpoch::*field;
  };
  const Measure measures[] = {{"|W|_F", &TemperatureEpoch::weight_norm},
                              {"sigma_max(W)", &TemperatureEpoch::sigma_max},
                              {"saturated fraction of p(h|v) (held-out rows)", &TemperatureEpoch::saturated},
                              {"mean hidden entropy (bits)", &TemperatureEpoch::hidden_entropy},
                              {"free-energy gap (validation - train)", &TemperatureEpoch::free_energy_gap}};
  std::vector<std::pair<ChartOptions, std::vector<ChartSeries>>> panels;
  for (const Measure& m : measures) {
    std::vector<ChartSeries> series;
    for (const TemperatureSetting& s : r.settings) {
      ChartSeries c;
      c.title = s.name == "l2" ? fmt::format("L2 {:g}", s.l2) : s.name == "max-norm" ? fmt::format("max-norm {:g}", s.max_norm)
                                                                                      : std::string("no decay");
      for (const TemperatureEpoch& e : s.epochs) {
        c.x.push_back(e.epoch);
        c.y.push_back(e.*(m.field));
      }
      series.push_back(std::move(c));
    }
    panels.push_back({ChartOptions{m.title, "epoch", "", false, false, 560, 380}, std::move(series)});
  }
  const std::string path = dir.empty() || dir.back() == '/' ? dir + "rbm_temperature.png" : dir + "/rbm_temperature.png";
  write_line_charts(path,
                    fmt::format("RBM {} hidden on {}: the weight scale (1/T) with no decay, L2 and a max-norm bound",
                                r.options.training.hidden, r.options.data.source),
                    panels, 3);
  return {path};
}

}  // namespace onsager
