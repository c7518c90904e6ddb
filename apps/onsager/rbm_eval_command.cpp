// onsager rbm eval MODEL: log Z (exact enumeration; AIS with an independent check by BAR over parallel tempering and a
// verdict on the two; the naive, TAP2 and TAP3 mean-field estimates), the average log-likelihood of a split, and the sampling-free monitors.

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "common.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/rbm/model_file.hpp"
#include "onsager/rbm/evaluate.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/tap.hpp"
#include "rbm_commands.hpp"

namespace onsager::cli {
namespace {

struct EvalArgs {
  std::string model, data, split = "test", binarize, data_dir, base_split = "train", ais_layer = "automatic",
              ais_base = "data";
  BarOptions bar;
  bool exact = false, quiet = false, no_ais = false, no_ais_check = false, tap = false, bracket = false;
  BracketOptions bracket_options;
  int ais_runs = 0, ais_betas = 0, exact_limit = 30, threads = 0, tap_starts = 500;
  TapOptions tap_options{.max_iters = 1000, .tol = 1e-4};
  std::uint64_t seed = 0;
  JsonOutput json;
  CLI::App* cmd = nullptr;
};

// Enumerating 2^25 states of a 784 x 25 model takes about 20 s on 2 cores, where AIS on it with its BAR check and
// the bound take 40-75 s (docs/likelihood.md, "Cold models").
constexpr Eigen::Index kAutoExactUnits = 25;
// The bracket branches on the smaller layer's units, one bit each of a 64-bit word.
constexpr Eigen::Index kBracketUnits = 64;
// rbm eval's default path gives the bracket up, for AIS, when it is this wide at a quarter of its budget.
constexpr double kBracketAbandonWidth = 20;
// The flags that ask for AIS's settings: given any of them, rbm eval runs AIS.
constexpr const char* kAisFlags[] = {"--ais-betas", "--ais-layer", "--ais-base", "--base-split", "--bar-ladders",
                                     "--bar-temperatures", "--bar-sweeps", "--bar-burn-in", "--no-ais-check"};

void run_eval(EvalArgs& a) {
  set_num_threads(a.threads);
  const RbmModel m = load_rbm_model(a.model);
  const Rbm& rbm = m.state.rbm;
  const ModelData md = model_data(m, a.data, a.binarize, a.data_dir, "rbm eval");
  // The data is --data, else what the model records: either is protected.
  const auto locks = guard_outputs({{json_file(a.json), "--json"}}, {{a.model, "the model"}, {data_file(md.source), a.data.empty() ? "the data file" : "--data"}});
  const Dataset d = md.load(a.split, rbm, "rbm eval");
  // A "test" likelihood of rows the model was trained on would be a training likelihood: say so.
  if (m.data_info.is_object() && m.data_info.value("source", "") == md.source && is_dataset_name(md.source)) {
    const std::string trained = m.data_info.value("split", "");
    if (!trained.empty() && splits_overlap(md.source, parse_split(trained), parse_split(a.split)))
      fmt::print(stderr,
                 "warning: the model was trained on the '{}' split of {}, which contains the rows of '{}': this is a "
                 "training-set likelihood, not a held-out one{}\n",
                 trained, md.source, a.split, trained == "all" ? " (no split of it is held out)" : "");
  }

  EvalOptions o;
  o.exact_options.max_log2_states = a.exact_limit;
  o.exact_options.progress = !a.quiet;
  const bool bracket_named = a.bracket || a.cmd->count("--bracket-tol") > 0 || a.cmd->count("--bracket-nodes") > 0;
  const bool any = a.exact || a.ais_runs > 0 || a.tap || bracket_named;
  // With no method named and no AIS setting given, a layer small enough to enumerate is enumerated: exact log Z,
  // which then costs no more than AIS and its check (docs/rbm-eval.md).
  bool ais_named = false;
  for (const char* flag : kAisFlags) ais_named = ais_named || a.cmd->count(flag) > 0;
  if (rbm.gaussian())
    for (const char* flag : {"--bar-ladders", "--bar-temperatures", "--bar-sweeps", "--bar-burn-in"})
      ONSAGER_CHECK(a.cmd->count(flag) == 0,
                    "rbm eval: {} sets the BAR check, which is for Bernoulli models; a Gaussian model gets AIS alone", flag);
  const Eigen::Index enumerable = rbm.gaussian() ? rbm.num_hidden() : std::min(rbm.num_visible(), rbm.num_hidden());
  const bool auto_exact = !any && !a.no_ais && !ais_named && enumerable <= std::min<Eigen::Index>(kAutoExactUnits, a.exact_limit);
  o.exact = a.exact || auto_exact;
  o.ais = a.ais_runs > 0 || (!any && !a.no_ais && !auto_exact);
  // Beyond enumeration, a smaller layer of at most 64 units is bracketed first; AIS runs only when the bracket does
  // not close (a cold model's bracket closes in seconds; a warm model's does not, and AIS is the tool there).
  const Eigen::Index smaller = std::min(rbm.num_visible(), rbm.num_hidden());
  const bool auto_bracket = o.ais && a.ais_runs == 0 && !ais_named && !rbm.gaussian() && smaller <= kBracketUnits;
  o.bracket = bracket_named || auto_bracket;
  o.ais_only_if_bracket_open = auto_bracket;
  o.bracket_options = a.bracket_options;
  o.bracket_options.progress = !a.quiet;
  // Measured on cold 784 x 30-40 models (docs/likelihood.md): the brackets that closed within 10^6 nodes were under
  // 9 nats wide at 250,000; those that did not, over 80.
  if (auto_bracket) o.bracket_options.abandon_width = kBracketAbandonWidth;
  ONSAGER_CHECK(!o.bracket || !rbm.gaussian(), "rbm eval: --bracket is for Bernoulli models; this one has Gaussian visible units");
  ONSAGER_CHECK(!o.bracket || smaller <= kBracketUnits,
                "rbm eval: --bracket needs a layer of at most {} units; the smaller one has {}", kBracketUnits, smaller);
  o.ais_check = !a.no_ais_check;
  o.ais_options.runs = a.ais_runs > 0 ? a.ais_runs : 100;
  o.ais_options.betas = a.ais_betas;
  o.ais_options.seed = a.seed;
  o.ais_options.progress = !a.quiet;
  o.ais_options.layer = parse_ais_layer(a.ais_layer);
  o.ais_options.base = parse_ais_base(a.ais_base);
  o.bar_options = a.bar;
  o.tap = a.tap;
  o.tap_options = a.tap_options;
  o.tap_starts = a.tap_starts;
  o.seed = a.seed;
  // The base model's marginals come from the training split of a named data set, else from the data itself.
  const Dataset base = o.ais && is_dataset_name(md.source) ? md.load(a.base_split, rbm, "rbm eval") : Dataset{};
  const Dataset& base_data = base.x.rows() > 0 ? base : d;
  const VectorF marginals = o.ais ? pixel_marginals(base_data.x) : VectorF();
  if (o.ais && rbm.gaussian() && resolve_ais_layer(rbm, o.ais_options.layer) == AisLayer::visible) {
    // The Gaussian base: the data's means (marginals) and variances.
    const VectorD mean = marginals.cast<double>();
    o.ais_options.base_variance =
        (base_data.x.cast<double>().rowwise() - mean.transpose()).array().square().colwise().mean().transpose().cast<float>().matrix();
  } else if (o.ais && resolve_ais_layer(rbm, o.ais_options.layer) == AisLayer::hidden) {
    o.ais_options.hidden_marginals = hidden_marginals(rbm, base_data.x);
  }
  const EvalReport r = evaluate_rbm(rbm, d.x, marginals, o);

  nlohmann::json j = {{"model", a.model},
                      {"data", md.source},
                      {"split", a.split},
                      {"binarize", to_string(md.binarization)}};
  j.update(to_json(r));
  for (auto& w : j["warnings"]) w = to_cli_message(w.get<std::string>());
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  const nlohmann::json& log_z = j["log_z"];
  const nlohmann::json& ll = j["avg_log_likelihood"];
  const nlohmann::json& extra = j["details"];
  const double mean_f = r.mean_free_energy;
  auto show = [](const nlohmann::json& x, int prec = 2) {
    return x.is_number() ? fmt::format("{:.{}f}", x.get<double>(), prec) : std::string("-");
  };
  fmt::print("model            {} ({} {} visible x {} hidden)\n", a.model, rbm.num_visible(), rbm.visible_type(),
             rbm.num_hidden());
  fmt::print("data             {} {} ({} samples, binarize {})\n", md.source, a.split, d.x.rows(),
             to_string(md.binarization));
  fmt::print("{:<16} {:>12} {:>22}\n", "method", "log Z", "avg log-likelihood");
  if (o.exact)
    fmt::print("{:<16} {:>12} {:>22}{}\n", "exact", show(log_z["exact"], 3), show(ll["exact"]),
               a.exact ? std::string()
                       : fmt::format("   (the {} layer has {} units: 2^{} states, enumerated; --ais-runs R for AIS)",
                                     rbm.gaussian() || rbm.num_hidden() <= rbm.num_visible() ? "hidden" : "visible",
                                     enumerable, enumerable));
  if (o.bracket) {
    const nlohmann::json& b = extra["bracket"];
    fmt::print("{:<16} {:>12.3f} {:>22.2f}   (log Z in [{:.3f}, {:.3f}], rigorous; {}{} nodes, {:.1f} s)\n", "bracket",
               log_z["bracket"].get<double>(), ll["bracket"].get<double>(), log_z["bracket_lo"].get<double>(),
               log_z["bracket_hi"].get<double>(),
               b["converged"].get<bool>() ? "" : b["abandoned"].get<bool>() ? "given up after " : "NOT CLOSED after ",
               b["nodes"].get<std::int64_t>(), b["seconds"].get<double>());
    if (!bracket_named && b["converged"].get<bool>())
      fmt::print("{:<16} (the bracket closed to {} nats: no AIS needed; --ais-runs R for AIS)\n", "",
                 b["tolerance"].get<double>());
  }
  const bool ais_ran = extra.contains("ais");
  const auto print_ais = [&](const char* name, double z, const nlohmann::json& info) {
    const std::string bar = info["log_z_lo"].is_null() && info["log_z_hi"].is_null()
                                ? std::string("no error bar")
                                : fmt::format("log Z in [{}, {}]", show(info["log_z_lo"], 3), show(info["log_z_hi"], 3));
    fmt::print("{:<16} {:>12.3f} {:>22.2f}   ({}, {} temperatures, ESS {:.1f} of {} runs, {:.1f} s)\n", name, z,
               -mean_f - z, bar, info["temperatures"].get<int>(), info["ess"].get<double>(), info["runs"].get<int>(),
               info["seconds"].get<double>());
  };
  if (ais_ran) {
    print_ais("AIS", log_z["ais"].get<double>(), extra["ais"]);
    if (extra.contains("bar")) {
      const nlohmann::json& b = extra["bar"];
      const double z = log_z["bar"].get<double>();
      fmt::print("{:<16} {:>12.3f} {:>22.2f}   (± {}, {} ladders x {} temperatures, {} sweeps, swaps {:.0f}-{:.0f}%, "
                 "{:.1f} s)\n",
                 "BAR", z, -mean_f - z, show(log_z["bar_err"], 3), b["ladders"].get<int>(),
                 b["temperatures"].get<int>(), b["sweeps"].get<int>(), 100 * b["swap_rate_min"].get<double>(),
                 100 * b["swap_rate_mean"].get<double>(), b["seconds"].get<double>());
    }
    if (log_z["lower_bound"].is_number())
      fmt::print("{:<16} {:>12.3f} {:>22.2f}   (a rigorous bound: log Z is at least this; best of {} {} states)\n",
                 "lower bound", log_z["lower_bound"].get<double>(), -mean_f - log_z["lower_bound"].get<double>(),
                 extra["lower_bound"]["starts"].get<int>(), extra["lower_bound"]["layer"].get<std::string>());
    {
      const std::string v = log_z["verdict"].get<std::string>();
      // Which estimate a rigorous bound rules out, when it does (evaluate_rbm decides).
      bool ais_out = false, bar_out = false;
      if (extra.contains("lower_bound"))
        for (const auto& name : extra["lower_bound"]["below"]) {
          ais_out = ais_out || name == "AIS";
          bar_out = bar_out || name == "BAR";
        }
      std::string text = v == "agree"      ? "AIS and BAR agree within their error bars"
                         : v == "disagree" ? "the estimates DISAGREE beyond their error bars (see the warnings)"
                                           : "unchecked (no independent estimate with a finite error bar)";
      if (bar_out && !ais_out) text = "BAR missed mass (it is below the rigorous lower bound); AIS is consistent with the bound";
      if (ais_out && !bar_out && log_z["bar"].is_number())
        text = "AIS missed mass (it is below the rigorous lower bound); BAR is consistent with the bound";
      if (extra.contains("bracket") && !extra["bracket"]["outside"].empty()) {
        std::string names;
        for (const auto& name : extra["bracket"]["outside"])
          names += (names.empty() ? "" : " and ") + name.get<std::string>();
        text = names + " outside the rigorous bracket: off by at least the distance (see the warnings)";
      }
      if (rbm.gaussian()) text = "unchecked (AIS alone: BAR and the bound are for Bernoulli models)";
      fmt::print("{:<16} {}\n", "verdict", text);
    }
    fmt::print("{:<16} {} layer annealed, {} base; the other layer summed out exactly\n", "",
               extra["ais"]["layer"].get<std::string>(), extra["ais"]["base"].get<std::string>());
  }
  if (a.tap)
    for (const char* key : {"naive", "tap2", "tap3"})
      fmt::print("{:<16} {:>12} {:>22}   ({} of {} starts converged, {} sweeps)\n", key, show(log_z[key], 3),
                 show(ll[key]), extra["tap"][key]["converged"].get<int>(), extra["tap"][key]["starts"].get<int>(),
                 extra["tap"][key]["sweeps"].get<int>());
  if (std::isfinite(r.pseudo_likelihood))
    fmt::print("pseudo-lik.      {:.2f} (scikit-learn scale), {:.4f} per feature\n", r.pseudo_likelihood,
               r.pseudo_likelihood_per_feature);
  if (rbm.gaussian()) fmt::print("{:<16} log-likelihoods of a Gaussian model are log densities (nats per row)\n", "");
  fmt::print("recon error      {:.4f} per pixel\n", r.recon_error);
  fmt::print("mean F(v)        {:.3f}\n", mean_f);
  std::fflush(stdout);
  for (const auto& w : j["warnings"]) fmt::print(stderr, "warning: {}\n", w.get<std::string>());
  emit_json(a.json, j);
}

}  // namespace

void register_rbm_eval(CLI::App& rbm) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = rbm.add_subcommand(
      "eval",
      "Measure a model: log Z by exact enumeration or annealed importance sampling (AIS) with error bars;\n"
      "the average log-likelihood of a split; pseudo-likelihood and reconstruction error.\n"
      "Without --exact, --ais-runs, --bracket or --tap it enumerates the smaller layer (a Gaussian model: its\n"
      "hidden layer) when that has at most 25 units (exact log Z); with at most 64 it brackets log Z rigorously\n"
      "(branch and bound) and stops there when the bracket closes; otherwise it runs AIS with 100 runs on the\n"
      "smaller layer, checked by an independent estimator (Bennett's acceptance ratio over parallel tempering),\n"
      "the bracket when there is one, and a verdict; any AIS or BAR setting asks for AIS.\n"
      "A Gaussian-Bernoulli model gets exact enumeration of its hidden layer, or AIS on the smaller layer with\n"
      "the Gaussians integrated out (or on the visible layer from Gaussians fitted to the --base-split);\n"
      "no BAR check, bound or --tap.\n"
      "Example: onsager rbm eval rbm.safetensors --data mnist --split test --ais-runs 100");
  a->cmd = cmd;
  cmd->add_option("model", a->model, "Model file (.safetensors)")->required()->type_name("MODEL");
  add_data_flags(cmd, a->data, a->split, a->binarize, a->data_dir, true, "Split to evaluate");
  cmd->add_flag("--exact", a->exact, "Exact log Z by enumerating the smaller layer (a Gaussian model: the hidden layer)");
  cmd->add_option("--exact-limit", a->exact_limit, "Refuse exact enumeration beyond 2^N states")->capture_default_str();
  cmd->add_option("--ais-runs", a->ais_runs, "AIS runs (0: 100 when AIS runs)");
  cmd->add_option("--ais-betas", a->ais_betas, "AIS temperatures (0: Salakhutdinov & Murray's ~14,500)")
      ->capture_default_str();
  cmd->add_option("--base-split", a->base_split, "Split whose marginals define the AIS base model")
      ->capture_default_str();
  cmd->add_option("--ais-layer", a->ais_layer,
                  "Layer AIS and BAR anneal (automatic: the smaller; the other is summed out exactly)")
      ->capture_default_str()
      ->check(CLI::IsMember({"automatic", "visible", "hidden"}));
  cmd->add_option("--ais-base", a->ais_base,
                  "Base model: the data's marginals on the annealed layer, uniform, or the model's mean-field "
                  "magnetisations")
      ->capture_default_str()
      ->check(CLI::IsMember({"data", "uniform", "mean-field"}));
  cmd->add_option("--bar-ladders", a->bar.ladders, "BAR check: independent parallel-tempering ladders (error bar)")
      ->capture_default_str()
      ->check(CLI::Range(2, 1000));
  cmd->add_option("--bar-temperatures", a->bar.temperatures, "BAR check: temperatures per ladder")
      ->capture_default_str()
      ->check(CLI::Range(2, 100000));
  cmd->add_option("--bar-sweeps", a->bar.sweeps, "BAR check: sweeps per ladder, burn-in included")
      ->capture_default_str()
      ->check(CLI::Range(2, 10000000));
  cmd->add_option("--bar-burn-in", a->bar.burn_in, "BAR check: sweeps discarded before the work values are kept")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--bracket", a->bracket,
                "Rigorous lower and upper bounds on log Z by branch and bound over the smaller layer (at most 64 "
                "units); tight on cold models");
  cmd->add_option("--bracket-tol", a->bracket_options.tolerance, "Bracket: stop when it is at most this wide (nats)")
      ->capture_default_str();
  cmd->add_option("--bracket-nodes", a->bracket_options.max_nodes, "Bracket: nodes split at most")
      ->capture_default_str();
  cmd->add_flag("--no-ais", a->no_ais, "Skip AIS when no method is named");
  cmd->add_flag("--no-ais-check", a->no_ais_check, "Skip the independent BAR check of AIS (saves about half the time)");
  cmd->add_flag("--tap", a->tap, "Naive mean-field, TAP2 and TAP3 estimates of log Z (fixed points from the data)");
  cmd->add_option("--tap-starts", a->tap_starts, "Rows of the split used as starting points for --tap")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  add_tap_options(cmd, a->tap_options.max_iters, a->tap_options.damping, a->tap_options.tol, false);
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  add_threads_option(cmd, a->threads);
  add_quiet_flag(cmd, a->quiet);
  add_json_option(cmd, a->json);
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace onsager::cli
