// The rigorous bracket on log Z (log_partition_bracket): it contains the exact value whatever its budget, on random
// models across weight scales and on either layer; it closes to its tolerance; and on a block-diagonal model with 40
// hidden units, too many to enumerate, it brackets the exact value that the blocks' independent enumerations give.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/partition.hpp"

namespace onsager {
namespace {

using testing::random_rbm;

void expect_contains(const BracketResult& r, double truth) {
  EXPECT_LE(r.log_z_lo, truth + 1e-9) << "bracket [" << r.log_z_lo << ", " << r.log_z_hi << "], exact " << truth;
  EXPECT_GE(r.log_z_hi, truth - 1e-9) << "bracket [" << r.log_z_lo << ", " << r.log_z_hi << "], exact " << truth;
  EXPECT_LE(r.log_z_lo, r.log_z);
  EXPECT_LE(r.log_z, r.log_z_hi);
}

TEST(PartitionBracket, ContainsExactLogZForAnyBudget) {
  for (float std : {0.05f, 0.5f, 2.0f, 8.0f})
    for (const auto& [v, h] : {std::pair{40, 14}, std::pair{12, 60}, std::pair{200, 10}}) {
      const Rbm rbm = random_rbm(v, h, std, 1.0f, 7 + static_cast<std::uint64_t>(v * h) + static_cast<std::uint64_t>(std * 10));
      const double truth = log_partition_exact(rbm);
      SCOPED_TRACE(::testing::Message() << v << "x" << h << " std " << std);
      for (const std::int64_t nodes : {1, 3, 20, 200}) {
        const BracketResult r = log_partition_bracket(rbm, {.tolerance = 1e-6, .max_nodes = nodes});
        SCOPED_TRACE(::testing::Message() << nodes << " nodes");
        expect_contains(r, truth);
        EXPECT_LE(r.nodes, nodes);
        EXPECT_EQ(r.layer, h < v ? AisLayer::hidden : AisLayer::visible);
      }
      // The root's bounds hold too, and they are what a budget of one node starts from.
      const BracketResult one = log_partition_bracket(rbm, {.tolerance = 1e-6, .max_nodes = 1});
      EXPECT_LE(one.log_z_root_lo, truth + 1e-9);
      EXPECT_GE(one.log_z_root_hi, truth - 1e-9);
    }
}

TEST(PartitionBracket, ClosesToItsToleranceAndNarrowsWithTheBudget) {
  for (float std : {0.1f, 1.0f, 4.0f}) {
    const Rbm rbm = random_rbm(60, 16, std, 1.0f, 3 + static_cast<std::uint64_t>(std * 10));
    const double truth = log_partition_exact(rbm);
    SCOPED_TRACE(::testing::Message() << "std " << std);
    const BracketResult r = log_partition_bracket(rbm, {.tolerance = 1e-3, .max_nodes = 1'000'000});
    EXPECT_TRUE(r.converged);
    EXPECT_LE(r.log_z_hi - r.log_z_lo, 1e-3);
    expect_contains(r, truth);
    EXPECT_NEAR(r.log_z, truth, 5e-4);
    // A smaller budget gives a wider (still valid) bracket; the upper end never rises as nodes are split.
    double last_width = INFINITY, last_hi = INFINITY;
    for (const std::int64_t nodes : {1, 10, 100, 1000}) {
      const BracketResult s = log_partition_bracket(rbm, {.tolerance = 1e-9, .max_nodes = nodes});
      EXPECT_LE(s.log_z_hi, last_hi + 1e-9);
      EXPECT_LE(s.log_z_hi - s.log_z_lo, last_width + 1e-9);
      last_hi = s.log_z_hi;
      last_width = s.log_z_hi - s.log_z_lo;
    }
  }
}

TEST(PartitionBracket, RootIsTightWhereSoftplusIsLinear) {
  // Every field far from 0 (visible biases of ±30 against weights summing to a few units): softplus is linear on every
  // interval to 1e-10, so the chord and the tangent, and with them the root's bounds, equal log Z to 1e-6.
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    Rbm rbm = random_rbm(200, 14, 0.3f, 1.0f, seed);
    for (Eigen::Index i = 0; i < rbm.num_visible(); ++i) rbm.visible_bias(i) = i % 2 == 0 ? 30.0f : -30.0f;
    const double truth = log_partition_exact(rbm);
    const BracketResult r = log_partition_bracket(rbm, {.tolerance = 1e-9, .max_nodes = 1});
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    EXPECT_LE(r.log_z_root_lo, truth + 1e-9);
    EXPECT_GE(r.log_z_root_hi, truth - 1e-9);
    EXPECT_LT(r.log_z_root_hi - r.log_z_root_lo, 1e-6);
  }
}

TEST(PartitionBracket, SmallLayerIsSummedExactly) {
  // Three units or fewer are summed at the root: no bracket left.
  const Rbm rbm = random_rbm(30, 3, 2.0f, 1.0f, 5);
  const BracketResult r = log_partition_bracket(rbm);
  EXPECT_TRUE(r.converged);
  EXPECT_EQ(r.nodes, 0);
  EXPECT_EQ(r.exact_nodes, 1);
  EXPECT_NEAR(r.log_z_lo, log_partition_exact(rbm), 1e-9);
  EXPECT_EQ(r.log_z_lo, r.log_z_hi);
}

// A model made of independent blocks: hidden units 8k..8k+7 connect only to the visible units of block k, so
// log Z is the sum of the blocks' own log Z, each enumerated exactly (2^8 states), while the whole has 2^32.
TEST(PartitionBracket, BracketsABlockModelTooLargeToEnumerate) {
  constexpr int kBlocks = 4, kHidden = 8, kVisible = 40;
  Rbm whole(kBlocks * kVisible, kBlocks * kHidden);
  double truth = 0;
  for (int k = 0; k < kBlocks; ++k) {
    // Cold blocks: weights of scale 4 over 40 visible units give fields of tens; a few states hold the mass.
    const Rbm block = random_rbm(kVisible, kHidden, 4.0f, 1.0f, 100 + static_cast<std::uint64_t>(k));
    truth += log_partition_exact(block);
    whole.weight.block(k * kHidden, k * kVisible, kHidden, kVisible) = block.weight;
    whole.hidden_bias.segment(k * kHidden, kHidden) = block.hidden_bias;
    whole.visible_bias.segment(k * kVisible, kVisible) = block.visible_bias;
  }
  EXPECT_THROW(log_partition_exact(whole, {.max_log2_states = 30}), Error);
  const BracketResult r = log_partition_bracket(whole, {.tolerance = 0.01, .max_nodes = 2'000'000});
  EXPECT_TRUE(r.converged) << "width " << r.log_z_hi - r.log_z_lo << " after " << r.nodes << " nodes";
  expect_contains(r, truth);
  EXPECT_NEAR(r.log_z, truth, 0.01);
}

TEST(PartitionBracket, GivesUpAtAQuarterOfItsBudgetWhenStillWide) {
  // A warm model with 40 units does not close; with abandon_width it stops soon after a quarter of the budget, its
  // ends still valid. A model that closes is not given up.
  const Rbm warm = random_rbm(200, 40, 0.5f, 1.0f, 4);
  const BracketResult w = log_partition_bracket(warm, {.tolerance = 0.01, .max_nodes = 20000, .abandon_width = 1.0});
  EXPECT_TRUE(w.abandoned);
  EXPECT_FALSE(w.converged);
  EXPECT_GE(w.nodes, 5000);
  EXPECT_LT(w.nodes, 20000);
  EXPECT_GT(w.log_z_hi - w.log_z_lo, 1.0);
  const BracketResult full = log_partition_bracket(warm, {.tolerance = 0.01, .max_nodes = 20000});
  EXPECT_FALSE(full.abandoned);
  EXPECT_EQ(full.nodes, 20000);
  EXPECT_LE(full.log_z_hi, w.log_z_hi + 1e-9);
  EXPECT_GE(full.log_z_lo, w.log_z_lo - 1.0);  // the lower end need not rise monotonically, but nearly so
  const Rbm cold = random_rbm(60, 16, 4.0f, 1.0f, 43);
  const BracketResult c = log_partition_bracket(cold, {.tolerance = 1e-3, .max_nodes = 1'000'000, .abandon_width = 1.0});
  EXPECT_TRUE(c.converged);
  EXPECT_FALSE(c.abandoned);
}

TEST(PartitionBracket, SameResultForOneAndTwoThreads) {
  const Rbm rbm = random_rbm(300, 30, 0.3f, 0.5f, 9);
  set_num_threads(1);
  const BracketResult a = log_partition_bracket(rbm, {.tolerance = 1e-4, .max_nodes = 5000});
  set_num_threads(2);
  const BracketResult b = log_partition_bracket(rbm, {.tolerance = 1e-4, .max_nodes = 5000});
  set_num_threads(0);
  EXPECT_EQ(a.log_z_lo, b.log_z_lo);
  EXPECT_EQ(a.log_z_hi, b.log_z_hi);
  EXPECT_EQ(a.nodes, b.nodes);
}

TEST(PartitionBracket, RefusesWhatItCannotBracket) {
  const auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const Rbm wide = random_rbm(80, 70, 0.1f, 0.0f, 1);
  EXPECT_NE(message([&] { log_partition_bracket(wide); }).find("at most 64"), std::string::npos);
  const Rbm rbm = random_rbm(10, 8, 0.1f, 0.0f, 1);
  EXPECT_NE(message([&] { log_partition_bracket(rbm, {.tolerance = 0}); }).find("options.tolerance"), std::string::npos);
  EXPECT_NE(message([&] { log_partition_bracket(rbm, {.tolerance = NAN}); }).find("options.tolerance"), std::string::npos);
  EXPECT_NE(message([&] { log_partition_bracket(rbm, {.max_nodes = 0}); }).find("options.max_nodes"), std::string::npos);
  EXPECT_NE(message([&] { log_partition_bracket(rbm, {.abandon_width = -1}); }).find("options.abandon_width"),
            std::string::npos);
  Rbm gaussian = rbm;
  gaussian.log_var = VectorF::Zero(10);
  EXPECT_NE(message([&] { log_partition_bracket(gaussian); }).find("Gaussian"), std::string::npos);
}

}  // namespace
}  // namespace onsager
