#include "onsager/rbm/train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/tap.hpp"

namespace onsager {
namespace {

// Stream tags: every random decision of a run has its own key.
enum : std::uint64_t {
  kTagShuffle = 1,
  kTagPositive = 2,
  kTagVisible = 3,
  kTagHidden = 4,
  kTagInitChains = 5,
  kTagMonitor = 6,
  kTagPseudo = 7,
  kTagInitWeights = 8,
};

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class Rows>
MatrixF gather_rows(const ConstMatrixFRef& data, const Rows& rows) {
  MatrixF out(static_cast<Eigen::Index>(rows.size()), data.cols());
  for (std::size_t i = 0; i < rows.size(); ++i) out.row(static_cast<Eigen::Index>(i)) = data.row(static_cast<Eigen::Index>(rows[i]));
  return out;
}

MatrixF monitor_subset(const ConstMatrixFRef& data, int max_rows, std::uint64_t seed) {
  const auto n = static_cast<std::size_t>(data.rows());
  const std::size_t m = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(max_rows, 0)));
  auto perm = random_permutation(n, stream_seed(seed, kTagMonitor));
  perm.resize(m);
  std::sort(perm.begin(), perm.end());
  return gather_rows(data, perm);
}

// Momentum path: velocity u ← μ u + lr (∇ − l2 W − l1 sign W) (the GEMM already added μ u + lr ∇), W ← W + u.
void apply_momentum_update(MatrixF& w, MatrixF& vel, float lr, float l1, float l2) {
  const Eigen::Index rows = w.rows();
#pragma omp parallel for schedule(static) if (w.size() > 65536)
  for (Eigen::Index r = 0; r < rows; ++r) {
    auto wr = w.row(r).array();
    auto vr = vel.row(r).array();
    if (l1 != 0.0f)
      vr -= lr * (l2 * wr + l1 * wr.sign());
    else if (l2 != 0.0f)
      vr -= (lr * l2) * wr;
    wr += vr;
  }
}

void apply_max_norm(MatrixF& w, float max_norm) {
  if (max_norm <= 0) return;
  for (Eigen::Index r = 0; r < w.rows(); ++r) {
    const float n = w.row(r).norm();
    if (n > max_norm) w.row(r) *= max_norm / n;
  }
}

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

bool is_tap_method(TrainMethod m) { return m == TrainMethod::mf || m == TrainMethod::tap2 || m == TrainMethod::tap3; }

namespace {

TapOptions tap_options(const TrainConfig& c) {
  TapOptions o;
  o.order = c.method == TrainMethod::tap3 ? TapOrder::third : c.method == TrainMethod::tap2 ? TapOrder::second : TapOrder::naive;
  o.max_iters = c.tap_iters;
  o.damping = static_cast<float>(c.tap_damping);
  o.tol = c.tap_tol;
  return o;
}

}  // namespace

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

LrSchedule parse_lr_schedule(std::string_view s) {
  if (s == "constant") return LrSchedule::constant;
  if (s == "linear") return LrSchedule::linear;
  if (s == "exp" || s == "exponential") return LrSchedule::exponential;
  ONSAGER_FAIL("parse_lr_schedule: schedule must be constant, linear or exp (got '{}')", s);
}

nlohmann::json to_json(const TrainConfig& c) {
  return {{"method", to_string(c.method)}, {"hidden", c.hidden},
          {"k", c.k},
          {"epochs", c.epochs},
          {"batch_size", c.batch_size},
          {"lr", c.lr},
          {"lr_schedule", to_string(c.lr_schedule)},
          {"lr_final", c.lr_final},
          {"lr_decay", c.lr_decay},
          {"momentum", c.momentum},
          {"momentum_schedule", c.momentum_schedule},
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
          {"tap_persist_from", c.tap_persist_from}};
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
  s.seconds = get("seconds");
  s.monitor_seconds = get("monitor_seconds");
  return s;
}

TrainState init_training(const ConstMatrixFRef& data, const TrainConfig& config) {
  config.validate();
  ONSAGER_CHECK(data.rows() > 0 && data.cols() > 0, "init_training: the training data is empty ({} x {})", data.rows(),
                data.cols());
  ONSAGER_CHECK(data.allFinite(), "init_training: the training data has NaN or Inf values");
  ONSAGER_CHECK(data.minCoeff() >= 0.0f && data.maxCoeff() <= 1.0f,
                "init_training: data values must lie in [0, 1] (got {} .. {})", data.minCoeff(), data.maxCoeff());
  TrainState s;
  s.rbm = Rbm::random(data.cols(), config.hidden, static_cast<float>(config.init_std), stream_seed(config.seed, kTagInitWeights));
  // Visible biases log(p / (1 - p)) of the pixel marginals, with p clipped away from 0 and 1.
  const VectorD mean = data.cast<double>().colwise().mean().transpose();
  for (Eigen::Index i = 0; i < mean.size(); ++i) {
    const double p = std::clamp(mean(i), 1e-3, 1.0 - 1e-3);
    s.rbm.visible_bias(i) = static_cast<float>(std::log(p / (1.0 - p)));
  }
  s.weight_velocity = MatrixF::Zero(s.rbm.num_hidden(), s.rbm.num_visible());
  s.visible_velocity = VectorF::Zero(s.rbm.num_visible());
  s.hidden_velocity = VectorF::Zero(s.rbm.num_hidden());
  if (config.method == TrainMethod::pcd) {
    const int c = config.num_chains();
    Rng rng(stream_seed(config.seed, kTagInitChains));
    MatrixF start(c, data.cols());
    for (int i = 0; i < c; ++i) start.row(i) = data.row(static_cast<Eigen::Index>(rng.below(static_cast<std::uint64_t>(data.rows()))));
    s.chains = s.rbm.hidden_probs(start);
    sample_bernoulli(s.chains, config.seed, kTagInitChains, 0);
  }
  return s;
}

namespace {

// The part of every update after the weights: bias velocities and biases, then the max-norm constraint.
void finish_update(TrainState& state, const TrainConfig& config, float lr, float momentum, const TrainWorkspace& ws) {
  state.visible_velocity = momentum * state.visible_velocity + lr * ws.grad_visible;
  state.hidden_velocity = momentum * state.hidden_velocity + lr * ws.grad_hidden;
  state.rbm.visible_bias += state.visible_velocity;
  state.rbm.hidden_bias += state.hidden_velocity;
  apply_max_norm(state.rbm.weight, static_cast<float>(config.max_norm));
}

// Applies a log-likelihood gradient (weight gradient in `grad_w`, bias gradients in ws) with momentum, L1/L2
// and max-norm, as the CD path does.
void apply_gradient(TrainState& state, MatrixF& grad_w, const TrainConfig& config, float lr, float momentum,
                    TrainWorkspace& ws) {
  Rbm& rbm = state.rbm;
  const auto l1 = static_cast<float>(config.l1), l2 = static_cast<float>(config.l2);
  const Eigen::Index rows = rbm.weight.rows();
  if (momentum == 0.0f && l1 == 0.0f) {
#pragma omp parallel for schedule(static) if (rbm.weight.size() > 65536)
    for (Eigen::Index r = 0; r < rows; ++r)
      rbm.weight.row(r) = (1.0f - lr * l2) * rbm.weight.row(r) + lr * grad_w.row(r);
  } else {
#pragma omp parallel for schedule(static) if (rbm.weight.size() > 65536)
    for (Eigen::Index r = 0; r < rows; ++r)
      state.weight_velocity.row(r) = momentum * state.weight_velocity.row(r) + lr * grad_w.row(r);
    apply_momentum_update(rbm.weight, state.weight_velocity, lr, l1, l2);
  }
  finish_update(state, config, lr, momentum, ws);
}

// The deterministic negative phase: magnetisations iterated towards a fixed point of the TAP equations, then
// ∇ log-likelihood ≈ ⟨·⟩_data + ∂Γ/∂θ (DESIGN.md §5).
void tap_step(TrainState& state, const ConstMatrixFRef& batch, const TrainConfig& config, float lr, float momentum,
              TrainWorkspace& ws) {
  Rbm& rbm = state.rbm;
  // A diverged model is left as it is: train() sees the NaN after the epoch and rolls back. The model is checked
  // here once, so the TAP routines run without their own checks.
  if (!rbm.weight.allFinite() || !rbm.visible_bias.allFinite() || !rbm.hidden_bias.allFinite()) return;
  const TapOptions opts = tap_options(config);
  const Eigen::Index b = batch.rows();
  ws.hidden.resize(b, rbm.num_hidden());
  rbm.hidden_probs(batch, ws.hidden);

  TapFixedPoint fp;
  if (config.tap_persistent_at(state.epochs_done)) {
    if (state.tap_m_v.rows() == 0) {
      const int c = config.num_chains();
      state.tap_m_v.resize(c, rbm.num_visible());
      for (int r = 0; r < c; ++r) state.tap_m_v.row(r) = batch.row(r % b);
      state.tap_m_h = rbm.hidden_probs(state.tap_m_v);
    }
    fp = detail::tap_iterate_unchecked(rbm, std::move(state.tap_m_v), std::move(state.tap_m_h), opts);
    state.tap_m_v = fp.m_v;
    state.tap_m_h = fp.m_h;
  } else {
    fp = detail::tap_iterate_unchecked(rbm, MatrixF(batch), MatrixF(ws.hidden), opts);
  }
  ws.tap_sweeps += fp.sweeps;
  ws.tap_updates += 1;

  TapGradient g = detail::tap_gradient_unchecked(rbm, fp.m_v, fp.m_h, opts.order);  // ∂Γ/∂θ
  gemm(1.0f / static_cast<float>(b), ws.hidden, Trans::yes, batch, Trans::no, 1.0f, g.weight);
  ws.grad_visible = batch.colwise().mean().transpose() + g.visible_bias;
  ws.grad_hidden = ws.hidden.colwise().mean().transpose() + g.hidden_bias;
  ws.tap_m_v = std::move(fp.m_v);
  ws.tap_m_h = std::move(fp.m_h);
  apply_gradient(state, g.weight, config, lr, momentum, ws);
}

}  // namespace

void train_step(TrainState& state, const ConstMatrixFRef& batch, const TrainConfig& config, float lr, float momentum,
                std::uint64_t step, TrainWorkspace& ws) {
  if (is_tap_method(config.method)) {
    tap_step(state, batch, config, lr, momentum, ws);
    return;
  }
  Rbm& rbm = state.rbm;
  const Eigen::Index b = batch.rows(), h = rbm.num_hidden(), v = rbm.num_visible();
  const bool pcd = config.method == TrainMethod::pcd;
  const Eigen::Index c = pcd ? state.chains.rows() : b;

  // Data and model rows share one stacked buffer, so the weight gradient is a single GEMM over B + C rows:
  // [P_h / B ; -P_h' / C]ᵀ [V ; V'] = <h vᵀ>_data - <h vᵀ>_model.
  ws.visible.resize(b + c, v);
  ws.hidden.resize(b + c, h);
  auto pos_v = ws.visible.topRows(b), neg_v = ws.visible.bottomRows(c);
  auto pos_h = ws.hidden.topRows(b), neg_h = ws.hidden.bottomRows(c);
  pos_v = batch;
  rbm.hidden_probs(batch, pos_h);

  // Negative phase: the chains' hidden states (PCD) or a sample of the positive phase (CD).
  if (pcd) {
    ws.chain_hidden = state.chains;
  } else {
    ws.chain_hidden = pos_h;
    sample_bernoulli(ws.chain_hidden, config.seed, kTagPositive, step);
  }
  for (int s = 0; s < config.k; ++s) {
    const std::uint64_t sub = step * static_cast<std::uint64_t>(config.k) + static_cast<std::uint64_t>(s);
    rbm.visible_probs(ws.chain_hidden, neg_v);
    sample_bernoulli(neg_v, config.seed, kTagVisible, sub);
    rbm.hidden_probs(neg_v, neg_h);
    if (s + 1 < config.k || pcd) {
      ws.chain_hidden = neg_h;
      sample_bernoulli(ws.chain_hidden, config.seed, kTagHidden, sub);
    }
  }
  if (pcd) state.chains.swap(ws.chain_hidden);

  // Gradient of the log-likelihood, hidden probabilities in both phases.
  ws.grad_visible = pos_v.colwise().mean().transpose() - neg_v.colwise().mean().transpose();
  ws.grad_hidden = pos_h.colwise().mean().transpose() - neg_h.colwise().mean().transpose();
  pos_h *= 1.0f / static_cast<float>(b);
  neg_h *= -1.0f / static_cast<float>(c);
  const auto l1 = static_cast<float>(config.l1), l2 = static_cast<float>(config.l2);
  if (momentum == 0.0f && l1 == 0.0f) {
    // Plain SGD: W ← (1 − lr·l2) W + lr ∇ in the GEMM itself, with no gradient buffer or extra pass.
    gemm(lr, ws.hidden, Trans::yes, ws.visible, Trans::no, 1.0f - lr * l2, rbm.weight);
  } else {
    gemm(lr, ws.hidden, Trans::yes, ws.visible, Trans::no, momentum, state.weight_velocity);
    apply_momentum_update(rbm.weight, state.weight_velocity, lr, l1, l2);
  }
  finish_update(state, config, lr, momentum, ws);
}

double largest_singular_value(const ConstMatrixFRef& w) {
  if (w.size() == 0) return 0.0;
  const Eigen::MatrixXd wd = w.cast<double>();
  Eigen::MatrixXd gram = w.rows() <= w.cols() ? Eigen::MatrixXd(wd * wd.transpose()) : Eigen::MatrixXd(wd.transpose() * wd);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(gram, Eigen::EigenvaluesOnly);
  ONSAGER_CHECK(es.info() == Eigen::Success, "largest_singular_value: the eigensolver did not converge");
  return std::sqrt(std::max(0.0, es.eigenvalues().maxCoeff()));
}

EpochStats measure_epoch(const Rbm& rbm, const ConstMatrixFRef& train_subset, const MatrixF* valid_subset,
                         std::uint64_t seed) {
  EpochStats s;
  if (train_subset.rows() > 0) {
    s.recon_error = rbm.reconstruction_error(train_subset);
    s.pseudo_likelihood = rbm.pseudo_likelihood(train_subset, seed);
    s.pseudo_likelihood_scaled = s.pseudo_likelihood * static_cast<double>(rbm.num_visible());
    s.free_energy_train = rbm.free_energy(train_subset).mean();
  } else {
    s.recon_error = s.pseudo_likelihood = s.pseudo_likelihood_scaled = s.free_energy_train = kNaN;
  }
  s.free_energy_valid = valid_subset && valid_subset->rows() > 0 ? rbm.free_energy(*valid_subset).mean() : kNaN;
  s.weight_norm = rbm.weight.cast<double>().norm();
  s.weight_sigma_max = largest_singular_value(rbm.weight);
  s.weight_mean_abs = rbm.weight.cast<double>().cwiseAbs().mean();
  return s;
}

TrainOutcome train(TrainState& state, const ConstMatrixFRef& data, const TrainConfig& config,
                   const TrainOptions& options) {
  config.validate();
  ONSAGER_CHECK(data.cols() == state.rbm.num_visible(), "train: the data has {} features, the model {} visible units",
                data.cols(), state.rbm.num_visible());
  ONSAGER_CHECK(data.rows() > 0, "train: the training data is empty");
  if (options.validation)
    ONSAGER_CHECK(options.validation->cols() == data.cols(),
                  "train: options.validation has {} features, the training data {}", options.validation->cols(),
                  data.cols());
  const MatrixF train_subset = monitor_subset(data, config.monitor_samples, config.seed);
  const MatrixF valid_subset =
      options.validation ? monitor_subset(*options.validation, config.monitor_samples, config.seed) : MatrixF();

  const auto n = static_cast<std::size_t>(data.rows());
  const auto bs = static_cast<std::size_t>(config.batch_size);
  const std::size_t batches = (n + bs - 1) / bs;
  TrainWorkspace ws;
  MatrixF batch(static_cast<Eigen::Index>(std::min(bs, n)), data.cols());

  while (state.epochs_done < config.epochs) {
    const int epoch = state.epochs_done;
    const TrainState last_good = state;  // restored if this epoch diverges
    const auto lr = static_cast<float>(config.lr_at(epoch)), mom = static_cast<float>(config.momentum_at(epoch));
    const auto perm = random_permutation(n, stream_seed(config.seed, kTagShuffle, static_cast<std::uint64_t>(epoch)));
    Progress bar(fmt::format("epoch {}/{}", epoch + 1, config.epochs), batches, options.progress);
    const auto t0 = std::chrono::steady_clock::now();
    ws.tap_sweeps = ws.tap_updates = 0;
    for (std::size_t bi = 0; bi < batches; ++bi) {
      const std::size_t lo = bi * bs, hi = std::min(n, lo + bs);
      batch.resize(static_cast<Eigen::Index>(hi - lo), data.cols());
      for (std::size_t r = lo; r < hi; ++r) batch.row(static_cast<Eigen::Index>(r - lo)) = data.row(static_cast<Eigen::Index>(perm[r]));
      const std::uint64_t step = static_cast<std::uint64_t>(epoch) * batches + bi;
      train_step(state, batch, config, lr, mom, step, ws);
      bar.advance();
    }
    bar.finish();
    const double train_seconds = seconds_since(t0);
    if (!state.rbm.weight.allFinite() || !state.rbm.visible_bias.allFinite() || !state.rbm.hidden_bias.allFinite()) {
      state = last_good;
      return TrainOutcome::diverged;
    }
    // Saturation: finite weights that blew up are divergence too. The test is on the RMS weight, so that it
    // scales with the layer: more than kSaturationGrowth times the epoch before's, or than kSaturationFloor.
    const double cells = static_cast<double>(state.rbm.weight.size());
    const double rms_before = static_cast<double>(last_good.rbm.weight.norm()) / std::sqrt(cells);
    const double rms_after = static_cast<double>(state.rbm.weight.norm()) / std::sqrt(cells);
    if (rms_after > kSaturationGrowth * std::max(rms_before, kSaturationFloor)) {
      state = last_good;
      return TrainOutcome::saturated;
    }
    const auto t1 = std::chrono::steady_clock::now();
    EpochStats st = measure_epoch(state.rbm, train_subset, options.validation ? &valid_subset : nullptr,
                                  stream_seed(config.seed, kTagPseudo, static_cast<std::uint64_t>(epoch)));
    if (is_tap_method(config.method) && ws.tap_m_v.rows() > 0) {
      // Γ of the final model at the last update's magnetisations, refined by the update's own sweep budget.
      const TapOptions opts = tap_options(config);
      const TapFixedPoint fp = tap_iterate(state.rbm, ws.tap_m_v, ws.tap_m_h, opts);
      const TapFreeEnergyParts parts = tap_free_energy_parts(state.rbm, fp, opts.order);
      st.tap_free_energy = parts.total().mean();
      st.tap_entropy = parts.entropy.mean();
      st.tap_energy = parts.energy.mean();
      st.tap_onsager = parts.onsager.mean();
      st.tap_sweeps = static_cast<double>(ws.tap_sweeps) / static_cast<double>(std::max(1LL, ws.tap_updates));
    }
    st.epoch = epoch + 1;
    st.lr = config.lr_at(epoch);
    st.momentum = config.momentum_at(epoch);
    st.seconds = train_seconds;
    st.monitor_seconds = seconds_since(t1);
    state.epochs_done = epoch + 1;
    state.history.push_back(st);
    if (options.on_epoch && !options.on_epoch(state, st)) return TrainOutcome::stopped;
  }
  return TrainOutcome::finished;
}

}  // namespace onsager
