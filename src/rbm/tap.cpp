// EMF / TAP free energy of an RBM (Gabrié, Tramel & Krzakala 2015; docs/tap.md).
//
// Every quantity comes from one list of Plefka terms: term k (k = 2, 3) of Γ is
//   -α_k Σ_ji W_ji^k u_k(m_hj) u_k(m_vi),   α_2 = ½, u_2(m) = m - m²;   α_3 = ⅔, u_3(m) = (m - m²)(½ - m),
// so that ∂Γ/∂m_h = logit(m_h) - field_h with field_h = c + W m_v + Σ_k α_k u_k'(m_h) ⊙ (W^∘k u_k(m_v))
// (the fixed point is m_h = σ(field_h), and likewise for m_v), and ∂Γ/∂W = -m_h m_vᵀ - Σ_k k α_k W^(k-1) ⊙ u_k(m_h) u_k(m_v)ᵀ.
// The fields are written once, templated on the scalar: float with the project's GEMM for the iteration and
// the training gradient, double with Eigen products for Γ and the stationarity residual.

#include "onsager/rbm/tap.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"

namespace onsager {
namespace detail {
namespace {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

int order_int(TapOrder order) { return static_cast<int>(order); }

// The Plefka terms: coefficient, u_k and u_k'.
constexpr double tap_alpha(int k) { return k == 2 ? 0.5 : 2.0 / 3.0; }

template <class T>
T tap_u(int k, T m) {
  const T a = m - m * m;
  return k == 2 ? a : a * (T(0.5) - m);
}

template <class T>
T tap_du(int k, T m) {
  return k == 2 ? T(1) - T(2) * m : T(0.5) - T(3) * m + T(3) * m * m;
}

template <class T>
Mat<T> apply_u(int k, const Eigen::Ref<const Mat<T>>& m) {
  return m.unaryExpr([k](T x) { return tap_u<T>(k, x); });
}

// x ln x with 0 ln 0 = 0.
double xlogx(double x) { return x > 0 ? x * std::log(x) : 0.0; }

// W, W², W³ (as many as the order needs) in scalar T.
template <class T>
struct Powers {
  Mat<T> w[3];  // w[k-1] = W^∘k
  Powers(const MatrixF& weight, TapOrder order) {
    const int o = order_int(order);
    const Eigen::Index rows = weight.rows();
    w[0].resize(rows, weight.cols());
    if (o >= 2) w[1].resize(rows, weight.cols());
    if (o >= 3) w[2].resize(rows, weight.cols());
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (weight.size() > 65536)
    for (Eigen::Index r = 0; r < rows; ++r) {
      w[0].row(r) = weight.row(r).template cast<T>();
      if (o >= 2) w[1].row(r) = w[0].row(r).array().square().matrix();
      if (o >= 3) w[2].row(r) = (w[1].row(r).array() * w[0].row(r).array()).matrix();
    }
  }
};

// out = a · op(w), op = transpose when `transpose`; float through the project's GEMM, double through Eigen.
void product(const Eigen::Ref<const Mat<float>>& a, const Mat<float>& w, bool transpose, Mat<float>& out) {
  out.resize(a.rows(), transpose ? w.rows() : w.cols());
  gemm(1.0f, a, Trans::no, w, transpose ? Trans::yes : Trans::no, 0.0f, out);
}

void product(const Eigen::Ref<const Mat<double>>& a, const Mat<double>& w, bool transpose, Mat<double>& out) {
  out.resize(a.rows(), transpose ? w.rows() : w.cols());
  gemm(1.0, a, Trans::no, w, transpose ? Trans::yes : Trans::no, 0.0, out);
}

// The field of one layer given the other: field_out = bias + m_in·op(W) + Σ_k α_k u_k'(m_out) ⊙ (u_k(m_in)·op(W^k)).
// Hidden layer: transpose = true (m_in = m_v, rows of W); visible: transpose = false.
template <class T>
void layer_field(const Powers<T>& p, const Vec<T>& bias, const Eigen::Ref<const Mat<T>>& m_in,
                 const Eigen::Ref<const Mat<T>>& m_out, bool transpose, TapOrder order, Mat<T>& field) {
  product(m_in, p.w[0], transpose, field);
  field.rowwise() += bias.transpose();
  Mat<T> reaction;
  for (int k = 2; k <= order_int(order); ++k) {
    product(apply_u<T>(k, m_in), p.w[k - 1], transpose, reaction);
    const T alpha = static_cast<T>(tap_alpha(k));
    field.array() += alpha * m_out.unaryExpr([k](T x) { return tap_du<T>(k, x); }).array() * reaction.array();
  }
}

// One damped update of a layer in float, for the iteration: field as layer_field computes it, then
// m_out ← m_out + (1-d)(σ(field) - m_out), row-parallel and fused; change(r) becomes max(change(r), max_j |Δm_rj|).
// The element-wise work runs on all threads, so the sweep is not bound by one core between its GEMMs.
struct SweepBuffers {
  Mat<float> field, u, reaction[2];
};

void update_layer(const Powers<float>& p, const VectorF& bias, const Mat<float>& m_in, Mat<float>& m_out, bool transpose,
                  TapOrder order, float d, SweepBuffers& buf, VectorF& change) {
  const int o = order_int(order);
  const Eigen::Index rows = m_in.rows();
  product(m_in, p.w[0], transpose, buf.field);
  for (int k = 2; k <= o; ++k) {
    buf.u.resize(m_in.rows(), m_in.cols());
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (m_in.size() > 32768)
    for (Eigen::Index r = 0; r < rows; ++r)
      buf.u.row(r) = m_in.row(r).unaryExpr([k](float x) { return tap_u<float>(k, x); });
    product(buf.u, p.w[k - 1], transpose, buf.reaction[k - 2]);
  }
  const float keep = 1.0f - d;
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (m_out.size() > 32768)
  for (Eigen::Index r = 0; r < rows; ++r) {
    auto f = buf.field.row(r).array();
    auto m = m_out.row(r).array();
    f += bias.transpose().array();
    for (int k = 2; k <= o; ++k)
      f += static_cast<float>(tap_alpha(k)) * m.unaryExpr([k](float x) { return tap_du<float>(k, x); }) *
           buf.reaction[k - 2].row(r).array();
    f = keep * ((1.0f + (-f).exp()).inverse() - m);  // the damped step Δm
    m += f;
    change(r) = std::max(change(r), f.abs().maxCoeff());
  }
}

void check_order(TapOrder order, const char* where) {
  const int o = order_int(order);
  ONSAGER_CHECK(o >= 1 && o <= 3, "{}: TAP order must be 1 (naive), 2 or 3 (got {})", where, o);
}

void check_magnetisations(const Rbm& rbm, Eigen::Index rows_v, Eigen::Index cols_v, Eigen::Index rows_h,
                          Eigen::Index cols_h, const char* where) {
  ONSAGER_CHECK(cols_v == rbm.num_visible(), "{}: m_v has {} columns, the model {} visible units", where, cols_v,
                rbm.num_visible());
  ONSAGER_CHECK(cols_h == rbm.num_hidden(), "{}: m_h has {} columns, the model {} hidden units", where, cols_h,
                rbm.num_hidden());
  ONSAGER_CHECK(rows_v == rows_h, "{}: m_v has {} rows but m_h has {}", where, rows_v, rows_h);
}

template <class Derived>
void check_unit_interval(const Eigen::DenseBase<Derived>& m, const char* where, const char* name) {
  // Written so that NaN fails too.
  ONSAGER_CHECK((m.derived().array() >= 0).all() && (m.derived().array() <= 1).all(),
                "{}: {} must hold values in [0, 1] (no NaN)", where, name);
}

}  // namespace
}  // namespace detail

using detail::Mat;

std::string_view to_string(TapOrder order) {
  switch (order) {
    case TapOrder::naive: return "naive";
    case TapOrder::second: return "tap2";
    case TapOrder::third: return "tap3";
  }
  return "?";
}

TapOrder parse_tap_order(std::string_view s) {
  if (s == "naive" || s == "mf" || s == "1") return TapOrder::naive;
  if (s == "tap2" || s == "2") return TapOrder::second;
  if (s == "tap3" || s == "3") return TapOrder::third;
  ONSAGER_FAIL("parse_tap_order: order must be naive, tap2 or tap3 (got '{}')", std::string(s));
}

void TapOptions::validate(const char* where) const {
  detail::check_order(order, where);
  ONSAGER_CHECK(max_iters >= 1, "{}: options.max_iters (the sweep cap) must be >= 1 (got {})", where, max_iters);
  ONSAGER_CHECK(damping >= 0.0f && damping < 1.0f, "{}: options.damping must be in [0, 1) (got {})", where, damping);
  ONSAGER_CHECK(tol >= 0.0 && std::isfinite(tol), "{}: options.tol must be finite and >= 0 (got {})", where, tol);
}

TapFixedPoint tap_iterate(const Rbm& rbm, MatrixF m_v, MatrixF m_h, const TapOptions& options) {
  constexpr const char* where = "tap_iterate";
  rbm.validate(where);
  rbm.require_bernoulli(where);
  options.validate(where);
  detail::check_magnetisations(rbm, m_v.rows(), m_v.cols(), m_h.rows(), m_h.cols(), where);
  detail::check_unit_interval(m_v, where, "m_v");
  detail::check_unit_interval(m_h, where, "m_h");
  return detail::tap_iterate_unchecked(rbm, std::move(m_v), std::move(m_h), options);
}

TapFixedPoint detail::tap_iterate_unchecked(const Rbm& rbm, MatrixF m_v, MatrixF m_h, const TapOptions& options) {
  const Eigen::Index rows = m_v.rows();
  const detail::Powers<float> p(rbm.weight, options.order);
  const VectorF& b = rbm.visible_bias;
  const VectorF& c = rbm.hidden_bias;
  const float d = options.damping;

  TapFixedPoint fp;
  fp.iterations.assign(static_cast<std::size_t>(rows), -1);
  // The rows still iterating, gathered into compact working copies; a row is frozen (scattered back) once its
  // change in a sweep falls below tol.
  std::vector<Eigen::Index> active(static_cast<std::size_t>(rows));
  for (Eigen::Index r = 0; r < rows; ++r) active[static_cast<std::size_t>(r)] = r;
  MatrixF wv = m_v, wh = m_h;
  detail::SweepBuffers buf;
  VectorF change;
  for (int sweep = 1; sweep <= options.max_iters && !active.empty(); ++sweep) {
    fp.sweeps = sweep;
    change.setZero(wv.rows());
    detail::update_layer(p, c, wv, wh, true, options.order, d, buf, change);
    detail::update_layer(p, b, wh, wv, false, options.order, d, buf, change);

    std::vector<Eigen::Index> still;
    std::vector<Eigen::Index> keep;
    for (std::size_t a = 0; a < active.size(); ++a) {
      const Eigen::Index r = active[a];
      if (static_cast<double>(change(static_cast<Eigen::Index>(a))) < options.tol) {
        m_v.row(r) = wv.row(static_cast<Eigen::Index>(a));
        m_h.row(r) = wh.row(static_cast<Eigen::Index>(a));
        fp.iterations[static_cast<std::size_t>(r)] = sweep;
      } else {
        still.push_back(r);
        keep.push_back(static_cast<Eigen::Index>(a));
      }
    }
    if (still.size() != active.size()) {
      MatrixF nv = wv(keep, Eigen::all), nh = wh(keep, Eigen::all);
      wv = std::move(nv);
      wh = std::move(nh);
      active = std::move(still);
    }
  }
  for (std::size_t a = 0; a < active.size(); ++a) {
    m_v.row(active[a]) = wv.row(static_cast<Eigen::Index>(a));
    m_h.row(active[a]) = wh.row(static_cast<Eigen::Index>(a));
  }
  fp.num_converged = static_cast<int>(rows - static_cast<Eigen::Index>(active.size()));
  fp.converged = active.empty();
  fp.m_v = std::move(m_v);
  fp.m_h = std::move(m_h);
  return fp;
}

TapFixedPoint tap_fixed_point(const Rbm& rbm, const ConstMatrixFRef& m_v0, const TapOptions& options) {
  constexpr const char* where = "tap_fixed_point";
  rbm.validate(where);
  rbm.require_bernoulli(where);
  ONSAGER_CHECK(m_v0.cols() == rbm.num_visible(), "{}: m_v0 has {} columns, the model {} visible units", where,
                m_v0.cols(), rbm.num_visible());
  detail::check_unit_interval(m_v0, where, "m_v0");
  MatrixF m_h = rbm.hidden_probs(m_v0);
  return tap_iterate(rbm, MatrixF(m_v0), std::move(m_h), options);
}

TapFreeEnergyParts tap_free_energy_parts(const Rbm& rbm, const Eigen::Ref<const MatrixD>& m_v,
                                         const Eigen::Ref<const MatrixD>& m_h, TapOrder order) {
  constexpr const char* where = "tap_free_energy";
  rbm.validate(where);
  rbm.require_bernoulli(where);
  detail::check_order(order, where);
  detail::check_magnetisations(rbm, m_v.rows(), m_v.cols(), m_h.rows(), m_h.cols(), where);
  detail::check_unit_interval(m_v, where, "m_v");
  detail::check_unit_interval(m_h, where, "m_h");
  const detail::Powers<double> p(rbm.weight, order);
  const auto entropy = [](const Eigen::Ref<const MatrixD>& m) -> VectorD {
    return -m.unaryExpr([](double x) { return detail::xlogx(x) + detail::xlogx(1.0 - x); }).rowwise().sum();
  };
  TapFreeEnergyParts parts;
  parts.entropy = entropy(m_v) + entropy(m_h);
  MatrixD wm;  // m_v Wᵀ, B x H
  detail::product(m_v, p.w[0], true, wm);
  parts.energy = -(m_v * rbm.visible_bias.cast<double>()) - m_h * rbm.hidden_bias.cast<double>() -
                 m_h.cwiseProduct(wm).rowwise().sum();
  parts.onsager = VectorD::Zero(m_v.rows());
  for (int k = 2; k <= static_cast<int>(order); ++k) {
    detail::product(detail::apply_u<double>(k, m_v), p.w[k - 1], true, wm);
    parts.onsager -= detail::tap_alpha(k) * detail::apply_u<double>(k, m_h).cwiseProduct(wm).rowwise().sum();
  }
  return parts;
}

TapFreeEnergyParts tap_free_energy_parts(const Rbm& rbm, const TapFixedPoint& fp, TapOrder order) {
  return tap_free_energy_parts(rbm, fp.m_v.cast<double>(), fp.m_h.cast<double>(), order);
}

VectorD tap_free_energy(const Rbm& rbm, const Eigen::Ref<const MatrixD>& m_v, const Eigen::Ref<const MatrixD>& m_h,
                        TapOrder order) {
  return tap_free_energy_parts(rbm, m_v, m_h, order).total();
}

VectorD tap_free_energy(const Rbm& rbm, const TapFixedPoint& fp, TapOrder order) {
  return tap_free_energy_parts(rbm, fp, order).total();
}

double TapMagnetisationGradient::max_abs() const {
  double r = 0;
  if (m_v.size() > 0) r = std::max(r, m_v.cwiseAbs().maxCoeff());
  if (m_h.size() > 0) r = std::max(r, m_h.cwiseAbs().maxCoeff());
  return r;
}

TapMagnetisationGradient tap_magnetisation_gradient(const Rbm& rbm, const Eigen::Ref<const MatrixD>& m_v,
                                                    const Eigen::Ref<const MatrixD>& m_h, TapOrder order) {
  constexpr const char* where = "tap_magnetisation_gradient";
  rbm.validate(where);
  rbm.require_bernoulli(where);
  detail::check_order(order, where);
  detail::check_magnetisations(rbm, m_v.rows(), m_v.cols(), m_h.rows(), m_h.cols(), where);
  detail::check_unit_interval(m_v, where, "m_v");
  detail::check_unit_interval(m_h, where, "m_h");
  const detail::Powers<double> p(rbm.weight, order);
  const auto logit = [](const Eigen::Ref<const MatrixD>& m) -> MatrixD {
    return m.unaryExpr([](double x) { return std::log(x) - std::log1p(-x); });
  };
  TapMagnetisationGradient g;
  MatrixD field;
  detail::layer_field<double>(p, rbm.hidden_bias.cast<double>(), m_v, m_h, true, order, field);
  g.m_h = logit(m_h) - field;
  detail::layer_field<double>(p, rbm.visible_bias.cast<double>(), m_h, m_v, false, order, field);
  g.m_v = logit(m_v) - field;
  return g;
}

TapGradient tap_gradient(const Rbm& rbm, const ConstMatrixFRef& m_v, const ConstMatrixFRef& m_h, TapOrder order) {
  constexpr const char* where = "tap_gradient";
  rbm.validate(where);
  rbm.require_bernoulli(where);
  detail::check_magnetisations(rbm, m_v.rows(), m_v.cols(), m_h.rows(), m_h.cols(), where);
  ONSAGER_CHECK(m_v.rows() > 0, "{}: no magnetisations (0 rows)", where);
  detail::check_order(order, where);
  return detail::tap_gradient_unchecked(rbm, m_v, m_h, order);
}

TapGradient detail::tap_gradient_unchecked(const Rbm& rbm, const ConstMatrixFRef& m_v, const ConstMatrixFRef& m_h,
                                           TapOrder order) {
  const int o = static_cast<int>(order);
  const float inv = 1.0f / static_cast<float>(m_v.rows());
  TapGradient g;
  g.visible_bias = -m_v.colwise().mean().transpose();
  g.hidden_bias = -m_h.colwise().mean().transpose();
  g.weight.resize(rbm.num_hidden(), rbm.num_visible());
  gemm(-inv, m_h, Trans::yes, m_v, Trans::no, 0.0f, g.weight);
  if (o < 2) return g;
  // ∂Γ/∂W -= k α_k W^(k-1) ⊙ ⟨u_k(m_h) u_k(m_v)ᵀ⟩ for k = 2 (W) and 3 (W²), one GEMM per order.
  MatrixF corr(rbm.num_hidden(), rbm.num_visible());
  for (int k = 2; k <= o; ++k) {
    gemm(inv, detail::apply_u<float>(k, m_h), Trans::yes, detail::apply_u<float>(k, m_v), Trans::no, 0.0f, corr);
    const auto factor = static_cast<float>(k * detail::tap_alpha(k));
    const Eigen::Index rows = corr.rows();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (corr.size() > 65536)
    for (Eigen::Index r = 0; r < rows; ++r) {
      const auto w = rbm.weight.row(r).array();
      if (k == 2)
        g.weight.row(r).array() -= factor * w * corr.row(r).array();
      else
        g.weight.row(r).array() -= factor * w.square() * corr.row(r).array();
    }
  }
  return g;
}

TapGradient tap_gradient(const Rbm& rbm, const TapFixedPoint& fp, TapOrder order) {
  return tap_gradient(rbm, fp.m_v, fp.m_h, order);
}

TapLogZ log_partition_tap(const Rbm& rbm, const ConstMatrixFRef& starts, const TapOptions& options) {
  ONSAGER_CHECK(starts.rows() > 0, "log_partition_tap: no starting points (0 rows)");
  const TapFixedPoint fp = tap_fixed_point(rbm, starts, options);
  TapLogZ out;
  out.starts = static_cast<int>(starts.rows());
  out.converged = fp.num_converged;
  out.sweeps = fp.sweeps;
  out.neg_gamma = -tap_free_energy(rbm, fp, options.order);
  out.log_z = -std::numeric_limits<double>::infinity();
  for (int r = 0; r < out.starts; ++r) {
    if (fp.num_converged > 0 && fp.iterations[static_cast<std::size_t>(r)] < 0) continue;
    if (out.neg_gamma(r) > out.log_z) {
      out.log_z = out.neg_gamma(r);
      out.best_row = r;
    }
  }
  ONSAGER_CHECK(out.best_row >= 0, "log_partition_tap: no finite free energy at any fixed point");
  // Fixed-point residual max |m - σ(field)| at the best row: bounded even where float magnetisations saturate.
  const MatrixD mv = fp.m_v.row(out.best_row).cast<double>(), mh = fp.m_h.row(out.best_row).cast<double>();
  const detail::Powers<double> p(rbm.weight, options.order);
  const auto sigm = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  MatrixD field;
  detail::layer_field<double>(p, rbm.hidden_bias.cast<double>(), mv, mh, true, options.order, field);
  double res = (mh - field.unaryExpr(sigm)).cwiseAbs().maxCoeff();
  detail::layer_field<double>(p, rbm.visible_bias.cast<double>(), mh, mv, false, options.order, field);
  res = std::max(res, (mv - field.unaryExpr(sigm)).cwiseAbs().maxCoeff());
  out.max_residual = res;
  return out;
}

}  // namespace onsager
