// Annealed importance sampling for log Z (Salakhutdinov & Murray, ICML 2008; DESIGN.md §5).
//
// R runs move together as the rows of an R x V batch. At step k = 1 .. K-1, with v drawn by the transition at
// β_{k-1} (by the base model itself for k = 1) and x = c + W v (one float GEMM):
//   log w += log p_k*(v) - log p_{k-1}*(v) = Δβ (b - b_A)·v + Σ_j [softplus(β_k x_j) - softplus(β_{k-1} x_j)],
// then, unless k = K-1, h ~ σ(β_k x) and v ~ σ((1-β_k) b_A + β_k (b + Wᵀh)) (a second GEMM).
// The softplus difference is evaluated without cancellation: with t = |x|, Δβ = β_k - β_{k-1},
//   softplus(β_k x) - softplus(β_{k-1} x) = Δβ max(x, 0) + log1p(σ(-β_{k-1} t) · expm1(-Δβ t)),
// where the log1p argument lies in (-1/2, 0], so float is accurate to a few ulps of a small number; each row's
// sum is added to a double log weight. Run r draws from streams keyed by (seed, tag, k, r) exactly as
// sample_bernoulli does, so nothing depends on the thread count.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/partition.hpp"

namespace onsager {
namespace {

// Salakhutdinov & Murray's schedule in units of its steps: 500 of 1e-3, 4,000 of 1e-4, 10,000 of 1e-5.
constexpr int kDefaultSteps = 14500;
constexpr std::uint64_t kTagBase = 0, kTagHidden = 1, kTagVisible = 2;
// The check run's seed: an independent stream family derived from the user's seed.
constexpr std::uint64_t kCheckStream = 0xC4EC;

double default_curve(double t) {  // t in [0, 14500] steps of the default schedule -> β
  if (t <= 500) return t * 1e-3;
  if (t <= 4500) return 0.5 + (t - 500) * 1e-4;
  return 0.9 + (t - 4500) * 1e-5;
}

// One row of Bernoulli draws in place, keyed like sample_bernoulli(probs, seed, tag, step) row r.
void sample_row(float* p, Eigen::Index n, std::uint64_t seed, std::uint64_t tag, std::uint64_t step, Eigen::Index r) {
  const std::uint64_t key = stream_seed(seed, tag, step, static_cast<std::uint64_t>(r));
  for (Eigen::Index j = 0; j < n; ++j) p[j] = counter_uniform(key, static_cast<std::uint32_t>(j)) < p[j] ? 1.0f : 0.0f;
}

double log_sum_exp_mean(const std::vector<double>& lw, double& max_out) {
  const double m = *std::max_element(lw.begin(), lw.end());
  double s = 0;
  for (double x : lw) s += std::exp(x - m);
  max_out = m;
  return m + std::log(s / static_cast<double>(lw.size()));
}

AisResult run_ais(const Rbm& rbm, const VectorF& base_bias, int runs, const std::vector<double>& betas,
                  std::uint64_t seed, bool progress, const char* label) {
  const auto start = std::chrono::steady_clock::now();
  const Eigen::Index nr = runs, nv = rbm.num_visible(), nh = rbm.num_hidden();
  const int temps = static_cast<int>(betas.size());
  const VectorF& b = rbm.visible_bias;
  const VectorF& c = rbm.hidden_bias;
  const VectorF bdiff = b - base_bias;
  // Parallel row loops only where the work outweighs a parallel region's start and barrier.
  const bool par_h = nr > 1 && nr * nh >= 32768, par_v = nr > 1 && nr * nv >= 32768;

  MatrixF v(nr, nv), x(nr, nh), h(nr, nh), acc(nr, nv);
  std::vector<double> lw(static_cast<std::size_t>(nr), 0.0), vd(static_cast<std::size_t>(nr));

  // v ~ base model: independent pixels with p(v_i = 1) = σ(b_A,i).
  const RowVectorF base_p = (1.0f + (-base_bias.array()).exp()).inverse().matrix().transpose();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par_v)
  for (Eigen::Index r = 0; r < nr; ++r) {
    v.row(r) = base_p;
    sample_row(&v(r, 0), nv, seed, kTagBase, 0, r);
    vd[static_cast<std::size_t>(r)] = static_cast<double>(v.row(r).dot(bdiff));
  }

  Progress bar(label, static_cast<std::size_t>(temps - 1), progress);
  RowVectorF vis_bias(nv);
  for (int k = 1; k < temps; ++k) {
    const bool last = k == temps - 1;
    const double dbeta = betas[k] - betas[k - 1];
    const float fd = static_cast<float>(dbeta), fprev = static_cast<float>(betas[k - 1]),
                fbeta = static_cast<float>(betas[k]);
    x.rowwise() = c.transpose();
    gemm(1.0f, v, Trans::no, rbm.weight, Trans::yes, 1.0f, x);

#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par_h)
    for (Eigen::Index r = 0; r < nr; ++r) {
      const auto xr = x.row(r).array();
      const auto t = xr.abs();
      const float hidden_sum =
          (fd * xr.max(0.0f) + ((1.0f + (fprev * t).exp()).inverse() * (-fd * t).expm1()).log1p()).sum();
      lw[static_cast<std::size_t>(r)] += dbeta * vd[static_cast<std::size_t>(r)] + static_cast<double>(hidden_sum);
      if (!last) {
        h.row(r).array() = (1.0f + (-fbeta * xr).exp()).inverse();
        sample_row(&h(r, 0), nh, seed, kTagHidden, static_cast<std::uint64_t>(k), r);
      }
    }
    if (!last) {
      gemm(1.0f, h, Trans::no, rbm.weight, Trans::no, 0.0f, acc);
      vis_bias = (fbeta * b + (1.0f - fbeta) * base_bias).transpose();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par_v)
      for (Eigen::Index r = 0; r < nr; ++r) {
        v.row(r).array() = (1.0f + (-(fbeta * acc.row(r).array() + vis_bias.array())).exp()).inverse();
        sample_row(&v(r, 0), nv, seed, kTagVisible, static_cast<std::uint64_t>(k), r);
        vd[static_cast<std::size_t>(r)] = static_cast<double>(v.row(r).dot(bdiff));
      }
    }
    bar.advance();
    throw_if_interrupted("log_partition_ais");
  }
  bar.finish();

  AisResult res;
  res.runs = runs;
  res.temperatures = temps;
  res.log_weights = lw;
  double log_z_base = static_cast<double>(nh) * std::log(2.0);
  for (Eigen::Index i = 0; i < nv; ++i) log_z_base += softplus(static_cast<double>(base_bias(i)));
  res.log_z_base = log_z_base;

  double m = 0;
  const double log_mean = log_sum_exp_mean(lw, m);
  // Weights scaled by exp(-m): the largest is 1, so sums neither overflow nor underflow.
  double s1 = 0, s2 = 0;
  for (double l : lw) {
    const double w = std::exp(l - m);
    s1 += w;
    s2 += w * w;
  }
  const double n = static_cast<double>(runs);
  const double mean = s1 / n;
  const double var = runs > 1 ? std::max(0.0, (s2 - n * mean * mean) / (n - 1)) : 0.0;
  const double half = 3.0 * std::sqrt(var / n);
  res.log_z = log_z_base + log_mean;
  if (runs < 2) {
    // One weight has no spread: an interval of zero width would claim an exact answer.
    res.log_z_hi = res.log_z_lo = std::numeric_limits<double>::quiet_NaN();
  } else {
    res.log_z_hi = log_z_base + m + std::log(mean + half);
    res.log_z_lo = mean - half > 0 ? log_z_base + m + std::log(mean - half) : -std::numeric_limits<double>::infinity();
  }
  res.ess = s1 * s1 / s2;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

void validate_ais(const Rbm& rbm, const AisOptions& options) {
  rbm.validate("log_partition_ais");
  ONSAGER_CHECK(options.runs >= 1, "log_partition_ais: options.runs must be at least 1 (got {})", options.runs);
}

}  // namespace

std::vector<double> ais_schedule(int betas) {
  ONSAGER_CHECK(betas == 0 || betas >= 2,
                "ais_schedule: betas must be 0 (the default schedule) or at least 2 (got {})", betas);
  const int k_max = betas == 0 ? kDefaultSteps : betas - 1;
  std::vector<double> out(static_cast<std::size_t>(k_max) + 1);
  for (int k = 0; k <= k_max; ++k)
    out[static_cast<std::size_t>(k)] =
        default_curve(static_cast<double>(k) * kDefaultSteps / static_cast<double>(k_max));
  out.front() = 0.0;
  out.back() = 1.0;
  return out;
}

VectorF ais_base_bias(const ConstVectorFRef& pixel_marginals, Eigen::Index num_visible) {
  if (pixel_marginals.size() == 0) return VectorF::Zero(num_visible);
  ONSAGER_CHECK(pixel_marginals.size() == num_visible,
                "ais_base_bias: the AIS base model needs {} pixel marginals, one per visible unit (got {})", num_visible,
                pixel_marginals.size());
  VectorF out(num_visible);
  for (Eigen::Index i = 0; i < num_visible; ++i) {
    const double p = pixel_marginals(i);
    ONSAGER_CHECK(p >= 0.0 && p <= 1.0, "ais_base_bias: pixel marginal {} is {}, not in [0, 1]", i, p);
    const double q = (p + ais_pseudo_count) / (1.0 + 2.0 * ais_pseudo_count);
    out(i) = static_cast<float>(std::log(q / (1.0 - q)));
  }
  return out;
}

AisResult log_partition_ais(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals, const AisOptions& options) {
  validate_ais(rbm, options);
  const std::vector<double> betas = ais_schedule(options.betas);
  const VectorF base = ais_base_bias(base_pixel_marginals, rbm.num_visible());
  return run_ais(rbm, base, options.runs, betas, options.seed, options.progress, "AIS");
}

AisResult log_partition_ais(const Rbm& rbm, const AisOptions& options) {
  return log_partition_ais(rbm, VectorF(), options);
}

AisReport log_partition_ais_checked(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals,
                                    const AisOptions& options) {
  validate_ais(rbm, options);
  const std::vector<double> betas = ais_schedule(options.betas);
  const VectorF base = ais_base_bias(base_pixel_marginals, rbm.num_visible());
  const int check_betas = std::max(2, (static_cast<int>(betas.size()) + 1) / 2);
  AisReport report;
  report.main = run_ais(rbm, base, options.runs, betas, options.seed, options.progress, "AIS");
  report.check = run_ais(rbm, base, options.runs, ais_schedule(check_betas), stream_seed(options.seed, kCheckStream),
                         options.progress, "AIS check");
  report.schedule_gap = report.main.log_z - report.check.log_z;
  return report;
}

std::vector<std::string> ais_warnings(const AisReport& report) {
  std::vector<std::string> out;
  for (const AisResult* r : {&report.main, &report.check}) {
    if (r->runs == 0) continue;  // no check run
    const char* which = r == &report.main ? "main" : "check";
    if (r->ess < 0.1 * r->runs)
      out.push_back(fmt::format("AIS ({} run): effective sample size {:.1f} of {} runs: a few runs dominate, so the "
                                "estimate and its error bar are unreliable; use more temperatures or runs",
                                which, r->ess, r->runs));
    if (r->runs < 2)
      out.push_back(fmt::format("AIS ({} run): a single run has no spread to measure, so the estimate has no error "
                                "bar; use 2 or more runs (100 is the usual choice)",
                                which));
    else if (!std::isfinite(r->log_z_lo))
      out.push_back(fmt::format("AIS ({} run): the weights' spread exceeds their mean, so the lower error bar is "
                                "unbounded; use more temperatures or runs",
                                which));
  }
  if (report.check.runs == 0) return out;
  const double bar = std::max({report.main.log_z_hi - report.main.log_z, report.main.log_z - report.main.log_z_lo,
                               report.check.log_z_hi - report.check.log_z, report.check.log_z - report.check.log_z_lo});
  if (std::isfinite(bar) && std::abs(report.schedule_gap) > bar)
    out.push_back(fmt::format("AIS: the two schedules ({} and {} temperatures) disagree by {:.3f} nats, more than "
                              "the error bar ({:.3f}); the annealing is too fast for this model",
                              report.main.temperatures, report.check.temperatures, report.schedule_gap, bar));
  return out;
}

}  // namespace onsager
