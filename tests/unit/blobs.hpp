#pragma once
// Seeded, labelled synthetic data for the classifiers' tests (softmax regression, the MLP).

#include <cstdint>
#include <vector>

#include "onsager/core/matrix.hpp"
#include "onsager/core/random.hpp"

namespace onsager::testing {

/// Gaussian blobs: n rows of d features, class k (uniform over `classes`) centred at a random point drawn from
/// N(0, 2²) per coordinate, with N(0, noise²) scatter around it.
inline void blobs(Eigen::Index n, Eigen::Index d, int classes, double noise, std::uint64_t seed, MatrixF& x,
                  std::vector<int>& y) {
  Rng rng(seed);
  MatrixF centres(classes, d);
  for (Eigen::Index i = 0; i < centres.size(); ++i) centres.data()[i] = static_cast<float>(2.0 * rng.normal());
  x.resize(n, d);
  y.resize(static_cast<std::size_t>(n));
  for (Eigen::Index r = 0; r < n; ++r) {
    const int k = static_cast<int>(rng.below(static_cast<std::uint64_t>(classes)));
    y[static_cast<std::size_t>(r)] = k;
    for (Eigen::Index i = 0; i < d; ++i) x(r, i) = centres(k, i) + static_cast<float>(noise * rng.normal());
  }
}

}  // namespace onsager::testing
