#include "onsager/rbm/evaluate.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "onsager/core/error.hpp"

namespace onsager {
namespace {

nlohmann::json num_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

nlohmann::json ais_json(const AisResult& r) {
  return {{"runs", r.runs},
          {"temperatures", r.temperatures},
          {"layer", std::string(to_string(r.layer))},
          {"base", std::string(to_string(r.base))},
          {"exact_states", r.exact_states},
          {"runs_in_exact_states", r.runs_in_exact_states},
          {"exact_states_used", r.exact_states_used},
          {"log_z_exact_states", num_or_null(r.log_z_exact_states)},
          {"ess", r.ess},
          {"log_z_base", r.log_z_base},
          {"log_z_lo", num_or_null(r.log_z_lo)},
          {"log_z_hi", num_or_null(r.log_z_hi)},
          {"seconds", r.seconds}};
}

nlohmann::json bar_json(const BarResult& r) {
  return {{"ladders", r.ladders},
          {"temperatures", r.temperatures},
          {"sweeps", r.sweeps},
          {"burn_in", r.burn_in},
          {"layer", std::string(to_string(r.layer))},
          {"base", std::string(to_string(r.base))},
          {"log_z_base", r.log_z_base},
          {"swap_rate_min", r.swap_rate_min},
          {"swap_rate_mean", r.swap_rate_mean},
          {"jackknife_log_z", r.ladder_log_z},
          {"seconds", r.seconds}};
}

}  // namespace

EvalReport evaluate_rbm(const Rbm& rbm, const ConstMatrixFRef& data, const ConstVectorFRef& base_pixel_marginals,
                        const EvalOptions& options) {
  rbm.validate("evaluate_rbm");
  ONSAGER_CHECK(data.rows() > 0, "evaluate_rbm: the data is empty");
  ONSAGER_CHECK(data.cols() == rbm.num_visible(), "evaluate_rbm: the data has {} features, the model {} visible units",
                data.cols(), rbm.num_visible());
  ONSAGER_CHECK(options.tap_starts >= 1, "evaluate_rbm: options.tap_starts must be at least 1 (got {})",
                options.tap_starts);
  if (options.tap) options.tap_options.validate("log_partition_tap");
  ONSAGER_CHECK(!options.tap || !rbm.gaussian(),
                "evaluate_rbm: the TAP estimates (options.tap) are for Bernoulli models; this one has Gaussian visible units");

  EvalReport r;
  r.n_samples = data.rows();
  r.mean_free_energy = rbm.free_energy(data).mean();
  r.pseudo_likelihood_per_feature = rbm.pseudo_likelihood(data, options.seed);
  r.pseudo_likelihood = r.pseudo_likelihood_per_feature * static_cast<double>(rbm.num_visible());
  r.recon_error = rbm.reconstruction_error(data);

  if (options.exact) r.log_z_exact = log_partition_exact(rbm, options.exact_options);
  if (options.bracket) {
    r.bracket = log_partition_bracket(rbm, options.bracket_options);
    if (r.bracket->abandoned)
      r.warnings.push_back(fmt::format(
          "bracket: still {:.3f} nats wide after {} nodes, a quarter of its budget, so given up as one that will not "
          "close (options.bracket_options.abandon_width); log Z lies in it",
          r.bracket->log_z_hi - r.bracket->log_z_lo, r.bracket->nodes));
    else if (!r.bracket->converged)
      r.warnings.push_back(fmt::format(
          "bracket: still {:.3f} nats wide after {} nodes (options.bracket_options.max_nodes); log Z lies in it, but "
          "its midpoint is no estimate to that precision",
          r.bracket->log_z_hi - r.bracket->log_z_lo, r.bracket->nodes));
  }
  if (options.ais && !(options.ais_only_if_bracket_open && r.bracket && r.bracket->converged)) {
    // The bound first: its states are summed exactly by AIS when AIS anneals the layer it searched.
    const Eigen::Index smaller = std::min(rbm.num_visible(), rbm.num_hidden());
    AisOptions ao = options.ais_options;
    if (options.mode_bound && !rbm.gaussian() && smaller <= options.mode_bound_max_units) {
      r.mode_bound = log_partition_mode_bound(rbm, data, options.mode_bound_starts, options.ais_options.seed);
      if (options.ais_exact_states && resolve_ais_layer(rbm, ao.layer) == r.mode_bound->layer)
        ao.exact_states = r.mode_bound->states;
    }
    AisReport report;
    if (options.ais_check)
      report = log_partition_ais_checked(rbm, base_pixel_marginals, ao, options.bar_options);
    else
      report.main = log_partition_ais(rbm, base_pixel_marginals, ao);
    for (std::string& w : ais_warnings(report)) r.warnings.push_back(std::move(w));
    r.verdict = ais_bar_verdict(report);
    if (r.mode_bound) {
      const double lower = r.mode_bound->log_z_lower;
      const auto below = [&](const char* name, double hi, double value) {
        if (!(hi < lower - 1e-9)) return;
        r.warnings.push_back(fmt::format(
            "{} ({:.3f}, upper error bar {:.3f}) is below a rigorous lower bound on log Z, {:.3f} (the {} {} states "
            "found): it has missed at least {:.3f} nats of the distribution",
            name, value, hi, lower, r.mode_bound->states.rows(), to_string(r.mode_bound->layer), lower - hi));
        r.below_bound.emplace_back(name);
      };
      const AisResult& m = report.main;
      below("AIS", std::isfinite(m.log_z_hi) ? m.log_z_hi : m.log_z, m.log_z);
      if (report.check.ladders > 0) {
        const double bhi = std::isfinite(report.check.log_z_err) ? report.check.log_z + report.check.log_z_err
                                                                 : report.check.log_z;
        below("BAR", bhi, report.check.log_z);
      }
      if (!r.below_bound.empty()) r.verdict = "disagree";
    }
    if (r.bracket) {
      // An estimate whose error bar misses the rigorous bracket is wrong by at least the distance.
      const double blo = r.bracket->log_z_lo, bhi = r.bracket->log_z_hi;
      const auto outside = [&](const char* name, double value, double lo, double hi) {
        if (!std::isfinite(lo)) lo = value;
        if (!std::isfinite(hi)) hi = value;
        if (hi >= blo - 1e-9 && lo <= bhi + 1e-9) return;
        r.warnings.push_back(fmt::format(
            "{} ({:.3f}, error bar [{:.3f}, {:.3f}]) lies outside the rigorous bracket [{:.3f}, {:.3f}] on log Z: it "
            "is off by at least {:.3f} nats",
            name, value, lo, hi, blo, bhi, hi < blo ? blo - hi : lo - bhi));
        r.outside_bracket.emplace_back(name);
      };
      const AisResult& m = report.main;
      outside("AIS", m.log_z, m.log_z_lo, m.log_z_hi);
      if (report.check.ladders > 0) {
        const BarResult& b = report.check;
        const double err = std::isfinite(b.log_z_err) ? b.log_z_err : 0.0;
        outside("BAR", b.log_z, b.log_z - err, b.log_z + err);
      }
      if (!r.outside_bracket.empty()) r.verdict = "disagree";
    }
    r.ais = std::move(report);
  }
  if (options.tap) {
    // Starts: the first rows of the data (data-initialised magnetisations, as TAP training uses).
    const Eigen::Index n = std::min<Eigen::Index>(data.rows(), options.tap_starts);
    for (const TapOrder order : {TapOrder::naive, TapOrder::second, TapOrder::third}) {
      TapOptions o = options.tap_options;
      o.order = order;
      TapEstimate e{order, log_partition_tap(rbm, data.topRows(n), o)};
      if (2 * e.result.converged < e.result.starts)
        r.warnings.push_back(fmt::format("{}: only {} of {} starts reached a fixed point within {} sweeps, so the "
                                         "estimate may come from a point that is not one (options.tap_options)",
                                         to_string(order), e.result.converged, e.result.starts, o.max_iters));
      r.tap.push_back(std::move(e));
    }
  }
  return r;
}

nlohmann::json to_json(const EvalReport& r) {
  nlohmann::json log_z = {{"exact", nullptr},   {"ais", nullptr},     {"ais_err", nullptr}, {"ais_lo", nullptr},
                          {"ais_hi", nullptr},  {"bar", nullptr},     {"bar_err", nullptr}, {"ais_bar_gap", nullptr},
                          {"verdict", nullptr}, {"naive", nullptr},   {"tap2", nullptr},    {"tap3", nullptr}};
  nlohmann::json ll = {{"exact", nullptr}, {"ais", nullptr}, {"bar", nullptr},
                       {"naive", nullptr}, {"tap2", nullptr}, {"tap3", nullptr}};
  nlohmann::json details = nlohmann::json::object();
  if (r.log_z_exact) {
    log_z["exact"] = *r.log_z_exact;
    ll["exact"] = r.avg_log_likelihood(*r.log_z_exact);
  }
  if (r.ais) {
    const AisResult& m = r.ais->main;
    log_z["ais"] = m.log_z;
    log_z["ais_lo"] = num_or_null(m.log_z_lo);
    log_z["ais_hi"] = num_or_null(m.log_z_hi);
    log_z["ais_err"] = num_or_null(std::max(m.log_z_hi - m.log_z, m.log_z - m.log_z_lo));
    ll["ais"] = r.avg_log_likelihood(m.log_z);
    details["ais"] = ais_json(m);
    if (r.ais->check.ladders > 0) {
      const BarResult& b = r.ais->check;
      log_z["bar"] = b.log_z;
      log_z["bar_err"] = num_or_null(b.log_z_err);
      log_z["ais_bar_gap"] = r.ais->gap;

      ll["bar"] = r.avg_log_likelihood(b.log_z);
      details["bar"] = bar_json(b);
    }
    log_z["verdict"] = r.verdict;
  }
  log_z["bracket"] = nullptr;
  log_z["bracket_lo"] = nullptr;
  log_z["bracket_hi"] = nullptr;
  log_z["bracket_err"] = nullptr;
  ll["bracket"] = nullptr;
  if (r.bracket) {
    const BracketResult& b = *r.bracket;
    log_z["bracket"] = b.log_z;
    log_z["bracket_lo"] = b.log_z_lo;
    log_z["bracket_hi"] = b.log_z_hi;
    log_z["bracket_err"] = 0.5 * (b.log_z_hi - b.log_z_lo);
    ll["bracket"] = r.avg_log_likelihood(b.log_z);
    details["bracket"] = {{"layer", std::string(to_string(b.layer))},
                          {"converged", b.converged},
                          {"abandoned", b.abandoned},
                          {"tolerance", b.tolerance},
                          {"nodes", b.nodes},
                          {"open_nodes", b.open_nodes},
                          {"exact_nodes", b.exact_nodes},
                          {"log_z_root_lo", b.log_z_root_lo},
                          {"log_z_root_hi", b.log_z_root_hi},
                          {"outside", r.outside_bracket},
                          {"seconds", b.seconds}};
  }
  log_z["lower_bound"] = nullptr;
  if (r.mode_bound) {
    log_z["lower_bound"] = r.mode_bound->log_z_lower;
    details["lower_bound"] = {{"layer", std::string(to_string(r.mode_bound->layer))},
                              {"starts", r.mode_bound->starts},
                              {"states", r.mode_bound->distinct},
                              {"below", r.below_bound},
                              {"seconds", r.mode_bound->seconds}};
  }
  if (!r.tap.empty()) {
    details["tap"] = nlohmann::json::object();
    for (const TapEstimate& e : r.tap) {
      const std::string key(to_string(e.order));
      log_z[key] = e.result.log_z;
      ll[key] = r.avg_log_likelihood(e.result.log_z);
      details["tap"][key] = {{"starts", e.result.starts},       {"converged", e.result.converged},
                             {"sweeps", e.result.sweeps},       {"best_start", e.result.best_row},
                             {"max_residual", e.result.max_residual}};
    }
  }
  return {{"n_samples", r.n_samples},
          {"log_z", log_z},
          {"avg_log_likelihood", ll},
          {"mean_free_energy", r.mean_free_energy},
          {"pseudo_likelihood", r.pseudo_likelihood},
          {"pseudo_likelihood_per_feature", r.pseudo_likelihood_per_feature},
          {"recon_error", r.recon_error},
          {"warnings", r.warnings},
          {"details", details}};
}

}  // namespace onsager
