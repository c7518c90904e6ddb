#pragma once
// Independent truths for tiny RBMs: every binary state, and log Z by summing exp(-E) over every (v, h).

#include <algorithm>
#include <cmath>
#include <vector>

#include "onsager/core/random.hpp"
#include "onsager/rbm/rbm.hpp"

namespace onsager::testing {

/// A random RBM: weights ~ N(0, std²), biases ~ N(0, bias_std²).
inline Rbm random_rbm(int v, int h, float std, float bias_std, std::uint64_t seed) {
  Rbm rbm = Rbm::random(v, h, std, seed);
  Rng rng(seed + 1000);
  for (Eigen::Index i = 0; i < v; ++i) rbm.visible_bias(i) = static_cast<float>(bias_std * rng.normal());
  for (Eigen::Index j = 0; j < h; ++j) rbm.hidden_bias(j) = static_cast<float>(bias_std * rng.normal());
  return rbm;
}

/// n x d binary rows with structure: each a noisy copy (10% of pixels flipped) of one of `prototypes` random
/// binary rows (30% ones).
inline MatrixF random_binary(Eigen::Index n, Eigen::Index d, std::uint64_t seed, int prototypes = 10) {
  MatrixF x(n, d);
  Rng rng(seed);
  MatrixF proto(prototypes, d);
  for (Eigen::Index i = 0; i < proto.size(); ++i) proto.data()[i] = rng.uniform() < 0.3 ? 1.0f : 0.0f;
  for (Eigen::Index r = 0; r < n; ++r) {
    const auto p = static_cast<Eigen::Index>(rng.below(static_cast<std::uint64_t>(prototypes)));
    for (Eigen::Index i = 0; i < d; ++i) x(r, i) = rng.uniform() < 0.1 ? 1.0f - proto(p, i) : proto(p, i);
  }
  return x;
}

/// All 2^n binary vectors of length n, one per row (row k holds the bits of k).
/// log Σ exp(x) over the entries, by the largest one.
inline double log_sum_exp(const std::vector<double>& x) {
  double m = -INFINITY;
  for (double v : x) m = std::max(m, v);
  double s = 0;
  for (double v : x) s += std::exp(v - m);
  return m + std::log(s);
}

/// The bit vector of state k over n units (row k of all_states(n), in double).
inline VectorD bits(int k, int n) {
  VectorD b(n);
  for (int i = 0; i < n; ++i) b(i) = (k >> i) & 1;
  return b;
}

inline MatrixF all_states(int n) {
  MatrixF s(1 << n, n);
  for (int k = 0; k < (1 << n); ++k)
    for (int i = 0; i < n; ++i) s(k, i) = static_cast<float>((k >> i) & 1);
  return s;
}

/// log Z by brute force over every (v, h) pair, in double, straight from the energy.
inline double brute_log_z(const Rbm& rbm) {
  const MatrixF vs = all_states(static_cast<int>(rbm.num_visible()));
  const MatrixF hs = all_states(static_cast<int>(rbm.num_hidden()));
  std::vector<double> terms;
  terms.reserve(static_cast<std::size_t>(vs.rows() * hs.rows()));
  for (Eigen::Index a = 0; a < vs.rows(); ++a)
    for (Eigen::Index c = 0; c < hs.rows(); ++c)
      terms.push_back(-rbm.energy(vs.row(a).transpose(), hs.row(c).transpose()));
  const double m = *std::max_element(terms.begin(), terms.end());
  double s = 0;
  for (double t : terms) s += std::exp(t - m);
  return m + std::log(s);
}

/// Exact gradient of the average log-likelihood of `data` with respect to W (H x V), by enumerating the visible
/// states: ⟨p(h|v) vᵀ⟩_data - ⟨p(h|v) vᵀ⟩_model.
inline Eigen::MatrixXd exact_weight_gradient(const Rbm& rbm, const MatrixF& data) {
  const int v = static_cast<int>(rbm.num_visible()), h = static_cast<int>(rbm.num_hidden());
  const auto sigm = [](double x) { return 1 / (1 + std::exp(-x)); };
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(h, v);
  auto accumulate = [&](const MatrixF& x, const Eigen::VectorXd& weight) {
    for (int a = 0; a < x.rows(); ++a)
      for (int j = 0; j < h; ++j) {
        double pre = rbm.hidden_bias(j);
        for (int i = 0; i < v; ++i) pre += rbm.weight(j, i) * x(a, i);
        for (int i = 0; i < v; ++i) g(j, i) += weight(a) * sigm(pre) * x(a, i);
      }
  };
  accumulate(data, Eigen::VectorXd::Constant(data.rows(), 1.0 / static_cast<double>(data.rows())));
  const MatrixF vs = all_states(v);
  const VectorD f = rbm.free_energy(vs);
  Eigen::VectorXd p = (-(f.array() - f.minCoeff())).exp();
  p /= -p.sum();
  accumulate(vs, p);
  return g;
}

}  // namespace onsager::testing
