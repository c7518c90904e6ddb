// A rigorous lower bound on log Z from the best single state of the smaller layer (ModeBound, rbm/partition.hpp).
//
// In the model seen from the searched layer x (the transposed model when it is the hidden one), with the other layer
// summed out, log p*(x) = b·x + Σ_j softplus(y_j), y = c + W x. Flipping unit i changes it by
//   ±b_i + Σ_j [softplus(y_j ± W_ji) - softplus(y_j)],
// O(size of the other layer) in double; a sweep tries every unit in order and keeps each flip that raises log p*.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/rbm.hpp"
#include "partition_internal.hpp"

namespace onsager {
namespace {

constexpr std::uint64_t kTagModeStart = 30;
constexpr int kMaxSweeps = 1000;
// Work allowed for the neighbours of the local maxima: states x (size of the other layer) multiply-adds.
constexpr double kBudget = 5.0e7;

}  // namespace

ModeBound log_partition_mode_bound(const Rbm& model, const ConstMatrixFRef& data, int starts, std::uint64_t seed) {
  const auto start_time = std::chrono::steady_clock::now();
  model.validate("log_partition_mode_bound");
  model.require_bernoulli("log_partition_mode_bound");
  ONSAGER_CHECK(starts >= 1, "log_partition_mode_bound: starts must be at least 1 (got {})", starts);
  ONSAGER_CHECK(data.rows() == 0 || data.cols() == model.num_visible(),
                "log_partition_mode_bound: the data has {} features, the model {} visible units", data.cols(),
                model.num_visible());
  const bool hidden = resolve_ais_layer(model, AisLayer::automatic) == AisLayer::hidden;
  // The searched layer's view: w (n x m, row i = unit i's weights to the other layer), own bias b, other bias c.
  const MatrixD w = hidden ? MatrixD(model.weight.cast<double>()) : MatrixD(model.weight.transpose().cast<double>());
  const VectorD b = (hidden ? model.hidden_bias : model.visible_bias).cast<double>();
  const VectorD c = (hidden ? model.visible_bias : model.hidden_bias).cast<double>();
  const Eigen::Index n = w.rows(), m = w.cols();

  // Starting states: evenly spaced data rows, then uniformly random states.
  const Eigen::Index from_data = std::min<Eigen::Index>(data.rows(), starts);
  const Eigen::Index total = from_data + starts;
  MatrixD x0(total, n);
  for (Eigen::Index s = 0; s < from_data; ++s) {
    const Eigen::Index row = s * data.rows() / from_data;
    if (hidden) {
      const MatrixF ph = model.hidden_probs(data.row(row));
      x0.row(s) = (ph.row(0).array() > 0.5f).cast<double>().matrix();
    } else {
      x0.row(s) = (data.row(row).array() > 0.5f).cast<double>().matrix();
    }
  }
  for (Eigen::Index s = from_data; s < total; ++s) {
    const std::uint64_t key = stream_seed(seed, kTagModeStart, 0, static_cast<std::uint64_t>(s));
    for (Eigen::Index i = 0; i < n; ++i) x0(s, i) = counter_uniform(key, static_cast<std::uint32_t>(i)) < 0.5f ? 1 : 0;
  }

  std::vector<double> best(static_cast<std::size_t>(total), -std::numeric_limits<double>::infinity());
  MatrixD found(total, n);
#pragma omp parallel for schedule(dynamic) num_threads(num_threads())
  for (Eigen::Index s = 0; s < total; ++s) {
    VectorD x = x0.row(s).transpose();
    VectorD y = c + w.transpose() * x;
    for (int sweep = 0; sweep < kMaxSweeps; ++sweep) {
      bool changed = false;
      for (Eigen::Index i = 0; i < n; ++i) {
        const double sign = x(i) > 0.5 ? -1.0 : 1.0;
        double delta = sign * b(i);
        for (Eigen::Index j = 0; j < m; ++j) delta += softplus(y(j) + sign * w(i, j)) - softplus(y(j));
        if (delta > 1e-12) {
          x(i) = 1.0 - x(i);
          y += sign * w.row(i).transpose();
          changed = true;
        }
      }
      if (!changed) break;
    }
    // From a fresh field: no drift from the running updates.
    best[static_cast<std::size_t>(s)] = detail::log_p_star(b, x, c + w.transpose() * x);
    found.row(s) = x.transpose();
  }
  throw_if_interrupted("log_partition_mode_bound");

  ModeBound r;
  r.layer = hidden ? AisLayer::hidden : AisLayer::visible;
  r.starts = static_cast<int>(total);
  const auto it = std::max_element(best.begin(), best.end());
  r.best_start = static_cast<int>(it - best.begin());
  // The distinct states reached, each counted once, and their neighbours: log Z >= log Σ p*(x) over them.
  std::set<std::vector<bool>> maxima, seen;
  const auto key_of = [&](const VectorD& x) {
    std::vector<bool> key(static_cast<std::size_t>(n));
    for (Eigen::Index i = 0; i < n; ++i) key[static_cast<std::size_t>(i)] = x(i) > 0.5;
    return key;
  };
  std::vector<Eigen::Index> keep;
  for (Eigen::Index s = 0; s < total; ++s)
    if (maxima.insert(key_of(found.row(s).transpose())).second) keep.push_back(s);
  r.distinct = static_cast<int>(keep.size());

  // The local maxima and their neighbours one flip away (two flips too while the count stays within the budget):
  // the states that hold the next largest shares of a cold model's mass. Each is counted once.
  const double per_mode_2 = static_cast<double>(n) * static_cast<double>(n - 1) / 2.0;
  const bool two_flips = static_cast<double>(keep.size()) * (1.0 + n + per_mode_2) * static_cast<double>(m) <= kBudget;
  const bool one_flip = static_cast<double>(keep.size()) * (1.0 + n) * static_cast<double>(m) <= kBudget;
  std::vector<VectorD> states;
  std::vector<double> logp;
  const auto add = [&](const VectorD& x, const VectorD& y) {
    if (!seen.insert(key_of(x)).second) return;
    states.push_back(x);
    logp.push_back(detail::log_p_star(b, x, y));
  };
  for (const Eigen::Index s : keep) {
    const VectorD x = found.row(s).transpose();
    const VectorD y = c + w.transpose() * x;
    add(x, y);
    if (!one_flip) continue;
    for (Eigen::Index i = 0; i < n; ++i) {
      VectorD xi = x;
      xi(i) = 1 - xi(i);
      const VectorD yi = y + (xi(i) - x(i)) * w.row(i).transpose();
      add(xi, yi);
      if (!two_flips) continue;
      for (Eigen::Index k = i + 1; k < n; ++k) {
        VectorD xk = xi;
        xk(k) = 1 - xk(k);
        add(xk, yi + (xk(k) - x(k)) * w.row(k).transpose());
      }
    }
    throw_if_interrupted("log_partition_mode_bound");
  }
  r.log_z_lower = detail::log_sum_exp(logp);
  r.neighbour_flips = two_flips ? 2 : one_flip ? 1 : 0;
  r.states.resize(static_cast<Eigen::Index>(states.size()), n);
  for (std::size_t k = 0; k < states.size(); ++k)
    r.states.row(static_cast<Eigen::Index>(k)) = states[k].transpose().cast<float>();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return r;
}

}  // namespace onsager
