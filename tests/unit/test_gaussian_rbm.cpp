// Gaussian-Bernoulli RBMs: free energy, conditionals and exact log Z against enumeration of h and numerical
// integration over v; the training update against finite differences of the exact log-likelihood; the learned
// variances against the data's; samples' moments against the data's; AIS against exact; files and refusals.

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/io/safetensors.hpp"
#include "onsager/rbm/dbn.hpp"
#include "onsager/rbm/evaluate.hpp"
#include "onsager/rbm/model_file.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/sampling.hpp"
#include "onsager/rbm/tap.hpp"
#include "onsager/rbm/train.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

// A model with weights N(0, w²), biases N(0, 0.5²) and variances in [0.3, 1.5].
Rbm random_gaussian(int v, int h, double w, std::uint64_t seed) {
  Rbm rbm = Rbm::random(v, h, static_cast<float>(w), seed);
  Rng rng(seed + 1);
  for (int i = 0; i < v; ++i) rbm.visible_bias(i) = static_cast<float>(0.5 * rng.normal());
  for (int j = 0; j < h; ++j) rbm.hidden_bias(j) = static_cast<float>(0.5 * rng.normal());
  rbm.log_var.resize(v);
  for (int i = 0; i < v; ++i) rbm.log_var(i) = static_cast<float>(std::log(0.3 + 1.2 * rng.uniform()));
  return rbm;
}

using testing::bits;
using testing::log_sum_exp;

TEST(GaussianRbm, FreeEnergyAndConditionalsMatchEnumerationAndQuadrature) {
  const Rbm rbm = random_gaussian(3, 4, 0.7, 11);
  Rng rng(5);
  for (int trial = 0; trial < 5; ++trial) {
    MatrixF v(1, 3);
    for (int i = 0; i < 3; ++i) v(0, i) = static_cast<float>(rng.normal());
    // F(v) = -log Σ_h exp(-E(v, h)), and p(h_j = 1 | v) from the same sum.
    std::vector<double> terms;
    VectorD on = VectorD::Zero(4);
    double total = 0;
    for (int k = 0; k < 16; ++k) terms.push_back(-rbm.energy(v.row(0).transpose(), bits(k, 4).cast<float>()));
    const double lse = log_sum_exp(terms);
    for (int k = 0; k < 16; ++k) {
      const double p = std::exp(terms[static_cast<std::size_t>(k)] - lse);
      total += p;
      on += p * bits(k, 4);
    }
    EXPECT_NEAR(rbm.free_energy(v)(0), -lse, 1e-5);
    const MatrixF ph = rbm.hidden_probs(v);
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(ph(0, j), on(j) / total, 1e-5);
  }
  // v_i | h by quadrature of exp(-E) over v_i (the others held at 0): mean b_i + (Wᵀh)_i, variance σ_i².
  for (int k : {0, 5, 15}) {
    const VectorF h = bits(k, 4).cast<float>();
    const MatrixF mean = rbm.visible_probs(MatrixF(h.transpose()));
    for (int i = 0; i < 3; ++i) {
      double z = 0, m1 = 0, m2 = 0;
      const double dx = 1e-3;
      for (double x = -12; x <= 12; x += dx) {
        VectorF v = VectorF::Zero(3);
        v(i) = static_cast<float>(x);
        const double p = std::exp(-rbm.energy(v, h));
        z += p;
        m1 += p * x;
        m2 += p * x * x;
      }
      const double mu = m1 / z;
      EXPECT_NEAR(mean(0, i), mu, 1e-4) << "unit " << i << " h " << k;
      EXPECT_NEAR(m2 / z - mu * mu, std::exp(rbm.log_var(i)), 1e-4) << "unit " << i << " h " << k;
    }
  }
}

TEST(GaussianRbm, ExactLogZMatchesQuadratureOverV) {
  // One visible unit, 5 hidden; two visible units, 3 hidden: Σ_h ∫ exp(-E(v, h)) dv on a grid (trapezoid rule,
  // whose error on these smooth, rapidly decaying integrands is far below the tolerance).
  {
    const Rbm rbm = random_gaussian(1, 5, 0.8, 3);
    const MatrixF states = testing::all_states(5);
    std::vector<double> terms;
    const double dx = 1e-3;
    for (double x = -15; x <= 15; x += dx) {
      VectorF v(1);
      v(0) = static_cast<float>(x);
      std::vector<double> e;
      for (int k = 0; k < 32; ++k) e.push_back(-rbm.energy(v, states.row(k).transpose()));
      terms.push_back(log_sum_exp(e) + std::log(dx));
    }
    EXPECT_NEAR(log_partition_exact(rbm), log_sum_exp(terms), 1e-4);
  }
  {
    const Rbm rbm = random_gaussian(2, 3, 0.6, 4);
    const MatrixF states = testing::all_states(3);
    std::vector<double> terms;
    const double dx = 0.01;
    for (double x = -10; x <= 10; x += dx)
      for (double y = -10; y <= 10; y += dx) {
        VectorF v(2);
        v << static_cast<float>(x), static_cast<float>(y);
        std::vector<double> e;
        for (int k = 0; k < 8; ++k) e.push_back(-rbm.energy(v, states.row(k).transpose()));
        terms.push_back(log_sum_exp(e) + 2 * std::log(dx));
      }
    EXPECT_NEAR(log_partition_exact(rbm), log_sum_exp(terms), 1e-4);
  }
}

// Data not fitted by the model: v_0 = ±1 with noise, v_1 correlated with it.
MatrixF two_cluster_data(int n, int v, std::uint64_t seed, double sep = 1.0, double noise = 0.4) {
  Rng rng(seed);
  MatrixF x(n, v);
  for (int r = 0; r < n; ++r) {
    const double s = rng.uniform() < 0.5 ? -sep : sep;
    for (int i = 0; i < v; ++i) x(r, i) = static_cast<float>((i % 2 == 0 ? s : 0.5 * s) + noise * rng.normal() + 0.1 * i);
  }
  return x;
}

TEST(GaussianRbm, UpdateIsTheGradientOfTheExactLogLikelihood) {
  // CD-k with many steps from 50,000 rows is close to the model's own distribution, so one update with a tiny
  // learning rate, divided by it, is the log-likelihood gradient up to Monte Carlo noise; it is compared with central
  // differences of the exact average log-likelihood for every parameter, log-variances included.
  const Rbm start = random_gaussian(2, 3, 0.5, 21);
  const MatrixF data = two_cluster_data(50000, 2, 8);
  auto avg_ll = [&](const Rbm& m) { return average_log_likelihood(m, data, log_partition_exact(m)); };
  TrainConfig config;
  config.visible = VisibleType::gaussian;
  config.method = TrainMethod::cd;
  config.k = 200;
  config.hidden = 3;
  config.batch_size = static_cast<int>(data.rows());
  config.min_variance = 1e-6;
  TrainState state;
  state.rbm = start;
  state.weight_velocity = MatrixF::Zero(3, 2);
  state.visible_velocity = VectorF::Zero(2);
  state.hidden_velocity = VectorF::Zero(3);
  state.log_var_velocity = VectorF::Zero(2);
  const float lr = 1e-4f;
  TrainWorkspace ws;
  train_step(state, data, config, lr, 0.0f, 0, ws);
  const double eps = 1e-3;
  auto fd = [&](auto&& param) {  // param(Rbm&) -> float&
    Rbm plus = start, minus = start;
    param(plus) += static_cast<float>(eps);
    param(minus) -= static_cast<float>(eps);
    return (avg_ll(plus) - avg_ll(minus)) / (2 * eps);
  };
  double max_grad = 0;
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 2; ++i) {
      const double g = fd([&](Rbm& m) -> float& { return m.weight(j, i); });
      max_grad = std::max(max_grad, std::abs(g));
      EXPECT_NEAR((state.rbm.weight(j, i) - start.weight(j, i)) / lr, g, 0.03 + 0.03 * std::abs(g)) << "W " << j << i;
    }
  for (int i = 0; i < 2; ++i) {
    const double gb = fd([&](Rbm& m) -> float& { return m.visible_bias(i); });
    EXPECT_NEAR((state.rbm.visible_bias(i) - start.visible_bias(i)) / lr, gb, 0.03 + 0.03 * std::abs(gb)) << "b " << i;
    const double gz = fd([&](Rbm& m) -> float& { return m.log_var(i); });
    max_grad = std::max(max_grad, std::abs(gz));
    EXPECT_NEAR((state.rbm.log_var(i) - start.log_var(i)) / lr, gz, 0.03 + 0.03 * std::abs(gz)) << "log var " << i;
  }
  for (int j = 0; j < 3; ++j) {
    const double gc = fd([&](Rbm& m) -> float& { return m.hidden_bias(j); });
    EXPECT_NEAR((state.rbm.hidden_bias(j) - start.hidden_bias(j)) / lr, gc, 0.03 + 0.03 * std::abs(gc)) << "c " << j;
  }
  EXPECT_GT(max_grad, 0.3);  // the data is far from the model: the comparison is not between zeros
}

TEST(GaussianRbm, LearnsTheDataVarianceFromAWrongStart) {
  // Independent Gaussian units with no structure: the variances and means are learned from σ = 1, b = 0.
  const double s[] = {0.3, 0.5, 1.0, 1.5, 2.0, 0.8};
  const double mu[] = {1.0, -2.0, 0.5, 0.0, 3.0, -0.7};
  Rng rng(3);
  MatrixF data(6000, 6);
  for (int r = 0; r < data.rows(); ++r)
    for (int i = 0; i < 6; ++i) data(r, i) = static_cast<float>(mu[i] + s[i] * rng.normal());
  TrainConfig config;
  config.visible = VisibleType::gaussian;
  config.method = TrainMethod::pcd;
  config.hidden = 4;
  config.epochs = 30;
  config.batch_size = 50;
  config.lr = 0.005;
  config.min_variance = 1e-4;
  config.monitor_samples = 0;
  TrainState state = init_training(data, config);
  state.rbm.visible_bias.setZero();
  state.rbm.log_var.setZero();
  ASSERT_EQ(train(state, data, config, {.progress = false}), TrainOutcome::finished);
  for (int i = 0; i < 6; ++i) {
    EXPECT_NEAR(std::exp(0.5 * state.rbm.log_var(i)), s[i], 0.1 * s[i]) << "sigma " << i;
  }
  // The marginal mean b + Wᵀ E[h] of each unit, by sampling.
  const SampleResult smp = sample_rbm(state.rbm, MatrixF(), {.n = 4000, .steps = 200, .seed = 1});
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(smp.states.col(i).mean(), mu[i], 0.1 * s[i] + 0.05) << "mean " << i;
}

TEST(GaussianRbm, SamplesMatchTheDataMomentsAndAisMatchesExact) {
  // Two overlapping clusters (±0.7 with noise 0.5): the units are correlated, and chains mix between the clusters.
  const MatrixF data = two_cluster_data(8000, 4, 9, 0.7, 0.5);
  TrainConfig config;
  config.visible = VisibleType::gaussian;
  config.method = TrainMethod::pcd;
  config.hidden = 8;
  config.epochs = 40;
  config.batch_size = 50;
  config.lr = 0.005;
  config.monitor_samples = 0;
  TrainState state = init_training(data, config);
  ASSERT_EQ(train(state, data, config, {.progress = false}), TrainOutcome::finished);
  const Rbm& rbm = state.rbm;
  // The model's exact moments: p(h) ∝ exp(c·h + Σ_i ((b_i + (Wᵀh)_i)² - b_i²)/(2σ_i²)), v | h ~ N(b + Wᵀh, σ²).
  const int nh = 8;
  std::vector<double> lp;
  std::vector<VectorD> means;
  const VectorD var = rbm.log_var.cast<double>().array().exp();
  for (int k = 0; k < (1 << nh); ++k) {
    const VectorD h = bits(k, nh);
    const VectorD m = rbm.visible_bias.cast<double>() + rbm.weight.cast<double>().transpose() * h;
    lp.push_back(rbm.hidden_bias.cast<double>().dot(h) +
                 ((m.array().square() - rbm.visible_bias.cast<double>().array().square()) / (2 * var.array())).sum());
    means.push_back(m);
  }
  const double lz = log_sum_exp(lp);
  VectorD em = VectorD::Zero(4), e2 = VectorD::Zero(4);
  for (std::size_t k = 0; k < lp.size(); ++k) {
    const double p = std::exp(lp[k] - lz);
    em += p * means[k];
    e2 += p * (means[k].array().square() + var.array()).matrix();
  }
  const VectorD ev = e2.array() - em.array().square();
  const SampleResult smp = sample_rbm(rbm, MatrixF(), {.n = 4000, .steps = 500, .seed = 2});

  const VectorD dm = data.cast<double>().colwise().mean(), sm = smp.states.cast<double>().colwise().mean();
  for (int i = 0; i < 4; ++i) {
    const double dv = (data.col(i).cast<double>().array() - dm(i)).square().mean();
    const double sv = (smp.states.col(i).cast<double>().array() - sm(i)).square().mean();
    // The trained model's moments are the data's (what maximum likelihood fits), and the samples' are the model's.
    EXPECT_NEAR(em(i), dm(i), 0.1) << "model mean " << i;
    EXPECT_NEAR(ev(i), dv, 0.15 * dv) << "model variance " << i;
    EXPECT_NEAR(sm(i), em(i), 0.06) << "sample mean " << i;
    EXPECT_NEAR(sv, ev(i), 0.08 * ev(i)) << "sample variance " << i;
  }
  // The correlation the clusters give units 0 and 2 (about 0.5 in the data) is learned.
  auto corr = [](const MatrixF& x, int i, int j) {
    const Eigen::ArrayXd a = x.col(i).cast<double>().array() - x.col(i).cast<double>().mean();
    const Eigen::ArrayXd b = x.col(j).cast<double>().array() - x.col(j).cast<double>().mean();
    return (a * b).mean() / std::sqrt(a.square().mean() * b.square().mean());
  };
  EXPECT_GT(corr(data, 0, 2), 0.4);
  EXPECT_NEAR(corr(smp.states, 0, 2), corr(data, 0, 2), 0.1);
  // AIS from the data's Gaussian base, against exact enumeration of the 256 hidden states.
  const double exact = log_partition_exact(rbm);
  AisOptions ao;
  ao.runs = 100;
  ao.betas = 3000;
  ao.base_variance = ((data.cast<double>().rowwise() - dm.transpose()).array().square().colwise().mean()).transpose().cast<float>();
  const AisResult ais = log_partition_ais(rbm, pixel_marginals(data), ao);
  EXPECT_NEAR(ais.log_z, exact, 0.1);
  EXPECT_LE(ais.log_z_lo, exact);
  EXPECT_GE(ais.log_z_hi, exact);
  EXPECT_GT(ais.ess, 10);
  // The model without its weights as the base (AisBase::uniform) gives the same answer.
  ao.base = AisBase::uniform;
  EXPECT_NEAR(log_partition_ais(rbm, ao).log_z, exact, 0.2);
  // evaluate_rbm: AIS alone (no BAR check, no bound), the log-likelihood as -F - log Z.
  EvalOptions eo;
  eo.exact = true;
  eo.ais_options = ao;
  eo.ais_options.base = AisBase::data;
  const EvalReport rep = evaluate_rbm(rbm, data, pixel_marginals(data), eo);
  ASSERT_TRUE(rep.ais.has_value());
  EXPECT_EQ(rep.ais->check.ladders, 0);
  EXPECT_FALSE(rep.mode_bound.has_value());
  EXPECT_TRUE(std::isnan(rep.pseudo_likelihood));
  EXPECT_NEAR(rep.avg_log_likelihood(*rep.log_z_exact), average_log_likelihood(rbm, data, exact), 1e-9);
}

TEST(GaussianRbm, HiddenLayerAisAgreesWithExact) {
  // AIS on the hidden layer, the visible Gaussians integrated out, against enumeration of the 2^10 hidden states,
  // from weak to strong coupling, with both bases.
  for (double w : {0.05, 0.3, 0.8})
    for (AisBase base : {AisBase::data, AisBase::uniform}) {
      const Rbm rbm = random_gaussian(30, 10, w, 21);
      const double exact = log_partition_exact(rbm);
      AisOptions ao;
      ao.runs = 100;
      ao.betas = 2000;
      ao.seed = 4;
      ao.layer = AisLayer::hidden;
      ao.base = base;
      const VectorF means = rbm.visible_bias;  // stand-in data means: any base is valid, a closer one is better
      const AisResult r = log_partition_ais(rbm, means, ao);
      EXPECT_EQ(r.layer, AisLayer::hidden);
      EXPECT_EQ(r.base, base);
      EXPECT_NEAR(r.log_z, exact, 0.1) << "w " << w << " base " << to_string(base);
      EXPECT_LE(r.log_z_lo, exact) << "w " << w;
      EXPECT_GE(r.log_z_hi, exact) << "w " << w;
      EXPECT_GT(r.ess, 10) << "w " << w;
    }
  // The data's hidden marginals as the base, and the refusals.
  const Rbm rbm = random_gaussian(30, 10, 0.5, 22);
  AisOptions ao;
  ao.runs = 100;
  ao.betas = 2000;
  ao.layer = AisLayer::hidden;
  ao.hidden_marginals = VectorF::Constant(10, 0.3f);
  EXPECT_NEAR(log_partition_ais(rbm, ao).log_z, log_partition_exact(rbm), 0.1);
  // 200 runs in 4 chunks: one thread or three give the same bits.
  ao.runs = 200;
  ao.betas = 50;
  set_num_threads(1);
  const AisResult one = log_partition_ais(rbm, ao);
  set_num_threads(3);
  const AisResult three = log_partition_ais(rbm, ao);
  set_num_threads(0);
  EXPECT_EQ(one.log_weights, three.log_weights);
  ao.hidden_marginals = VectorF::Constant(9, 0.3f);
  EXPECT_THROW(log_partition_ais(rbm, ao), Error);
  ao.hidden_marginals = VectorF();
  ao.base = AisBase::mean_field;
  EXPECT_THROW(log_partition_ais(rbm, ao), Error);
}

TEST(GaussianRbm, SameModelForOneAndTwoThreads) {
  const MatrixF data = two_cluster_data(2000, 6, 4);
  TrainConfig config;
  config.visible = VisibleType::gaussian;
  config.hidden = 5;
  config.epochs = 2;
  config.batch_size = 40;
  config.lr = 0.005;
  TrainState a = init_training(data, config), b = a;
  set_num_threads(1);
  train(a, data, config, {.progress = false});
  set_num_threads(2);
  train(b, data, config, {.progress = false});
  set_num_threads(0);
  EXPECT_EQ(a.rbm.weight, b.rbm.weight);
  EXPECT_EQ(a.rbm.log_var, b.rbm.log_var);
}

TEST(GaussianRbm, FileKeepsTheVisibleTypeAndResumesExactly) {
  const std::string dir = testing::test_dir("gaussian_rbm");
  const MatrixF data = two_cluster_data(1000, 4, 6);
  TrainConfig config;
  config.visible = VisibleType::gaussian;
  config.hidden = 3;
  config.epochs = 4;
  config.batch_size = 20;
  config.lr = 0.005;
  config.momentum = 0.5;
  TrainState full = init_training(data, config);
  train(full, data, config, {.progress = false});
  TrainConfig half_config = config;
  half_config.epochs = 2;
  TrainState half = init_training(data, config);
  train(half, data, half_config, {.progress = false});
  save_rbm_model(dir + "/g.safetensors", half, config, nullptr);
  RbmModel m = load_rbm_model(dir + "/g.safetensors");
  ASSERT_TRUE(m.state.rbm.gaussian());
  EXPECT_EQ(m.state.rbm.log_var, half.rbm.log_var);
  EXPECT_EQ(m.state.log_var_velocity, half.log_var_velocity);
  ASSERT_TRUE(m.config.has_value());
  EXPECT_EQ(m.config->visible, VisibleType::gaussian);
  train(m.state, data, config, {.progress = false});
  EXPECT_EQ(m.state.rbm.weight, full.rbm.weight);
  EXPECT_EQ(m.state.rbm.log_var, full.rbm.log_var);

  // A file whose metadata says Gaussian but which has no visible_log_var is refused.
  const Rbm b = Rbm::random(4, 3, 0.1f, 1);
  const std::vector<TensorToWrite> tensors = {
      {"weight", {3, 4}, {b.weight.data(), 12}, {}},
      {"visible_bias", {4}, {b.visible_bias.data(), 4}, {}},
      {"hidden_bias", {3}, {b.hidden_bias.data(), 3}, {}}};
  write_safetensors(dir + "/bad.safetensors", tensors, {{"visible", "gaussian"}});
  EXPECT_THROW(load_rbm_model(dir + "/bad.safetensors"), Error);
}

TEST(GaussianRbm, BernoulliOnlyCodeRefusesIt) {
  const Rbm rbm = random_gaussian(4, 3, 0.3, 2);
  const MatrixF data = two_cluster_data(50, 4, 1);
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { log_partition_bar(rbm, VectorF(), {}); }).find("Gaussian"), std::string::npos);
  EXPECT_NE(message([&] { log_partition_mode_bound(rbm, data); }).find("Gaussian"), std::string::npos);
  EXPECT_NE(message([&] { tap_fixed_point(rbm, MatrixF::Constant(2, 4, 0.5f), {}); }).find("Gaussian"), std::string::npos);
  ExactOptions visible_layer;
  visible_layer.layer = EnumerateLayer::visible;
  EXPECT_THROW(log_partition_exact(rbm, visible_layer), Error);
  Dbn dbn;
  dbn.layers = {rbm};
  EXPECT_THROW(dbn.validate("test"), Error);
  TrainConfig tap;
  tap.visible = VisibleType::gaussian;
  tap.method = TrainMethod::tap2;
  EXPECT_THROW(tap.validate(), Error);
  EvalOptions eo;
  eo.tap = true;
  eo.ais = false;
  EXPECT_THROW(evaluate_rbm(rbm, data, VectorF(), eo), Error);
  DbnConfig dc;
  dc.layers.resize(1);
  dc.layers[0].visible = VisibleType::gaussian;
  EXPECT_THROW(dc.validate(), Error);
  // Variances beyond float's range of 1/σ² are refused, in a model and as a floor.
  Rbm tiny = rbm;
  tiny.log_var(0) = -80.0f;
  EXPECT_THROW(tiny.validate("test"), Error);
  TrainConfig floor;
  floor.visible = VisibleType::gaussian;
  floor.min_variance = 1e-31;
  EXPECT_THROW(floor.validate(), Error);
}

TEST(GaussianRbm, AUnitAtTheVarianceFloorKeepsNoDownwardVelocity) {
  // A column that never varies sits at the floor; with momentum its log-variance velocity must not keep growing
  // downwards there (it would have to unwind before the variance could rise).
  MatrixF data = two_cluster_data(2000, 3, 5);
  data.col(1).setZero();
  TrainConfig config;
  config.visible = VisibleType::gaussian;
  config.hidden = 3;
  config.epochs = 3;
  config.batch_size = 20;
  config.lr = 0.005;
  config.momentum = 0.9;
  config.min_variance = 0.05;
  TrainState state = init_training(data, config);
  ASSERT_EQ(train(state, data, config, {.progress = false}), TrainOutcome::finished);
  EXPECT_FLOAT_EQ(state.rbm.log_var(1), static_cast<float>(std::log(0.05)));
  EXPECT_GE(state.log_var_velocity(1), 0.0f);
}

}  // namespace
}  // namespace onsager
