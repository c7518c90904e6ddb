#include "onsager/spectral/analyze.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>

#include <omp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"

namespace onsager {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// How a layer's ESDs are computed (see AnalyzeOptions::precision).
struct Route {
  EsdMethod method = EsdMethod::gram;
  EsdPrecision precision = EsdPrecision::automatic;
  bool wide_values = false;  ///< stored as 64-bit floats: float blocks would round them
};

Route route_for(const AnalyzeOptions& o, bool stored_in_64_bits) {
  Route r{o.esd_method, o.precision, stored_in_64_bits};
  if (o.esd_method == EsdMethod::svd || (stored_in_64_bits && o.precision == EsdPrecision::automatic))
    r.precision = EsdPrecision::f64;
  return r;
}

// Blocks of a row-major rows x cols matrix held in memory, as float (see BlockReader).
BlockReader memory_blocks(const std::vector<double>& w, std::size_t rows, std::size_t cols) {
  return [&w, rows, cols](std::size_t first, std::size_t count, float* out) {
    if (cols <= rows) {
      std::transform(w.begin() + static_cast<std::ptrdiff_t>(first * cols),
                     w.begin() + static_cast<std::ptrdiff_t>((first + count) * cols), out,
                     [](double v) { return static_cast<float>(v); });
    } else {
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < count; ++j) out[r * count + j] = static_cast<float>(w[r * cols + first + j]);
    }
  };
}

struct LayerEsd {
  std::vector<double> evals;
  std::size_t single = 0, total = 0;  ///< matrices whose ESD was kept in single precision, of all
  bool all_zero = true;               ///< every matrix is all zeros
  std::size_t ww_rank_loss = 0;       ///< with ww_compat: WeightWatcher's rank loss, summed over the matrices
};

// One matrix's ESD along `route`, appended to `out`; `in_double` gives the double ESD, used where an automatic
// single-precision Gram matrix leaves an eigenvalue within its floor of min_eval (the fit could see another set).
// With ww_compat, `by_svd` gives the ESD from the matrix's SVD, used where an eigenvalue lies within twice the
// Gram route's floor of 0: WeightWatcher's rank counts singular values down to n·ε·s_max, far below that floor.
void add_matrix_esd(LayerEsd& out, std::size_t rows, std::size_t cols, const BlockReader& read, const Route& route,
                    const AnalyzeOptions& o, EsdWorkspace& ws, const std::function<BlockedEsd()>& in_double,
                    const std::function<std::vector<double>()>& by_svd) {
  const bool exact = route.method == EsdMethod::svd || (route.wide_values && route.precision == EsdPrecision::f64);
  BlockedEsd e = exact ? in_double() : blocked_esd(rows, cols, read, route.precision, ws);
  if (route.precision == EsdPrecision::automatic && e.single_gram && !e.all_zero) {
    const double floor = single_precision_floor(e.evals.size(), e.evals.back());
    if (std::any_of(e.evals.begin(), e.evals.end(), [&](double v) { return std::abs(v - o.min_eval) <= floor; }))
      e = in_double();
  }
  if (o.ww_compat) {
    const double m = static_cast<double>(e.evals.size()), lmax = e.evals.back();
    const double floor = e.single_gram ? single_precision_floor(e.evals.size(), lmax)
                                       : 16.0 * m * std::numeric_limits<double>::epsilon() * lmax;  // metrics.hpp
    if (route.method != EsdMethod::svd && !e.all_zero && e.evals.front() <= 2 * floor) {
      e.evals = by_svd();
      e.single_gram = false;
    }
    out.ww_rank_loss += ww_rank_loss(e.evals, std::max(rows, cols));
  }
  out.single += e.single_gram;
  ++out.total;
  out.all_zero &= e.all_zero;
  out.evals.insert(out.evals.end(), e.evals.begin(), e.evals.end());
}

LayerEsd pooled_esd(const LayerSpec& spec, const std::vector<std::vector<double>>& matrices, const Route& route,
                    const AnalyzeOptions& o, EsdWorkspace& ws) {
  LayerEsd r;
  r.evals.reserve(spec.m() * matrices.size());
  for (const auto& w : matrices)
    add_matrix_esd(
        r, spec.rows, spec.cols, memory_blocks(w, spec.rows, spec.cols), route, o, ws,
        [&] {
          std::vector<double> e = esd(w, spec.rows, spec.cols, route.method);
          const bool zero = e.back() == 0;
          return BlockedEsd{std::move(e), zero, false};
        },
        [&] { return esd(w, spec.rows, spec.cols, EsdMethod::svd); });
  std::sort(r.evals.begin(), r.evals.end());
  return r;
}

// WeightWatcher's conv2d_norm (weightwatcher.py, apply_normalize_Wmats): with ww_compat, each Conv2D slice matrix
// is multiplied by √(conv2d_count/2), conv2d_count being 1 for a pooled layer and kh·kw for one slice of it
// (pool=False), so its eigenvalues by conv2d_count/2.
double ww_eigenvalue_scale(const LayerSpec& spec, const AnalyzeOptions& o) {
  if (!o.ww_compat || spec.kind != "conv2d") return 1.0;
  if (!o.selection.per_slice) return 0.5;
  const auto& s = spec.shape;
  const double kernel = spec.layout == ConvLayout::oihw ? static_cast<double>(s[2] * s[3]) : static_cast<double>(s[0] * s[1]);
  return kernel / 2;
}

void scale(std::vector<double>& evals, double factor) {
  if (factor != 1.0)
    for (double& v : evals) v *= factor;
}

std::string precision_label(const LayerEsd& e) {
  return e.single == e.total ? "single" : e.single == 0 ? "double" : "mixed";
}

// Jensen–Shannon distance (base 2, so in [0, 1]) between the histograms of log10 λ of two ESDs.
double js_distance(const std::vector<double>& a, const std::vector<double>& b, double min_eval) {
  std::vector<double> la, lb;
  for (double v : a)
    if (v > min_eval) la.push_back(std::log10(v));
  for (double v : b)
    if (v > min_eval) lb.push_back(std::log10(v));
  if (la.empty() || lb.empty()) return la.empty() && lb.empty() ? 0.0 : 1.0;
  const double lo = std::min(*std::min_element(la.begin(), la.end()), *std::min_element(lb.begin(), lb.end()));
  const double hi = std::max(*std::max_element(la.begin(), la.end()), *std::max_element(lb.begin(), lb.end()));
  constexpr int kBins = 100;
  const double width = hi > lo ? (hi - lo) / kBins : 1.0;
  std::vector<double> pa(kBins, 0), pb(kBins, 0);
  for (double v : la) pa[std::min(kBins - 1, static_cast<int>((v - lo) / width))] += 1.0 / static_cast<double>(la.size());
  for (double v : lb) pb[std::min(kBins - 1, static_cast<int>((v - lo) / width))] += 1.0 / static_cast<double>(lb.size());
  double js = 0;
  for (int k = 0; k < kBins; ++k) {
    const double m = (pa[k] + pb[k]) / 2;
    if (pa[k] > 0) js += 0.5 * pa[k] * std::log2(pa[k] / m);
    if (pb[k] > 0) js += 0.5 * pb[k] * std::log2(pb[k] / m);
  }
  return std::sqrt(std::max(0.0, js));
}

double mean_of(const std::vector<LayerResult>& layers, double (*get)(const LayerResult&)) {
  double s = 0;
  std::size_t n = 0;
  for (const auto& l : layers)
    if (l.valid_fit() && std::isfinite(get(l))) s += get(l), ++n;
  return n ? s / static_cast<double>(n) : kNaN;
}

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// Everything derived from a layer's ESD (ascending), the randomised baseline aside.
LayerResult layer_from_esd(const LayerSpec& spec, LayerEsd esd, const AnalyzeOptions& o) {
  LayerResult r;
  r.spec = spec;
  r.N = spec.n();
  r.M = spec.m();
  r.Q = static_cast<double>(r.N) / static_cast<double>(r.M);
  r.esd_precision = precision_label(esd);
  std::vector<double>& evals = esd.evals;
  r.num_evals = evals.size();
  std::vector<double> tail;
  for (double v : evals)
    if (v > o.min_eval) tail.push_back(v);
  r.num_fit_evals = tail.size();
  r.powerlaw = fit_power_law(tail, o.powerlaw);
  const double alpha = r.powerlaw.valid ? r.powerlaw.alpha : kNaN;
  ONSAGER_CHECK(evals.back() > 0, "analyze: layer {} is all zeros; nothing to analyse", spec.name);
  r.metrics = spectral_metrics(evals, r.M, alpha);
  if (o.ww_compat) set_ww_rank(r.metrics, evals, r.N, esd.ww_rank_loss);
  r.mp = fit_marchenko_pastur(evals, r.Q, r.M);
  r.phase = classify_phase(r.M, r.num_evals, r.metrics.rank_loss, evals.back() / r.mp.scale, r.mp, r.powerlaw);
  if (o.keep_evals) r.evals = std::move(evals);
  return r;
}

LayerResult analyze_matrices(const LayerSpec& spec, const std::vector<std::vector<double>>& matrices,
                             const AnalyzeOptions& o, const Route& route, EsdWorkspace& ws) {
  ONSAGER_CHECK(!matrices.empty(), "analyze: layer {} has no matrices", spec.name);
  LayerEsd esd = pooled_esd(spec, matrices, route, o, ws);
  const double factor = ww_eigenvalue_scale(spec, o);
  scale(esd.evals, factor);
  std::vector<double> evals = o.randomize ? esd.evals : std::vector<double>{};
  LayerResult r = layer_from_esd(spec, std::move(esd), o);
  if (o.randomize) {
    RandomizedResult rr;
    std::vector<std::vector<double>> shuffled = matrices;
    for (std::size_t s = 0; s < shuffled.size(); ++s) {
      Rng rng(stream_seed(o.seed, spec.tensor, spec.slices.empty() ? s : spec.slices[s]));
      auto& w = shuffled[s];
      for (std::size_t i = w.size(); i > 1; --i) std::swap(w[i - 1], w[rng.below(i)]);
    }
    rr.evals = pooled_esd(spec, shuffled, route, o, ws).evals;
    scale(rr.evals, factor);
    const MarchenkoPasturFit rmp = fit_marchenko_pastur(rr.evals, r.Q, r.M);
    rr.lambda_max = rr.evals.back();
    rr.num_traps = rmp.num_spikes;
    rr.mp_sigma = rmp.sigma;
    rr.distance = js_distance(evals, rr.evals, o.min_eval);
    if (!o.keep_evals) rr.evals.clear();
    r.randomized = std::move(rr);
  }
  return r;
}

}  // namespace

LayerResult analyze_matrices(const LayerSpec& spec, const std::vector<std::vector<double>>& matrices,
                             const AnalyzeOptions& o) {
  EsdWorkspace ws;
  return analyze_matrices(spec, matrices, o, route_for(o, true), ws);
}

AnalyzeSummary summarize(const std::vector<LayerResult>& layers) {
  AnalyzeSummary s;
  s.num_layers = layers.size();
  for (const auto& l : layers) s.num_valid += l.valid_fit();
  s.alpha = mean_of(layers, [](const LayerResult& l) { return l.powerlaw.alpha; });
  s.alpha_weighted = mean_of(layers, [](const LayerResult& l) { return l.metrics.alpha_weighted; });
  s.log_norm = mean_of(layers, [](const LayerResult& l) { return l.metrics.log_norm; });
  s.log_spectral_norm = mean_of(layers, [](const LayerResult& l) { return l.metrics.log_spectral_norm; });
  s.log_alpha_norm = mean_of(layers, [](const LayerResult& l) { return l.metrics.log_alpha_norm; });
  s.stable_rank = mean_of(layers, [](const LayerResult& l) { return l.metrics.stable_rank; });
  s.entropy = mean_of(layers, [](const LayerResult& l) { return l.metrics.entropy; });
  s.D = mean_of(layers, [](const LayerResult& l) { return l.powerlaw.D; });
  for (Phase p : kAllPhases) {
    std::size_t n = 0;
    for (const auto& l : layers) n += l.phase.phase == p;
    s.phase_counts.emplace_back(p, n);
  }
  return s;
}

void AnalyzeOptions::validate() const {
  ONSAGER_CHECK(powerlaw.min_tail >= 2, "analyze: options.powerlaw.min_tail must be at least 2 (got {})",
                powerlaw.min_tail);
  ONSAGER_CHECK(!powerlaw.xmax || (std::isfinite(*powerlaw.xmax) && *powerlaw.xmax > 0),
                "analyze: options.powerlaw.xmax must be finite and > 0 (got {})", powerlaw.xmax.value_or(0));
}

namespace {

// What a journal must agree on with the run that continues it (the options named as analyze's flags).
nlohmann::json journal_header(const LayerPlan& plan, const AnalyzeOptions& o) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerSpec& l : plan.layers) layers.push_back({l.name, l.shape});
  return {{"onsager", "analyze journal"},
          {"version", 1},
          {"options",
           {{"layers", o.selection.regex},
            {"min-evals", o.selection.min_evals},
            {"per-slice", o.selection.per_slice},
            {"conv-layout", o.selection.conv_layout == ConvLayout::oihw ? "oihw" : "hwio"},
            {"esd", to_string(o.esd_method)},
            {"precision", to_string(o.precision)},
            {"min-tail", o.powerlaw.min_tail},
            {"xmax", o.powerlaw.xmax ? nlohmann::json(*o.powerlaw.xmax) : nlohmann::json(nullptr)},
            {"fix-fingers", o.powerlaw.clip_xmax},
            {"max-fingers", o.powerlaw.max_fingers},
            {"finger-thresh", o.powerlaw.finger_thresh},
            {"min-eval", o.min_eval},
            {"randomize", o.randomize},
            {"seed", o.seed},
            {"ww-compat", o.ww_compat}}},
          {"layers", layers}};
}

}  // namespace

AnalyzeJournal::AnalyzeJournal(std::string path, const TensorSource& source, const AnalyzeOptions& o)
    : path_(std::move(path)) {
  const LayerPlan plan = plan_layers(source.tensors(), o.selection);
  const nlohmann::json header = journal_header(plan, o);
  std::string text = path_exists(path_) ? read_file(path_) : std::string();
  std::size_t keep = 0;  // bytes of complete lines
  if (!text.empty()) {
    std::map<std::string, const LayerSpec*> by_name;
    for (const LayerSpec& l : plan.layers) by_name[l.name] = &l;
    std::size_t line_no = 0;
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t nl = text.find('\n', pos);
      ++line_no;
      if (nl == std::string::npos) break;  // cut short by a kill: dropped
      const std::string line = text.substr(pos, nl - pos);
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        ONSAGER_FAIL("analyze: journal {}: line {} is not JSON; the file is not a journal onsager wrote", path_, line_no);
      }
      if (line_no == 1) {
        ONSAGER_CHECK(j.value("onsager", "") == "analyze journal", "analyze: journal {}: not an analysis journal", path_);
        for (const auto& [key, value] : header["options"].items())
          ONSAGER_CHECK(j["options"].value(key, nlohmann::json()) == value,
                        "analyze: journal {} was written with --{} {} (now {}); use the same options or another file",
                        path_, key, j["options"].value(key, nlohmann::json()).dump(), value.dump());
        ONSAGER_CHECK(j["layers"] == header["layers"],
                      "analyze: journal {} was written for another model: its {} planned layers are not this "
                      "model's {}",
                      path_, j["layers"].size(), header["layers"].size());
      } else {
        const std::string name = j.contains("layer") ? j["layer"].value("name", "") : j.value("all_zeros", "");
        const auto it = by_name.find(name);
        ONSAGER_CHECK(it != by_name.end(), "analyze: journal {}: line {} names no layer of this model ('{}')", path_,
                      line_no, name);
        try {
          finished_[name] = j.contains("layer") ? std::optional(layer_from_json(*it->second, j["layer"])) : std::nullopt;
        } catch (const nlohmann::json::exception& e) {
          ONSAGER_FAIL("analyze: journal {}: line {} is not a finished layer ({})", path_, line_no, e.what());
        }
      }
      keep = nl + 1;
      pos = nl + 1;
    }
  }
  // A file without one complete line is rewritten only when it is the start of a journal's first line (a
  // kill while it was being written), never another file given by mistake.
  ONSAGER_CHECK(keep > 0 || text.empty() || header.dump().rfind(text, 0) == 0 || text.rfind("{\"layers\":", 0) == 0,
                "analyze: journal {}: not an analysis journal (it holds no line onsager wrote); give another file",
                path_);
  file_ = std::fopen(path_.c_str(), keep > 0 ? "r+" : "w");
  ONSAGER_CHECK(file_ != nullptr, "analyze: cannot write the journal {} ({})", path_, std::strerror(errno));
  bool ok = true;
  if (keep > 0) ok = ::ftruncate(::fileno(file_), static_cast<off_t>(keep)) == 0 && std::fseek(file_, 0, SEEK_END) == 0;
  else ok = std::fputs((header.dump() + "\n").c_str(), file_) >= 0 && std::fflush(file_) == 0;
  if (!ok) {
    std::fclose(file_);
    ONSAGER_FAIL("analyze: cannot write the journal {} ({})", path_, std::strerror(errno));
  }
}

AnalyzeJournal::~AnalyzeJournal() {
  if (file_) std::fclose(file_);
}

void AnalyzeJournal::record(const LayerSpec& spec, const LayerResult* layer) {
  const nlohmann::json j = layer ? nlohmann::json{{"layer", to_json(*layer, true)}} : nlohmann::json{{"all_zeros", spec.name}};
  const std::string line = j.dump() + "\n";
  ONSAGER_CHECK(std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0 &&
                    ::fsync(::fileno(file_)) == 0,
                "analyze: cannot write the journal {} ({})", path_, std::strerror(errno));
}

namespace {

// The layers of `source`; throws when there is none to analyse.
LayerPlan checked_plan(const TensorSource& source, const std::string& source_name, const AnalyzeOptions& o) {
  LayerPlan plan = plan_layers(source.tensors(), o.selection);
  if (plan.layers.empty()) {
    ONSAGER_CHECK(!plan.skipped.empty() || o.selection.regex.empty(),
                  "analyze: {}: options.selection.regex '{}' matches none of its {} tensors", source_name, o.selection.regex,
                  source.tensors().size());
    ONSAGER_FAIL("analyze: {}: no layer to analyse among its {} tensors ({} skipped: 1-D, non-float or fewer than "
                 "options.selection.min_evals eigenvalues)",
                 source_name, source.tensors().size(), plan.skipped.size());
  }
  return plan;
}

// Layers grouped by tensor (per-slice layers share one): each tensor is read once, by one thread.
std::vector<std::vector<std::size_t>> tensor_groups(const LayerPlan& plan) {
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t k = 0; k < plan.layers.size(); ++k) {
    if (k == 0 || plan.layers[k].tensor != plan.layers[k - 1].tensor) groups.emplace_back();
    groups.back().push_back(k);
  }
  return groups;
}

// Analyses the layers of `groups` (indices into plan.layers) whose `known` entry is false, into `results`
// (null: all zeros), calling `finished(k)` (serialised) as layer k's result is stored. The layers of a group
// whose layers are all known are not read.
void compute_layers(const TensorSource& source, const LayerPlan& plan, const AnalyzeOptions& o,
                    std::vector<std::vector<std::size_t>> groups, const std::vector<bool>& known,
                    std::vector<std::optional<LayerResult>>& results, const std::function<void(std::size_t)>& finished) {
  std::vector<EsdWorkspace> workspaces(static_cast<std::size_t>(num_threads()));
  std::exception_ptr error;
  std::mutex mu;
  const auto publish = [&](std::size_t k, std::optional<LayerResult> r) {  // null: all zeros
    std::lock_guard lock(mu);
    results[k] = std::move(r);
    finished(k);
  };
  // A tensor is read when one of its layers is not known yet (all of its slices are then redone).
  std::vector<std::vector<std::size_t>> todo;
  for (const auto& g : groups)
    if (std::any_of(g.begin(), g.end(), [&](std::size_t k) { return !known[k]; })) todo.push_back(g);
  groups = std::move(todo);
#pragma omp parallel for schedule(dynamic, 1) num_threads(num_threads())
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (interrupt_requested()) continue;  // thrown below
    {
      std::lock_guard lock(mu);
      if (error) continue;
    }
    std::size_t current = groups[g].front();
    try {
      EsdWorkspace& ws = workspaces[static_cast<std::size_t>(omp_get_thread_num())];
      const LayerSpec& head = plan.layers[current];
      const TensorEntry& entry = source.tensors().at(head.tensor);
      const Route route = route_for(o, entry.float64());
      if (groups[g].size() == 1 && head.shape.size() == 2 && !o.randomize && route.method == EsdMethod::gram &&
          !route.wide_values && source.read_block(entry, 0, 0, 0, 0, nullptr)) {
        // A dense layer the source reads in blocks: one block of it in memory at a time.
        const std::size_t rows = head.rows, cols = head.cols;
        const BlockReader read = [&](std::size_t b, std::size_t count, float* out) {
          if (cols <= rows) {
            source.read_block(entry, b, count, 0, cols, out);
            source.release(entry);  // rows are read once: keep only the block resident
          } else {
            source.read_block(entry, 0, rows, b, count, out);  // every block touches every row
          }
        };
        LayerEsd esd;
        add_matrix_esd(
            esd, rows, cols, read, route, o, ws, [&] { return blocked_esd(rows, cols, read, EsdPrecision::f64, ws); },
            [&] {  // the whole matrix, row-major, in one block
              std::vector<float> f(rows * cols);
              read(0, cols <= rows ? rows : cols, f.data());
              const std::vector<double> w(f.begin(), f.end());
              return onsager::esd(w, rows, cols, EsdMethod::svd);
            });
        source.release(entry);
        publish(current, esd.all_zero ? std::nullopt : std::optional(layer_from_esd(head, std::move(esd), o)));
        continue;
      }
      std::vector<double> values = source.read(entry);
      for (std::size_t k : groups[g]) {
        if (known[k]) continue;
        current = k;
        const LayerSpec& spec = plan.layers[k];
        std::vector<std::vector<double>> matrices;
        if (spec.shape.size() == 2) matrices.push_back(std::move(values));  // dense: the tensor is the matrix
        else
          for (std::size_t sl : spec.slices) matrices.push_back(layer_matrix(values, spec, sl));
        bool all_zero = true;
        for (const auto& w : matrices)
          for (double v : w) all_zero &= v == 0;
        publish(k, all_zero ? std::nullopt : std::optional(analyze_matrices(spec, matrices, o, route, ws)));
      }
    } catch (const Error& e) {
      std::lock_guard lock(mu);
      if (!error) error = std::make_exception_ptr(Error(fmt::format("{} (layer {})", e.what(), plan.layers[current].name)));
    } catch (...) {
      std::lock_guard lock(mu);
      if (!error) error = std::current_exception();
    }
  }
  throw_if_interrupted("analyze");  // before a layer's error: that may come from the stop itself
  if (error) std::rethrow_exception(error);
}

AnalyzeReport assemble(const TensorSource& source, const std::string& source_name, LayerPlan plan,
                       std::vector<std::optional<LayerResult>> results) {
  AnalyzeReport report;
  report.source = source_name;
  report.format = source.format();
  report.skipped = std::move(plan.skipped);
  for (std::size_t k = 0; k < plan.layers.size(); ++k) {
    if (results[k]) report.layers.push_back(std::move(*results[k]));
    else report.skipped.push_back({plan.layers[k].name, "all zeros"});
  }
  ONSAGER_CHECK(!report.layers.empty(), "analyze: {}: every layer is all zeros", source_name);
  report.summary = summarize(report.layers);
  return report;
}

}  // namespace

double layer_cost(const LayerSpec& spec) {
  const auto n = static_cast<double>(spec.n()), m = static_cast<double>(spec.m());
  return static_cast<double>(spec.slices.size()) * (n * m * m + m * m * m);
}

std::vector<std::size_t> share_layers(const LayerPlan& plan, std::size_t parts) {
  ONSAGER_CHECK(parts >= 1, "share_layers: parts must be at least 1 (got 0)");
  const auto groups = tensor_groups(plan);
  std::vector<double> cost(groups.size(), 0.0);
  for (std::size_t g = 0; g < groups.size(); ++g)
    for (std::size_t k : groups[g]) cost[g] += layer_cost(plan.layers[k]);
  std::vector<std::size_t> order(groups.size());
  for (std::size_t g = 0; g < order.size(); ++g) order[g] = g;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });
  std::vector<double> load(parts, 0.0);
  std::vector<std::size_t> owner(plan.layers.size(), 0);
  for (std::size_t g : order) {
    const auto least = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    load[least] += cost[g];
    for (std::size_t k : groups[g]) owner[k] = least;
  }
  return owner;
}

AnalyzeReport analyze(const TensorSource& source, const std::string& source_name, const AnalyzeOptions& o,
                      const std::function<void(std::size_t, std::size_t, const LayerResult*)>& on_layer,
                      AnalyzeJournal* journal) {
  o.validate();
  LayerPlan plan = checked_plan(source, source_name, o);
  const std::size_t total = plan.layers.size();
  std::vector<std::optional<LayerResult>> results(total);
  std::vector<bool> known(total, false);  // taken from the journal
  std::size_t done = 0;
  if (journal)
    for (std::size_t k = 0; k < total; ++k)
      if (const auto it = journal->finished().find(plan.layers[k].name); it != journal->finished().end())
        results[k] = it->second, known[k] = true, ++done;
  compute_layers(source, plan, o, tensor_groups(plan), known, results, [&](std::size_t k) {
    ++done;
    const LayerResult* r = results[k] ? &*results[k] : nullptr;
    if (on_layer) on_layer(done, total, r);
    if (journal) journal->record(plan.layers[k], r);  // once its outputs exist
  });
  return assemble(source, source_name, std::move(plan), std::move(results));
}

std::map<std::size_t, std::optional<LayerResult>> analyze_part(
    const TensorSource& source, const std::string& source_name, const AnalyzeOptions& o, AnalyzePart part,
    const std::function<void(std::size_t, std::size_t, const LayerResult*)>& on_layer) {
  o.validate();
  ONSAGER_CHECK(part.count >= 1 && part.index < part.count, "analyze_part: part {} of {} does not exist", part.index,
                part.count);
  const LayerPlan plan = checked_plan(source, source_name, o);
  const std::size_t total = plan.layers.size();
  const std::vector<std::size_t> owner = share_layers(plan, part.count);
  std::vector<bool> known(total);
  std::size_t mine = 0, done = 0;
  for (std::size_t k = 0; k < total; ++k) {
    known[k] = owner[k] != part.index;  // another part's: not read here
    mine += known[k] ? 0 : 1;
  }
  std::vector<std::optional<LayerResult>> results(total);
  compute_layers(source, plan, o, tensor_groups(plan), known, results, [&](std::size_t k) {
    ++done;
    if (on_layer) on_layer(done, mine, results[k] ? &*results[k] : nullptr);
  });
  std::map<std::size_t, std::optional<LayerResult>> out;
  for (std::size_t k = 0; k < total; ++k)
    if (!known[k]) out.emplace(k, std::move(results[k]));
  return out;
}

AnalyzeReport assemble_report(const TensorSource& source, const std::string& source_name, const AnalyzeOptions& o,
                              std::vector<std::optional<LayerResult>> results) {
  LayerPlan plan = checked_plan(source, source_name, o);
  ONSAGER_CHECK(results.size() == plan.layers.size(), "assemble_report: {} results for the {} layers of {}",
                results.size(), plan.layers.size(), source_name);
  return assemble(source, source_name, std::move(plan), std::move(results));
}

nlohmann::json to_json(const LayerResult& l, bool with_mp) {
  const bool pl = l.powerlaw.valid;
  nlohmann::json j = {{"name", l.spec.name},
                      {"kind", l.spec.kind},
                      {"shape", l.spec.shape},
                      {"N", l.N},
                      {"M", l.M},
                      {"Q", l.Q},
                      {"slices", l.spec.slices.size()},
                      {"num_evals", l.num_evals},
                      {"esd_precision", l.esd_precision},
                      {"lambda_max", l.metrics.lambda_max},
                      {"alpha", pl ? num(l.powerlaw.alpha) : nullptr},
                      {"xmin", pl ? num(l.powerlaw.xmin) : nullptr},
                      {"xmax", pl ? num(l.powerlaw.xmax) : nullptr},
                      {"D", pl ? num(l.powerlaw.D) : nullptr},
                      {"sigma", pl ? num(l.powerlaw.sigma) : nullptr},
                      {"num_pl_spikes", l.powerlaw.num_pl_spikes},
                      {"num_fingers", l.powerlaw.num_fingers},
                      {"alpha_weighted", num(l.metrics.alpha_weighted)},
                      {"log_norm", num(l.metrics.log_norm)},
                      {"log_spectral_norm", num(l.metrics.log_spectral_norm)},
                      {"log_alpha_norm", num(l.metrics.log_alpha_norm)},
                      {"stable_rank", num(l.metrics.stable_rank)},
                      {"entropy", num(l.metrics.entropy)},
                      {"matrix_rank", l.metrics.matrix_rank},
                      {"rank_loss", l.metrics.rank_loss},
                      {"valid_fit", l.valid_fit()},
                      {"phase", to_string(l.phase.phase)},
                      {"phase_reason", l.phase.reason},
                      {"dequantized", l.spec.dequantized.empty() ? nlohmann::json(nullptr)
                                                                 : nlohmann::json(l.spec.dequantized)}};
  if (with_mp) {
    j["mp_sigma"] = num(l.mp.sigma);
    j["mp_bulk_min"] = num(l.mp.lambda_minus * l.mp.scale);
    j["mp_bulk_max"] = num(l.mp.lambda_plus * l.mp.scale);
    j["mp_tw_margin"] = num(l.mp.tw_margin);
    j["mp_num_spikes"] = l.mp.num_spikes;
    j["mp_softrank"] = num(l.mp.softrank);
    j["mp_ks"] = num(l.mp.ks);
  }
  if (l.randomized) {
    j["rand_lambda_max"] = num(l.randomized->lambda_max);
    j["rand_num_traps"] = l.randomized->num_traps;
    j["rand_mp_sigma"] = num(l.randomized->mp_sigma);
    j["rand_distance"] = num(l.randomized->distance);
  }
  return j;
}

namespace {

double number_or_nan(const nlohmann::json& v) { return v.is_null() ? kNaN : v.get<double>(); }

Phase phase_from_string(const std::string& s) {
  for (Phase p : kAllPhases)
    if (to_string(p) == s) return p;
  ONSAGER_FAIL("analyze: unknown phase '{}'", s);
}

}  // namespace

LayerResult layer_from_json(const LayerSpec& spec, const nlohmann::json& j) {
  LayerResult l;
  l.spec = spec;
  l.N = j.at("N").get<std::size_t>();
  l.M = j.at("M").get<std::size_t>();
  l.Q = j.at("Q").get<double>();
  l.num_evals = j.at("num_evals").get<std::size_t>();
  l.esd_precision = j.at("esd_precision").get<std::string>();
  l.metrics.lambda_max = j.at("lambda_max").get<double>();
  l.powerlaw.valid = !j.at("alpha").is_null();
  l.mp.scale = 1;  // the MP edges come back as reported (edge x scale)
  const std::pair<const char*, double*> numbers[] = {
      {"alpha", &l.powerlaw.alpha},
      {"xmin", &l.powerlaw.xmin},
      {"xmax", &l.powerlaw.xmax},
      {"D", &l.powerlaw.D},
      {"sigma", &l.powerlaw.sigma},
      {"alpha_weighted", &l.metrics.alpha_weighted},
      {"log_norm", &l.metrics.log_norm},
      {"log_spectral_norm", &l.metrics.log_spectral_norm},
      {"log_alpha_norm", &l.metrics.log_alpha_norm},
      {"stable_rank", &l.metrics.stable_rank},
      {"entropy", &l.metrics.entropy},
      {"mp_sigma", &l.mp.sigma},
      {"mp_bulk_min", &l.mp.lambda_minus},
      {"mp_bulk_max", &l.mp.lambda_plus},
      {"mp_tw_margin", &l.mp.tw_margin},
      {"mp_softrank", &l.mp.softrank},
      {"mp_ks", &l.mp.ks}};
  for (const auto& [key, field] : numbers) *field = number_or_nan(j.at(key));
  l.powerlaw.num_pl_spikes = j.at("num_pl_spikes").get<std::size_t>();
  l.powerlaw.num_fingers = j.at("num_fingers").get<int>();
  l.metrics.matrix_rank = j.at("matrix_rank").get<std::size_t>();
  l.metrics.rank_loss = j.at("rank_loss").get<std::size_t>();
  l.mp.num_spikes = j.at("mp_num_spikes").get<std::size_t>();
  l.phase.phase = phase_from_string(j.at("phase").get<std::string>());
  l.phase.reason = j.at("phase_reason").get<std::string>();
  if (j.contains("rand_lambda_max")) {
    RandomizedResult r;
    r.lambda_max = number_or_nan(j.at("rand_lambda_max"));
    r.num_traps = j.at("rand_num_traps").get<std::size_t>();
    r.mp_sigma = number_or_nan(j.at("rand_mp_sigma"));
    r.distance = number_or_nan(j.at("rand_distance"));
    l.randomized = r;
  }
  return l;
}

nlohmann::json to_json(const AnalyzeReport& report, bool with_mp) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerResult& l : report.layers) layers.push_back(to_json(l, with_mp));
  nlohmann::json skipped = nlohmann::json::array();
  for (const auto& s : report.skipped) skipped.push_back({{"name", s.name}, {"reason", s.reason}});
  const AnalyzeSummary& s = report.summary;
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [p, n] : s.phase_counts) counts[std::string(to_string(p))] = n;
  nlohmann::json summary = {{"num_layers", s.num_layers},       {"num_valid", s.num_valid},
                            {"alpha", num(s.alpha)},             {"alpha_weighted", num(s.alpha_weighted)},
                            {"log_norm", num(s.log_norm)},       {"log_spectral_norm", num(s.log_spectral_norm)},
                            {"log_alpha_norm", num(s.log_alpha_norm)}, {"stable_rank", num(s.stable_rank)},
                            {"entropy", num(s.entropy)},         {"D", num(s.D)},
                            {"phases", counts}};
  return {{"source", report.source}, {"format", report.format}, {"layers", layers}, {"skipped", skipped},
          {"summary", summary}};
}

std::string to_csv(const AnalyzeReport& report, bool with_mp) {
  const nlohmann::json j = to_json(report, with_mp);
  std::string out;
  if (j["layers"].empty()) return out;
  std::vector<std::string> keys;
  for (const auto& [k, v] : j["layers"][0].items()) keys.push_back(k);
  // nlohmann orders keys alphabetically; put the name first.
  std::stable_partition(keys.begin(), keys.end(), [](const std::string& k) { return k == "name"; });
  for (std::size_t i = 0; i < keys.size(); ++i) out += (i ? "," : "") + keys[i];
  out += "\n";
  for (const auto& l : j["layers"]) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto& v = l[keys[i]];
      std::string cell;
      if (v.is_null()) cell = "";
      else if (v.is_string()) cell = v.get<std::string>();
      else if (v.is_array()) {
        for (std::size_t d = 0; d < v.size(); ++d) cell += (d ? "x" : "") + v[d].dump();
      } else cell = v.dump();
      if (cell.find_first_of(",\"\n") != std::string::npos) {
        std::string q = "\"";
        for (char c : cell) q += c == '"' ? std::string("\"\"") : std::string(1, c);
        cell = q + "\"";
      }
      out += (i ? "," : "") + cell;
    }
    out += "\n";
  }
  return out;
}

}  // namespace onsager
