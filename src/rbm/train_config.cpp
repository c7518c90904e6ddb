// Training settings and per-epoch monitors: validation, schedules, names and their JSON (model files keep both).

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/rbm/train.hpp"

namespace onsager {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

std::string_view to_string(TrainMethod m) {
  switch (m) {
    case TrainMethod::cd: return "cd";
    case TrainMethod::pcd: return "pcd";
    case TrainMethod::mf: return "mf";
    case TrainMethod::tap2: return "tap2";
    case TrainMethod::tap3: return "tap3";
  }
  return "?";
}

TrainMethod parse_train_method(std::string_view s) {
  if (s == "cd") return TrainMethod::cd;
  if (s == "pcd") return TrainMethod::pcd;
  if (s == "mf" || s == "naive") return TrainMethod::mf;
  if (s == "tap2") return TrainMethod::tap2;
  if (s == "tap3") return TrainMethod::tap3;
  ONSAGER_FAIL("parse_train_method: method must be cd, pcd, mf, tap2 or tap3 (got '{}')", s);
}

std::string_view to_string(VisibleType v) { return v == VisibleType::gaussian ? "gaussian" : "bernoulli"; }

VisibleType parse_visible_type(std::string_view s) {
  if (s == "bernoulli") return VisibleType::bernoulli;
  if (s == "gaussian") return VisibleType::gaussian;
  ONSAGER_FAIL("parse_visible_type: visible units must be bernoulli or gaussian (got '{}')", s);
}

bool is_tap_method(TrainMethod m) { return m == TrainMethod::mf || m == TrainMethod::tap2 || m == TrainMethod::tap3; }


void TrainConfig::validate() const {
  ONSAGER_CHECK(hidden > 0 && hidden <= (1 << 20), "TrainConfig::validate: config.hidden must be in 1..{} (got {})", 1 << 20, hidden);
  ONSAGER_CHECK(k >= 1 && k <= 100000, "TrainConfig::validate: config.k must be in 1..100000 (got {})", k);
  ONSAGER_CHECK(epochs >= 0 && epochs <= 1000000, "TrainConfig::validate: config.epochs must be in 0..1000000 (got {})", epochs);
  ONSAGER_CHECK(batch_size >= 1 && batch_size <= (1 << 20), "TrainConfig::validate: config.batch_size must be in 1..{} (got {})", 1 << 20,
                batch_size);
  ONSAGER_CHECK(std::isfinite(lr) && lr > 0, "TrainConfig::validate: config.lr must be a positive number (got {})", lr);
  ONSAGER_CHECK(std::isfinite(lr_final) && lr_final >= 0, "TrainConfig::validate: config.lr_final must be >= 0 (got {})", lr_final);
  ONSAGER_CHECK(std::isfinite(lr_decay) && lr_decay > 0 && lr_decay <= 1,
                "TrainConfig::validate: config.lr_decay must be in (0, 1] (got {})", lr_decay);
  ONSAGER_CHECK(std::isfinite(momentum) && momentum >= 0 && momentum < 1,
                "TrainConfig::validate: config.momentum must be in [0, 1) (got {})", momentum);
  ONSAGER_CHECK(std::isfinite(l1) && l1 >= 0, "TrainConfig::validate: config.l1 must be >= 0 (got {})", l1);
  ONSAGER_CHECK(std::isfinite(l2) && l2 >= 0, "TrainConfig::validate: config.l2 must be >= 0 (got {})", l2);
  ONSAGER_CHECK(std::isfinite(max_norm) && max_norm >= 0, "TrainConfig::validate: config.max_norm must be >= 0 (got {})", max_norm);
  ONSAGER_CHECK(chains >= 0 && chains <= (1 << 20), "TrainConfig::validate: config.chains must be in 0..{} (got {})", 1 << 20, chains);
  ONSAGER_CHECK(std::isfinite(init_std) && init_std >= 0, "TrainConfig::validate: config.init_std must be >= 0 (got {})", init_std);
  ONSAGER_CHECK(monitor_samples >= 0, "TrainConfig::validate: config.monitor_samples must be >= 0 (got {})", monitor_samples);
  ONSAGER_CHECK(tap_iters >= 1 && tap_iters <= 100000, "TrainConfig::validate: config.tap_iters must be in 1..100000 (got {})", tap_iters);
  ONSAGER_CHECK(std::isfinite(tap_damping) && tap_damping >= 0 && tap_damping < 1,
                "TrainConfig::validate: config.tap_damping must be in [0, 1) (got {})", tap_damping);
  ONSAGER_CHECK(std::isfinite(tap_tol) && tap_tol >= 0, "TrainConfig::validate: config.tap_tol must be >= 0 (got {})", tap_tol);
  ONSAGER_CHECK(tap_persist_from >= -1, "TrainConfig::validate: config.tap_persist_from must be an epoch >= 0, or -1 for never (got {})",
                tap_persist_from);
  ONSAGER_CHECK(std::isfinite(tap_restart_fraction) && tap_restart_fraction >= 0 && tap_restart_fraction <= 1,
                "TrainConfig::validate: config.tap_restart_fraction must be in [0, 1] (got {})", tap_restart_fraction);
  ONSAGER_CHECK(std::isfinite(min_variance) && min_variance >= 1e-30 && min_variance <= 1e6,
                "TrainConfig::validate: config.min_variance must be in [1e-30, 1e6] (got {})", min_variance);
  ONSAGER_CHECK(std::isfinite(variance_lr_scale) && variance_lr_scale >= 0 && variance_lr_scale <= 1e3,
                "TrainConfig::validate: config.variance_lr_scale must be in [0, 1000] (got {})", variance_lr_scale);
  ONSAGER_CHECK(visible == VisibleType::bernoulli || !is_tap_method(method),
                "TrainConfig::validate: config.method {} needs Bernoulli visible units; Gaussian ones train by cd or pcd",
                to_string(method));
}

double TrainConfig::lr_at(int epoch) const {
  switch (lr_schedule) {
    case LrSchedule::constant:
      return lr;
    case LrSchedule::linear: {
      if (epochs <= 1) return lr;
      const double t = static_cast<double>(epoch) / static_cast<double>(epochs - 1);
      return lr + (lr_final - lr) * std::clamp(t, 0.0, 1.0);
    }
    case LrSchedule::exponential:
      return lr * std::pow(lr_decay, static_cast<double>(epoch));
  }
  return lr;
}

double TrainConfig::momentum_at(int epoch) const {
  if (momentum_schedule) return epoch < 5 ? 0.5 : 0.9;
  return momentum;
}

std::string_view to_string(LrSchedule s) {
  switch (s) {
    case LrSchedule::constant: return "constant";
    case LrSchedule::linear: return "linear";
    case LrSchedule::exponential: return "exponential";
  }
  return "constant";
}

std::string_view to_string(TapReseed r) { return r == TapReseed::merged ? "merged" : "none"; }

TapReseed parse_tap_reseed(std::string_view s) {
  if (s == "merged") return TapReseed::merged;
  if (s == "none") return TapReseed::none;
  ONSAGER_FAIL("parse_tap_reseed: reseed must be merged or none (got '{}')", s);
}

LrSchedule parse_lr_schedule(std::string_view s) {
  if (s == "constant") return LrSchedule::constant;
  if (s == "linear") return LrSchedule::linear;
  if (s == "exp" || s == "exponential") return LrSchedule::exponential;
  ONSAGER_FAIL("parse_lr_schedule: schedule must be constant, linear or exp (got '{}')", s);
}

nlohmann::json to_json(const TrainConfig& c) {
  return {{"method", to_string(c.method)}, {"visible", to_string(c.visible)}, {"min_variance", c.min_variance},
          {"variance_lr_scale", c.variance_lr_scale},
          {"hidden", c.hidden},
          {"k", c.k},
          {"epochs", c.epochs},
          {"batch_size", c.batch_size},
          {"lr", c.lr},
          {"lr_schedule", to_string(c.lr_schedule)},
          {"lr_final", c.lr_final},
          {"lr_decay", c.lr_decay},
          {"momentum", c.momentum},
          {"momentum_schedule", c.momentum_schedule},
          {"momentum_on", c.momentum_weights_only ? "weights" : "all"},
          {"l1", c.l1},
          {"l2", c.l2},
          {"max_norm", c.max_norm},
          {"chains", c.chains},
          {"init_std", c.init_std},
          {"seed", c.seed},
          {"monitor_samples", c.monitor_samples},
          {"tap_iters", c.tap_iters},
          {"tap_damping", c.tap_damping},
          {"tap_tol", c.tap_tol},
          {"tap_persist_from", c.tap_persist_from},
          {"tap_reseed", to_string(c.tap_reseed)},
          {"tap_restart_fraction", c.tap_restart_fraction}};
}

TrainConfig train_config_from_json(const nlohmann::json& j) {
  TrainConfig c;
  try {
    c.method = parse_train_method(j.at("method").get<std::string>());
    c.hidden = j.at("hidden").get<int>();
    c.k = j.at("k").get<int>();
    c.epochs = j.at("epochs").get<int>();
    c.batch_size = j.at("batch_size").get<int>();
    c.lr = j.at("lr").get<double>();
    c.lr_schedule = parse_lr_schedule(j.at("lr_schedule").get<std::string>());
    c.lr_final = j.at("lr_final").get<double>();
    c.lr_decay = j.at("lr_decay").get<double>();
    c.momentum = j.at("momentum").get<double>();
    c.momentum_schedule = j.at("momentum_schedule").get<bool>();
    c.l1 = j.at("l1").get<double>();
    c.l2 = j.at("l2").get<double>();
    c.max_norm = j.at("max_norm").get<double>();
    c.chains = j.at("chains").get<int>();
    c.init_std = j.at("init_std").get<double>();
    c.seed = j.at("seed").get<std::uint64_t>();
    c.monitor_samples = j.at("monitor_samples").get<int>();
    // Added with the TAP methods; files written before them lack these keys.
    c.tap_iters = j.value("tap_iters", c.tap_iters);
    c.tap_damping = j.value("tap_damping", c.tap_damping);
    c.tap_tol = j.value("tap_tol", c.tap_tol);
    c.tap_persist_from = j.value("tap_persist_from", c.tap_persist_from);
    // Added with re-seeding: a run written before it had none, and continues without.
    c.tap_reseed = parse_tap_reseed(j.value("tap_reseed", std::string("none")));
    c.tap_restart_fraction = j.value("tap_restart_fraction", 0.0);
    // Added with Gaussian visible units.
    c.visible = parse_visible_type(j.value("visible", std::string("bernoulli")));
    c.min_variance = j.value("min_variance", c.min_variance);
    c.variance_lr_scale = j.value("variance_lr_scale", c.variance_lr_scale);
    const std::string momentum_on = j.value("momentum_on", std::string("all"));
    ONSAGER_CHECK(momentum_on == "all" || momentum_on == "weights", "momentum_on must be all or weights (got '{}')",
                  momentum_on);
    c.momentum_weights_only = momentum_on == "weights";
  } catch (const nlohmann::json::exception& e) {
    ONSAGER_FAIL("training settings in the model file are incomplete or malformed ({})", e.what());
  }
  return c;
}

nlohmann::json to_json(const EpochStats& s) {
  auto num = [](double x) -> nlohmann::json { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  return {{"epoch", s.epoch},
          {"lr", num(s.lr)},
          {"momentum", num(s.momentum)},
          {"recon_error", num(s.recon_error)},
          {"pseudo_likelihood", num(s.pseudo_likelihood)},
          {"pseudo_likelihood_scaled", num(s.pseudo_likelihood_scaled)},
          {"free_energy_train", num(s.free_energy_train)},
          {"free_energy_valid", num(s.free_energy_valid)},
          {"free_energy_gap", num(s.free_energy_valid - s.free_energy_train)},
          {"weight_norm", num(s.weight_norm)},
          {"weight_sigma_max", num(s.weight_sigma_max)},
          {"weight_mean_abs", num(s.weight_mean_abs)},
          {"tap_free_energy", num(s.tap_free_energy)},
          {"tap_entropy", num(s.tap_entropy)},
          {"tap_energy", num(s.tap_energy)},
          {"tap_onsager", num(s.tap_onsager)},
          {"tap_sweeps", num(s.tap_sweeps)},
          {"tap_distinct_states", num(s.tap_distinct_states)},
          {"tap_reseeded", num(s.tap_reseeded)},
          {"seconds", num(s.seconds)},
          {"monitor_seconds", num(s.monitor_seconds)}};
}

EpochStats epoch_stats_from_json(const nlohmann::json& j) {
  auto get = [&](const char* key) {
    const auto it = j.find(key);
    return it == j.end() || !it->is_number() ? kNaN : it->get<double>();
  };
  EpochStats s;
  s.epoch = j.value("epoch", 0);
  s.lr = get("lr");
  s.momentum = get("momentum");
  s.recon_error = get("recon_error");
  s.pseudo_likelihood = get("pseudo_likelihood");
  s.pseudo_likelihood_scaled = get("pseudo_likelihood_scaled");
  s.free_energy_train = get("free_energy_train");
  s.free_energy_valid = get("free_energy_valid");
  s.weight_norm = get("weight_norm");
  s.weight_sigma_max = get("weight_sigma_max");
  s.weight_mean_abs = get("weight_mean_abs");
  s.tap_free_energy = get("tap_free_energy");
  s.tap_entropy = get("tap_entropy");
  s.tap_energy = get("tap_energy");
  s.tap_onsager = get("tap_onsager");
  s.tap_sweeps = get("tap_sweeps");
  s.tap_distinct_states = get("tap_distinct_states");
  s.tap_reseeded = get("tap_reseeded");
  s.seconds = get("seconds");
  s.monitor_seconds = get("monitor_seconds");
  return s;
}

}  // namespace onsager
