// The RBM core against brute-force enumeration of tiny models.

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "brute_force.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/rbm.hpp"

namespace onsager {
namespace {

using testing::all_states;

Rbm tiny_rbm(int v, int h, float std, std::uint64_t seed) {
  Rbm rbm = Rbm::random(v, h, std, seed);
  Rng rng(seed + 1);
  for (int i = 0; i < v; ++i) rbm.visible_bias(i) = static_cast<float>(rng.normal() * 0.5);
  for (int j = 0; j < h; ++j) rbm.hidden_bias(j) = static_cast<float>(rng.normal() * 0.5);
  return rbm;
}

TEST(Rbm, EnergyMatchesDefinition) {
  const Rbm rbm = tiny_rbm(5, 3, 1.0f, 11);
  const MatrixF vs = all_states(5), hs = all_states(3);
  for (int a = 0; a < vs.rows(); a += 3)
    for (int c = 0; c < hs.rows(); ++c) {
      double e = 0;
      for (int i = 0; i < 5; ++i) e -= rbm.visible_bias(i) * vs(a, i);
      for (int j = 0; j < 3; ++j) e -= rbm.hidden_bias(j) * hs(c, j);
      for (int j = 0; j < 3; ++j)
        for (int i = 0; i < 5; ++i) e -= hs(c, j) * rbm.weight(j, i) * vs(a, i);
      EXPECT_NEAR(rbm.energy(vs.row(a).transpose(), hs.row(c).transpose()), e, 1e-5);
    }
}

TEST(Rbm, ConditionalsAndFreeEnergyMatchEnumeration) {
  const Rbm rbm = tiny_rbm(5, 3, 1.5f, 3);
  const MatrixF vs = all_states(5), hs = all_states(3);
  const MatrixF ph = rbm.hidden_probs(vs);
  const VectorD f = rbm.free_energy(vs);
  for (int a = 0; a < vs.rows(); ++a) {
    double z = 0;
    std::vector<double> num(3, 0.0);
    for (int c = 0; c < hs.rows(); ++c) {
      const double w = std::exp(-rbm.energy(vs.row(a).transpose(), hs.row(c).transpose()));
      z += w;
      for (int j = 0; j < 3; ++j) num[j] += hs(c, j) * w;
    }
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(ph(a, j), num[j] / z, 1e-6);
    EXPECT_NEAR(f(a), -std::log(z), 1e-5);
  }
  const MatrixF pv = rbm.visible_probs(hs);
  for (int c = 0; c < hs.rows(); ++c) {
    double z = 0;
    std::vector<double> num(5, 0.0);
    for (int a = 0; a < vs.rows(); ++a) {
      const double w = std::exp(-rbm.energy(vs.row(a).transpose(), hs.row(c).transpose()));
      z += w;
      for (int i = 0; i < 5; ++i) num[i] += vs(a, i) * w;
    }
    for (int i = 0; i < 5; ++i) EXPECT_NEAR(pv(c, i), num[i] / z, 1e-6);
  }
}

TEST(Rbm, PseudoLikelihoodIsUnbiasedForTheExactConditionals) {
  const Rbm rbm = tiny_rbm(6, 4, 1.0f, 5);
  const MatrixF vs = all_states(6);
  // Exact mean over rows and features of log p(v_i | v_-i) = log σ((2v_i - 1)(b_i + Σ_j ...)) via free energies.
  double exact = 0;
  for (int a = 0; a < vs.rows(); ++a)
    for (int i = 0; i < 6; ++i) {
      MatrixF one = vs.row(a), flip = vs.row(a);
      flip(0, i) = 1 - flip(0, i);
      const double d = rbm.free_energy(flip)(0) - rbm.free_energy(one)(0);
      exact += -softplus(-d);
    }
  exact /= static_cast<double>(vs.rows() * 6);
  MatrixF many(vs.rows() * 400, 6);
  for (int r = 0; r < many.rows(); ++r) many.row(r) = vs.row(r % vs.rows());
  EXPECT_NEAR(rbm.pseudo_likelihood(many, 9), exact, 0.01);
}

TEST(Rbm, ReconstructionErrorMatchesDefinition) {
  const Rbm rbm = tiny_rbm(5, 3, 1.0f, 8);
  const MatrixF vs = all_states(5);
  double sum = 0;
  for (int a = 0; a < vs.rows(); ++a) {
    for (int i = 0; i < 5; ++i) {
      double act = rbm.visible_bias(i);
      for (int j = 0; j < 3; ++j) {
        double pre = rbm.hidden_bias(j);
        for (int l = 0; l < 5; ++l) pre += rbm.weight(j, l) * vs(a, l);
        act += rbm.weight(j, i) / (1 + std::exp(-pre));
      }
      const double r = 1 / (1 + std::exp(-act));
      sum += (r - vs(a, i)) * (r - vs(a, i));
    }
  }
  EXPECT_NEAR(rbm.reconstruction_error(vs), sum / (32 * 5), 1e-6);
}

TEST(Rbm, BernoulliSamplesHaveTheRightMeansAndAreSeeded) {
  MatrixF p(2000, 7);
  for (int j = 0; j < 7; ++j) p.col(j).setConstant(0.1f + 0.12f * static_cast<float>(j));
  MatrixF s = p, t = p;
  sample_bernoulli(s, 42, 1, 0);
  sample_bernoulli(t, 42, 1, 0);
  EXPECT_TRUE(s == t);
  for (int j = 0; j < 7; ++j) {
    const double mean = s.col(j).cast<double>().mean(), q = p(0, j);
    EXPECT_NEAR(mean, q, 4 * std::sqrt(q * (1 - q) / 2000));
  }
  MatrixF u = p;
  sample_bernoulli(u, 42, 1, 1);
  EXPECT_FALSE(s == u);
}

TEST(Rbm, GibbsSamplingReachesTheModelDistribution) {
  const Rbm rbm = tiny_rbm(4, 3, 1.0f, 21);
  const MatrixF vs = all_states(4);
  const VectorD f = rbm.free_energy(vs);
  VectorD p = (-f.array()).exp();
  p /= p.sum();
  MatrixF chains = MatrixF::Zero(20000, 4);
  gibbs_sample(rbm, chains, 30, 7);
  VectorD counts = VectorD::Zero(16);
  for (int r = 0; r < chains.rows(); ++r) {
    int k = 0;
    for (int i = 0; i < 4; ++i) k |= (chains(r, i) > 0.5f) << i;
    counts(k) += 1;
  }
  counts /= static_cast<double>(chains.rows());
  for (int k = 0; k < 16; ++k) EXPECT_NEAR(counts(k), p(k), 4 * std::sqrt(p(k) * (1 - p(k)) / 20000) + 1e-3);
}

}  // namespace
}  // namespace onsager
