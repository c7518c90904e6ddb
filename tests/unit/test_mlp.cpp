// The MLP trainer against independent truths: every activation's and loss's gradient against central finite
// differences; the fused float training step (SGD with momentum and L2, Adam) against the double reference
// gradient; a one-layer linear network trained on MSE against the least-squares solution; cross-entropy on
// separable data to zero training error; thread-count independence; resume against an uninterrupted run; the
// per-epoch spectra against `analyze` of the saved file; early stopping, label noise and the model file.

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/io/safetensors.hpp"
#include "onsager/io/tensor_source.hpp"
#include "onsager/nn/mlp.hpp"
#include "onsager/nn/mlp_file.hpp"
#include "onsager/spectral/analyze.hpp"
#include "blobs.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

using testing::blobs;

MlpConfig small_config(std::vector<int> arch, Activation act, MlpLoss loss) {
  MlpConfig c;
  c.arch = std::move(arch);
  c.activation = act;
  c.loss = loss;
  c.spectra = false;
  c.seed = 5;
  return c;
}

// Non-zero biases, so that their gradients are exercised too.
void randomize_biases(Mlp& m, std::uint64_t seed) {
  Rng rng(seed);
  for (auto& b : m.biases)
    for (Eigen::Index i = 0; i < b.size(); ++i) b(i) = static_cast<float>(0.3 * rng.normal());
}

double max_abs_diff(const MatrixF& a, const MatrixF& b) { return (a - b).cwiseAbs().maxCoeff(); }

TEST(Mlp, GradientMatchesFiniteDifferences) {
  MatrixF x;
  std::vector<int> y;
  blobs(12, 6, 3, 1.0, 1, x, y);
  for (Activation act : {Activation::relu, Activation::tanh, Activation::sigmoid, Activation::linear}) {
    for (MlpLoss loss : {MlpLoss::cross_entropy, MlpLoss::mse}) {
      SCOPED_TRACE(std::string(to_string(act)) + " " + std::string(to_string(loss)));
      MlpState s = init_mlp(small_config({6, 5, 4, 3}, act, loss));
      randomize_biases(s.model, 3);
      std::vector<MatrixD> gw;
      std::vector<VectorD> gb;
      mlp_loss_gradient(s.model, loss, x, y, &gw, &gb);
      double worst = 0;
      for (int l = 0; l < s.model.num_layers(); ++l) {
        auto check = [&](float& p, double analytic) {
          const float saved = p;
          p = saved + 1e-3f;
          const float up = p;
          const double lu = mlp_loss_gradient(s.model, loss, x, y);
          p = saved - 1e-3f;
          const float down = p;
          const double ld = mlp_loss_gradient(s.model, loss, x, y);
          p = saved;
          const double fd = (lu - ld) / (static_cast<double>(up) - static_cast<double>(down));
          worst = std::max(worst, std::abs(fd - analytic) / std::max(1e-3, std::abs(analytic)));
        };
        for (Eigen::Index i = 0; i < s.model.weights[l].size(); ++i) check(s.model.weights[l].data()[i], gw[l].data()[i]);
        for (Eigen::Index i = 0; i < s.model.biases[l].size(); ++i) check(s.model.biases[l](i), gb[l](i));
      }
      EXPECT_LT(worst, 2e-3);
    }
  }
}

// One full-batch step from the initial state is θ - lr (∇L + l2 W) for SGD (velocity 0), and
// θ - lr ĝ / (|ĝ| + ε) for Adam's first step (bias-corrected moments ĝ and ĝ²).
TEST(Mlp, TrainingStepMatchesReferenceGradient) {
  MatrixF x;
  std::vector<int> y;
  blobs(40, 7, 4, 1.0, 2, x, y);
  for (MlpOptimizer opt : {MlpOptimizer::sgd, MlpOptimizer::adam}) {
    for (Activation act : {Activation::relu, Activation::tanh, Activation::sigmoid}) {
      for (MlpLoss loss : {MlpLoss::cross_entropy, MlpLoss::mse}) {
        SCOPED_TRACE(std::string(to_string(opt)) + " " + std::string(to_string(act)) + " " + std::string(to_string(loss)));
        MlpConfig c = small_config({7, 6, 5, 4}, act, loss);
        c.optimizer = opt;
        c.batch_size = 40;
        c.epochs = 1;
        c.lr = 0.1;
        c.l2 = opt == MlpOptimizer::sgd ? 0.01 : 0.0;
        MlpState s = init_mlp(c);
        randomize_biases(s.model, 4);
        const Mlp before = s.model;
        std::vector<MatrixD> gw;
        std::vector<VectorD> gb;
        mlp_loss_gradient(before, loss, x, y, &gw, &gb);
        ASSERT_EQ(train_mlp(s, c, {x, y}, nullptr), MlpOutcome::finished);
        for (int l = 0; l < before.num_layers(); ++l) {
          const MatrixD w0 = before.weights[l].cast<double>();
          const VectorD b0 = before.biases[l].cast<double>();
          MatrixD w1;
          VectorD b1;
          if (opt == MlpOptimizer::sgd) {
            w1 = w0 - c.lr * (gw[l] + c.l2 * w0);
            b1 = b0 - c.lr * gb[l];
          } else {
            w1 = w0 - c.lr * (gw[l].array() / (gw[l].array().abs() + c.adam_eps)).matrix();
            b1 = b0 - c.lr * (gb[l].array() / (gb[l].array().abs() + c.adam_eps)).matrix();
          }
          // Adam's first step is ±lr wherever the gradient is well above ε; float rounding of a gradient near 0
          // can move that entry by up to lr, so compare the entries whose gradient is resolvable.
          for (Eigen::Index i = 0; i < w1.size(); ++i)
            if (opt == MlpOptimizer::sgd || std::abs(gw[l].data()[i]) > 1e-5) {
              EXPECT_NEAR(s.model.weights[l].data()[i], w1.data()[i], 2e-6) << "layer " << l << " weight " << i;
            }
          for (Eigen::Index i = 0; i < b1.size(); ++i)
            if (opt == MlpOptimizer::sgd || std::abs(gb[l](i)) > 1e-5) {
              EXPECT_NEAR(s.model.biases[l](i), b1(i), 2e-6) << "layer " << l << " bias " << i;
            }
        }
      }
    }
  }
}

// Two SGD steps with momentum: v₁ = g₁, θ₁ = θ₀ − lr g₁; v₂ = μ g₁ + g₂(θ₁), θ₂ = θ₁ − lr v₂ (PyTorch's form).
TEST(Mlp, MomentumFollowsPyTorchsUpdate) {
  MatrixF x;
  std::vector<int> y;
  blobs(30, 5, 3, 1.0, 3, x, y);
  MlpConfig c = small_config({5, 4, 3}, Activation::tanh, MlpLoss::cross_entropy);
  c.batch_size = 30;
  c.lr = 0.2;
  c.momentum = 0.9;
  c.epochs = 2;
  MlpState s = init_mlp(c);
  Mlp ref = s.model;
  std::vector<MatrixD> g1w, g2w;
  std::vector<VectorD> g1b, g2b;
  mlp_loss_gradient(ref, c.loss, x, y, &g1w, &g1b);
  for (int l = 0; l < ref.num_layers(); ++l) {
    ref.weights[l] = (ref.weights[l].cast<double>() - c.lr * g1w[l]).cast<float>();
    ref.biases[l] = (ref.biases[l].cast<double>() - c.lr * g1b[l]).cast<float>();
  }
  mlp_loss_gradient(ref, c.loss, x, y, &g2w, &g2b);
  for (int l = 0; l < ref.num_layers(); ++l)
    ref.weights[l] = (ref.weights[l].cast<double>() - c.lr * (c.momentum * g1w[l] + g2w[l])).cast<float>();
  ASSERT_EQ(train_mlp(s, c, {x, y}, nullptr), MlpOutcome::finished);
  for (int l = 0; l < ref.num_layers(); ++l) EXPECT_LT(max_abs_diff(s.model.weights[l], ref.weights[l]), 1e-5);
}

// One linear layer trained on MSE against one-hot targets converges to the least-squares solution of
// [X 1] θ = T (in double by a QR solve).
TEST(Mlp, LinearMseEqualsLeastSquares) {
  MatrixF x;
  std::vector<int> y;
  blobs(200, 5, 3, 1.5, 4, x, y);
  MlpConfig c = small_config({5, 3}, Activation::relu, MlpLoss::mse);
  c.batch_size = 200;
  c.lr = 0.1;
  c.momentum = 0.9;
  c.epochs = 3000;
  MlpState s = init_mlp(c);
  ASSERT_EQ(train_mlp(s, c, {x, y}, nullptr), MlpOutcome::finished);
  MatrixD a(200, 6), t = MatrixD::Zero(200, 3);
  a.leftCols(5) = x.cast<double>();
  a.col(5).setOnes();
  for (int r = 0; r < 200; ++r) t(r, y[static_cast<std::size_t>(r)]) = 1.0;
  const MatrixD theta = a.colPivHouseholderQr().solve(t);  // 6 x 3
  EXPECT_LT((s.model.weights[0].cast<double>() - theta.topRows(5).transpose()).cwiseAbs().maxCoeff(), 1e-4);
  EXPECT_LT((s.model.biases[0].cast<double>() - theta.row(5).transpose()).cwiseAbs().maxCoeff(), 1e-4);
}

TEST(Mlp, CrossEntropyFitsSeparableDataExactly) {
  MatrixF x;
  std::vector<int> y;
  blobs(300, 2, 3, 0.15, 5, x, y);  // three tight, well separated blobs
  MlpConfig c = small_config({2, 16, 3}, Activation::relu, MlpLoss::cross_entropy);
  c.batch_size = 8;
  c.lr = 0.05;
  c.epochs = 50;
  c.stop_accuracy = 1.0;
  MlpState s = init_mlp(c);
  EXPECT_EQ(train_mlp(s, c, {x, y}, nullptr), MlpOutcome::fitted);
  EXPECT_EQ(score_mlp(s.model, c.loss, x, y).accuracy, 1.0);
  EXPECT_LT(s.history.back().train_loss, 0.1);
}

// Large enough that the GEMMs split across threads (core/blas.cpp), with dropout and a partial last batch.
TEST(Mlp, SameModelForAnyThreadCount) {
  MatrixF x;
  std::vector<int> y;
  blobs(1100, 512, 10, 1.0, 6, x, y);
  MlpConfig c = small_config({512, 256, 10}, Activation::relu, MlpLoss::cross_entropy);
  c.batch_size = 256;
  c.epochs = 2;
  c.dropout = 0.2;
  std::vector<Mlp> models;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    MlpState s = init_mlp(c);
    train_mlp(s, c, {x, y}, nullptr);
    models.push_back(s.model);
  }
  set_num_threads(0);
  for (int l = 0; l < 2; ++l) {
    EXPECT_EQ(models[0].weights[l], models[1].weights[l]);
    EXPECT_EQ(models[0].biases[l], models[1].biases[l]);
  }
}

TEST(Mlp, ResumeEqualsUninterruptedRun) {
  const std::string dir = testing::test_dir("mlp");
  MatrixF x;
  std::vector<int> y;
  blobs(150, 9, 3, 1.0, 7, x, y);
  for (MlpOptimizer opt : {MlpOptimizer::sgd, MlpOptimizer::adam}) {
    SCOPED_TRACE(std::string(to_string(opt)));
    MlpConfig c = small_config({9, 8, 6, 3}, Activation::tanh, MlpLoss::cross_entropy);
    c.optimizer = opt;
    c.lr = opt == MlpOptimizer::sgd ? 0.05 : 0.003;
    c.lr_decay = 0.9;
    c.batch_size = 16;
    c.dropout = 0.1;
    c.epochs = 4;
    c.spectra = true;
    MlpState whole = init_mlp(c);
    train_mlp(whole, c, {x, y}, nullptr);

    MlpConfig half = c;
    half.epochs = 2;
    MlpState first = init_mlp(half);
    train_mlp(first, half, {x, y}, nullptr);
    const std::string path = dir + "/" + std::string(to_string(opt)) + ".safetensors";
    save_mlp_model(path, first, half, MlpDataSpec{.source = "synthetic"});
    MlpModelFile f = load_mlp_model(path);
    ASSERT_TRUE(f.has_train_state);
    EXPECT_EQ(f.state.epochs_done, 2);
    EXPECT_EQ(f.state.history.size(), 2u);
    train_mlp(f.state, c, {x, y}, nullptr);
    for (int l = 0; l < 3; ++l) {
      EXPECT_EQ(f.state.model.weights[l], whole.model.weights[l]);
      EXPECT_EQ(f.state.model.biases[l], whole.model.biases[l]);
    }
    ASSERT_EQ(f.state.history.size(), whole.history.size());
    EXPECT_EQ(f.state.history.back().train_loss, whole.history.back().train_loss);
    EXPECT_EQ(f.state.history.back().layers.at(0).alpha, whole.history.back().layers.at(0).alpha);
  }
}

// The spectra in the log are what `onsager analyze --precision double` reports for the saved file.
TEST(Mlp, EpochSpectraEqualAnalyzeOfTheSavedFile) {
  const std::string dir = testing::test_dir("mlp");
  MatrixF x;
  std::vector<int> y;
  blobs(400, 60, 5, 1.0, 8, x, y);
  MlpConfig c = small_config({60, 40, 20, 5}, Activation::relu, MlpLoss::cross_entropy);
  c.spectra = true;
  c.epochs = 2;
  c.batch_size = 4;
  MlpState s = init_mlp(c);
  train_mlp(s, c, {x, y}, nullptr);
  const std::string path = dir + "/m.safetensors";
  save_mlp_model(path, s, c, MlpDataSpec{.source = "synthetic"});
  AnalyzeOptions o;
  o.precision = EsdPrecision::f64;
  const auto source = open_tensor_source(path);
  const AnalyzeReport report = analyze(*source, path, o);
  const auto& logged = s.history.back().layers;
  ASSERT_EQ(logged.size(), 3u);
  // The train_state.* buffers are skipped, and so is the 20 -> 5 layer (5 eigenvalues, under analyze's
  // min_evals of 10), which the log keeps with the phase that says it is too small.
  ASSERT_EQ(report.layers.size(), 2u);
  EXPECT_EQ(logged[2].phase, "too-small");
  for (std::size_t l = 0; l < 2; ++l) {
    const LayerResult& r = report.layers[l];
    EXPECT_EQ(r.spec.name, logged[l].name);
    if (r.powerlaw.valid) {
      EXPECT_DOUBLE_EQ(r.powerlaw.alpha, logged[l].alpha);
    }
    EXPECT_EQ(std::string(to_string(r.phase.phase)), logged[l].phase);
    EXPECT_DOUBLE_EQ(r.mp.softrank, logged[l].mp_softrank);
    EXPECT_EQ(r.mp.num_spikes, logged[l].num_spikes);
    EXPECT_DOUBLE_EQ(r.metrics.stable_rank, logged[l].stable_rank);
    EXPECT_DOUBLE_EQ(r.metrics.lambda_max, logged[l].lambda_max);
    // And λ_max is σ_max(W)², computed here independently by an SVD.
    const double smax = Eigen::JacobiSVD<MatrixD>(s.model.weights[l].cast<double>()).singularValues()(0);
    EXPECT_NEAR(logged[l].spectral_norm, smax, 1e-9 * smax);
  }
}

TEST(Mlp, EarlyStoppingCountsEpochsWithoutImprovement) {
  MatrixF x;
  std::vector<int> y;
  blobs(64, 4, 2, 1.0, 9, x, y);
  MlpConfig c = small_config({4, 3, 2}, Activation::relu, MlpLoss::cross_entropy);
  c.epochs = 20;
  c.early_stop = 2;
  c.early_stop_min_delta = 1e9;  // no epoch after the first improves by this much
  MlpState s = init_mlp(c);
  EXPECT_EQ(train_mlp(s, c, {x, y}, nullptr), MlpOutcome::early_stopped);
  EXPECT_EQ(s.epochs_done, 3);
  // A stopped run saved and resumed stops again at once: resuming gives the uninterrupted run's model.
  const Mlp stopped = s.model;
  EXPECT_EQ(train_mlp(s, c, {x, y}, nullptr), MlpOutcome::early_stopped);
  EXPECT_EQ(s.epochs_done, 3);
  EXPECT_EQ(s.model.weights[0], stopped.weights[0]);
  // Keras's rule: the best loss moves only on an improvement larger than min_delta, so slow steady progress
  // (each epoch better than the last by less than min_delta) still ends the run after `patience` epochs.
  MlpConfig slow = c;
  slow.early_stop = 3;
  slow.early_stop_min_delta = 1e9;
  MlpState t = init_mlp(slow);
  EXPECT_EQ(train_mlp(t, slow, {x, y}, nullptr), MlpOutcome::early_stopped);
  EXPECT_EQ(t.epochs_done, 4);
  EXPECT_EQ(t.best_loss, t.history[0].train_loss);
}

TEST(Mlp, RandomizedLabelsReplaceTheAskedFraction) {
  std::vector<int> labels(10000);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>(i % 10);
  EXPECT_EQ(randomize_labels(labels, 0.0, 10, 1), labels);
  const std::vector<int> all = randomize_labels(labels, 1.0, 10, 1);
  std::size_t changed = 0;
  std::vector<int> counts(10, 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    changed += all[i] != labels[i];
    ++counts[static_cast<std::size_t>(all[i])];
  }
  // Every label redrawn uniformly: 90% change (binomial sd 0.3%), each class about 1,000 (sd 30).
  EXPECT_NEAR(static_cast<double>(changed) / 10000.0, 0.9, 0.015);
  for (int k : counts) EXPECT_NEAR(k, 1000, 150);
  const std::vector<int> some = randomize_labels(labels, 0.3, 10, 1);
  changed = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) changed += some[i] != labels[i];
  EXPECT_NEAR(static_cast<double>(changed) / 10000.0, 0.3 * 0.9, 0.015);
  EXPECT_EQ(some, randomize_labels(labels, 0.3, 10, 1));
  EXPECT_NE(some, randomize_labels(labels, 0.3, 10, 2));
  const auto subset = random_subset(100, 30, 3);
  EXPECT_EQ(std::set<std::size_t>(subset.begin(), subset.end()).size(), 30u);
  EXPECT_TRUE(std::is_sorted(subset.begin(), subset.end()));
}

TEST(Mlp, ModelFileRoundTripAndRefusals) {
  const std::string dir = testing::test_dir("mlp");
  MatrixF x;
  std::vector<int> y;
  blobs(50, 4, 3, 1.0, 10, x, y);
  MlpConfig c = small_config({4, 5, 3}, Activation::sigmoid, MlpLoss::mse);
  c.epochs = 1;
  MlpState s = init_mlp(c);
  train_mlp(s, c, {x, y}, nullptr);
  const std::string path = dir + "/m.safetensors";
  save_mlp_model(path, s, c, MlpDataSpec{.source = "digits", .subset = 7, .label_noise = 0.25}, "finished");
  const MlpModelFile f = load_mlp_model(path);
  EXPECT_EQ(f.config.arch, c.arch);
  EXPECT_EQ(f.config.activation, Activation::sigmoid);
  EXPECT_EQ(f.config.loss, MlpLoss::mse);
  EXPECT_EQ(f.outcome, "finished");
  ASSERT_TRUE(f.data.has_value());
  EXPECT_EQ(f.data->subset, 7u);
  EXPECT_EQ(f.data->label_noise, 0.25);
  EXPECT_EQ(f.state.model.predict(x), s.model.predict(x));
  EXPECT_EQ(f.state.steps, s.steps);

  // Not an MLP file; bad settings; bad architecture strings.
  write_safetensors(dir + "/other.safetensors", {}, {{"format", "onsager-rbm"}});
  EXPECT_THROW(load_mlp_model(dir + "/other.safetensors"), Error);
  EXPECT_THROW(parse_arch("784-0-10"), Error);
  EXPECT_THROW(parse_arch("784"), Error);
  EXPECT_THROW(parse_arch("784--10"), Error);
  EXPECT_THROW(parse_arch("784-3x"), Error);
  EXPECT_EQ(parse_arch("784-300-100-10"), (std::vector<int>{784, 300, 100, 10}));
  MlpConfig bad = c;
  bad.momentum = 1.0;
  EXPECT_THROW(bad.validate(), Error);
  bad = c;
  bad.batch_size = 0;
  EXPECT_THROW(init_mlp(bad), Error);
  std::vector<int> wrong = y;
  wrong[0] = 3;
  EXPECT_THROW(train_mlp(s, c, {x, wrong}, nullptr), Error);
  MatrixF narrow = x.leftCols(3);
  EXPECT_THROW(train_mlp(s, c, {narrow, y}, nullptr), Error);
}

}  // namespace
}  // namespace onsager
