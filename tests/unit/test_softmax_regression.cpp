// Multinomial logistic regression: the objective's gradient against finite differences, stationarity at the
// solution, accuracy on separable synthetic classes, thread independence and input validation.

#include <gtest/gtest.h>

#include <cmath>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/nn/softmax_regression.hpp"
#include "blobs.hpp"

namespace onsager {
namespace {

using testing::blobs;

TEST(SoftmaxRegression, GradientMatchesFiniteDifferences) {
  MatrixF x;
  std::vector<int> y;
  blobs(3000, 7, 4, 1.5, 1, x, y);  // more rows than one block, so the blocked sum is exercised
  Rng rng(2);
  MatrixD w(4, 7);
  VectorD c(4);
  for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = 0.3 * rng.normal();
  for (Eigen::Index i = 0; i < c.size(); ++i) c(i) = 0.3 * rng.normal();
  MatrixD g;
  softmax_regression_loss(x, y, w, c, 0.1, &g);
  const double h = 1e-5;
  for (Eigen::Index k = 0; k < 4; ++k)
    for (Eigen::Index i = 0; i <= 7; ++i) {
      MatrixD wp = w, wm = w;
      VectorD cp = c, cm = c;
      if (i < 7) {
        wp(k, i) += h;
        wm(k, i) -= h;
      } else {
        cp(k) += h;
        cm(k) -= h;
      }
      const double fd =
          (softmax_regression_loss(x, y, wp, cp, 0.1) - softmax_regression_loss(x, y, wm, cm, 0.1)) / (2 * h);
      EXPECT_NEAR(g(k, i), fd, 1e-7) << k << "," << i;
    }
}

TEST(SoftmaxRegression, SolutionIsStationaryAndClassifiesSeparableBlobs) {
  MatrixF all;
  std::vector<int> labels;
  blobs(2500, 10, 5, 0.5, 3, all, labels);  // 2,000 rows to fit, 500 held out
  const MatrixF x = all.topRows(2000), xt = all.bottomRows(500);
  const std::vector<int> y(labels.begin(), labels.begin() + 2000), yt(labels.begin() + 2000, labels.end());
  const SoftmaxRegression m = fit_softmax_regression(x, y, 5, {.l2 = 1e-3, .max_iters = 1000, .tol = 1e-8});
  MatrixD g;
  const double loss = softmax_regression_loss(x, y, m.weight, m.bias, 1e-3, &g);
  EXPECT_NEAR(loss, m.loss, 1e-12);
  EXPECT_LT(g.cwiseAbs().maxCoeff(), 1e-6) << m.status;
  EXPECT_GT(m.accuracy(x, y), 0.999);
  EXPECT_GT(m.accuracy(xt, yt), 0.99);
  // Probabilities are a distribution per row.
  const MatrixD p = m.probabilities(xt);
  EXPECT_LT((p.rowwise().sum().array() - 1.0).abs().maxCoeff(), 1e-12);
}

TEST(SoftmaxRegression, TwoClassesOnALineRecoverTheLogisticModel) {
  // y ~ Bernoulli(σ(a x + b)) with a = 2, b = -1; the multinomial fit with l2 = 0 has w1 - w0 = a and c1 - c0 = b,
  // up to the sampling error of 20,000 points.
  Rng rng(7);
  const Eigen::Index n = 20000;
  MatrixF x(n, 1);
  std::vector<int> y(static_cast<std::size_t>(n));
  for (Eigen::Index r = 0; r < n; ++r) {
    x(r, 0) = static_cast<float>(rng.normal());
    y[static_cast<std::size_t>(r)] = rng.uniform() < 1.0 / (1.0 + std::exp(-(2.0 * x(r, 0) - 1.0))) ? 1 : 0;
  }
  const SoftmaxRegression m = fit_softmax_regression(x, y, 2, {.l2 = 0.0, .max_iters = 1000, .tol = 1e-9});
  EXPECT_NEAR(m.weight(1, 0) - m.weight(0, 0), 2.0, 0.1);
  EXPECT_NEAR(m.bias(1) - m.bias(0), -1.0, 0.06);
}

TEST(SoftmaxRegression, SameFitForOneAndTwoThreads) {
  MatrixF x;
  std::vector<int> y;
  blobs(5000, 30, 10, 3.0, 4, x, y);
  set_num_threads(1);
  const SoftmaxRegression a = fit_softmax_regression(x, y, 10);
  set_num_threads(2);
  const SoftmaxRegression b = fit_softmax_regression(x, y, 10);
  set_num_threads(0);
  EXPECT_TRUE(a.weight == b.weight);
  EXPECT_EQ(a.iterations, b.iterations);
}

TEST(SoftmaxRegression, RejectsBadInput) {
  MatrixF x = MatrixF::Zero(4, 2);
  EXPECT_THROW(fit_softmax_regression(x, {0, 1, 2}, 3), Error);         // size mismatch
  EXPECT_THROW(fit_softmax_regression(x, {0, 1, 2, 3}, 3), Error);      // label out of range
  EXPECT_THROW(fit_softmax_regression(x, {0, 0, 0, 0}, 1), Error);      // one class
  EXPECT_THROW(fit_softmax_regression(x, {0, 1, 0, 1}, 2, {.l2 = -1}), Error);
  x(0, 0) = std::nanf("");
  EXPECT_THROW(fit_softmax_regression(x, {0, 1, 0, 1}, 2), Error);
  EXPECT_THROW(fit_softmax_regression(MatrixF(0, 2), {}, 2), Error);
}

}  // namespace
}  // namespace onsager
