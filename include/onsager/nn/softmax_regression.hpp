#pragma once
// Multinomial logistic (softmax) regression, trained by L-BFGS (liblbfgs) on the L2-regularised mean
// cross-entropy
//   L(W, c) = -1/N Σ_n log softmax(W x_n + c)_{y_n} + (l2 / 2) ‖W‖_F²      (the bias c is not penalised),
// with gradient ∂L/∂W = (P - Y)ᵀ X / N + l2 W, ∂L/∂c = Σ_n (p_n - y_n) / N. scikit-learn's
// LogisticRegression(multinomial, C) minimises N times this objective with l2 = 1 / (C N), so the two find the
// same optimum. Used to measure how linearly useful an RBM's hidden features are (docs/rbm-features.md).
// Arithmetic in double; samples are rows (core/matrix.hpp).

#include <string>
#include <vector>

#include "onsager/core/matrix.hpp"

namespace onsager {

struct SoftmaxRegressionOptions {
  double l2 = 1e-4;     ///< weight decay (>= 0)
  int max_iters = 500;  ///< L-BFGS iterations at most (>= 1)
  double tol = 1e-6;    ///< stop when ‖∇L‖ / max(1, ‖θ‖) is below this (> 0)
};

struct SoftmaxRegression {
  MatrixD weight;  ///< K x D
  VectorD bias;    ///< K
  double loss = 0;        ///< the objective at the solution
  int iterations = 0;     ///< L-BFGS iterations run
  std::string status;     ///< liblbfgs's outcome, in words ("converged", "maximum iterations reached", ...)

  /// Class probabilities (N x K) of the rows of x (N x D). Throws on a column-count mismatch.
  MatrixD probabilities(const ConstMatrixFRef& x) const;
  /// The most probable class of each row.
  std::vector<int> predict(const ConstMatrixFRef& x) const;
  /// Fraction of rows whose predicted class equals the label. Throws on a size mismatch.
  double accuracy(const ConstMatrixFRef& x, const std::vector<int>& labels) const;
};

/// The objective L and its gradient (K x (D + 1): weight columns, then the bias) at (weight, bias), for tests.
double softmax_regression_loss(const ConstMatrixFRef& x, const std::vector<int>& labels, const MatrixD& weight,
                               const VectorD& bias, double l2, MatrixD* gradient = nullptr);

/// Fits on x (N x D, finite) with labels in 0..classes-1. Throws onsager::Error on empty or non-finite data, a
/// label out of range, a size mismatch or bad options; an L-BFGS stop short of the tolerance is reported in
/// `status`, not thrown.
SoftmaxRegression fit_softmax_regression(const ConstMatrixFRef& x, const std::vector<int>& labels, int classes,
                                         const SoftmaxRegressionOptions& options = {});

}  // namespace onsager
