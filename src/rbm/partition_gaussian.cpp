// AIS for a Gaussian-Bernoulli RBM (docs/gaussian-rbm.md). The visible layer is annealed, the hidden one summed out,
// from a base of independent Gaussians N(μ_A, s_A²) (and hidden units at ½) to the model:
//   log p_β*(v) = -(1-β) Σ_i (v_i - μ_A,i)²/(2 s_A,i²) - β Σ_i (v_i - b_i)²/(2σ_i²) + Σ_j softplus(β u_j),
//   u = c + W (v/σ²),   log Z_A = Σ_i ½ log(2π s_A,i²) + H log 2.
// The transition at β is block Gibbs in p_β: h_j ~ σ(β u_j), then v_i | h Gaussian with precision
// λ_i = (1-β)/s_A,i² + β/σ_i² and mean ((1-β) μ_A,i/s_A,i² + β (b_i + (Wᵀh)_i)/σ_i²)/λ_i. The log weight of run r adds
// log p_k*(v) - log p_{k-1}*(v) = -Δβ (Σ_i (v_i-b_i)²/(2σ_i²) - (v_i-μ_A,i)²/(2s_A,i²)) + Σ_j [softplus(β_k u_j) -
// softplus(β_{k-1} u_j)] at each step k, as for Bernoulli units. Run r draws from streams keyed by (seed, tag, k, r).
// gaussian_hidden_ais anneals the hidden layer instead, the Gaussians integrated out (its comment below).

#include <chrono>
#include <cmath>
#include <numbers>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/partition.hpp"
#include "partition_internal.hpp"

namespace onsager::detail {
namespace {
constexpr std::uint64_t kTagBase = 10, kTagHidden = 11, kTagVisible = 12;

// Row r of `v` += sd ⊙ noise, keyed like sample_gaussian's row r.
void add_noise(MatrixF& v, Eigen::Index r, const VectorF& sd, std::uint64_t seed, std::uint64_t tag, std::uint64_t step) {
  const std::uint64_t key = stream_seed(seed, tag, step, static_cast<std::uint64_t>(r));
  for (Eigen::Index i = 0; i < v.cols(); ++i) v(r, i) += sd(i) * counter_normal(key, static_cast<std::uint32_t>(i));
}
// The result of a Gaussian model's AIS from its runs' log weights.
AisResult finish(const AisOptions& options, int temps, AisLayer layer, bool data_base, double log_z_base,
                 const std::vector<double>& lw, std::chrono::steady_clock::time_point start) {
  AisResult res;
  res.runs = options.runs;
  res.temperatures = temps;
  res.layer = layer;
  res.base = data_base ? AisBase::data : AisBase::uniform;  // the base used: without data, the uniform one
  res.log_z_base = log_z_base;
  set_ais_estimate(res, lw);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}
}  // namespace

AisResult gaussian_ais(const Rbm& rbm, const ConstVectorFRef& base_mean, const AisOptions& options,
                       const std::vector<double>& betas) {
  const auto start = std::chrono::steady_clock::now();
  const Eigen::Index nr = options.runs, nv = rbm.num_visible(), nh = rbm.num_hidden();
  const VectorF var = rbm.log_var.array().exp().matrix();
  const VectorF prec = var.cwiseInverse();
  // The base: the data's means and variances (the latter at least the model's σ², so the base is never narrower than
  // the model's own noise) when given, else the model without its weights, N(b, σ²).
  VectorF mu_a = rbm.visible_bias, var_a = var;
  const bool data_base = options.base == AisBase::data && base_mean.size() > 0;
  if (data_base) {
    ONSAGER_CHECK(base_mean.size() == nv && base_mean.allFinite(),
                  "log_partition_ais: the base means have {} entries (need {}, finite)", base_mean.size(), nv);
    mu_a = base_mean;
    if (options.base_variance.size() > 0) {
      ONSAGER_CHECK(options.base_variance.size() == nv && options.base_variance.allFinite() &&
                        (options.base_variance.array() >= 0).all(),
                    "log_partition_ais: options.base_variance has {} entries (need {}, finite, >= 0)",
                    options.base_variance.size(), nv);
      var_a = options.base_variance.cwiseMax(var);
    }
  } else if (options.base == AisBase::mean_field) {
    ONSAGER_FAIL("log_partition_ais: options.base mean-field is for Bernoulli visible units; a Gaussian model's base is "
                 "data or uniform (the model without its weights)");
  }
  const VectorF prec_a = var_a.cwiseInverse();
  const RowVectorF c = rbm.hidden_bias.transpose(), zero_h = RowVectorF::Zero(nh);
  const bool par = nr > 1 && nr * std::max(nv, nh) >= 32768;

  MatrixF v(nr, nv), scaled(nr, nv), u(nr, nh), h(nr, nh), acc(nr, nv);
  std::vector<double> lw(static_cast<std::size_t>(nr), 0.0), quad(static_cast<std::size_t>(nr));
  const VectorF sd_a = var_a.cwiseSqrt();
  auto measure = [&](Eigen::Index r) {  // Σ_i (v-b)²/(2σ²) - (v-μ_A)²/(2s_A²), and v/σ² for the GEMM
    const auto row = v.row(r).array();
    quad[static_cast<std::size_t>(r)] =
        0.5 * ((row - rbm.visible_bias.transpose().array()).square() * prec.transpose().array() -
               (row - mu_a.transpose().array()).square() * prec_a.transpose().array())
                  .cast<double>()
                  .sum();
    scaled.row(r) = (row * prec.transpose().array()).matrix();
  };
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par)
  for (Eigen::Index r = 0; r < nr; ++r) {
    v.row(r) = mu_a.transpose();
    add_noise(v, r, sd_a, options.seed, kTagBase, 0);
    measure(r);
  }
  const int temps = static_cast<int>(betas.size());
  Progress bar("AIS", static_cast<std::size_t>(temps - 1), options.progress);
  VectorF lambda(nv), sd(nv);
  for (int k = 1; k < temps; ++k) {
    const bool last = k == temps - 1;
    const double dbeta = betas[k] - betas[k - 1];
    const auto fd = static_cast<float>(dbeta), fprev = static_cast<float>(betas[k - 1]), fbeta = static_cast<float>(betas[k]);
    u.rowwise() = c;
    gemm(1.0f, scaled, Trans::no, rbm.weight, Trans::yes, 1.0f, u);
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par)
    for (Eigen::Index r = 0; r < nr; ++r) {
      lw[static_cast<std::size_t>(r)] += -dbeta * quad[static_cast<std::size_t>(r)] + softplus_gap_sum(u.row(r), zero_h, fprev, fd);
      if (!last) {
        h.row(r).array() = (1.0f + (-fbeta * u.row(r).array()).exp()).inverse();
        sample_row(&h(r, 0), nh, options.seed, kTagHidden, static_cast<std::uint64_t>(k), r);
      }
    }
    if (last) break;
    gemm(1.0f, h, Trans::no, rbm.weight, Trans::no, 0.0f, acc);  // (Wᵀh)ᵀ per row
    lambda = (1.0f - fbeta) * prec_a + fbeta * prec;
    sd = lambda.cwiseInverse().cwiseSqrt();
    const RowVectorF base_term = ((1.0f - fbeta) * mu_a.cwiseProduct(prec_a)).transpose();
    const RowVectorF inv_lambda = lambda.cwiseInverse().transpose();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par)
    for (Eigen::Index r = 0; r < nr; ++r) {
      v.row(r).array() = (base_term.array() + fbeta * (rbm.visible_bias.transpose().array() + acc.row(r).array()) *
                                                  prec.transpose().array()) *
                         inv_lambda.array();
      add_noise(v, r, sd, options.seed, kTagVisible, static_cast<std::uint64_t>(k));
      measure(r);
    }
    bar.advance();
    throw_if_interrupted("log_partition_ais");
  }
  bar.finish();
  // Without data the base is N(b, σ²), the model without its weights.
  return finish(options, temps, AisLayer::visible, data_base,
                0.5 * (2.0 * std::numbers::pi * var_a.cast<double>().array()).log().sum() +
                    static_cast<double>(nh) * std::numbers::ln2,
                lw, start);
}

AisResult gaussian_hidden_ais(const Rbm& rbm, const ConstVectorFRef& base_mean, const AisOptions& options,
                              const std::vector<double>& betas) {
  const auto start = std::chrono::steady_clock::now();
  const Eigen::Index nr = options.runs, nv = rbm.num_visible(), nh = rbm.num_hidden();
  const VectorF var = rbm.log_var.array().exp().matrix();
  const VectorF prec = var.cwiseInverse();
  ONSAGER_CHECK(options.base != AisBase::mean_field,
                "log_partition_ais: options.base mean-field is for Bernoulli visible units; a Gaussian model's base is "
                "data or uniform");
  // The base on the hidden layer: independent units at the data's hidden marginals (options.hidden_marginals, or
  // σ(c + W (μ/σ²)) at the data's means without them), smoothed like the Bernoulli bases; uniform: all at ½.
  VectorF a = VectorF::Zero(nh);
  bool data_base = false;
  if (options.base == AisBase::data) {
    VectorF p;
    if (options.hidden_marginals.size() > 0) {
      ONSAGER_CHECK(options.hidden_marginals.size() == nh,
                    "ais_base_bias: options.hidden_marginals has {} entries, the model {} hidden units",
                    options.hidden_marginals.size(), nh);
      p = options.hidden_marginals;
    } else if (base_mean.size() > 0) {
      ONSAGER_CHECK(base_mean.size() == nv && base_mean.allFinite(),
                    "log_partition_ais: the base means have {} entries (need {}, finite)", base_mean.size(), nv);
      const VectorF field = rbm.hidden_bias + rbm.weight * base_mean.cwiseProduct(prec);
      p = (1.0f + (-field.array()).exp()).inverse().matrix();
    }
    if (p.size() > 0) {
      data_base = true;
      for (Eigen::Index j = 0; j < nh; ++j) {
        const double x = p(j);
        ONSAGER_CHECK(x >= 0.0 && x <= 1.0, "ais_base_bias: hidden marginal {} is {}, not in [0, 1]", j, x);
        const double q = (x + ais_pseudo_count) / (1.0 + 2.0 * ais_pseudo_count);
        a(j) = static_cast<float>(std::log(q / (1.0 - q)));
      }
    }
  }
  const RowVectorF c = rbm.hidden_bias.transpose(), c_minus_a = (rbm.hidden_bias - a).transpose();
  const Eigen::RowVectorXd bd = rbm.visible_bias.cast<double>().transpose(),
                           half_prec = 0.5 * prec.cast<double>().transpose();
  const double b2 = (bd.array().square() * half_prec.array()).sum();
  const VectorF sd_model = var.cwiseSqrt();
  const bool par = nr > 1 && nr * std::max(nv, nh) >= 32768;

  // h: the annealed hidden states; y = Wᵀh per row; f(h) - a·h = (c - a)·h + Σ_i ((b_i + y_i)² - b_i²)/(2σ_i²).
  MatrixF h(nr, nh), y(nr, nv), v(nr, nv), u(nr, nh);
  std::vector<double> lw(static_cast<std::size_t>(nr), 0.0), gain(static_cast<std::size_t>(nr));
  const auto measure = [&](Eigen::Index r) {
    const auto yr = y.row(r).cast<double>().array();
    gain[static_cast<std::size_t>(r)] = static_cast<double>(h.row(r).dot(c_minus_a)) +
                                        ((bd.array() + yr).square() * half_prec.array()).sum() - b2;
  };
  const RowVectorF base_p = (1.0f + (-a.array()).exp()).inverse().matrix().transpose();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par)
  for (Eigen::Index r = 0; r < nr; ++r) {
    h.row(r) = base_p;
    sample_row(&h(r, 0), nh, options.seed, kTagBase, 0, r);
  }
  gemm(1.0f, h, Trans::no, rbm.weight, Trans::no, 0.0f, y);
  for (Eigen::Index r = 0; r < nr; ++r) measure(r);

  const int temps = static_cast<int>(betas.size());
  Progress bar("AIS", static_cast<std::size_t>(temps - 1), options.progress);
  for (int k = 1; k < temps; ++k) {
    const double dbeta = betas[k] - betas[k - 1];
    for (Eigen::Index r = 0; r < nr; ++r) lw[static_cast<std::size_t>(r)] += dbeta * gain[static_cast<std::size_t>(r)];
    if (k == temps - 1) break;
    // The transition at β_k, block Gibbs in the joint exp(-β_k E(v, h) + (1-β_k) a·h), whose hidden marginal is
    // p_k*: v | h ~ N(b + Wᵀh, σ²/β_k), then h | v ~ σ((1-β_k) a + β_k (c + W (v/σ²))).
    const float fbeta = static_cast<float>(betas[k]);
    const VectorF sd = sd_model / std::sqrt(fbeta);
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par)
    for (Eigen::Index r = 0; r < nr; ++r) {
      v.row(r) = rbm.visible_bias.transpose() + y.row(r);
      add_noise(v, r, sd, options.seed, kTagVisible, static_cast<std::uint64_t>(k));
      v.row(r).array() *= prec.transpose().array();  // v/σ², the field's input
    }
    u.rowwise() = c;
    gemm(1.0f, v, Trans::no, rbm.weight, Trans::yes, 1.0f, u);
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par)
    for (Eigen::Index r = 0; r < nr; ++r) {
      h.row(r).array() = (1.0f + (-((1.0f - fbeta) * a.transpose().array() + fbeta * u.row(r).array())).exp()).inverse();
      sample_row(&h(r, 0), nh, options.seed, kTagHidden, static_cast<std::uint64_t>(k), r);
    }
    gemm(1.0f, h, Trans::no, rbm.weight, Trans::no, 0.0f, y);
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par)
    for (Eigen::Index r = 0; r < nr; ++r) measure(r);
    bar.advance();
    throw_if_interrupted("log_partition_ais");
  }
  bar.finish();
  // log Z = log Z_A + log E[w] + Σ_i ½ log(2π σ_i²): Z_A = Π_j (1 + e^{a_j}) on the hidden layer, and the visible
  // layer's Gaussian integral contributes its normalisation beyond f(h).
  double log_z_a = 0;
  for (Eigen::Index j = 0; j < nh; ++j) log_z_a += softplus(static_cast<double>(a(j)));
  return finish(options, temps, AisLayer::hidden, data_base,
                log_z_a + 0.5 * (2.0 * std::numbers::pi * var.cast<double>().array()).log().sum(), lw, start);
}

}  // namespace onsager::detail
