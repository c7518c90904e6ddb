#pragma once
// Independent truths for tiny RBMs: every binary state, and log Z by summing exp(-E) over every (v, h).

#include <algorithm>
#include <cmath>
#include <vector>

#include "onsager/rbm/rbm.hpp"

namespace onsager::testing {

/// All 2^n binary vectors of length n, one per row (row k holds the bits of k).
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

}  // namespace onsager::testing
