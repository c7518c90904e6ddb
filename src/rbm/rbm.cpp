#include "onsager/rbm/rbm.hpp"

#include <cmath>
#include <limits>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"

namespace onsager {

Rbm::Rbm(Eigen::Index visible, Eigen::Index hidden) {
  ONSAGER_CHECK(visible > 0 && hidden > 0, "Rbm: sizes must be positive (got {} visible, {} hidden)", visible,
                hidden);
  weight = MatrixF::Zero(hidden, visible);
  visible_bias = VectorF::Zero(visible);
  hidden_bias = VectorF::Zero(hidden);
}

Rbm Rbm::random(Eigen::Index visible, Eigen::Index hidden, float std, std::uint64_t seed) {
  Rbm rbm(visible, hidden);
  Rng rng(seed);
  for (Eigen::Index i = 0; i < rbm.weight.size(); ++i) rbm.weight.data()[i] = static_cast<float>(std * rng.normal());
  return rbm;
}

void Rbm::validate(const char* where) const {
  ONSAGER_CHECK(weight.rows() > 0 && weight.cols() > 0, "{}: the model has an empty weight matrix", where);
  ONSAGER_CHECK(visible_bias.size() == weight.cols() && hidden_bias.size() == weight.rows(),
                "{}: inconsistent shapes (weight {}x{}, visible_bias {}, hidden_bias {})", where, weight.rows(),
                weight.cols(), visible_bias.size(), hidden_bias.size());
  ONSAGER_CHECK(weight.allFinite() && visible_bias.allFinite() && hidden_bias.allFinite(),
                "{}: the model has NaN or Inf parameters", where);
  ONSAGER_CHECK(log_var.size() == 0 || log_var.size() == weight.cols(),
                "{}: inconsistent shapes (log_var has {} entries, the model {} visible units)", where, log_var.size(),
                weight.cols());
  ONSAGER_CHECK(log_var.allFinite(), "{}: the model has NaN or Inf variances (log_var)", where);
  ONSAGER_CHECK(log_var.size() == 0 || log_var.cwiseAbs().maxCoeff() <= kMaxAbsLogVar,
                "{}: a variance is outside [1e-30, 1e30] (log_var in {} .. {}), beyond float's range of 1/σ²", where,
                log_var.size() ? log_var.minCoeff() : 0.0f, log_var.size() ? log_var.maxCoeff() : 0.0f);
}

void Rbm::require_bernoulli(const char* where) const {
  ONSAGER_CHECK(!gaussian(), "{}: this is a Gaussian-Bernoulli RBM; only Bernoulli RBMs are supported here", where);
}

VectorF Rbm::precision() const { return (-log_var.array()).exp().matrix(); }

double Rbm::energy(const Eigen::Ref<const VectorF>& v, const Eigen::Ref<const VectorF>& h) const {
  const VectorD vd = v.cast<double>(), hd = h.cast<double>();
  if (gaussian()) {
    const Eigen::ArrayXd prec = (-log_var.cast<double>().array()).exp();
    const Eigen::ArrayXd d = vd.array() - visible_bias.cast<double>().array();
    return 0.5 * (d.square() * prec).sum() - hidden_bias.cast<double>().dot(hd) -
           hd.dot(weight.cast<double>() * (vd.array() * prec).matrix());
  }
  return -visible_bias.cast<double>().dot(vd) - hidden_bias.cast<double>().dot(hd) -
         hd.dot(weight.cast<double>() * vd);
}

void sigmoid_inplace(MatrixFRef x) {
  const Eigen::Index rows = x.rows();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (x.size() > 32768)
  for (Eigen::Index r = 0; r < rows; ++r) {
    auto row = x.row(r).array();
    row = (1.0f + (-row).exp()).inverse();
  }
}

double softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

void Rbm::hidden_probs(const ConstMatrixFRef& v, MatrixFRef out) const {
  ONSAGER_CHECK(v.cols() == num_visible(), "hidden_probs: batch has {} columns, the model {} visible units", v.cols(),
                num_visible());
  out.rowwise() = hidden_bias.transpose();
  if (gaussian()) {
    const MatrixF scaled = v.array().rowwise() * precision().transpose().array();
    gemm(1.0f, scaled, Trans::no, weight, Trans::yes, 1.0f, out);
  } else {
    gemm(1.0f, v, Trans::no, weight, Trans::yes, 1.0f, out);
  }
  sigmoid_inplace(out);
}

MatrixF Rbm::hidden_probs(const ConstMatrixFRef& v) const {
  MatrixF out(v.rows(), num_hidden());
  hidden_probs(v, out);
  return out;
}

void Rbm::visible_probs(const ConstMatrixFRef& h, MatrixFRef out) const {
  ONSAGER_CHECK(h.cols() == num_hidden(), "visible_probs: batch has {} columns, the model {} hidden units", h.cols(),
                num_hidden());
  out.rowwise() = visible_bias.transpose();
  gemm(1.0f, h, Trans::no, weight, Trans::no, 1.0f, out);
  if (!gaussian()) sigmoid_inplace(out);
}

MatrixF Rbm::visible_probs(const ConstMatrixFRef& h) const {
  MatrixF out(h.rows(), num_visible());
  visible_probs(h, out);
  return out;
}

VectorD Rbm::free_energy(const ConstMatrixFRef& v) const {
  ONSAGER_CHECK(v.cols() == num_visible(), "free_energy: batch has {} columns, the model {} visible units", v.cols(),
                num_visible());
  MatrixF pre(v.rows(), num_hidden());
  pre.rowwise() = hidden_bias.transpose();
  const bool g = gaussian();
  const VectorF prec = g ? precision() : VectorF();
  if (g) {
    const MatrixF scaled = v.array().rowwise() * prec.transpose().array();
    gemm(1.0f, scaled, Trans::no, weight, Trans::yes, 1.0f, pre);
  } else {
    gemm(1.0f, v, Trans::no, weight, Trans::yes, 1.0f, pre);
  }
  VectorD f(v.rows());
  const Eigen::Index rows = v.rows();
  const VectorD b = visible_bias.cast<double>(), precd = prec.cast<double>();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (rows > 64)
  for (Eigen::Index r = 0; r < rows; ++r) {
    double s = 0;
    for (Eigen::Index j = 0; j < pre.cols(); ++j) s += softplus(pre(r, j));
    if (g) {
      const Eigen::ArrayXd d = v.row(r).transpose().cast<double>().array() - b.array();
      f(r) = 0.5 * (d.square() * precd.array()).sum() - s;
    } else {
      f(r) = -v.row(r).cast<double>().dot(b) - s;
    }
  }
  return f;
}

double Rbm::reconstruction_error(const ConstMatrixFRef& v) const {
  if (v.rows() == 0) return 0.0;
  const MatrixF h = hidden_probs(v);
  const MatrixF r = visible_probs(h);
  return (r - v).cast<double>().squaredNorm() / static_cast<double>(v.size());
}

double Rbm::pseudo_likelihood(const ConstMatrixFRef& v, std::uint64_t seed) const {
  if (gaussian()) return std::numeric_limits<double>::quiet_NaN();
  if (v.rows() == 0) return 0.0;
  MatrixF flipped = v;
  Rng rng(seed);
  for (Eigen::Index r = 0; r < flipped.rows(); ++r) {
    const auto i = static_cast<Eigen::Index>(rng.below(static_cast<std::uint64_t>(flipped.cols())));
    flipped(r, i) = 1.0f - flipped(r, i);
  }
  const VectorD f = free_energy(v);
  const VectorD g = free_energy(flipped);
  double sum = 0;
  for (Eigen::Index r = 0; r < f.size(); ++r) sum += -softplus(f(r) - g(r));  // log σ(g - f)
  return sum / static_cast<double>(f.size());
}

void sample_bernoulli(MatrixFRef probs, std::uint64_t seed, std::uint64_t tag, std::uint64_t step) {
  const Eigen::Index rows = probs.rows(), cols = probs.cols();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (probs.size() > 32768)
  for (Eigen::Index r = 0; r < rows; ++r) {
    const std::uint64_t key = stream_seed(seed, tag, step, static_cast<std::uint64_t>(r));
    float* p = &probs(r, 0);
    for (Eigen::Index j = 0; j < cols; ++j)
      p[j] = counter_uniform(key, static_cast<std::uint32_t>(j)) < p[j] ? 1.0f : 0.0f;
  }
}

void sample_gaussian(MatrixFRef means, const ConstVectorFRef& sigma, std::uint64_t seed, std::uint64_t tag,
                     std::uint64_t step) {
  ONSAGER_CHECK(sigma.size() == means.cols(), "sample_gaussian: {} standard deviations for {} columns", sigma.size(),
                means.cols());
  const Eigen::Index rows = means.rows(), cols = means.cols();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (means.size() > 16384)
  for (Eigen::Index r = 0; r < rows; ++r) {
    const std::uint64_t key = stream_seed(seed, tag, step, static_cast<std::uint64_t>(r));
    for (Eigen::Index i = 0; i < cols; ++i) means(r, i) += sigma(i) * counter_normal(key, static_cast<std::uint32_t>(i));
  }
}

void gibbs_sample(const Rbm& rbm, MatrixFRef v, int steps, std::uint64_t seed) {
  MatrixF h(v.rows(), rbm.num_hidden());
  const VectorF sigma = rbm.gaussian() ? VectorF((0.5f * rbm.log_var.array()).exp().matrix()) : VectorF();
  for (int s = 0; s < steps; ++s) {
    rbm.hidden_probs(v, h);
    sample_bernoulli(h, seed, 0, static_cast<std::uint64_t>(2 * s));
    rbm.visible_probs(h, v);
    if (rbm.gaussian())
      sample_gaussian(v, sigma, seed, 0, static_cast<std::uint64_t>(2 * s + 1));
    else
      sample_bernoulli(v, seed, 0, static_cast<std::uint64_t>(2 * s + 1));
  }
}

}  // namespace onsager
