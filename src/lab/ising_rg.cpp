// The renormalization-group experiment on the 2-D Ising model (lab/ising_rg.hpp).

#include "onsager/lab/ising_rg.hpp"

#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/random.hpp"
#include "onsager/plot/chart.hpp"
#include "onsager/plot/image_grid.hpp"
#include "onsager/rbm/sampling.hpp"

namespace onsager {
namespace {

constexpr std::uint64_t kTagData = 0x15196'11, kTagHeld = 0x15196'12, kTagGen = 0x15196'13, kTagShuffle = 0x15196'14,
                        kTagDown = 0x15196'15;
constexpr int kExamples = 8;

nlohmann::json num(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

nlohmann::json to_json(const SpinStats& s) {
  return {{"energy", num(s.energy)}, {"abs_magnetization", num(s.abs_magnetization)}, {"correlation", s.correlation}};
}

// Bernoulli draws of probabilities p (in place), row r keyed by (key, r).
void bernoulli(MatrixF& p, std::uint64_t key) {
  for (Eigen::Index r = 0; r < p.rows(); ++r) {
    const std::uint64_t k = stream_seed(key, static_cast<std::uint64_t>(r));
    for (Eigen::Index j = 0; j < p.cols(); ++j) p(r, j) = counter_uniform(k, static_cast<std::uint32_t>(j)) < p(r, j) ? 1.f : 0.f;
  }
}

}  // namespace

void IsingRgOptions::validate() const {
  ONSAGER_CHECK(L >= 4 && L <= 256, "run_ising_rg: options.L must be in 4..256 (got {})", L);
  ONSAGER_CHECK(!temperatures.empty(), "run_ising_rg: options.temperatures is empty");
  for (double t : temperatures)
    ONSAGER_CHECK(std::isfinite(t) && t > 0, "run_ising_rg: options.temperatures must be > 0 (got {})", t);
  ONSAGER_CHECK(samples >= 10, "run_ising_rg: options.samples must be >= 10 (got {})", samples);
  ONSAGER_CHECK(held_out >= 1, "run_ising_rg: options.held_out must be >= 1 (got {})", held_out);
  ONSAGER_CHECK(!layers.empty(), "run_ising_rg: options.layers is empty");
  for (int h : layers) ONSAGER_CHECK(h >= 1, "run_ising_rg: options.layers must be >= 1 (got {})", h);
  for (int k : windows) ONSAGER_CHECK(k >= 1 && k <= L, "run_ising_rg: options.windows must be in 1..L (got {})", k);
  ONSAGER_CHECK(generated >= 1, "run_ising_rg: options.generated must be >= 1 (got {})", generated);
  ONSAGER_CHECK(gibbs_steps >= 1, "run_ising_rg: options.gibbs_steps must be >= 1 (got {})", gibbs_steps);
  IsingOptions io;
  io.L = L;
  io.samples = samples;
  io.sweeps_between = sweeps_between;
  io.validate();
}

SpinStats spin_stats(const ConstMatrixFRef& spins, int L) {
  const Eigen::Index n = L * L;
  ONSAGER_CHECK(spins.cols() == n && spins.rows() > 0, "spin_stats: {} x {} rows for L = {}", spins.rows(), spins.cols(), L);
  SpinStats s;
  s.correlation.assign(static_cast<std::size_t>(L / 2), 0.0);
  for (Eigen::Index r = 0; r < spins.rows(); ++r) {
    const float* row = spins.data() + r * spins.outerStride();
    s.energy += ising_energy_per_spin(row, L);
    double m = 0;
    for (Eigen::Index i = 0; i < n; ++i) m += row[i] > 0.5f ? 1 : -1;
    s.abs_magnetization += std::abs(m) / static_cast<double>(n);
    for (int d = 1; d <= L / 2; ++d) {
      double g = 0;
      for (int y = 0; y < L; ++y)
        for (int x = 0; x < L; ++x) {
          const double a = row[y * L + x] > 0.5f ? 1 : -1;
          g += a * ((row[y * L + (x + d) % L] > 0.5f ? 1 : -1) + (row[((y + d) % L) * L + x] > 0.5f ? 1 : -1));
        }
      s.correlation[static_cast<std::size_t>(d - 1)] += g / (2.0 * static_cast<double>(n));
    }
  }
  const double rows = static_cast<double>(spins.rows());
  s.energy /= rows;
  s.abs_magnetization /= rows;
  for (double& g : s.correlation) g /= rows;
  return s;
}

double window_mass_fraction(const ConstMatrixFRef& w, int L, int k) {
  ONSAGER_CHECK(w.cols() == L * L && k >= 1 && k <= L, "window_mass_fraction: {} columns for L = {}, k = {}", w.cols(), L, k);
  double sum = 0;
  for (Eigen::Index u = 0; u < w.rows(); ++u) {
    const Eigen::ArrayXd a = w.row(u).transpose().cast<double>().array().abs();
    const double total = a.sum();
    if (total == 0) continue;
    double best = 0;
    for (int y0 = 0; y0 < L; ++y0)
      for (int x0 = 0; x0 < L; ++x0) {
        double m = 0;
        for (int dy = 0; dy < k; ++dy)
          for (int dx = 0; dx < k; ++dx) m += a(((y0 + dy) % L) * L + (x0 + dx) % L);
        best = std::max(best, m);
      }
    sum += best / total;
  }
  return sum / static_cast<double>(w.rows());
}

IsingRgReport run_ising_rg(const IsingRgOptions& o, const std::function<void(const std::string&)>& progress) {
  o.validate();
  const auto t0 = std::chrono::steady_clock::now();
  IsingRgReport report;
  report.options = o;
  auto say = [&](const std::string& s) {
    if (progress) progress(s);
  };
  for (std::size_t ti = 0; ti < o.temperatures.size(); ++ti) {
    const auto t1 = std::chrono::steady_clock::now();
    const double T = o.temperatures[ti];
    IsingRgTemperature out;
    out.temperature = T;
    out.exact_energy = onsager_energy_per_spin(T);
    out.exact_magnetization = onsager_magnetization(T);
    IsingOptions io;
    io.L = o.L;
    io.temperature = T;
    io.samples = o.samples;
    io.sweeps_between = o.sweeps_between;
    io.seed = stream_seed(o.seed, kTagData, ti);
    const IsingSamples train = sample_ising_wolff(io);
    io.samples = o.held_out;
    io.seed = stream_seed(o.seed, kTagHeld, ti);
    const IsingSamples held = sample_ising_wolff(io);
    out.data = spin_stats(held.spins, o.L);
    out.data_examples = held.spins.topRows(std::min<Eigen::Index>(kExamples, held.spins.rows()));
    say(fmt::format("T = {:.4f}: {} + {} Wolff configurations, energy {:.4f} (exact {:.4f}), |m| {:.3f}", T, o.samples,
                    o.held_out, out.data.energy, out.exact_energy, out.data.abs_magnetization));

    DbnConfig dc;
    for (std::size_t l = 0; l < o.layers.size(); ++l) {
      TrainConfig c = o.training;
      c.hidden = o.layers[l];
      c.seed = o.training.seed + l;
      dc.layers.push_back(c);
    }
    DbnState st;
    const TrainOutcome outcome = train_dbn(st, train.spins, dc, [&](int l, const TrainState& s, const EpochStats& e) {
      if (e.epoch == dc.layers[static_cast<std::size_t>(l)].epochs)
        say(fmt::format("T = {:.4f}: layer {} ({} -> {}) trained, recon {:.4f}, pseudo-likelihood {:.4f}", T, l,
                        s.rbm.num_visible(), s.rbm.num_hidden(), e.recon_error, e.pseudo_likelihood));
      return true;
    });
    ONSAGER_CHECK(outcome == TrainOutcome::finished, "run_ising_rg: the DBN at T = {} stopped at layer {} (training {})",
                  T, st.dbn.layers.size(), to_string(outcome));
    out.dbn = st.dbn;

    // Receptive fields of the first layer, and of the same weights with their pixels shuffled.
    const MatrixF& w = out.dbn.layers[0].weight;
    MatrixF shuffled = w;
    for (Eigen::Index u = 0; u < shuffled.rows(); ++u) {
      Rng rng(stream_seed(o.seed, kTagShuffle, ti, static_cast<std::uint64_t>(u)));
      for (Eigen::Index i = shuffled.cols(); i > 1; --i)
        std::swap(shuffled(u, i - 1), shuffled(u, static_cast<Eigen::Index>(rng.below(static_cast<std::uint64_t>(i)))));
    }
    for (int k : o.windows) {
      out.locality.push_back(window_mass_fraction(w, o.L, k));
      out.locality_shuffled.push_back(window_mass_fraction(shuffled, o.L, k));
    }

    // Samples from each layer: Gibbs in its RBM from noise, then Bernoulli draws down through the layers below.
    for (std::size_t l = 0; l < out.dbn.layers.size(); ++l) {
      SampleOptions so;
      so.n = o.generated;
      so.steps = o.gibbs_steps;
      so.seed = stream_seed(o.seed, kTagGen, ti, l);
      MatrixF x = sample_rbm(out.dbn.layers[l], MatrixF(), so).states;
      for (int m = static_cast<int>(l) - 1; m >= 0; --m) {
        x = out.dbn.layers[static_cast<std::size_t>(m)].visible_probs(x);
        bernoulli(x, stream_seed(stream_seed(o.seed, kTagDown, ti, l), static_cast<std::uint64_t>(m)));
      }
      IsingRgLayer layer;
      layer.index = static_cast<int>(l);
      layer.visible = static_cast<int>(out.dbn.layers[l].num_visible());
      layer.hidden = static_cast<int>(out.dbn.layers[l].num_hidden());
      layer.generated = spin_stats(x, o.L);
      out.generated_examples.push_back(x.topRows(std::min<Eigen::Index>(kExamples, x.rows())));
      say(fmt::format("T = {:.4f}: samples from layer {}: energy {:.4f}, |m| {:.3f}, G(1) {:.3f} (data {:.3f})", T, l,
                      layer.generated.energy, layer.generated.abs_magnetization, layer.generated.correlation.at(0),
                      out.data.correlation.at(0)));
      out.layers.push_back(std::move(layer));
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    report.temperatures.push_back(std::move(out));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

nlohmann::json to_json(const IsingRgReport& r) {
  nlohmann::json temps = nlohmann::json::array();
  for (const IsingRgTemperature& t : r.temperatures) {
    nlohmann::json layers = nlohmann::json::array();
    for (const IsingRgLayer& l : t.layers)
      layers.push_back({{"index", l.index}, {"visible", l.visible}, {"hidden", l.hidden}, {"generated", to_json(l.generated)}});
    nlohmann::json loc = nlohmann::json::array();
    for (std::size_t i = 0; i < r.options.windows.size(); ++i)
      loc.push_back({{"k", r.options.windows[i]}, {"trained", num(t.locality[i])}, {"shuffled", num(t.locality_shuffled[i])}});
    temps.push_back({{"temperature", t.temperature},
                     {"exact_energy", num(t.exact_energy)},
                     {"exact_magnetization", num(t.exact_magnetization)},
                     {"data", to_json(t.data)},
                     {"locality", loc},
                     {"layers", layers},
                     {"seconds", t.seconds}});
  }
  const IsingRgOptions& o = r.options;
  return {{"experiment", "ising-rg"},
          {"L", o.L},
          {"samples", o.samples},
          {"held_out", o.held_out},
          {"sweeps_between", o.sweeps_between},
          {"layers", o.layers},
          {"training", to_json(o.training)},
          {"generated", o.generated},
          {"gibbs_steps", o.gibbs_steps},
          {"temperatures", temps},
          {"seconds", r.seconds}};
}

std::vector<std::string> write_ising_rg_figures(const IsingRgReport& r, const std::string& dir) {
  ONSAGER_CHECK(!r.temperatures.empty(), "write_ising_rg_figures: the report is empty");
  const int L = r.options.L;
  auto path = [&](const std::string& name) { return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name; };
  std::vector<std::string> files;
  std::vector<std::pair<ChartOptions, std::vector<ChartSeries>>> corr, loc;
  for (const IsingRgTemperature& t : r.temperatures) {
    const std::string tag = fmt::format("T{:.3f}", t.temperature);
    // The strongest first-layer filters.
    ImageGridOptions g;
    g.height = L;
    g.width = L;
    g.zoom = 2;
    g.scale = TileScale::per_tile;
    const std::string fpath = path("filters_" + tag + ".png");
    write_image_grid_png(fpath, filter_tiles(t.dbn.layers[0], 64, FilterOrder::norm), g);
    files.push_back(fpath);
    // Data, then samples from each layer, one row each.
    MatrixF rows(static_cast<Eigen::Index>(kExamples * (1 + t.generated_examples.size())), L * L);
    rows.setZero();
    rows.topRows(t.data_examples.rows()) = t.data_examples;
    for (std::size_t l = 0; l < t.generated_examples.size(); ++l)
      rows.middleRows(static_cast<Eigen::Index>((l + 1) * kExamples), t.generated_examples[l].rows()) = t.generated_examples[l];
    ImageGridOptions sg;
    sg.height = L;
    sg.width = L;
    sg.columns = kExamples;
    sg.zoom = 3;
    const std::string spath = path("samples_" + tag + ".png");
    write_image_grid_png(spath, rows, sg);
    files.push_back(spath);
    // G(r): data and each layer.
    std::vector<ChartSeries> series;
    auto add = [&](const std::string& name, const std::vector<double>& g) {
      ChartSeries c;
      c.title = name;
      for (std::size_t i = 0; i < g.size(); ++i) {
        c.x.push_back(static_cast<double>(i + 1));
        c.y.push_back(g[i]);
      }
      series.push_back(std::move(c));
    };
    add("data", t.data.correlation);
    for (const IsingRgLayer& l : t.layers) add(fmt::format("layer {} ({} units)", l.index, l.hidden), l.generated.correlation);
    corr.push_back({ChartOptions{fmt::format("G(r) at T = {:.3f}", t.temperature), "r", "<s_i s_i+r>", false, false, 560, 400},
                    std::move(series)});
    ChartSeries tr{"trained filters", {}, {}, {}}, sh{"pixels shuffled", {}, {}, {}};
    for (std::size_t i = 0; i < r.options.windows.size(); ++i) {
      tr.x.push_back(r.options.windows[i]);
      tr.y.push_back(t.locality[i]);
      sh.x.push_back(r.options.windows[i]);
      sh.y.push_back(t.locality_shuffled[i]);
    }
    loc.push_back({ChartOptions{fmt::format("weight mass in the best k x k window, T = {:.3f}", t.temperature), "k",
                                "fraction of |W_j|", false, false, 560, 400},
                   {tr, sh}});
  }
  write_line_charts(path("correlation.png"), "spin-spin correlation: held-out data vs samples from each layer", corr, 3);
  files.push_back(path("correlation.png"));
  write_line_charts(path("locality.png"), "locality of the first layer's receptive fields", loc, 3);
  files.push_back(path("locality.png"));
  return files;
}

}  // namespace onsager
