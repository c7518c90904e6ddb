#include "onsager/rbm/train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numbers>

#include <nlohmann/json.hpp>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/tap.hpp"
#include "rbm/train_internal.hpp"

namespace onsager {
namespace {

using namespace detail;

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

}  // namespace

double largest_singular_value(const ConstMatrixFRef& w) {
  if (w.size() == 0) return 0.0;
  const Eigen::MatrixXd wd = w.cast<double>();
  Eigen::MatrixXd gram = w.rows() <= w.cols() ? Eigen::MatrixXd(wd * wd.transpose()) : Eigen::MatrixXd(wd.transpose() * wd);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(gram, Eigen::EigenvaluesOnly);
  ONSAGER_CHECK(es.info() == Eigen::Success, "largest_singular_value: the eigensolver did not converge");
  return std::sqrt(std::max(0.0, es.eigenvalues().maxCoeff()));
}

std::string_view to_string(TrainOutcome o) {
  switch (o) {
    case TrainOutcome::finished: return "finished";
    case TrainOutcome::stopped: return "stopped";
    case TrainOutcome::diverged: return "diverged";
    case TrainOutcome::saturated: return "saturated";
    case TrainOutcome::collapsed: return "collapsed";
  }
  return "?";
}

EpochStats measure_monitors(const Rbm& rbm, const ConstMatrixFRef& data, const MatrixF* validation,
                            const TrainConfig& config, int epoch) {
  const MatrixF train_subset = monitor_subset(data, config.monitor_samples, config.seed);
  const MatrixF valid_subset = validation ? monitor_subset(*validation, config.monitor_samples, config.seed) : MatrixF();
  return measure_epoch(rbm, train_subset, validation ? &valid_subset : nullptr,
                       stream_seed(config.seed, kTagPseudo, static_cast<std::uint64_t>(epoch)));
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
  ONSAGER_CHECK(state.rbm.gaussian() == (config.visible == VisibleType::gaussian),
                "train: the model has {} visible units but config.visible is {}", state.rbm.visible_type(),
                to_string(config.visible));
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
    ws.tap_sweeps = ws.tap_updates = ws.tap_reseeded = ws.tap_distinct_sum = ws.tap_persistent_updates = 0;
    for (std::size_t bi = 0; bi < batches; ++bi) {
      const std::size_t lo = bi * bs, hi = std::min(n, lo + bs);
      batch.resize(static_cast<Eigen::Index>(hi - lo), data.cols());
      for (std::size_t r = lo; r < hi; ++r) batch.row(static_cast<Eigen::Index>(r - lo)) = data.row(static_cast<Eigen::Index>(perm[r]));
      const std::uint64_t step = static_cast<std::uint64_t>(epoch) * batches + bi;
      train_step(state, batch, config, lr, mom, step, ws);
      bar.advance();
      if (interrupt_requested()) {
        state = last_good;
        throw Interrupted(fmt::format("train: interrupted in epoch {}; the state is that of epoch {}", epoch + 1, epoch));
      }
    }
    bar.finish();
    const double train_seconds = seconds_since(t0);
    if (!state.rbm.weight.allFinite() || !state.rbm.visible_bias.allFinite() || !state.rbm.hidden_bias.allFinite() ||
        !state.rbm.log_var.allFinite()) {
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
    // Collapse: the monitor's pseudo-likelihood fell by more than kPseudoLikelihoodCollapse nats per feature.
    if (std::isfinite(st.pseudo_likelihood) && train_subset.rows() >= kPseudoLikelihoodMinRows) {
      const double before = state.history.empty() || !std::isfinite(state.history.back().pseudo_likelihood)
                                ? -std::numbers::ln2
                                : state.history.back().pseudo_likelihood;
      if (st.pseudo_likelihood < std::min(before, -std::numbers::ln2) - kPseudoLikelihoodCollapse) {
        state = last_good;
        return TrainOutcome::collapsed;
      }
    }
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
      if (ws.tap_persistent_updates > 0) {  // the epoch's updates were persistent
        st.tap_distinct_states =
            static_cast<double>(ws.tap_distinct_sum) / static_cast<double>(ws.tap_persistent_updates);
        st.tap_reseeded = static_cast<double>(ws.tap_reseeded);
      }
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