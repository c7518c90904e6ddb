// CD-k / PCD training against exact log-likelihoods and gradients of tiny RBMs, determinism and resume.

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <string>

#include <nlohmann/json.hpp>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/model_file.hpp"
#include "onsager/rbm/train.hpp"

namespace onsager {
namespace {

using testing::all_states;
using testing::brute_log_z;
using testing::exact_weight_gradient;
using testing::random_binary;

double avg_log_likelihood(const Rbm& rbm, const MatrixF& data) {
  return -rbm.free_energy(data).mean() - brute_log_z(rbm);
}

// 3x3 bars and stripes: 14 distinct patterns.
MatrixF bars_and_stripes() {
  std::vector<std::vector<float>> rows;
  for (int mask = 0; mask < 8; ++mask) {
    std::vector<float> bars(9), stripes(9);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) {
        bars[r * 3 + c] = static_cast<float>((mask >> r) & 1);
        stripes[r * 3 + c] = static_cast<float>((mask >> c) & 1);
      }
    rows.push_back(bars);
    if (mask != 0 && mask != 7) rows.push_back(stripes);
  }
  MatrixF x(static_cast<Eigen::Index>(rows.size()), 9);
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (int i = 0; i < 9; ++i) x(static_cast<Eigen::Index>(r), i) = rows[r][i];
  return x;
}

// The CD-k update with lr = 1 and no momentum or decay is the CD-k gradient estimate (up to float rounding).
Eigen::MatrixXd cd_gradient(const Rbm& rbm, const MatrixF& batch, int k) {
  TrainConfig cfg;
  cfg.method = TrainMethod::cd;
  cfg.k = k;
  cfg.hidden = static_cast<int>(rbm.num_hidden());
  cfg.batch_size = static_cast<int>(batch.rows());
  TrainState s;
  s.rbm = rbm;
  s.weight_velocity = MatrixF::Zero(rbm.num_hidden(), rbm.num_visible());
  s.visible_velocity = VectorF::Zero(rbm.num_visible());
  s.hidden_velocity = VectorF::Zero(rbm.num_hidden());
  TrainWorkspace ws;
  train_step(s, batch, cfg, 1.0f, 0.0f, 0, ws);
  return s.rbm.weight.cast<double>() - rbm.weight.cast<double>();
}

TEST(TrainCd, GradientApproachesTheExactGradientAsKGrows) {
  Rbm rbm = Rbm::random(6, 4, 1.2f, 77);
  Rng rng(5);
  for (int i = 0; i < 6; ++i) rbm.visible_bias(i) = static_cast<float>(0.3 * rng.normal());
  const MatrixF patterns = all_states(6).topRows(8);
  MatrixF batch(patterns.rows() * 5000, 6);
  for (Eigen::Index r = 0; r < batch.rows(); ++r) batch.row(r) = patterns.row(r % patterns.rows());
  const Eigen::MatrixXd exact = exact_weight_gradient(rbm, patterns);
  const double err1 = (cd_gradient(rbm, batch, 1) - exact).cwiseAbs().maxCoeff();
  const double err5 = (cd_gradient(rbm, batch, 5) - exact).cwiseAbs().maxCoeff();
  const double err50 = (cd_gradient(rbm, batch, 50) - exact).cwiseAbs().maxCoeff();
  EXPECT_GT(err1, 0.03) << "CD-1 should be visibly biased on this model";
  EXPECT_LT(err50, err1 / 2);
  EXPECT_LE(err50, err5 + 0.01);
  EXPECT_LT(err50, 0.02) << "CD-50 should match the exact gradient up to sampling noise";
}

TEST(TrainPcd, RaisesTheExactLogLikelihoodOfBarsAndStripes) {
  const MatrixF data = bars_and_stripes();
  MatrixF reps(data.rows() * 20, 9);
  for (Eigen::Index r = 0; r < reps.rows(); ++r) reps.row(r) = data.row(r % data.rows());
  TrainConfig cfg;
  cfg.method = TrainMethod::pcd;
  cfg.hidden = 8;
  cfg.epochs = 600;
  cfg.batch_size = 20;
  cfg.chains = 100;
  cfg.lr = 0.02f;  // PCD needs a small step: at 0.1 the chains cannot follow and the likelihood oscillates
  cfg.momentum = 0.5f;
  cfg.init_std = 0.1f;
  cfg.seed = 3;
  cfg.monitor_samples = 0;
  TrainState s = init_training(reps, cfg);
  const double before = avg_log_likelihood(s.rbm, data);
  ASSERT_EQ(train(s, reps, cfg, {.progress = false}), TrainOutcome::finished);
  const double after = avg_log_likelihood(s.rbm, data);
  // Uniform over 2^9 patterns is -6.24 nats; the best possible model is -log 14 = -2.64.
  EXPECT_LT(before, -5.0);
  EXPECT_GT(after, -3.5) << "before " << before;
  EXPECT_LT(after, -std::log(14.0) + 1e-6);
}

TEST(TrainCd, MomentumOnTheWeightsOnlyLeavesTheBiasesPlainSteps) {
  // Two CD-1 steps at momentum 0.9: with momentum on every parameter the second bias step is μ·(first step) + lr·g₂;
  // with it on the weights only it is lr·g₂, while the weights keep their momentum in both.
  const MatrixF data = bars_and_stripes();
  const Rbm start = Rbm::random(9, 4, 0.3f, 5);
  std::vector<MatrixF> weight_steps;
  for (bool weights_only : {false, true}) {
    TrainConfig cfg;
    cfg.method = TrainMethod::cd;
    cfg.hidden = 4;
    cfg.batch_size = static_cast<int>(data.rows());
    cfg.momentum_weights_only = weights_only;
    TrainState s;
    s.rbm = start;
    s.weight_velocity = MatrixF::Zero(4, 9);
    s.visible_velocity = VectorF::Zero(9);
    s.hidden_velocity = VectorF::Zero(4);
    TrainWorkspace ws;
    const float lr = 0.1f, mu = 0.9f;
    train_step(s, data, cfg, lr, mu, 0, ws);
    const VectorF db1 = s.rbm.visible_bias - start.visible_bias, dc1 = s.rbm.hidden_bias - start.hidden_bias;
    const Rbm mid = s.rbm;
    train_step(s, data, cfg, lr, mu, 1, ws);
    const VectorF db2 = s.rbm.visible_bias - mid.visible_bias, dc2 = s.rbm.hidden_bias - mid.hidden_bias;
    const float carry = weights_only ? 0.0f : mu;
    EXPECT_LT((db2 - (carry * db1 + lr * ws.grad_visible)).cwiseAbs().maxCoeff(), 1e-6f) << weights_only;
    EXPECT_LT((dc2 - (carry * dc1 + lr * ws.grad_hidden)).cwiseAbs().maxCoeff(), 1e-6f) << weights_only;
    EXPECT_GT(db1.cwiseAbs().maxCoeff(), 1e-3f);  // the carried part is not negligible
    // The first steps are the same (no velocity yet), so are the second steps' gradients: the weights' second step,
    // momentum included, is the same in both runs.
    weight_steps.push_back(s.rbm.weight - mid.weight);
  }
  EXPECT_EQ(weight_steps[0], weight_steps[1]);
  TrainConfig c;
  c.momentum_weights_only = true;
  EXPECT_TRUE(train_config_from_json(to_json(c)).momentum_weights_only);
}

TEST(TrainPcd, SameModelForOneAndTwoThreads) {
  const MatrixF data = random_binary(1200, 784, 9);
  TrainConfig cfg;
  cfg.hidden = 200;
  cfg.epochs = 2;
  cfg.batch_size = 100;
  cfg.momentum = 0.5f;
  cfg.l2 = 1e-4f;
  cfg.seed = 12;
  cfg.monitor_samples = 200;
  TrainState a = init_training(data, cfg), b = a;
  set_num_threads(1);
  train(a, data, cfg, {.progress = false});
  set_num_threads(2);
  train(b, data, cfg, {.progress = false});
  set_num_threads(0);
  EXPECT_TRUE(a.rbm.weight == b.rbm.weight);
  EXPECT_TRUE(a.rbm.visible_bias == b.rbm.visible_bias);
  EXPECT_TRUE(a.rbm.hidden_bias == b.rbm.hidden_bias);
  EXPECT_TRUE(a.chains == b.chains);
  EXPECT_EQ(a.history.back().pseudo_likelihood, b.history.back().pseudo_likelihood);
}

TEST(TrainPcd, ResumeFromAFileEqualsAnUninterruptedRun) {
  const MatrixF data = random_binary(500, 64, 4);
  for (TrainMethod method : {TrainMethod::pcd, TrainMethod::cd}) {
    TrainConfig cfg;
    cfg.method = method;
    cfg.hidden = 16;
    cfg.epochs = 4;
    cfg.batch_size = 32;
    cfg.k = 2;
    cfg.momentum_schedule = true;
    cfg.lr_schedule = LrSchedule::exponential;
    cfg.lr_decay = 0.9f;
    cfg.l1 = 1e-4f;
    cfg.max_norm = 3.0f;
    cfg.chains = 50;
    cfg.seed = 8;
    TrainState full = init_training(data, cfg);
    train(full, data, cfg, {.progress = false});

    TrainConfig half = cfg;
    half.epochs = 2;
    TrainState first = init_training(data, half);
    train(first, data, half, {.progress = false});
    const std::string path = std::string(ONSAGER_TEST_TMP) + "/resume.safetensors";
    save_rbm_model(path, first, half, nullptr);
    RbmModel loaded = load_rbm_model(path);
    ASSERT_TRUE(loaded.has_train_state);
    ASSERT_TRUE(loaded.config.has_value());
    TrainConfig rest = *loaded.config;
    rest.epochs = 4;
    EXPECT_EQ(loaded.state.epochs_done, 2);
    train(loaded.state, data, rest, {.progress = false});
    EXPECT_TRUE(loaded.state.rbm.weight == full.rbm.weight) << to_string(method);
    EXPECT_TRUE(loaded.state.rbm.hidden_bias == full.rbm.hidden_bias);
    EXPECT_TRUE(loaded.state.chains == full.chains);
    EXPECT_EQ(loaded.state.history.size(), 4u);
  }
}

TEST(TrainPcd, DivergenceKeepsTheLastGoodModel) {
  const MatrixF data = random_binary(400, 64, 2);
  TrainConfig cfg;
  cfg.hidden = 32;
  cfg.epochs = 50;
  cfg.batch_size = 20;
  // lr·l2 = 3: each step multiplies W by about (1 - 3) and overflows it (Inf, then NaN) after ~130 steps.
  cfg.lr = 10.0f;
  cfg.l2 = 0.3f;
  cfg.monitor_samples = 0;
  TrainState s = init_training(data, cfg);
  // W grows about 2^20-fold per epoch: caught as saturation after the first epoch, before it overflows.
  EXPECT_EQ(train(s, data, cfg, {.progress = false}), TrainOutcome::saturated);
  EXPECT_TRUE(s.rbm.weight.allFinite());
  EXPECT_TRUE(s.rbm.visible_bias.allFinite());
  EXPECT_EQ(s.epochs_done, 0);
  EXPECT_EQ(s.history.size(), 0u);
  EXPECT_LT(s.rbm.weight.norm(), 1.0f);  // the initial weights, N(0, 0.01^2) over 32 x 64
}

TEST(TrainPcd, SaturationKeepsTheLastGoodEpoch) {
  // A learning rate 10^6 too large leaves W finite but saturated (every sigmoid at 0 or 1); only NaN/Inf used to
  // count as divergence. Two good epochs at lr 0.05, then the same run resumed at lr 1e6.
  const MatrixF data = random_binary(400, 64, 3);
  TrainConfig cfg{.method = TrainMethod::cd, .hidden = 16, .epochs = 2, .batch_size = 20, .lr = 0.05, .monitor_samples = 0};
  TrainState s = init_training(data, cfg);
  ASSERT_EQ(train(s, data, cfg, {.progress = false}), TrainOutcome::finished);
  const MatrixF good = s.rbm.weight;
  cfg.epochs = 5;
  cfg.lr = 1e6;
  EXPECT_EQ(train(s, data, cfg, {.progress = false}), TrainOutcome::saturated);
  EXPECT_EQ(s.epochs_done, 2);
  EXPECT_TRUE(s.rbm.weight == good);
  // The same learning-rate jump of 10x stays a healthy run.
  TrainState t = init_training(data, cfg);
  cfg.lr = 0.5;
  EXPECT_EQ(train(t, data, cfg, {.progress = false}), TrainOutcome::finished);
}

TEST(TrainCd, PseudoLikelihoodCollapseKeepsTheLastGoodEpoch) {
  // Six epochs at lr 1 (RMS weight 0.72, pseudo-likelihood -0.47 per feature), then one at lr 20: the weights
  // grow about 14-fold, short of saturation's 100, but the pseudo-likelihood falls to -1.72, worse than a fair
  // coin's -0.69 by a nat. Measured with the rule off (a monitor under kPseudoLikelihoodMinRows rows).
  const MatrixF data = random_binary(400, 64, 3);
  TrainConfig cfg{.method = TrainMethod::cd, .hidden = 16, .epochs = 6, .batch_size = 20, .lr = 1.0, .monitor_samples = 400};
  TrainState good = init_training(data, cfg);
  ASSERT_EQ(train(good, data, cfg, {.progress = false}), TrainOutcome::finished);
  const auto rms = [](const TrainState& s) { return s.rbm.weight.norm() / std::sqrt(static_cast<double>(s.rbm.weight.size())); };
  cfg.epochs = 7;
  cfg.lr = 20.0;
  TrainState s = good;
  EXPECT_EQ(train(s, data, cfg, {.progress = false}), TrainOutcome::collapsed);
  EXPECT_EQ(s.epochs_done, 6);
  EXPECT_TRUE(s.rbm.weight == good.rbm.weight);
  EXPECT_EQ(s.history.size(), 6u);

  TrainConfig off = cfg;
  off.monitor_samples = kPseudoLikelihoodMinRows - 1;
  TrainState t = good;
  ASSERT_EQ(train(t, data, off, {.progress = false}), TrainOutcome::finished);
  EXPECT_LT(rms(t), kSaturationGrowth * rms(good));  // not saturation
  const double pl = measure_epoch(t.rbm, data, nullptr, 7).pseudo_likelihood;
  EXPECT_LT(pl, -std::numbers::ln2 - kPseudoLikelihoodCollapse) << pl;
  // A healthy step of the same run stays a healthy run.
  cfg.lr = 1.0;
  TrainState u = good;
  EXPECT_EQ(train(u, data, cfg, {.progress = false}), TrainOutcome::finished);
}

TEST(TrainMonitors, LargestSingularValueMatchesSvd) {
  for (auto [h, v] : {std::pair{30, 50}, std::pair{50, 30}}) {
    const Rbm rbm = Rbm::random(v, h, 1.0f, 4);
    Eigen::JacobiSVD<Eigen::MatrixXd> svd(rbm.weight.cast<double>());
    EXPECT_NEAR(largest_singular_value(rbm.weight), svd.singularValues()(0), 1e-9 * svd.singularValues()(0));
  }
}

TEST(TrainConfigTest, RejectsBadSettingsWithTheFieldName) {
  TrainConfig c;
  c.hidden = 0;
  try {
    c.validate();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("TrainConfig::validate: config.hidden must be"), std::string::npos) << e.what();
  }
  c = TrainConfig{};
  c.lr = std::nanf("");
  EXPECT_THROW(c.validate(), Error);
  c = TrainConfig{};
  c.momentum = 1.0f;
  EXPECT_THROW(c.validate(), Error);
}

TEST(TrainConfigTest, LrScheduleNamesAreParsedOnceAndStrictly) {
  EXPECT_EQ(parse_lr_schedule("exp"), LrSchedule::exponential);
  EXPECT_EQ(parse_lr_schedule("exponential"), LrSchedule::exponential);
  EXPECT_EQ(parse_lr_schedule("linear"), LrSchedule::linear);
  EXPECT_THROW(parse_lr_schedule("cosine"), Error);
  // A model file's unknown schedule used to become "constant" without a word.
  TrainConfig c;
  c.lr_schedule = LrSchedule::linear;
  nlohmann::json j = to_json(c);
  EXPECT_EQ(train_config_from_json(j).lr_schedule, LrSchedule::linear);
  j["lr_schedule"] = "cosine";
  EXPECT_THROW(train_config_from_json(j), Error);
}

TEST(TrainConfigTest, JsonRoundTrip) {
  TrainConfig c;
  c.method = TrainMethod::cd;
  c.k = 3;
  c.lr_schedule = LrSchedule::linear;
  c.lr_final = 0.001f;
  c.seed = 123456789012345ULL;
  const TrainConfig d = train_config_from_json(to_json(c));
  EXPECT_EQ(to_json(c), to_json(d));
}

}  // namespace
}  // namespace onsager
