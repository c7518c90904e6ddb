// sample_rbm and filter_tiles: the chains' states follow the model's p(v) (checked against brute-force
// enumeration of a tiny RBM), the result is the same for any thread count, and filters come in weight-norm order.

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/sampling.hpp"

namespace onsager {
namespace {

Rbm tiny() { return testing::random_rbm(5, 3, 1.0f, 0.7f, 21); }

TEST(SampleRbm, StatesFollowTheModelDistribution) {
  const Rbm rbm = tiny();
  const SampleResult r = sample_rbm(rbm, MatrixF(), {.n = 10000, .steps = 50, .seed = 3});
  ASSERT_EQ(r.states.rows(), 10000);
  // Exact p(v) by enumeration: p(v) ∝ exp(-F(v)).
  const MatrixF vs = testing::all_states(5);
  const double log_z = testing::brute_log_z(rbm);
  const VectorD f = rbm.free_energy(vs);
  std::map<int, double> count;
  for (Eigen::Index i = 0; i < r.states.rows(); ++i) {
    int k = 0;
    for (int b = 0; b < 5; ++b) k |= (r.states(i, b) > 0.5f ? 1 : 0) << b;
    count[k] += 1.0 / static_cast<double>(r.states.rows());
  }
  double tv = 0;
  for (int k = 0; k < 32; ++k) tv += 0.5 * std::abs(count[k] - std::exp(-f(k) - log_z));
  // 10,000 independent chains: the sampling noise of the total-variation distance over 32 states is ~0.02.
  EXPECT_LT(tv, 0.04);
  EXPECT_NEAR(r.mean_free_energy, rbm.free_energy(r.states).mean(), 1e-12);
}

TEST(SampleRbm, SameSamplesForOneAndTwoThreadsAndFromData) {
  const Rbm rbm = tiny();
  set_num_threads(1);
  const SampleResult a = sample_rbm(rbm, MatrixF(), {.n = 64, .steps = 250, .seed = 9});
  set_num_threads(2);
  const SampleResult b = sample_rbm(rbm, MatrixF(), {.n = 64, .steps = 250, .seed = 9});
  set_num_threads(0);
  EXPECT_TRUE(a.states == b.states);
  EXPECT_TRUE(a.probabilities == b.probabilities);
  // Zero steps from data: the start rows, cycled.
  MatrixF start = testing::all_states(5).topRows(3);
  const SampleResult c = sample_rbm(rbm, start, {.n = 7, .steps = 0});
  for (int i = 0; i < 7; ++i) EXPECT_TRUE(c.states.row(i) == start.row(i % 3));
  EXPECT_THROW(sample_rbm(rbm, MatrixF(2, 4), {.n = 2}), Error);
  EXPECT_THROW(sample_rbm(rbm, MatrixF(), {.n = 0}), Error);
}

TEST(FilterTiles, LargestNormFirst) {
  Rbm rbm(4, 3);
  rbm.weight << 1, 0, 0, 0,  //
      0, 3, 0, 0,            //
      0, 0, 2, 0;
  const MatrixF by_norm = filter_tiles(rbm, 10, FilterOrder::norm);
  ASSERT_EQ(by_norm.rows(), 3);  // min(n, hidden)
  EXPECT_EQ(by_norm(0, 1), 3);
  EXPECT_EQ(by_norm(1, 2), 2);
  EXPECT_EQ(by_norm(2, 0), 1);
  EXPECT_TRUE(filter_tiles(rbm, 2, FilterOrder::index) == rbm.weight.topRows(2));
  EXPECT_EQ(parse_filter_order("index"), FilterOrder::index);
  EXPECT_THROW(parse_filter_order("size"), Error);
  EXPECT_THROW(filter_tiles(rbm, 0, FilterOrder::norm), Error);
}

}  // namespace
}  // namespace onsager
