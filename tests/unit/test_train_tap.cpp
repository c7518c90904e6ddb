// Deterministic training by the mean-field / TAP free energy (--method mf|tap2|tap3): the update against the exact
// log-likelihood gradient of tiny RBMs, exact likelihoods on digits against PCD, persistence, determinism, resume.

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include <nlohmann/json.hpp>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/rbm/model_file.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/train.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

using testing::all_states;
using testing::exact_weight_gradient;

MatrixF noisy_prototypes(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  return testing::random_binary(n, d, seed, 5);
}

TrainConfig tap_config(TrainMethod method) {
  TrainConfig c;
  c.method = method;
  c.hidden = 16;
  c.epochs = 3;
  c.batch_size = 25;
  c.lr = 0.05;
  c.seed = 5;
  c.monitor_samples = 100;
  return c;
}

// The weight change of one update with lr = 1 and no momentum or decay: the method's gradient estimate.
Eigen::MatrixXd update_direction(const Rbm& rbm, const MatrixF& batch, TrainMethod method) {
  TrainConfig cfg = tap_config(method);
  cfg.hidden = static_cast<int>(rbm.num_hidden());
  cfg.batch_size = static_cast<int>(batch.rows());
  cfg.tap_iters = 2000;
  cfg.tap_tol = 1e-7;
  cfg.tap_persist_from = -1;  // start from the batch, converge fully
  TrainState s;
  s.rbm = rbm;
  s.weight_velocity = MatrixF::Zero(rbm.num_hidden(), rbm.num_visible());
  s.visible_velocity = VectorF::Zero(rbm.num_visible());
  s.hidden_velocity = VectorF::Zero(rbm.num_hidden());
  TrainWorkspace ws;
  train_step(s, batch, cfg, 1.0f, 0.0f, 0, ws);
  return s.rbm.weight.cast<double>() - rbm.weight.cast<double>();
}

// At weak coupling the TAP negative phase approximates the model's ⟨h vᵀ⟩ with an error one order higher in W than
// naive mean field's, so the update approaches the exact log-likelihood gradient as the order grows.
TEST(TrainTap, UpdateApproachesTheExactGradientAsTheOrderGrows) {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    Rbm rbm = Rbm::random(8, 6, 0.25f, seed);
    Rng rng(seed + 10);
    for (Eigen::Index i = 0; i < 8; ++i) rbm.visible_bias(i) = static_cast<float>(-1.0 + 0.5 * rng.normal());
    for (Eigen::Index j = 0; j < 6; ++j) rbm.hidden_bias(j) = static_cast<float>(-1.0 + 0.5 * rng.normal());
    const MatrixF batch = noisy_prototypes(40, 8, seed);
    const Eigen::MatrixXd exact = exact_weight_gradient(rbm, batch);
    const double err_mf = (update_direction(rbm, batch, TrainMethod::mf) - exact).norm();
    const double err_tap2 = (update_direction(rbm, batch, TrainMethod::tap2) - exact).norm();
    const double err_tap3 = (update_direction(rbm, batch, TrainMethod::tap3) - exact).norm();
    EXPECT_GT(err_mf, 1e-3) << "seed " << seed << ": naive mean field should be visibly biased";
    EXPECT_LT(err_tap2, 0.5 * err_mf) << "seed " << seed;
    EXPECT_LT(err_tap3, err_mf) << "seed " << seed;
    std::printf("  seed %llu: |update - exact gradient|  mf %.2e  tap2 %.2e  tap3 %.2e  (|exact| %.2e)\n",
                static_cast<unsigned long long>(seed), err_mf, err_tap2, err_tap3, exact.norm());
  }
}

// Measured with these settings: initial -24.38, PCD-1 -20.42, TAP2 from the data -18.97, persistent TAP2 (lr 0.02,
// 10 sweeps) -21.59. On this small data set, magnetisations started from each minibatch reach one fixed point per
// data mode; persistent ones collapse onto a few fixed points and train more slowly (docs/tap-training.md).
TEST(TrainTap, Tap2RaisesTheExactTestLikelihoodOfDigitsCloseToPcd) {
  Dataset train_set, test_set;
  try {
    train_set = load_dataset("digits", Split::train);
    test_set = load_dataset("digits", Split::test);
  } catch (const Error& e) {
    ONSAGER_MISSING("digits is not installed: " << e.what());
  }
  const Binarization bin = parse_binarization("threshold:0.5");
  binarize(train_set.x, bin);
  binarize(test_set.x, bin);
  const auto test_ll = [&](const Rbm& rbm) { return average_log_likelihood(rbm, test_set.x, log_partition_exact(rbm)); };
  const auto trained = [&](TrainConfig cfg) {
    TrainState s = init_training(train_set.x, cfg);
    EXPECT_EQ(train(s, train_set.x, cfg, {.progress = false}), TrainOutcome::finished);
    return test_ll(s.rbm);
  };
  TrainConfig cfg = tap_config(TrainMethod::pcd);
  cfg.hidden = 20;
  cfg.epochs = 60;
  cfg.batch_size = 20;
  cfg.monitor_samples = 0;
  const double initial = test_ll(init_training(train_set.x, cfg).rbm);
  const double ll_pcd = trained(cfg);
  cfg.method = TrainMethod::tap2;
  cfg.tap_persist_from = -1;
  const double ll_tap2_data = trained(cfg);
  cfg.tap_persist_from = 0;
  cfg.lr = 0.02;
  cfg.tap_iters = 10;
  const double ll_tap2_persistent = trained(cfg);
  std::printf("  exact test log-likelihood: initial %.3f  pcd %.3f  tap2 (data starts) %.3f  tap2 (persistent) %.3f\n",
              initial, ll_pcd, ll_tap2_data, ll_tap2_persistent);
  EXPECT_GT(ll_tap2_data, initial + 3.0);
  EXPECT_GT(ll_tap2_data, ll_pcd - 1.5);
  EXPECT_GT(ll_tap2_persistent, initial + 1.5);
}

TEST(TrainTap, PersistenceStartsAtTheConfiguredEpoch) {
  const MatrixF data = noisy_prototypes(200, 20, 3);
  TrainConfig cfg = tap_config(TrainMethod::tap2);
  cfg.chains = 30;
  cfg.tap_persist_from = 2;
  cfg.epochs = 2;
  TrainState s = init_training(data, cfg);
  train(s, data, cfg, {.progress = false});
  EXPECT_EQ(s.tap_m_v.rows(), 0) << "epochs 0 and 1 start from their minibatches";
  cfg.epochs = 3;
  train(s, data, cfg, {.progress = false});
  ASSERT_EQ(s.tap_m_v.rows(), 30);
  ASSERT_EQ(s.tap_m_h.rows(), 30);
  EXPECT_EQ(s.tap_m_v.cols(), 20);
  EXPECT_EQ(s.tap_m_h.cols(), 16);
  cfg.tap_persist_from = -1;
  cfg.epochs = 3;
  TrainState never = init_training(data, cfg);
  train(never, data, cfg, {.progress = false});
  EXPECT_EQ(never.tap_m_v.rows(), 0);
}

TEST(TrainTap, EpochStatsCarryTheTapFreeEnergyAndItsParts) {
  const MatrixF data = noisy_prototypes(200, 20, 4);
  for (TrainMethod m : {TrainMethod::mf, TrainMethod::tap2, TrainMethod::tap3}) {
    TrainConfig cfg = tap_config(m);
    cfg.tap_iters = 5;
    TrainState s = init_training(data, cfg);
    train(s, data, cfg, {.progress = false});
    const EpochStats& e = s.history.back();
    ASSERT_TRUE(std::isfinite(e.tap_free_energy)) << to_string(m);
    EXPECT_NEAR(e.tap_free_energy, -e.tap_entropy + e.tap_energy + e.tap_onsager, 1e-9 * std::abs(e.tap_free_energy));
    EXPECT_GE(e.tap_sweeps, 1.0);
    EXPECT_LE(e.tap_sweeps, 5.0);
    EXPECT_GT(e.tap_entropy, 0.0);
    if (m == TrainMethod::mf) EXPECT_EQ(e.tap_onsager, 0.0);
    else EXPECT_LT(e.tap_onsager, 0.0) << "the second-order term -½ Σ W² a_h a_v is negative";
    const EpochStats back = epoch_stats_from_json(to_json(e));
    EXPECT_EQ(back.tap_free_energy, e.tap_free_energy);
    EXPECT_EQ(back.tap_sweeps, e.tap_sweeps);
  }
  TrainConfig cfg = tap_config(TrainMethod::pcd);
  TrainState s = init_training(data, cfg);
  train(s, data, cfg, {.progress = false});
  EXPECT_TRUE(std::isnan(s.history.back().tap_free_energy));
}

TEST(TrainTap, SameModelForOneAndTwoThreads) {
  const MatrixF data = noisy_prototypes(600, 784, 9);
  TrainConfig cfg = tap_config(TrainMethod::tap3);
  cfg.hidden = 200;
  cfg.epochs = 2;
  cfg.batch_size = 100;
  cfg.momentum = 0.5;
  cfg.tap_persist_from = 1;
  TrainState a = init_training(data, cfg), b = a;
  set_num_threads(1);
  train(a, data, cfg, {.progress = false});
  set_num_threads(2);
  train(b, data, cfg, {.progress = false});
  set_num_threads(0);
  EXPECT_TRUE(a.rbm.weight == b.rbm.weight);
  EXPECT_TRUE(a.rbm.hidden_bias == b.rbm.hidden_bias);
  EXPECT_TRUE(a.tap_m_v == b.tap_m_v);
  EXPECT_EQ(a.history.back().tap_free_energy, b.history.back().tap_free_energy);
}

TEST(TrainTap, ResumeFromAFileEqualsAnUninterruptedRun) {
  const MatrixF data = noisy_prototypes(300, 30, 6);
  TrainConfig cfg = tap_config(TrainMethod::tap2);
  cfg.epochs = 4;
  cfg.chains = 40;
  cfg.momentum_schedule = true;
  cfg.l2 = 1e-4;
  cfg.tap_persist_from = 1;
  TrainState full = init_training(data, cfg);
  train(full, data, cfg, {.progress = false});

  TrainConfig half = cfg;
  half.epochs = 2;
  TrainState first = init_training(data, half);
  train(first, data, half, {.progress = false});
  const std::string path = std::string(ONSAGER_TEST_TMP) + "/resume_tap.safetensors";
  save_rbm_model(path, first, half, nullptr);
  RbmModel loaded = load_rbm_model(path);
  ASSERT_TRUE(loaded.config.has_value());
  EXPECT_EQ(loaded.config->method, TrainMethod::tap2);
  EXPECT_EQ(loaded.config->tap_persist_from, 1);
  EXPECT_TRUE(loaded.state.tap_m_v == first.tap_m_v);
  TrainConfig rest = *loaded.config;
  rest.epochs = 4;
  train(loaded.state, data, rest, {.progress = false});
  EXPECT_TRUE(loaded.state.rbm.weight == full.rbm.weight);
  EXPECT_TRUE(loaded.state.tap_m_h == full.tap_m_h);
}

TEST(TrainTap, ConfigRejectsBadTapSettingsWithTheFieldName) {
  const auto expect_flag = [](TrainConfig c, const char* flag) {
    try {
      c.validate();
      ADD_FAILURE() << "expected an error naming " << flag;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  };
  TrainConfig c = tap_config(TrainMethod::tap2);
  c.tap_iters = 0;
  expect_flag(c, "TrainConfig::validate: config.tap_iters");
  c = tap_config(TrainMethod::tap2);
  c.tap_damping = 1.0;
  expect_flag(c, "TrainConfig::validate: config.tap_damping");
  c = tap_config(TrainMethod::tap2);
  c.tap_tol = -1;
  expect_flag(c, "TrainConfig::validate: config.tap_tol");
  c = tap_config(TrainMethod::tap2);
  c.tap_persist_from = -2;
  expect_flag(c, "TrainConfig::validate: config.tap_persist_from");
  EXPECT_EQ(parse_train_method("naive"), TrainMethod::mf);
  EXPECT_EQ(parse_train_method("tap3"), TrainMethod::tap3);
  EXPECT_THROW(parse_train_method("tap4"), Error);
  // A model file written before the TAP methods existed has none of their settings: the defaults apply.
  nlohmann::json old = to_json(TrainConfig{});
  for (const char* key : {"tap_iters", "tap_damping", "tap_tol", "tap_persist_from"}) old.erase(key);
  const TrainConfig d = train_config_from_json(old);
  EXPECT_EQ(d.tap_iters, TrainConfig{}.tap_iters);
  EXPECT_EQ(d.tap_persist_from, 0);
}

}  // namespace
}  // namespace onsager
