// Deep belief networks: the two-layer variational bound against the exact log-likelihood of a tiny DBN by
// enumeration of all its layers (below it, and equal to it when the top RBM is the first one's transpose, which
// makes the DBN the first RBM); greedy training against the RBM trainer run by hand layer by layer; resume; the
// file's refusals.

#include <gtest/gtest.h>

#include <cmath>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/io/safetensors.hpp"
#include "onsager/rbm/dbn.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

using testing::bits;
using testing::log_sum_exp;

// log p(v) of the two-layer DBN by enumeration: p(v) = Σ_h p(v|h) p₂(h), p₂(h) = Σ_g exp(-E₂(h, g)) / Z₂.
double exact_dbn_log_p(const Dbn& d, const VectorD& v, double* log_z2 = nullptr) {
  const Rbm& a = d.layers[0];
  const Rbm& b = d.layers[1];
  const int h = static_cast<int>(a.num_hidden()), g = static_cast<int>(b.num_hidden());
  std::vector<double> log_p2_star(1u << h), all;
  for (int k = 0; k < (1 << h); ++k) {
    const VectorD hk = bits(k, h);
    std::vector<double> terms;
    for (int m = 0; m < (1 << g); ++m) {
      const VectorD gm = bits(m, g);
      terms.push_back(b.visible_bias.cast<double>().dot(hk) + b.hidden_bias.cast<double>().dot(gm) +
                      gm.dot(b.weight.cast<double>() * hk));
      all.push_back(terms.back());
    }
    log_p2_star[k] = log_sum_exp(terms);
  }
  const double lz2 = log_sum_exp(all);
  if (log_z2) *log_z2 = lz2;
  std::vector<double> terms;
  for (int k = 0; k < (1 << h); ++k) {
    const VectorD hk = bits(k, h);
    const VectorD act = a.visible_bias.cast<double>() + a.weight.cast<double>().transpose() * hk;
    double lp = 0;
    for (Eigen::Index i = 0; i < act.size(); ++i) lp += v(i) * act(i) - std::log1p(std::exp(act(i)));
    terms.push_back(lp + log_p2_star[k] - lz2);
  }
  return log_sum_exp(terms);
}

Rbm random_rbm(int v, int h, double scale, std::uint64_t seed) {
  Rbm r = Rbm::random(v, h, static_cast<float>(scale), seed);
  Rng rng(seed + 100);
  for (Eigen::Index i = 0; i < r.visible_bias.size(); ++i) r.visible_bias(i) = static_cast<float>(0.5 * rng.normal());
  for (Eigen::Index i = 0; i < r.hidden_bias.size(); ++i) r.hidden_bias(i) = static_cast<float>(0.5 * rng.normal());
  return r;
}

TEST(Dbn, LowerBoundIsBelowTheExactLikelihoodAndTightForATransposedTop) {
  const int V = 5, H = 4, G = 3;
  Dbn d;
  d.layers = {random_rbm(V, H, 1.0, 1), random_rbm(H, G, 1.0, 2)};
  MatrixF all(1 << V, V);
  for (int k = 0; k < (1 << V); ++k) all.row(k) = bits(k, V).cast<float>().transpose();
  double lz2 = 0;
  std::vector<double> exact;
  for (int k = 0; k < (1 << V); ++k) exact.push_back(exact_dbn_log_p(d, bits(k, V), &lz2));
  const DbnBound b = dbn_lower_bound(d, all, lz2, 20000, 3);
  double gap = 0;
  for (int k = 0; k < (1 << V); ++k) {
    // Per row: Jensen's gap is >= 0; the sampled bound's noise on 20,000 draws is a few 0.01 nats.
    EXPECT_LT(b.per_row[k], exact[k] + 0.05) << "v = " << k;
    gap += exact[k] - b.per_row[k];
  }
  EXPECT_GT(gap / 32, 0.01);  // a random top RBM is not the first layer's prior: the bound is loose
  // The top RBM as the first one's transpose: p₂(h) = p₁(h), so p(v) = p₁(v) and Q is the exact posterior.
  Dbn t;
  Rbm top;
  top.weight = d.layers[0].weight.transpose();
  top.visible_bias = d.layers[0].hidden_bias;
  top.hidden_bias = d.layers[0].visible_bias;
  t.layers = {d.layers[0], top};
  for (int k = 0; k < (1 << V); ++k) {
    const double e = exact_dbn_log_p(t, bits(k, V), &lz2);
    const DbnBound one = dbn_lower_bound(t, all.row(k), lz2, 20000, 4);
    EXPECT_NEAR(one.mean, e, 0.03) << "v = " << k;
    // And both are the first RBM's own log-likelihood, by brute force.
    EXPECT_NEAR(e, -d.layers[0].free_energy(all.row(k))(0) - testing::brute_log_z(d.layers[0]), 1e-6);  // float free energy
  }
}

TEST(Dbn, GreedyTrainingIsTheRbmTrainerLayerByLayer) {
  MatrixF x(300, 20);
  Rng rng(5);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform() < 0.3 ? 1.0f : 0.0f;
  DbnConfig c;
  for (int l = 0; l < 2; ++l) {
    TrainConfig t;
    t.hidden = l == 0 ? 12 : 6;
    t.epochs = 3;
    t.batch_size = 20;
    t.lr = 0.1;
    t.seed = 10 + static_cast<std::uint64_t>(l);
    t.monitor_samples = 100;
    c.layers.push_back(t);
  }
  DbnState s;
  ASSERT_EQ(train_dbn(s, x, c), TrainOutcome::finished);
  ASSERT_EQ(s.dbn.layers.size(), 2u);
  TrainState a = init_training(x, c.layers[0]);
  train(a, x, c.layers[0], {.progress = false});
  EXPECT_EQ(a.rbm.weight, s.dbn.layers[0].weight);
  const MatrixF h = a.rbm.hidden_probs(x);
  TrainState b = init_training(h, c.layers[1]);
  train(b, h, c.layers[1], {.progress = false});
  EXPECT_EQ(b.rbm.weight, s.dbn.layers[1].weight);
  EXPECT_EQ(b.rbm.hidden_bias, s.dbn.layers[1].hidden_bias);

  // Resume: stop after layer 0's second epoch, save, load, continue.
  const std::string dir = testing::test_dir("dbn");
  DbnState part;
  int calls = 0;
  train_dbn(part, x, c, [&](int, const TrainState&, const EpochStats&) { return ++calls < 2; });
  ASSERT_TRUE(part.current.has_value());
  save_dbn_model(dir + "/d.safetensors", part, c, nullptr);
  DbnModel m = load_dbn_model(dir + "/d.safetensors");
  ASSERT_TRUE(m.state.current.has_value());
  EXPECT_EQ(m.state.current->epochs_done, 2);
  ASSERT_EQ(train_dbn(m.state, x, *m.config), TrainOutcome::finished);
  EXPECT_EQ(m.state.dbn.layers[1].weight, s.dbn.layers[1].weight);
  EXPECT_EQ(m.state.history[0].size(), 3u);
  // A finished file round-trips, and analyze-style readers see layers.L.weight.
  save_dbn_model(dir + "/full.safetensors", s, c, nullptr);
  const DbnModel full = load_dbn_model(dir + "/full.safetensors");
  EXPECT_EQ(full.state.dbn.widths(), (std::vector<int>{20, 12, 6}));
  EXPECT_FALSE(full.state.current.has_value());
  SafetensorsFile f(dir + "/full.safetensors");
  EXPECT_NE(f.find("layers.1.weight"), nullptr);

  // Inconsistent shapes and foreign files are refused.
  DbnState bad = s;
  bad.dbn.layers[1] = Rbm::random(7, 6, 0.01f, 1);
  save_dbn_model(dir + "/bad.safetensors", bad, c, nullptr);
  EXPECT_THROW(load_dbn_model(dir + "/bad.safetensors"), Error);
  write_safetensors(dir + "/other.safetensors", {}, {{"format", "onsager.rbm.v1"}});
  EXPECT_THROW(load_dbn_model(dir + "/other.safetensors"), Error);
  DbnConfig wrong = c;
  wrong.layers[1].hidden = 0;
  EXPECT_THROW(wrong.validate(), Error);
}

TEST(Dbn, SameNetworkForAnyThreadCount) {
  MatrixF x(400, 30);
  Rng rng(6);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform() < 0.4 ? 1.0f : 0.0f;
  DbnConfig c;
  c.propagation = DbnPropagation::samples;  // the propagated draws too
  for (int h : {16, 8}) {
    TrainConfig t;
    t.hidden = h;
    t.epochs = 2;
    t.batch_size = 25;
    t.seed = static_cast<std::uint64_t>(h);
    c.layers.push_back(t);
  }
  std::vector<Dbn> nets;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    DbnState s;
    train_dbn(s, x, c);
    nets.push_back(s.dbn);
  }
  set_num_threads(0);
  for (std::size_t l = 0; l < 2; ++l) {
    EXPECT_EQ(nets[0].layers[l].weight, nets[1].layers[l].weight);
    EXPECT_EQ(nets[0].layers[l].hidden_bias, nets[1].layers[l].hidden_bias);
  }
}

TEST(Dbn, UnrolledMlpComputesTheUpPass) {
  Dbn d;
  d.layers = {random_rbm(6, 5, 1.0, 7), random_rbm(5, 4, 1.0, 8)};
  MlpConfig c;
  c.seed = 3;
  MlpState s = unroll_dbn(d, 3, c);
  EXPECT_EQ(c.arch, (std::vector<int>{6, 5, 4, 3}));
  EXPECT_EQ(s.model.activation, Activation::sigmoid);
  MatrixF x(9, 6);
  Rng rng(9);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform() < 0.5 ? 1.0f : 0.0f;
  // The sigmoid layers' outputs, computed here by hand, are the DBN's propagated probabilities.
  MatrixF a = x;
  for (int l = 0; l < 2; ++l) {
    MatrixF z = a * s.model.weights[l].transpose();
    z.rowwise() += s.model.biases[l].transpose();
    a = z.unaryExpr([](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  }
  EXPECT_LT((a - d.up(x, 1)).cwiseAbs().maxCoeff(), 1e-6f);
  // The output layer is init_mlp's draw for the same config.
  EXPECT_EQ(s.model.weights[2], init_mlp(c).model.weights[2]);
}

}  // namespace
}  // namespace onsager
