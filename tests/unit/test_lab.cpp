// The lab's experiments: Spearman's ρ against hand-computed values, the temperature measures on RBMs whose
// hidden probabilities are known in closed form, and the batch-size and random-labels reports against the MLP
// trainer run directly with the same settings (each run is that training, and the summaries are the runs'
// means and standard deviations).

#include <gtest/gtest.h>

#include <cmath>

#include "onsager/core/error.hpp"
#include "onsager/lab/mlp_lab.hpp"
#include "onsager/lab/rbm_temperature.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

TEST(Lab, SpearmanRhoMatchesHandComputedValues) {
  EXPECT_DOUBLE_EQ(spearman_rho({1, 2, 3, 4, 5}, {2, 4, 6, 8, 100}), 1.0);
  EXPECT_DOUBLE_EQ(spearman_rho({1, 2, 3, 4, 5}, {5, 3, 2, 1, 0}), -1.0);
  // Ties get their mean rank: y ranks 1.5, 1.5, 3, 4 against 1..4 gives 4.5 / sqrt(5 * 4.5).
  EXPECT_NEAR(spearman_rho({1, 2, 3, 4}, {7, 7, 8, 9}), 4.5 / std::sqrt(22.5), 1e-15);
  // NaN pairs are dropped; fewer than three pairs or a constant side give NaN.
  EXPECT_DOUBLE_EQ(spearman_rho({1, 2, NAN, 3}, {1, 2, 5, 3}), 1.0);
  EXPECT_TRUE(std::isnan(spearman_rho({1, 2}, {1, 2})));
  EXPECT_TRUE(std::isnan(spearman_rho({1, 2, 3}, {4, 4, 4})));
  EXPECT_THROW(spearman_rho({1, 2, 3}, {1, 2}), Error);
}

TEST(Lab, TemperatureMeasuresOfKnownHiddenProbabilities) {
  Rbm rbm;
  rbm.weight = MatrixF::Zero(4, 3);
  rbm.visible_bias = VectorF::Zero(3);
  rbm.hidden_bias = VectorF::Zero(4);
  MatrixF v = MatrixF::Ones(5, 3);
  TemperatureEpoch e;
  measure_temperature(rbm, v, 0.01, e);  // p = 1/2 everywhere: nothing saturated, one bit each
  EXPECT_DOUBLE_EQ(e.saturated, 0.0);
  EXPECT_NEAR(e.hidden_entropy, 1.0, 1e-12);
  rbm.hidden_bias << 0, 0, 10, -10;  // p = 1/2, 1/2, σ(10), σ(-10)
  measure_temperature(rbm, v, 0.01, e);
  EXPECT_DOUBLE_EQ(e.saturated, 0.5);
  const double s = 1.0 / (1.0 + std::exp(-10.0f));
  const double h = -(s * std::log2(s) + (1 - s) * std::log2(1 - s));
  EXPECT_NEAR(e.hidden_entropy, (2.0 + 2.0 * h) / 4.0, 1e-6);
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

TEST(LabDigits, BatchSizeRunsAreTheTrainersRunsAndSummariesTheirMoments) {
  BatchSizeOptions o;
  o.data = {.source = "digits", .test_split = "test"};
  o.training.arch = {64, 16, 10};
  o.training.epochs = 3;
  o.batches = {4, 64};
  o.seeds = 2;
  o.seed = 7;
  LabReport r;
  try {
    r = run_batch_size(o);
  } catch (const Error& e) {
    ONSAGER_MISSING("digits: " << e.what());
  }
  ASSERT_EQ(r.runs.size(), 4u);
  ASSERT_EQ(r.summary.size(), 4u);  // 2 batch sizes x 2 layers
  // Run (batch 64, seed 8) is mlp training with the same settings.
  MlpConfig c;
  c.arch = o.training.arch;
  c.batch_size = 64;
  c.lr = o.training.lr;
  c.momentum = o.training.momentum;
  c.lr_decay = o.training.lr_decay;
  c.epochs = o.training.epochs;
  c.early_stop = o.training.early_stop;
  c.early_stop_min_delta = o.training.early_stop_min_delta;
  c.seed = 8;
  c.spectra = false;
  const MlpData d = load_mlp_data(o.data, 64, 10, o.seed);
  MlpState s = init_mlp(c);
  const LabelledRows train{d.train.x, d.train.labels}, test{d.test.x, d.test.labels};
  train_mlp(s, c, train, &test);
  const LabRun& run = r.runs[3];
  EXPECT_EQ(run.batch, 64);
  EXPECT_EQ(run.seed, 8u);
  EXPECT_EQ(run.epochs, s.epochs_done);
  EXPECT_EQ(run.test_accuracy, s.history.back().test_accuracy);
  EXPECT_EQ(run.layers[0].alpha, layer_spectrum(s.model, 0).alpha);
  EXPECT_EQ(run.layers[1].stable_rank, layer_spectrum(s.model, 1).stable_rank);
  // The summary of (batch 4, layer 0) is the mean and sample sd of the two seeds' values.
  const LabSummary& first = r.summary[0];
  EXPECT_EQ(first.batch, 4);
  EXPECT_EQ(first.layer, "layers.0.weight");
  const std::vector<double> alphas = {r.runs[0].layers[0].alpha, r.runs[1].layers[0].alpha};
  EXPECT_NEAR(first.alpha.mean, mean_of(alphas), 1e-12);
  EXPECT_NEAR(first.alpha.sd, std::abs(alphas[0] - alphas[1]) / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(first.test_accuracy.mean, (r.runs[0].test_accuracy + r.runs[1].test_accuracy) / 2, 1e-12);
  EXPECT_FALSE(r.runs[0].first_layer.evals.empty());
  // The correlations include every layer metric and the run scores.
  bool found = false;
  for (const LabCorrelation& k : r.correlations) found = found || (k.layer == "layers.0.weight" && k.metric == "alpha");
  EXPECT_TRUE(found);
  const std::string csv = lab_runs_csv(r);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 4 * 2);
}

TEST(LabDigits, RandomLabelsRandomizeTheAskedFraction) {
  RandomLabelsOptions o;
  o.data = {.source = "digits", .test_split = "test", .subset = 300};
  o.archs = {{64, 32, 10}};
  o.fractions = {0.0, 1.0};
  o.training.epochs = 30;
  o.training.batch_size = 16;
  o.training.stop_accuracy = 0.99;
  LabReport r;
  try {
    r = run_random_labels(o);
  } catch (const Error& e) {
    ONSAGER_MISSING("digits: " << e.what());
  }
  ASSERT_EQ(r.runs.size(), 2u);
  EXPECT_EQ(r.train_rows, 300u);
  EXPECT_EQ(r.runs[1].fraction, 1.0);
  // Clean labels generalise; with every label random the test accuracy is near chance (10 classes; 360 test
  // rows, binomial sd 1.6%).
  EXPECT_GT(r.runs[0].test_accuracy, 0.8);
  EXPECT_LT(r.runs[1].test_accuracy, 0.2);
  EXPECT_GT(r.runs[1].train_accuracy, r.runs[1].test_accuracy);
  RandomLabelsOptions bad = o;
  bad.fractions = {1.5};
  EXPECT_THROW(run_random_labels(bad), Error);
  bad = o;
  bad.archs = {{64, 32, 10}, {32, 10}};
  EXPECT_THROW(run_random_labels(bad), Error);
}

}  // namespace
}  // namespace onsager
