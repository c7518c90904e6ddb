// Exact log Z and AIS against brute-force enumeration of tiny RBMs.

#include <gtest/gtest.h>

#include <cmath>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/partition.hpp"

namespace onsager {
namespace {

Rbm model(int v, int h, float std, std::uint64_t seed) {
  Rbm rbm = Rbm::random(v, h, std, seed);
  Rng rng(seed + 7);
  for (int i = 0; i < v; ++i) rbm.visible_bias(i) = static_cast<float>(0.5 * rng.normal());
  for (int j = 0; j < h; ++j) rbm.hidden_bias(j) = static_cast<float>(0.5 * rng.normal());
  return rbm;
}

TEST(PartitionBrute, ExactMatchesEnumerationOfBothLayers) {
  for (auto [v, h, std] : {std::tuple{5, 3, 1.0f}, {4, 6, 1.0f}, {6, 5, 3.0f}}) {
    const Rbm rbm = model(v, h, std, 3);
    const double truth = testing::brute_log_z(rbm);
    for (auto layer : {EnumerateLayer::visible, EnumerateLayer::hidden, EnumerateLayer::automatic}) {
      ExactOptions o;
      o.layer = layer;
      EXPECT_NEAR(log_partition_exact(rbm, o), truth, 1e-9 * std::abs(truth) + 1e-9) << v << "x" << h;
    }
  }
}

TEST(PartitionBrute, VisibleAndHiddenEnumerationAgreeOnLargerModels) {
  const Rbm rbm = model(14, 12, 1.5f, 9);
  ExactOptions ov, oh;
  ov.layer = EnumerateLayer::visible;
  oh.layer = EnumerateLayer::hidden;
  const double a = log_partition_exact(rbm, ov), b = log_partition_exact(rbm, oh);
  EXPECT_NEAR(a, b, 1e-9 * std::abs(a));
}

TEST(PartitionBrute, RefusesBeyondTheLimit) {
  const Rbm rbm = model(30, 26, 0.1f, 1);
  ExactOptions o;
  o.max_log2_states = 20;
  EXPECT_THROW(log_partition_exact(rbm, o), Error);
}

TEST(PartitionBrute, AverageLogLikelihoodIsTheMeanLogProbability) {
  const Rbm rbm = model(5, 4, 1.0f, 5);
  const MatrixF vs = testing::all_states(5);
  const double z = testing::brute_log_z(rbm);
  // The probabilities of all visible states sum to one.
  double total = 0;
  for (Eigen::Index r = 0; r < vs.rows(); ++r) total += std::exp(average_log_likelihood(rbm, vs.row(r), z));
  EXPECT_NEAR(total, 1.0, 1e-9);
}

TEST(PartitionBrute, AisAgreesWithExactWithinItsErrorBar) {
  for (auto [std, seed] : {std::pair{0.5f, 1ULL}, {1.5f, 2ULL}}) {
    const Rbm rbm = model(20, 10, std, seed);
    ExactOptions eo;
    const double exact = log_partition_exact(rbm, eo);
    AisOptions o;
    o.runs = 200;
    o.betas = 3000;
    o.seed = seed;
    const AisResult r = log_partition_ais(rbm, o);
    EXPECT_LE(r.log_z_lo, exact + 1e-6) << "std " << std;
    EXPECT_GE(r.log_z_hi, exact - 1e-6) << "std " << std;
    EXPECT_NEAR(r.log_z, exact, 0.5);
  }
}

TEST(PartitionBrute, AisIsTheSameForOneAndTwoThreads) {
  const Rbm rbm = model(30, 12, 1.0f, 4);
  AisOptions o;
  o.runs = 64;
  o.betas = 500;
  o.seed = 5;
  set_num_threads(1);
  const AisResult a = log_partition_ais(rbm, o);
  set_num_threads(2);
  const AisResult b = log_partition_ais(rbm, o);
  set_num_threads(0);
  EXPECT_EQ(a.log_z, b.log_z);
  EXPECT_EQ(a.log_weights, b.log_weights);
}

}  // namespace
}  // namespace onsager
