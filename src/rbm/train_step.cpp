// One parameter update of each training method (CD-k, PCD-k, and the deterministic mf/TAP2/TAP3 negative
// phase), and a fresh run's initial state.

#include <algorithm>
#include <cmath>
#include <vector>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/tap.hpp"
#include "onsager/rbm/train.hpp"
#include "rbm/train_internal.hpp"

namespace onsager {
namespace {

using namespace detail;

// Momentum path: velocity u ← μ u + lr (∇ − l2 W − l1 sign W) (the GEMM already added μ u + lr ∇), W ← W + u.
void apply_momentum_update(MatrixF& w, MatrixF& vel, float lr, float l1, float l2) {
  const Eigen::Index rows = w.rows();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (w.size() > 65536)
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

TrainState init_training(const ConstMatrixFRef& data, const TrainConfig& config) {
  config.validate();
  ONSAGER_CHECK(data.rows() > 0 && data.cols() > 0, "init_training: the training data is empty ({} x {})", data.rows(),
                data.cols());
  ONSAGER_CHECK(data.allFinite(), "init_training: the training data has NaN or Inf values");
  const bool gaussian = config.visible == VisibleType::gaussian;
  ONSAGER_CHECK(gaussian || (data.minCoeff() >= 0.0f && data.maxCoeff() <= 1.0f),
                "init_training: data values must lie in [0, 1] (got {} .. {})", data.minCoeff(), data.maxCoeff());
  TrainState s;
  s.rbm = Rbm::random(data.cols(), config.hidden, static_cast<float>(config.init_std), stream_seed(config.seed, kTagInitWeights));
  const VectorD mean = data.cast<double>().colwise().mean().transpose();
  if (gaussian) {
    // Visible biases the data's means, variances the data's (floored): the model with W = 0 fitted to the data.
    const VectorD var = (data.cast<double>().rowwise() - mean.transpose()).array().square().colwise().mean().transpose();
    s.rbm.visible_bias = mean.cast<float>();
    s.rbm.log_var = var.array().max(config.min_variance).log().cast<float>().matrix();
    s.log_var_velocity = VectorF::Zero(data.cols());
  } else {
    // Visible biases log(p / (1 - p)) of the pixel marginals, with p clipped away from 0 and 1.
    for (Eigen::Index i = 0; i < mean.size(); ++i) {
      const double p = std::clamp(mean(i), 1e-3, 1.0 - 1e-3);
      s.rbm.visible_bias(i) = static_cast<float>(std::log(p / (1.0 - p)));
    }
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

using namespace detail;

// The part of every update after the weights: bias velocities and biases, then the max-norm constraint.
void finish_update(TrainState& state, const TrainConfig& config, float lr, float momentum, const TrainWorkspace& ws) {
  if (config.momentum_weights_only) momentum = 0.0f;
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
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (rbm.weight.size() > 65536)
    for (Eigen::Index r = 0; r < rows; ++r)
      rbm.weight.row(r) = (1.0f - lr * l2) * rbm.weight.row(r) + lr * grad_w.row(r);
  } else {
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (rbm.weight.size() > 65536)
    for (Eigen::Index r = 0; r < rows; ++r)
      state.weight_velocity.row(r) = momentum * state.weight_velocity.row(r) + lr * grad_w.row(r);
    apply_momentum_update(rbm.weight, state.weight_velocity, lr, l1, l2);
  }
  finish_update(state, config, lr, momentum, ws);
}

// Persistent TAP rows after an update: those that merged with an earlier row (config.tap_reseed), and a random
// config.tap_restart_fraction of all rows, restart from random minibatch rows (distinct ones while the minibatch
// has enough), m_h = σ(c + W m_v). Under the damped TAP map at small weights every row is drawn to one fixed point,
// and rows that met stay together: without this the negative phase soon covers one mode (docs/tap-training.md).
void reseed_persistent(TrainState& state, const ConstMatrixFRef& batch, const TrainConfig& config, std::uint64_t step,
                       TrainWorkspace& ws) {
  MatrixF& m_v = state.tap_m_v;
  const auto c = static_cast<std::size_t>(m_v.rows());
  std::vector<bool> restart = repeated_rows(m_v);
  ws.tap_distinct = static_cast<int>(std::count(restart.begin(), restart.end(), false));
  ws.tap_distinct_sum += ws.tap_distinct;
  ws.tap_persistent_updates += 1;
  if (config.tap_reseed == TapReseed::none) restart.assign(c, false);
  Rng rng(stream_seed(config.seed, detail::kTagTapReseed, step));
  if (config.tap_restart_fraction > 0) {
    const auto extra = static_cast<std::size_t>(std::llround(config.tap_restart_fraction * static_cast<double>(c)));
    const std::vector<std::size_t> order = random_permutation(c, rng());  // the first `extra` of a random order
    for (std::size_t i = 0; i < extra; ++i) restart[order[i]] = true;
  }
  std::vector<Eigen::Index> rows;
  for (std::size_t r = 0; r < c; ++r)
    if (restart[r]) rows.push_back(static_cast<Eigen::Index>(r));
  if (rows.empty()) return;
  const auto b = static_cast<std::size_t>(batch.rows());
  const std::vector<std::size_t> from = random_permutation(b, rng());
  MatrixF v(static_cast<Eigen::Index>(rows.size()), m_v.cols());
  for (std::size_t i = 0; i < rows.size(); ++i)
    v.row(static_cast<Eigen::Index>(i)) = batch.row(static_cast<Eigen::Index>(from[i % b]));
  const MatrixF h = state.rbm.hidden_probs(v);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    m_v.row(rows[i]) = v.row(static_cast<Eigen::Index>(i));
    state.tap_m_h.row(rows[i]) = h.row(static_cast<Eigen::Index>(i));
  }
  ws.tap_reseeded += static_cast<long long>(rows.size());
}

// The deterministic negative phase: magnetisations iterated towards a fixed point of the TAP equations, then
// ∇ log-likelihood ≈ ⟨·⟩_data + ∂Γ/∂θ (DESIGN.md §5).
void tap_step(TrainState& state, const ConstMatrixFRef& batch, const TrainConfig& config, float lr, float momentum,
              std::uint64_t step, TrainWorkspace& ws) {
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
    reseed_persistent(state, batch, config, step, ws);  // for the next update; this one's gradient uses fp
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

// Gaussian visible units (Cho, Ilin & Raiko 2011), with z_i = log σ_i² and the rows of ws.visible / ws.hidden the
// data (first b) and the negative phase (the rest), hidden probabilities in both:
//   ∂/∂b_i = ⟨(v_i - b_i)/σ_i²⟩_data - ⟨·⟩_model,  ∂/∂z_i = ⟨e^{-z_i} (½(v_i - b_i)² - v_i (Wᵀh)_i)⟩_data - ⟨·⟩_model,
//   ∂/∂W_ji = ⟨h_j v_i/σ_i²⟩_data - ⟨·⟩_model.
// Scales ws.grad_visible (the plain difference of means) by 1/σ², writes the log-variance gradient, and scales the
// columns of ws.visible by 1/σ² so that the weight GEMM that follows gives the weight gradient.
void gaussian_gradient(const Rbm& rbm, Eigen::Index b, TrainWorkspace& ws, VectorF& grad_log_var) {
  const VectorF prec = rbm.precision();
  const Eigen::Index rows = ws.visible.rows(), c = rows - b;
  MatrixF wh(rows, rbm.num_visible());
  gemm(1.0f, ws.hidden, Trans::no, rbm.weight, Trans::no, 0.0f, wh);  // (Wᵀh)ᵀ per row
  const auto bias = rbm.visible_bias.transpose().array();
  const MatrixF term = 0.5f * (ws.visible.array().rowwise() - bias).square() - ws.visible.array() * wh.array();
  grad_log_var = (term.topRows(b).colwise().mean() - term.bottomRows(c).colwise().mean()).transpose().cwiseProduct(prec);
  ws.grad_visible = ws.grad_visible.cwiseProduct(prec);
  ws.visible.array().rowwise() *= prec.transpose().array();
}

}  // namespace

std::vector<bool> repeated_rows(const ConstMatrixFRef& m, float distance) {
  const Eigen::Index n = m.rows(), cols = m.cols();
  constexpr Eigen::Index kBlock = 64;  // distinct rows usually differ early: compare a block at a time
  std::vector<bool> repeat(static_cast<std::size_t>(n), false);
  std::vector<Eigen::Index> kept;
  for (Eigen::Index r = 0; r < n; ++r) {
    for (Eigen::Index q : kept) {
      bool close = true;
      for (Eigen::Index j = 0; j < cols && close; j += kBlock) {
        const Eigen::Index w = std::min(kBlock, cols - j);
        close = (m.row(r).segment(j, w) - m.row(q).segment(j, w)).cwiseAbs().maxCoeff() <= distance;
      }
      if (close) {
        repeat[static_cast<std::size_t>(r)] = true;
        break;
      }
    }
    if (!repeat[static_cast<std::size_t>(r)]) kept.push_back(r);
  }
  return repeat;
}

void train_step(TrainState& state, const ConstMatrixFRef& batch, const TrainConfig& config, float lr, float momentum,
                std::uint64_t step, TrainWorkspace& ws) {
  if (is_tap_method(config.method)) {
    tap_step(state, batch, config, lr, momentum, step, ws);
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

  const bool gaussian = rbm.gaussian();
  const VectorF sigma = gaussian ? VectorF((0.5f * rbm.log_var.array()).exp().matrix()) : VectorF();

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
    if (gaussian)
      sample_gaussian(neg_v, sigma, config.seed, kTagVisible, sub);
    else
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
  VectorF grad_log_var;
  if (gaussian) gaussian_gradient(rbm, b, ws, grad_log_var);
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
  if (gaussian) {
    if (state.log_var_velocity.size() != v) state.log_var_velocity = VectorF::Zero(v);
    const float mom = config.momentum_weights_only ? 0.0f : momentum;
    state.log_var_velocity =
        mom * state.log_var_velocity + (lr * static_cast<float>(config.variance_lr_scale)) * grad_log_var;
    // The floor stops the variance, and the velocity that would push it further down (else momentum piles up there).
    const auto floor = static_cast<float>(std::log(config.min_variance));
    rbm.log_var += state.log_var_velocity;
    for (Eigen::Index i = 0; i < v; ++i)
      if (rbm.log_var(i) < floor) {
        rbm.log_var(i) = floor;
        state.log_var_velocity(i) = std::max(state.log_var_velocity(i), 0.0f);
      }
    rbm.log_var = rbm.log_var.cwiseMin(kMaxAbsLogVar);
  }
}

}  // namespace onsager
