#include "onsager/nn/softmax_regression.hpp"

#include <algorithm>
#include <cmath>

#include <lbfgs.h>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"

namespace onsager {
namespace {

// Row-wise softmax of the logits, in place; returns Σ_n log Σ_k exp(logit_nk) (the log-partition sum).
double softmax_rows(MatrixD& logits) {
  double log_norm = 0;
  for (Eigen::Index n = 0; n < logits.rows(); ++n) {
    auto row = logits.row(n);
    const double m = row.maxCoeff();
    row.array() = (row.array() - m).exp();
    const double s = row.sum();
    row /= s;
    log_norm += m + std::log(s);
  }
  return log_norm;
}

// Eigen's own product threading is switched off while a fit runs: the row blocks are the parallel unit, which
// keeps results independent of the thread count and avoids nested thread teams on tiny products.
class SerialEigen {
 public:
  SerialEigen() : saved_(Eigen::nbThreads()) { Eigen::setNbThreads(1); }
  ~SerialEigen() { Eigen::setNbThreads(saved_); }
  SerialEigen(const SerialEigen&) = delete;
  SerialEigen& operator=(const SerialEigen&) = delete;

 private:
  int saved_;
};

struct Problem {
  const std::vector<int>& labels;
  Eigen::Index k, d;
  double l2;
  MatrixD xd;          // x in double, N x D
  int iterations = 0;  // set by the progress callback
};

// L and ∂L at θ = [W (K x D, row-major) | c (K)]. Rows are processed in fixed blocks whose contributions are
// added in block order, so the value does not depend on the thread count.
double evaluate(const Problem& p, const double* theta, double* grad) {
  constexpr Eigen::Index kBlock = 1024;
  const Eigen::Map<const MatrixD> w(theta, p.k, p.d);
  const Eigen::Map<const VectorD> c(theta + p.k * p.d, p.k);
  const Eigen::Index rows = p.xd.rows(), blocks = (rows + kBlock - 1) / kBlock;
  std::vector<double> loss(static_cast<std::size_t>(blocks));
  std::vector<MatrixD> gw(static_cast<std::size_t>(grad ? blocks : 0));
  std::vector<VectorD> gc(gw.size());
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (rows * p.d * p.k > 1000000)
  for (Eigen::Index bi = 0; bi < blocks; ++bi) {
    const Eigen::Index lo = bi * kBlock, len = std::min(kBlock, rows - lo);
    const auto x = p.xd.middleRows(lo, len);
    MatrixD probs = x * w.transpose();
    probs.rowwise() += c.transpose();
    double l = 0;
    for (Eigen::Index r = 0; r < len; ++r) l -= probs(r, p.labels[static_cast<std::size_t>(lo + r)]);
    l += softmax_rows(probs);
    loss[static_cast<std::size_t>(bi)] = l;
    if (grad) {
      for (Eigen::Index r = 0; r < len; ++r) probs(r, p.labels[static_cast<std::size_t>(lo + r)]) -= 1.0;  // P - Y
      gw[static_cast<std::size_t>(bi)].noalias() = probs.transpose() * x;
      gc[static_cast<std::size_t>(bi)] = probs.colwise().sum().transpose();
    }
  }
  const auto n = static_cast<double>(rows);
  double data_term = 0;
  for (double l : loss) data_term += l;
  if (grad) {
    Eigen::Map<MatrixD> g_w(grad, p.k, p.d);
    Eigen::Map<VectorD> g_c(grad + p.k * p.d, p.k);
    g_w = p.l2 * w;
    g_c.setZero();
    for (std::size_t bi = 0; bi < gw.size(); ++bi) {
      g_w += gw[bi] / n;
      g_c += gc[bi] / n;
    }
  }
  return data_term / n + 0.5 * p.l2 * w.squaredNorm();
}

lbfgsfloatval_t lbfgs_evaluate(void* instance, const lbfgsfloatval_t* x, lbfgsfloatval_t* g, const int, const lbfgsfloatval_t) {
  return evaluate(*static_cast<const Problem*>(instance), x, g);
}

std::string status_text(int code) {
  switch (code) {
    case LBFGS_SUCCESS: return "converged";
    case LBFGS_STOP: return "stopped";
    case LBFGS_ALREADY_MINIMIZED: return "already at the minimum";
    case LBFGSERR_MAXIMUMITERATION: return "maximum iterations reached";
    case LBFGSERR_ROUNDING_ERROR: return "stopped by rounding error (at the attainable precision)";
    case LBFGSERR_MAXIMUMLINESEARCH: return "line search failed to improve (at the attainable precision)";
    default: return fmt::format("liblbfgs code {}", code);
  }
}

void check_inputs(const ConstMatrixFRef& x, const std::vector<int>& labels, int classes, const char* where) {
  ONSAGER_CHECK(x.rows() > 0 && x.cols() > 0, "{}: no data ({} x {})", where, x.rows(), x.cols());
  ONSAGER_CHECK(static_cast<std::size_t>(x.rows()) == labels.size(), "{}: {} rows but {} labels", where, x.rows(),
                labels.size());
  ONSAGER_CHECK(x.allFinite(), "{}: the data has NaN or Inf values", where);
  ONSAGER_CHECK(classes >= 2, "{}: need at least 2 classes (got {})", where, classes);
  for (std::size_t i = 0; i < labels.size(); ++i)
    ONSAGER_CHECK(labels[i] >= 0 && labels[i] < classes, "{}: label {} of row {} is not in 0..{}", where, labels[i], i,
                  classes - 1);
}

}  // namespace

double softmax_regression_loss(const ConstMatrixFRef& x, const std::vector<int>& labels, const MatrixD& weight,
                               const VectorD& bias, double l2, MatrixD* gradient) {
  const auto k = static_cast<int>(weight.rows());
  check_inputs(x, labels, k, "softmax_regression_loss");
  ONSAGER_CHECK(weight.cols() == x.cols() && bias.size() == k, "softmax_regression_loss: weight {}x{} and bias {} do not fit {} features",
                weight.rows(), weight.cols(), bias.size(), x.cols());
  const SerialEigen serial;
  const Problem p{labels, k, x.cols(), l2, x.cast<double>()};
  std::vector<double> theta(static_cast<std::size_t>(k * (x.cols() + 1)));
  Eigen::Map<MatrixD>(theta.data(), k, x.cols()) = weight;
  Eigen::Map<VectorD>(theta.data() + k * x.cols(), k) = bias;
  std::vector<double> g(theta.size());
  const double loss = evaluate(p, theta.data(), g.data());
  if (gradient) {
    gradient->resize(k, x.cols() + 1);
    gradient->leftCols(x.cols()) = Eigen::Map<const MatrixD>(g.data(), k, x.cols());
    gradient->col(x.cols()) = Eigen::Map<const VectorD>(g.data() + k * x.cols(), k);
  }
  return loss;
}

SoftmaxRegression fit_softmax_regression(const ConstMatrixFRef& x, const std::vector<int>& labels, int classes,
                                         const SoftmaxRegressionOptions& options) {
  constexpr const char* where = "softmax regression";
  check_inputs(x, labels, classes, where);
  ONSAGER_CHECK(std::isfinite(options.l2) && options.l2 >= 0, "{}: l2 must be >= 0 (got {})", where, options.l2);
  ONSAGER_CHECK(options.max_iters >= 1, "{}: max_iters must be >= 1 (got {})", where, options.max_iters);
  ONSAGER_CHECK(std::isfinite(options.tol) && options.tol > 0, "{}: tol must be > 0 (got {})", where, options.tol);
  const SerialEigen serial;
  Problem p{labels, classes, x.cols(), options.l2, x.cast<double>()};
  const auto n = static_cast<int>(classes * (x.cols() + 1));
  lbfgsfloatval_t* theta = lbfgs_malloc(n);
  ONSAGER_CHECK(theta != nullptr, "{}: cannot allocate {} parameters", where, n);
  std::fill(theta, theta + n, 0.0);
  lbfgs_parameter_t param;
  lbfgs_parameter_init(&param);
  param.max_iterations = options.max_iters;
  param.epsilon = options.tol;
  param.past = 0;
  lbfgsfloatval_t fx = 0;
  const int code = lbfgs(
      n, theta, &fx, lbfgs_evaluate,
      [](void* instance, const lbfgsfloatval_t*, const lbfgsfloatval_t*, const lbfgsfloatval_t, const lbfgsfloatval_t,
         const lbfgsfloatval_t, const lbfgsfloatval_t, int, int k, int) -> int {
        static_cast<Problem*>(instance)->iterations = k;
        return 0;
      },
      &p, &param);
  SoftmaxRegression out;
  out.weight = Eigen::Map<const MatrixD>(theta, classes, x.cols());
  out.bias = Eigen::Map<const VectorD>(theta + classes * x.cols(), classes);
  lbfgs_free(theta);
  ONSAGER_CHECK(code >= 0 || code == LBFGSERR_MAXIMUMITERATION || code == LBFGSERR_ROUNDING_ERROR ||
                    code == LBFGSERR_MAXIMUMLINESEARCH,
                "{}: L-BFGS failed ({})", where, status_text(code));
  out.loss = fx;
  out.iterations = p.iterations;
  out.status = status_text(code);
  return out;
}

MatrixD SoftmaxRegression::probabilities(const ConstMatrixFRef& x) const {
  ONSAGER_CHECK(x.cols() == weight.cols(), "softmax regression: the data has {} features, the model {}", x.cols(),
                weight.cols());
  const SerialEigen serial;
  MatrixD logits = x.cast<double>() * weight.transpose();
  logits.rowwise() += bias.transpose();
  softmax_rows(logits);
  return logits;
}

std::vector<int> SoftmaxRegression::predict(const ConstMatrixFRef& x) const {
  const MatrixD p = probabilities(x);
  std::vector<int> out(static_cast<std::size_t>(p.rows()));
  for (Eigen::Index r = 0; r < p.rows(); ++r) p.row(r).maxCoeff(&out[static_cast<std::size_t>(r)]);
  return out;
}

double SoftmaxRegression::accuracy(const ConstMatrixFRef& x, const std::vector<int>& labels) const {
  ONSAGER_CHECK(static_cast<std::size_t>(x.rows()) == labels.size() && x.rows() > 0,
                "softmax regression: {} rows but {} labels", x.rows(), labels.size());
  const std::vector<int> pred = predict(x);
  std::size_t right = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == labels[i];
  return static_cast<double>(right) / static_cast<double>(pred.size());
}

}  // namespace onsager
