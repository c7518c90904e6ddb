// Bennett's acceptance ratio over parallel tempering for log Z (Krause, Fischer & Igel, "Algorithms for estimating
// the partition function of restricted Boltzmann machines", Artificial Intelligence 2020), on the same annealed
// layer and base model as AIS (partition_internal.hpp).
//
// M ladders of K levels are the rows of one (M·K) x n batch, row m·K + k at β_k. Each sweep: a Gibbs step of every
// row at its own β (the summed layer drawn from U, then the annealed layer: one GEMM), the pre-activation
// U = c + x Wᵀ of the summed-out layer again (a second), from which the work values (d the base's bias on the
// summed layer)
//   f_k(x) = log p_{k+1}*(x) - log p_k*(x) = Δβ⁺ (b - a)·x + Σ_j [softplus(d_j + β_{k+1} (U_j - d_j)) - (same at β_k)],
//   g_k(x) = log p_{k-1}*(x) - log p_k*(x)
// follow without cancellation (detail::softplus_gap_sum); then swaps of neighbouring levels, accepted with
// probability min(1, exp(f_k(x_k) + g_{k+1}(x_{k+1}))). After the burn-in every sweep's f_k (samples of level k)
// and g_{k+1} (samples of level k+1) are kept, and r_k = log Z_{k+1}/Z_k solves Bennett's equation with equal
// sample counts, Σ σ(f - r) = Σ σ(g + r) (safeguarded Newton). log Z = log Z_A + Σ r_k.
//
// The ladder: the first half of the burn-in runs on evenly spaced β; the spread of the work values there measures
// the distance between neighbours (std of f and g, the thermodynamic length), and the levels are then placed at
// equal distances along it, so that swaps are accepted about equally often everywhere. The error bar is the
// jackknife over the ladders, which are independent: its standard error times Student's t quantile for M-1 degrees
// of freedom at the coverage of ±3σ (4.09 for 10 ladders).
// The ladders are independent except at the re-spacing, so each thread advances its own ladders through the sweeps
// before it and after it (single-threaded GEMMs, one per ladder and layer). Randomness: Gibbs draws keyed by (seed,
// tag, sweep, row), swap uniforms by (seed, tag, sweep, ladder) and the pair index, so nothing depends on the
// thread count.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>
#include <omp.h>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/partition.hpp"
#include "partition_internal.hpp"

namespace onsager {
namespace {

constexpr std::uint64_t kTagInit = 20, kTagSummed = 21, kTagState = 22, kTagSwap = 23;
// More kept work values than this (two doubles each) is refused rather than allocated.
constexpr double kMaxKept = 1.0e8;

// Student's t quantile at the coverage of ±3σ of a normal (two-sided 99.73%), for the jackknife's M-1 degrees of
// freedom: with few ladders the spread of the replicates is itself uncertain, and 3 would claim too much.
double t_three_sigma(int dof) {
  static constexpr double table[] = {235.801, 19.207, 9.219, 6.62,  5.507, 4.904, 4.53,  4.277, 4.094, 3.957,
                                     3.85,    3.764,  3.694, 3.636, 3.586, 3.544, 3.507, 3.475, 3.447, 3.422,
                                     3.4,     3.38,   3.361, 3.345, 3.33,  3.316, 3.303, 3.291, 3.28,  3.27};
  if (dof >= 1 && dof <= 30) return table[dof - 1];
  return 3.0 + 8.1 / dof;
}

double sigmoid_d(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }

// Bennett's r for one pair from the kept forward works f (samples of the lower level) and backward works g (samples
// of the upper level), ladders [0, M) except `skip`, `n` values per ladder; Newton from `start`, kept inside a
// bracket where h(r) = Σ σ(f - r) - Σ σ(g + r) changes sign.
double bar_solve(const double* f, const double* g, int ladders, std::size_t n, int skip, double start) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (int m = 0; m < ladders; ++m) {
    if (m == skip) continue;
    for (std::size_t t = 0; t < n; ++t) {
      const double a = f[m * n + t], b = g[m * n + t];
      lo = std::min({lo, a, -b});
      hi = std::max({hi, a, -b});
    }
  }
  lo -= 1.0;
  hi += 1.0;
  double r = std::clamp(start, lo, hi);
  for (int it = 0; it < 200; ++it) {
    double h = 0, dh = 0;
    for (int m = 0; m < ladders; ++m) {
      if (m == skip) continue;
      for (std::size_t t = 0; t < n; ++t) {
        const double sf = sigmoid_d(f[m * n + t] - r), sg = sigmoid_d(g[m * n + t] + r);
        h += sf - sg;
        dh -= sf * (1 - sf) + sg * (1 - sg);
      }
    }
    if (h > 0) lo = r; else hi = r;  // h decreases in r
    double next = dh < 0 ? r - h / dh : 0.5 * (lo + hi);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (std::abs(next - r) < 1e-11 * std::max(1.0, std::abs(r)) || hi - lo < 1e-12) return next;
    r = next;
  }
  return r;
}

// Places K levels at equal distances along the cumulative length `len` (K-1 gaps between the current betas).
std::vector<double> respace(const std::vector<double>& betas, const std::vector<double>& gap) {
  const std::size_t k = betas.size();
  std::vector<double> cum(k, 0.0);
  for (std::size_t i = 1; i < k; ++i) cum[i] = cum[i - 1] + std::max(gap[i - 1], 1e-12);
  std::vector<double> out(k);
  out.front() = 0.0;
  out.back() = 1.0;
  std::size_t seg = 0;
  for (std::size_t i = 1; i + 1 < k; ++i) {
    const double target = cum.back() * static_cast<double>(i) / static_cast<double>(k - 1);
    while (seg + 1 < k - 1 && cum[seg + 1] < target) ++seg;
    const double t = (target - cum[seg]) / (cum[seg + 1] - cum[seg]);
    out[i] = betas[seg] + std::clamp(t, 0.0, 1.0) * (betas[seg + 1] - betas[seg]);
  }
  for (std::size_t i = 1; i < k; ++i) out[i] = std::max(out[i], out[i - 1] + 1e-9);  // strictly increasing
  out.back() = 1.0;
  return out;
}

}  // namespace

void BarOptions::validate(const char* where) const {
  ONSAGER_CHECK(ladders >= 2, "{}: options.ladders must be at least 2, for an error bar (got {})", where, ladders);
  ONSAGER_CHECK(temperatures >= 2, "{}: options.temperatures must be at least 2 (got {})", where, temperatures);
  ONSAGER_CHECK(sweeps >= 2, "{}: options.sweeps must be at least 2 (got {})", where, sweeps);
  ONSAGER_CHECK(burn_in >= 0 && burn_in < sweeps, "{}: options.burn_in must be in [0, sweeps) = [0, {}) (got {})",
                where, sweeps, burn_in);
  const double kept = static_cast<double>(ladders) * (temperatures - 1) * (sweeps - burn_in);
  ONSAGER_CHECK(kept <= kMaxKept,
                "{}: ladders x (temperatures - 1) x (sweeps - burn_in) = {:.0f} work values is more than {:.0f}; use "
                "fewer",
                where, kept, kMaxKept);
}

BarResult log_partition_bar(const Rbm& model, const ConstVectorFRef& base_pixel_marginals, const BarOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  model.validate("log_partition_bar");
  model.require_bernoulli("log_partition_bar");
  options.validate("log_partition_bar");
  const AisLayer layer = resolve_ais_layer(model, options.layer);
  const detail::AnnealedModel am =
      detail::annealed_model(model, base_pixel_marginals, layer, options.base, options.hidden_marginals);
  const Rbm& rbm = am.rbm;
  const VectorF& a = am.a;
  const RowVectorF d = am.d.transpose();
  const RowVectorF c_minus_d = (rbm.hidden_bias - am.d).transpose();

  const int nm = options.ladders, nk = options.temperatures;
  const Eigen::Index rows = static_cast<Eigen::Index>(nm) * nk, nv = rbm.num_visible(), nh = rbm.num_hidden();
  const VectorF& b = rbm.visible_bias;
  const VectorF bdiff = b - a;
  const bool par_v = rows * nv >= 32768;  // the first draw: in parallel where it outweighs the region

  std::vector<double> betas(static_cast<std::size_t>(nk));
  for (int k = 0; k < nk; ++k) betas[static_cast<std::size_t>(k)] = static_cast<double>(k) / (nk - 1);
  const int respace_at = options.burn_in / 2;  // 0: no re-spacing (no burn-in to measure it on)

  MatrixF x(rows, nv), u(rows, nh), s(rows, nh), acc(rows, nv);
  std::vector<double> vd(static_cast<std::size_t>(rows)), fwd(static_cast<std::size_t>(rows)),
      bwd(static_cast<std::size_t>(rows));
  const RowVectorF base_p = (1.0f + (-a.array()).exp()).inverse().matrix().transpose();
#pragma omp parallel for schedule(static) num_threads(num_threads()) if (par_v)
  for (Eigen::Index r = 0; r < rows; ++r) {
    x.row(r) = base_p;
    detail::sample_row(&x(r, 0), nv, options.seed, kTagInit, 0, r);
    vd[static_cast<std::size_t>(r)] = static_cast<double>(x.row(r).dot(bdiff));
  }
  u.rowwise() = c_minus_d;  // u = c + W x - d, the summed layer's field relative to its base
  gemm(1.0f, x, Trans::no, rbm.weight, Trans::yes, 1.0f, u);

  const std::size_t kept = static_cast<std::size_t>(options.sweeps - options.burn_in);
  const std::size_t pair_block = static_cast<std::size_t>(nm) * kept;
  std::vector<double> kf(static_cast<std::size_t>(nk - 1) * pair_block), kg(kf.size());
  // Per ladder: the work values' sums for the re-spacing and the swap counts (added up in ladder order after).
  const std::size_t nks = static_cast<std::size_t>(nk), pairs = nks - 1;
  std::vector<double> sum_f(static_cast<std::size_t>(nm) * nks, 0.0), sq_f(sum_f), sum_g(sum_f), sq_g(sum_f);
  std::vector<long> accepted(static_cast<std::size_t>(nm) * pairs, 0), proposed(accepted);
  const MatrixF wt = rbm.weight.transpose();  // u = c + W x - d row by row as x·wt, a plain (NN) product

  // Sweep t of ladder m (rows m·K .. m·K + K-1): a Gibbs step of every row at its own β (summed layer from U,
  // then the annealed layer), U again, the work values towards both neighbours, then swaps of neighbouring
  // levels, even pairs on even sweeps and odd pairs on odd ones.
  const auto sweep = [&](int m, int t) {
    const std::uint64_t step = static_cast<std::uint64_t>(t);
    const Eigen::Index r0 = static_cast<Eigen::Index>(m) * nk;
    for (Eigen::Index r = r0; r < r0 + nk; ++r) {
      const float be = static_cast<float>(betas[static_cast<std::size_t>(r - r0)]);
      s.row(r).array() = (1.0f + (-(d.array() + be * u.row(r).array())).exp()).inverse();
      detail::sample_row(&s(r, 0), nh, options.seed, kTagSummed, step, r);
    }
    gemm_serial(1.0f, s.middleRows(r0, nk), Trans::no, rbm.weight, Trans::no, 0.0f, acc.middleRows(r0, nk));
    for (Eigen::Index r = r0; r < r0 + nk; ++r) {
      const float be = static_cast<float>(betas[static_cast<std::size_t>(r - r0)]);
      x.row(r).array() =
          (1.0f + (-(be * (acc.row(r).array() + b.transpose().array()) + (1.0f - be) * a.transpose().array())).exp())
              .inverse();
      detail::sample_row(&x(r, 0), nv, options.seed, kTagState, step, r);
      vd[static_cast<std::size_t>(r)] = static_cast<double>(x.row(r).dot(bdiff));
    }
    auto um = u.middleRows(r0, nk);
    um.rowwise() = c_minus_d;
    gemm_serial(1.0f, x.middleRows(r0, nk), Trans::no, wt, Trans::no, 1.0f, um);
    for (Eigen::Index r = r0; r < r0 + nk; ++r) {
      const int k = static_cast<int>(r - r0);
      const auto ur = u.row(r);
      const std::size_t i = static_cast<std::size_t>(r);
      if (k + 1 < nk) {
        const double db = betas[k + 1] - betas[k];
        fwd[i] = db * vd[i] + detail::softplus_gap_sum(ur, d, static_cast<float>(betas[k]), static_cast<float>(db));
      }
      if (k > 0) {
        const double db = betas[k] - betas[k - 1];
        bwd[i] = -(db * vd[i] + detail::softplus_gap_sum(ur, d, static_cast<float>(betas[k - 1]), static_cast<float>(db)));
      }
    }
    const std::size_t mk = static_cast<std::size_t>(m) * nks, mp = static_cast<std::size_t>(m) * pairs;
    if (t < respace_at) {  // the spread of the work values on the even ladder
      for (int k = 0; k < nk; ++k) {
        const std::size_t i = static_cast<std::size_t>(r0 + k);
        if (k + 1 < nk) sum_f[mk + k] += fwd[i], sq_f[mk + k] += fwd[i] * fwd[i];
        if (k > 0) sum_g[mk + k] += bwd[i], sq_g[mk + k] += bwd[i] * bwd[i];
      }
    }
    if (t >= options.burn_in) {
      const std::size_t tt = static_cast<std::size_t>(t - options.burn_in);
      for (int k = 0; k + 1 < nk; ++k) {
        const std::size_t at = static_cast<std::size_t>(k) * pair_block + static_cast<std::size_t>(m) * kept + tt;
        kf[at] = fwd[static_cast<std::size_t>(r0 + k)];
        kg[at] = bwd[static_cast<std::size_t>(r0 + k + 1)];
      }
    }
    const std::uint64_t key = stream_seed(options.seed, kTagSwap, step, static_cast<std::uint64_t>(m));
    const bool counted = t >= respace_at;  // rates of the final ladder
    for (int k = t % 2; k + 1 < nk; k += 2) {
      const Eigen::Index q0 = r0 + k, q1 = q0 + 1;
      const double la = fwd[static_cast<std::size_t>(q0)] + bwd[static_cast<std::size_t>(q1)];
      if (counted) ++proposed[mp + k];
      if (la >= 0 || static_cast<double>(counter_uniform(key, static_cast<std::uint32_t>(k))) < std::exp(la)) {
        if (counted) ++accepted[mp + k];
        x.row(q0).swap(x.row(q1));
        u.row(q0).swap(u.row(q1));
        std::swap(vd[static_cast<std::size_t>(q0)], vd[static_cast<std::size_t>(q1)]);
      }
    }
  };
  // The ladders are independent between re-spacings: each thread advances its own through the sweeps, with no
  // barrier between them; every row comes from the same single-threaded calls whatever the thread count.
  ensure_serial_blas();
  Progress bar("BAR", static_cast<std::size_t>(options.sweeps), options.progress);
  const auto run_sweeps = [&](int t0, int t1) {
    const int team = std::min(nm, num_threads());
#pragma omp parallel num_threads(team)
    {
      const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
      const int m0 = tid * nm / nt, m1 = (tid + 1) * nm / nt;
      for (int t = t0; t < t1 && !interrupt_requested(); ++t) {
        for (int m = m0; m < m1; ++m) sweep(m, t);
        if (tid == 0) bar.advance();
      }
    }
    throw_if_interrupted("log_partition_bar");
  };
  run_sweeps(0, respace_at);
  if (respace_at > 0) {
    // The levels at equal distances along the thermodynamic length measured so far.
    const double n = static_cast<double>(respace_at) * nm;
    std::vector<double> gap(pairs);
    for (int k = 0; k + 1 < nk; ++k) {
      double f1 = 0, f2 = 0, g1 = 0, g2 = 0;
      for (int m = 0; m < nm; ++m) {
        const std::size_t mk = static_cast<std::size_t>(m) * nks;
        f1 += sum_f[mk + k], f2 += sq_f[mk + k], g1 += sum_g[mk + k + 1], g2 += sq_g[mk + k + 1];
      }
      const double vf = std::max(0.0, f2 / n - (f1 / n) * (f1 / n));
      const double vg = std::max(0.0, g2 / n - (g1 / n) * (g1 / n));
      gap[static_cast<std::size_t>(k)] = 0.5 * (std::sqrt(vf) + std::sqrt(vg));
    }
    betas = respace(betas, gap);
  }
  run_sweeps(respace_at, options.sweeps);
  bar.finish();

  // Bennett's r for every pair, on all ladders and with each left out.
  std::vector<double> full(static_cast<std::size_t>(nk - 1)), loo(static_cast<std::size_t>(nk - 1) * nm);
#pragma omp parallel for schedule(dynamic) num_threads(num_threads())
  for (int k = 0; k < nk - 1; ++k) {
    const double* f = kf.data() + static_cast<std::size_t>(k) * pair_block;
    const double* g = kg.data() + static_cast<std::size_t>(k) * pair_block;
    double mf = 0, mg = 0;
    for (std::size_t i = 0; i < pair_block; ++i) mf += f[i], mg += g[i];
    const double guess = 0.5 * (mf - mg) / static_cast<double>(pair_block);
    const double r = bar_solve(f, g, nm, kept, -1, guess);
    full[static_cast<std::size_t>(k)] = r;
    for (int m = 0; m < nm; ++m) loo[static_cast<std::size_t>(k) * nm + m] = bar_solve(f, g, nm, kept, m, r);
  }

  BarResult res;
  res.ladders = nm;
  res.temperatures = nk;
  res.sweeps = options.sweeps;
  res.burn_in = options.burn_in;
  res.layer = layer;
  res.base = options.base;
  res.log_z_base = am.log_z_base();
  double total = 0;
  for (double r : full) total += r;
  res.log_z = res.log_z_base + total;
  res.ladder_log_z.assign(static_cast<std::size_t>(nm), res.log_z_base);
  for (int k = 0; k < nk - 1; ++k)
    for (int m = 0; m < nm; ++m) res.ladder_log_z[static_cast<std::size_t>(m)] += loo[static_cast<std::size_t>(k) * nm + m];
  double mean = 0;
  for (double z : res.ladder_log_z) mean += z / nm;
  double ss = 0;
  for (double z : res.ladder_log_z) ss += (z - mean) * (z - mean);
  res.log_z_err = t_three_sigma(nm - 1) * std::sqrt(static_cast<double>(nm - 1) / nm * ss);
  double rate_sum = 0;
  res.swap_rate_min = 1.0;
  for (int k = 0; k < nk - 1; ++k) {
    long acc_k = 0, prop_k = 0;
    for (int m = 0; m < nm; ++m) acc_k += accepted[m * pairs + k], prop_k += proposed[m * pairs + k];
    const double rate = prop_k > 0 ? static_cast<double>(acc_k) / static_cast<double>(prop_k) : 0.0;
    res.swap_rate_min = std::min(res.swap_rate_min, rate);
    rate_sum += rate;
  }
  res.swap_rate_mean = rate_sum / (nk - 1);
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

}  // namespace onsager
