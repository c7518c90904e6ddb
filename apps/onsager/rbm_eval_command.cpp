// onsager rbm eval MODEL: log Z (exact enumeration; AIS with an independent second schedule; the naive, TAP2 and
// TAP3 mean-field estimates), the average log-likelihood of a split, and the sampling-free monitors.

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "common.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/rbm/model_file.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/tap.hpp"
#include "rbm_commands.hpp"

namespace onsager::cli {
namespace {

struct EvalArgs {
  std::string model, data, split = "test", binarize, base_split = "train";
  bool exact = false, quiet = false, no_ais = false, no_ais_check = false, tap = false;
  int ais_runs = 0, ais_betas = 0, exact_limit = 30, threads = 0, tap_starts = 500;
  TapOptions tap_options{.max_iters = 1000, .tol = 1e-4};
  std::uint64_t seed = 0;
  JsonOutput json;
  CLI::App* cmd = nullptr;
};

nlohmann::json num_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

nlohmann::json ais_json(const AisResult& r) {
  return {{"runs", r.runs},
          {"temperatures", r.temperatures},
          {"ess", r.ess},
          {"log_z_base", r.log_z_base},
          {"log_z_lo", num_or_null(r.log_z_lo)},
          {"log_z_hi", num_or_null(r.log_z_hi)},
          {"seconds", r.seconds}};
}

void run_eval(EvalArgs& a) {
  set_num_threads(a.threads);
  const auto locks = guard_outputs({{json_file(a.json), "--json"}}, {{a.model, "the model"}, {a.data, "--data"}});
  const RbmModel m = load_rbm_model(a.model);
  const Rbm& rbm = m.state.rbm;
  const ModelData md = model_data(m, a.data, a.binarize, "rbm eval");
  const std::string& source = md.source;
  const Binarization& binarization = md.binarization;
  const Dataset d = md.load(a.split, rbm, "rbm eval");
  const bool any = a.exact || a.ais_runs > 0 || a.tap;
  const bool want_ais = a.ais_runs > 0 || (!any && !a.no_ais);

  const double mean_f = rbm.free_energy(d.x).mean();
  nlohmann::json log_z = {{"exact", nullptr},  {"ais", nullptr},   {"ais_err", nullptr}, {"ais_lo", nullptr},
                          {"ais_hi", nullptr}, {"ais_check", nullptr}, {"ais_schedule_gap", nullptr},
                          {"naive", nullptr},  {"tap2", nullptr},  {"tap3", nullptr}};
  nlohmann::json ll = {{"exact", nullptr}, {"ais", nullptr}, {"naive", nullptr}, {"tap2", nullptr}, {"tap3", nullptr}};
  nlohmann::json extra = nlohmann::json::object();
  std::vector<std::string> warnings;

  if (a.exact) {
    ExactOptions o;
    o.max_log2_states = a.exact_limit;
    o.progress = !a.quiet;
    const double z = log_partition_exact(rbm, o);
    log_z["exact"] = z;
    ll["exact"] = -mean_f - z;
  }
  if (want_ais) {
    // The base model's marginals come from the training split of a named data set, else from the data itself.
    const Dataset base = is_dataset_name(source) ? md.load(a.base_split, rbm, "rbm eval") : d;
    AisOptions o;
    o.runs = a.ais_runs > 0 ? a.ais_runs : 100;
    o.betas = a.ais_betas;
    o.seed = a.seed;
    o.progress = !a.quiet;
    AisReport report;
    if (a.no_ais_check)
      report.main = log_partition_ais(rbm, pixel_marginals(base.x), o);
    else
      report = log_partition_ais_checked(rbm, pixel_marginals(base.x), o);
    const AisResult& r = report.main;
    log_z["ais"] = r.log_z;
    log_z["ais_lo"] = num_or_null(r.log_z_lo);
    log_z["ais_hi"] = num_or_null(r.log_z_hi);
    log_z["ais_err"] = num_or_null(std::max(r.log_z_hi - r.log_z, r.log_z - r.log_z_lo));
    ll["ais"] = -mean_f - r.log_z;
    extra["ais"] = ais_json(r);
    if (!a.no_ais_check) {
      log_z["ais_check"] = report.check.log_z;
      log_z["ais_schedule_gap"] = report.schedule_gap;
      extra["ais_check"] = ais_json(report.check);
    }
    warnings = ais_warnings(report);
  }
  if (a.tap) {
    a.tap_options.validate("log_partition_tap");
    // Starts: the first rows of the evaluated split (data-initialised magnetisations, as TAP training uses).
    const Eigen::Index n = std::min<Eigen::Index>(d.x.rows(), a.tap_starts);
    extra["tap"] = nlohmann::json::object();
    for (const TapOrder order : {TapOrder::naive, TapOrder::second, TapOrder::third}) {
      TapOptions o = a.tap_options;
      o.order = order;
      const TapLogZ t = log_partition_tap(rbm, d.x.topRows(n), o);
      const std::string key(to_string(order));
      log_z[key] = t.log_z;
      ll[key] = -mean_f - t.log_z;
      extra["tap"][key] = {{"starts", t.starts},       {"converged", t.converged}, {"sweeps", t.sweeps},
                           {"best_start", t.best_row}, {"max_residual", t.max_residual}};
      if (2 * t.converged < t.starts)
        warnings.push_back(fmt::format("{}: only {} of {} starts reached a fixed point within {} sweeps, so the "
                                       "estimate may come from a point that is not one (--tap-iters, --tap-damping)",
                                       key, t.converged, t.starts, o.max_iters));
    }
  }
  const double pl = rbm.pseudo_likelihood(d.x, a.seed);
  const nlohmann::json j = {{"model", a.model},
                            {"data", source},
                            {"split", a.split},
                            {"binarize", to_string(binarization)},
                            {"n_samples", d.x.rows()},
                            {"log_z", log_z},
                            {"avg_log_likelihood", ll},
                            {"mean_free_energy", mean_f},
                            {"pseudo_likelihood", pl * static_cast<double>(rbm.num_visible())},
                            {"pseudo_likelihood_per_feature", pl},
                            {"recon_error", rbm.reconstruction_error(d.x)},
                            {"warnings", warnings},
                            {"details", extra}};
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  auto show = [](const nlohmann::json& x, int prec = 2) {
    return x.is_number() ? fmt::format("{:.{}f}", x.get<double>(), prec) : std::string("-");
  };
  fmt::print("model            {} ({} visible x {} hidden)\n", a.model, rbm.num_visible(), rbm.num_hidden());
  fmt::print("data             {} {} ({} samples, binarize {})\n", source, a.split, d.x.rows(), to_string(binarization));
  fmt::print("{:<16} {:>12} {:>22}\n", "method", "log Z", "avg log-likelihood");
  if (a.exact) fmt::print("{:<16} {:>12} {:>22}\n", "exact", show(log_z["exact"], 3), show(ll["exact"]));
  const auto print_ais = [&](const char* name, double z, const nlohmann::json& info) {
    const std::string bar = info["log_z_lo"].is_null() && info["log_z_hi"].is_null()
                                ? std::string("no error bar")
                                : fmt::format("log Z in [{}, {}]", show(info["log_z_lo"], 3), show(info["log_z_hi"], 3));
    fmt::print("{:<16} {:>12.3f} {:>22.2f}   ({}, {} temperatures, ESS {:.1f} of {} runs, {:.1f} s)\n", name, z,
               -mean_f - z, bar, info["temperatures"].get<int>(), info["ess"].get<double>(), info["runs"].get<int>(),
               info["seconds"].get<double>());
  };
  if (want_ais) {
    print_ais("AIS", log_z["ais"].get<double>(), extra["ais"]);
    if (extra.contains("ais_check")) print_ais("AIS check", log_z["ais_check"].get<double>(), extra["ais_check"]);
  }
  if (a.tap)
    for (const char* key : {"naive", "tap2", "tap3"})
      fmt::print("{:<16} {:>12} {:>22}   ({} of {} starts converged, {} sweeps)\n", key, show(log_z[key], 3),
                 show(ll[key]), extra["tap"][key]["converged"].get<int>(), extra["tap"][key]["starts"].get<int>(),
                 extra["tap"][key]["sweeps"].get<int>());
  fmt::print("pseudo-lik.      {:.2f} (scikit-learn scale), {:.4f} per feature\n", j["pseudo_likelihood"].get<double>(),
             j["pseudo_likelihood_per_feature"].get<double>());
  fmt::print("recon error      {:.4f} per pixel\n", j["recon_error"].get<double>());
  fmt::print("mean F(v)        {:.3f}\n", mean_f);
  std::fflush(stdout);
  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);
  emit_json(a.json, j);
}

}  // namespace

void register_rbm_eval(CLI::App& rbm) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = rbm.add_subcommand(
      "eval",
      "Measure a model: log Z by exact enumeration or annealed importance sampling (AIS) with error bars;\n"
      "the average log-likelihood of a split; pseudo-likelihood and reconstruction error.\n"
      "Without --exact, --ais-runs or --tap it runs AIS with 100 runs, plus a check run on half the temperatures.\n"
      "Example: onsager rbm eval rbm.safetensors --data mnist --split test --ais-runs 100");
  a->cmd = cmd;
  cmd->add_option("model", a->model, "Model file (.safetensors)")->required()->type_name("MODEL");
  cmd->add_option("--data", a->data, "Data set or file (default: the model's training data)")->type_name("NAME|PATH");
  cmd->add_option("--split", a->split, "Split to evaluate")->capture_default_str();
  cmd->add_option("--binarize", a->binarize, "Binarization (default: the model's)");
  cmd->add_flag("--exact", a->exact, "Exact log Z by enumerating the smaller layer");
  cmd->add_option("--exact-limit", a->exact_limit, "Refuse exact enumeration beyond 2^N states")->capture_default_str();
  cmd->add_option("--ais-runs", a->ais_runs, "AIS runs (0: 100 when AIS runs)");
  cmd->add_option("--ais-betas", a->ais_betas, "AIS temperatures (0: Salakhutdinov & Murray's ~14,500)")
      ->capture_default_str();
  cmd->add_option("--base-split", a->base_split, "Split whose pixel marginals define the AIS base model")
      ->capture_default_str();
  cmd->add_flag("--no-ais", a->no_ais, "Skip AIS when no method is named");
  cmd->add_flag("--no-ais-check", a->no_ais_check,
                "Skip AIS's second, independent run on half the temperatures (saves a third of the time)");
  cmd->add_flag("--tap", a->tap, "Naive mean-field, TAP2 and TAP3 estimates of log Z (fixed points from the data)");
  cmd->add_option("--tap-starts", a->tap_starts, "Rows of the split used as starting points for --tap")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--tap-iters", a->tap_options.max_iters, "Fixed-point sweeps at most")->capture_default_str();
  cmd->add_option("--tap-damping", a->tap_options.damping, "Damping d of m <- (1-d) m_new + d m")->capture_default_str();
  cmd->add_option("--tap-tol", a->tap_options.tol, "A start stops when max |dm| in a sweep is below this")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("--threads", a->threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_flag("--quiet,-q", a->quiet, "No progress bars");
  add_json_option(cmd, a->json);
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace onsager::cli
