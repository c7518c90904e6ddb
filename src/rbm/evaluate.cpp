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
          {"ess", r.ess},
          {"log_z_base", r.log_z_base},
          {"log_z_lo", num_or_null(r.log_z_lo)},
          {"log_z_hi", num_or_null(r.log_z_hi)},
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

  EvalReport r;
  r.n_samples = data.rows();
  r.mean_free_energy = rbm.free_energy(data).mean();
  r.pseudo_likelihood_per_feature = rbm.pseudo_likelihood(data, options.seed);
  r.pseudo_likelihood = r.pseudo_likelihood_per_feature * static_cast<double>(rbm.num_visible());
  r.recon_error = rbm.reconstruction_error(data);

  if (options.exact) r.log_z_exact = log_partition_exact(rbm, options.exact_options);
  if (options.ais) {
    AisReport report;
    if (options.ais_check)
      report = log_partition_ais_checked(rbm, base_pixel_marginals, options.ais_options);
    else
      report.main = log_partition_ais(rbm, base_pixel_marginals, options.ais_options);
    r.warnings = ais_warnings(report);
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
  nlohmann::json log_z = {{"exact", nullptr},  {"ais", nullptr},       {"ais_err", nullptr},
                          {"ais_lo", nullptr}, {"ais_hi", nullptr},    {"ais_check", nullptr},
                          {"ais_schedule_gap", nullptr}, {"naive", nullptr}, {"tap2", nullptr}, {"tap3", nullptr}};
  nlohmann::json ll = {{"exact", nullptr}, {"ais", nullptr}, {"naive", nullptr}, {"tap2", nullptr}, {"tap3", nullptr}};
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
    if (r.ais->check.runs > 0) {
      log_z["ais_check"] = r.ais->check.log_z;
      log_z["ais_schedule_gap"] = r.ais->schedule_gap;
      details["ais_check"] = ais_json(r.ais->check);
    }
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
