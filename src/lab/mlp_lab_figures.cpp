// The lab's MLP figures (lab/mlp_lab.hpp), drawn with plot/chart.hpp.

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "onsager/core/error.hpp"
#include "onsager/lab/mlp_lab.hpp"
#include "onsager/plot/chart.hpp"
#include "onsager/spectral/phase.hpp"

namespace onsager {
namespace {

std::string join_path(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

// The x value of a summary row: its batch size or its label fraction.
double knob(const LabSummary& s, bool by_batch) { return by_batch ? static_cast<double>(s.batch) : s.fraction; }

// Appends the point (knob, mean ± sd of metric) of summary row `s` to the series titled `title`, started if new.
void add_point(std::vector<ChartSeries>& out, const std::string& title, const LabSummary& s, bool by_batch,
               MeanSd LabSummary::*metric) {
  auto it = std::find_if(out.begin(), out.end(), [&](const ChartSeries& c) { return c.title == title; });
  if (it == out.end()) {
    out.push_back({title, {}, {}, {}});
    it = out.end() - 1;
  }
  it->x.push_back(knob(s, by_batch));
  it->y.push_back((s.*metric).mean);
  it->yerr.push_back((s.*metric).sd);
}

// One series per (arch, layer) of `metric`, in the report's order.
std::vector<ChartSeries> layer_series(const LabReport& r, bool by_batch, MeanSd LabSummary::*metric, bool with_arch) {
  std::vector<ChartSeries> out;
  for (const LabSummary& s : r.summary) add_point(out, with_arch ? s.arch + " " + s.layer : s.layer, s, by_batch, metric);
  return out;
}

// One series per arch of a per-run score (taken from the summary's first layer of each setting).
std::vector<ChartSeries> score_series(const LabReport& r, bool by_batch, MeanSd LabSummary::*metric,
                                      const std::string& what, bool with_arch) {
  std::vector<ChartSeries> out;
  for (const LabSummary& s : r.summary)
    if (s.layer == "layers.0.weight") add_point(out, with_arch ? s.arch + " " + what : what, s, by_batch, metric);
  return out;
}

int phase_index(const std::string& name) {
  int i = 0;
  for (Phase p : kAllPhases) {
    if (to_string(p) == name) return i;
    ++i;
  }
  return -1;
}

CellGrid phase_grid(const LabReport& r, bool by_batch, bool with_arch, const std::string& title,
                    const std::string& xlabel) {
  CellGrid g;
  g.title = title;
  g.xlabel = xlabel;
  g.ylabel = "layer";
  for (Phase p : kAllPhases) g.categories.emplace_back(to_string(p));
  std::vector<double> xs;
  for (const LabSummary& s : r.summary)
    if (std::find(xs.begin(), xs.end(), knob(s, by_batch)) == xs.end()) xs.push_back(knob(s, by_batch));
  for (double x : xs) g.columns.push_back(by_batch ? fmt::format("{}", static_cast<int>(x)) : fmt::format("{:g}", x));
  for (const LabSummary& s : r.summary) {
    const std::string row = with_arch ? s.arch + " " + s.layer : s.layer;
    auto it = std::find(g.rows.begin(), g.rows.end(), row);
    std::size_t ri = static_cast<std::size_t>(it - g.rows.begin());
    if (it == g.rows.end()) {
      g.rows.push_back(row);
      g.category.emplace_back(xs.size(), -1);
      g.text.emplace_back(xs.size());
    }
    const std::size_t ci = static_cast<std::size_t>(std::find(xs.begin(), xs.end(), knob(s, by_batch)) - xs.begin());
    g.category[ri][ci] = phase_index(s.phase);
    g.text[ri][ci] = std::isfinite(s.alpha.mean) ? fmt::format("{:.1f}", s.alpha.mean) : "-";
  }
  return g;
}

}  // namespace

std::vector<std::string> write_batch_size_figures(const LabReport& r, const std::string& dir) {
  ONSAGER_CHECK(!r.summary.empty(), "write_batch_size_figures: the report has no runs");
  std::vector<std::string> files;
  auto chart = [&](const std::string& name, const std::string& title, const std::string& ylabel,
                   std::vector<ChartSeries> series) {
    const std::string path = join_path(dir, name);
    write_line_chart(path, {title, "batch size", ylabel, true, false}, series);
    files.push_back(path);
  };
  const std::string what = fmt::format("MLP {} on {}, mean +- sd over seeds", arch_string(r.training.arch), r.data.source);
  chart("alpha.png", "power-law alpha of each layer: " + what, "alpha", layer_series(r, true, &LabSummary::alpha, false));
  chart("spikes.png", "eigenvalues beyond the MP bulk edge: " + what, "spikes",
        layer_series(r, true, &LabSummary::num_spikes, false));
  chart("mp_softrank.png", "MP soft rank (lambda+ / lambda_max): " + what, "MP soft rank",
        layer_series(r, true, &LabSummary::mp_softrank, false));
  std::vector<ChartSeries> acc = score_series(r, true, &LabSummary::train_accuracy, "train", false);
  for (ChartSeries& s : score_series(r, true, &LabSummary::test_accuracy, "test", false)) acc.push_back(std::move(s));
  chart("accuracy.png", "accuracy: " + what, "accuracy", std::move(acc));

  // The first layer's ESD at four batch sizes (the smallest, the largest and two between), first seed.
  std::vector<int> batches;
  for (const LabRun& run : r.runs)
    if (std::find(batches.begin(), batches.end(), run.batch) == batches.end()) batches.push_back(run.batch);
  std::sort(batches.begin(), batches.end());
  std::vector<int> pick;
  const std::size_t nb = batches.size();
  for (std::size_t k = 0; k < std::min<std::size_t>(4, nb); ++k) {
    const int b = batches[nb <= 4 ? k : k * (nb - 1) / 3];
    if (std::find(pick.begin(), pick.end(), b) == pick.end()) pick.push_back(b);
  }
  std::vector<const LayerResult*> layers;
  std::vector<std::string> titles;
  for (int b : pick)
    for (const LabRun& run : r.runs)
      if (run.batch == b && !run.first_layer.evals.empty()) {
        layers.push_back(&run.first_layer);
        titles.push_back(fmt::format("batch {}: {} spikes, soft rank {:.3f}, alpha {:.2f} ({})", b, run.layers[0].num_spikes,
                                     run.layers[0].mp_softrank, run.layers[0].alpha, run.layers[0].phase));
        break;
      }
  if (!layers.empty()) {
    const std::string path = join_path(dir, "esd_first_layer.png");
    write_mp_panels(path, "layers.0.weight ESD (mean-1 scale) and its Marchenko-Pastur fit", layers, titles);
    files.push_back(path);
  }
  const std::string path = join_path(dir, "phases.png");
  write_cell_grid(path, phase_grid(r, true, false, "phase of each layer (label: mean alpha) vs batch size", "batch size"));
  files.push_back(path);
  return files;
}

std::vector<std::string> write_random_labels_figures(const LabReport& r, const std::string& dir) {
  ONSAGER_CHECK(!r.summary.empty(), "write_random_labels_figures: the report has no runs");
  std::vector<std::string> files;
  auto chart = [&](const std::string& name, const std::string& title, const std::string& ylabel,
                   std::vector<ChartSeries> series) {
    const std::string path = join_path(dir, name);
    write_line_chart(path, {title, "fraction of training labels randomised", ylabel, false, false}, series);
    files.push_back(path);
  };
  const std::string what = fmt::format("{} ({} training rows)", r.data.source, r.train_rows);
  std::vector<ChartSeries> acc = score_series(r, false, &LabSummary::train_accuracy, "train", true);
  for (ChartSeries& s : score_series(r, false, &LabSummary::test_accuracy, "test", true)) acc.push_back(std::move(s));
  chart("accuracy.png", "accuracy with random labels: " + what, "accuracy", std::move(acc));
  chart("epochs.png", "epochs to fit (or the cap): " + what, "epochs",
        score_series(r, false, &LabSummary::epochs, "epochs", true));
  chart("alpha.png", "power-law alpha of each layer: " + what, "alpha", layer_series(r, false, &LabSummary::alpha, true));
  const std::string path = join_path(dir, "phases.png");
  write_cell_grid(path, phase_grid(r, false, true, "phase of each layer (label: mean alpha) vs fraction randomised",
                                   "fraction of labels randomised"));
  files.push_back(path);
  return files;
}

}  // namespace onsager
