// Annealed importance sampling for log Z (Salakhutdinov & Murray, ICML 2008; DESIGN.md §5), on either layer.
//
// The code below is written for the visible layer as the annealed ("state") layer; annealing the hidden layer
// (marginalised AIS, Yasuda & Takahashi) runs the same code on the transposed model, detail::annealed_model, so the
// visible layer is then the one summed out. R runs move together as the rows of an R x V batch. At step
// k = 1 .. K-1, with v drawn by the transition at β_{k-1} (by the base model itself for k = 1) and x = c + W v - d (one float GEMM; b_A and d the base's biases on
// the annealed and the summed layer):
//   log w += log p_k*(v) - log p_{k-1}*(v) = Δβ (b - b_A)·v + Σ_j [softplus(d_j + β_k x_j) - softplus(d_j + β_{k-1} x_j)],
// then, unless k = K-1, h ~ σ(d + β_k x) and v ~ σ((1-β_k) b_A + β_k (b + Wᵀh)) (a second GEMM).
// The softplus difference is evaluated without cancellation (detail::softplus_gap_sum: a log1p of a non-negative
// argument; for small steps its series from the same σ(d + β_k x) that h is drawn from); each row's sum is added to
// a double log weight. The runs are cut into chunks fixed by their number; each thread advances its chunks through
// every temperature on its own (single-threaded GEMMs, no barrier between steps). Run r draws from streams keyed by
// (seed, tag, k, r) exactly as sample_bernoulli does, so nothing depends on the thread count.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include <omp.h>

#include <fmt/format.h>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/tap.hpp"
#include "partition_internal.hpp"

namespace onsager {
namespace detail {

double AnnealedModel::log_z_base() const {
  double z = 0;
  for (Eigen::Index i = 0; i < a.size(); ++i) z += softplus(static_cast<double>(a(i)));
  for (Eigen::Index j = 0; j < d.size(); ++j) z += softplus(static_cast<double>(d(j)));
  return z;
}

double softplus_gap_sum(const Eigen::Ref<const RowVectorF>& w, const RowVectorF& d, float lo, float delta) {
  const float wmax = w.size() > 0 ? w.cwiseAbs().maxCoeff() : 0.0f;
  const float tmax = std::abs(delta) * wmax;
  if (tmax < 80.0f) {
    // Each intermediate is evaluated once into an array: as nested expression templates Eigen would recompute σ (an
    // exp per element) for every use of it.
    const auto wa = w.array();
    const Eigen::ArrayXf dl = (delta * wa).transpose();
    const Eigen::ArrayXf z = (d.array() + lo * wa).transpose();
    const Eigen::ArrayXf sig = (1.0f + (-(dl >= 0.0f).select(z, z + dl)).exp()).inverse();  // σ(z')
    const Eigen::ArrayXf t = dl.abs();
    Eigen::ArrayXf mag;
    if (tmax < kGapSeriesStep) {
      // AIS's small steps: expm1 and log1p by their series, u = σ(z')(t + t²/2 + t³/6), log1p(u) = u - u²/2 + u³/3,
      // whose truncation error (u³/4 < 7e-9 relative for t < 0.003) is below float's rounding.
      const Eigen::ArrayXf u = sig * (t * (1.0f + t * (0.5f + t * (1.0f / 6.0f))));
      mag = u * (1.0f - u * (0.5f - u * (1.0f / 3.0f)));
    } else {
      mag = (sig * t.expm1()).log1p();
    }
    return static_cast<double>((dl >= 0.0f).select(mag, -mag).sum());
  }
  double sum = 0;
  for (Eigen::Index j = 0; j < w.size(); ++j) {
    const double wj = w(j), dj = d(j), dl = static_cast<double>(delta) * wj;
    const double z = dj + static_cast<double>(lo) * wj, zref = dl >= 0 ? z : z + dl;
    const double p = -softplus(zref), q = std::abs(dl) - softplus(-zref);
    const double m = std::max(p, q), mag = m + std::log1p(std::exp(std::min(p, q) - m));
    sum += dl >= 0 ? mag : -mag;
  }
  return sum;
}

double softplus_gap_sum_and_probs(const Eigen::Ref<const RowVectorF>& w, const RowVectorF& d, float lo, float delta,
                                  float hi, Eigen::Ref<RowVectorF> p) {
  p.array() = (1.0f + (-(d.array() + hi * w.array())).exp()).inverse();
  const float wmax = w.size() > 0 ? w.cwiseAbs().maxCoeff() : 0.0f;
  if (std::abs(delta) * wmax >= kGapSeriesStep) return softplus_gap_sum(w, d, lo, delta);
  // With p = σ(z + t), softplus(z + t) - softplus(z) = -log1p(p expm1(-t)) for t of either sign; for |t| < 0.003
  // both by their series, u = p (-t + t²/2 - t³/6), -log1p(u) = -(u - u²/2 + u³/3), the truncation error below
  // float's rounding (u³/4 < 7e-9 relative to the term).
  const auto t = delta * w.array();
  const auto u = -p.array() * t * (1.0f - t * (0.5f - t * (1.0f / 6.0f)));
  return -static_cast<double>((u * (1.0f - u * (0.5f - u * (1.0f / 3.0f)))).sum());
}

double log_sum_exp(const std::vector<double>& l) {
  LogSumExp acc;
  for (double x : l) acc.add(x);
  return acc.value();
}

double log_p_star(const VectorD& b, const VectorD& x, const VectorD& y) {
  double l = b.dot(x);
  for (Eigen::Index j = 0; j < y.size(); ++j) l += softplus(y(j));
  return l;
}

}  // namespace detail
namespace {

using detail::sample_row;

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


// The chunks of runs AIS's threads share: a power of two up to 8, each of at least 24 runs (where one SGEMM call
// per chunk stays near the kernel's peak: 4 chunks of 25 took as long as 2 of 50 on 2 cores), from the run count
// alone; 32-47 runs make two chunks of at least 16, so that two threads still share them.
Eigen::Index ais_chunks(Eigen::Index runs) {
  Eigen::Index c = 1;
  while (c < 8 && runs / (2 * c) >= 24) c *= 2;
  if (c == 1 && runs >= 32) c = 2;
  return c;
}

// S must hold more than this share of the result for its exact sum to be used (AisOptions::exact_states).
constexpr double kExactShare = 0.5;

// log Z and its ±3σ band from the runs' log weights, Z = Z_S + Z_A mean(w) (log Z_S = -inf: no exact part).
void set_estimate(AisResult& res, const std::vector<double>& lw, double log_z_exact) {
  res.log_weights = lw;
  const double log_z_base = res.log_z_base;
  const auto plus_exact = [&](double log_rest) {
    const double hi = std::max(log_rest, log_z_exact), lo = std::min(log_rest, log_z_exact);
    return std::isfinite(lo) ? hi + std::log1p(std::exp(lo - hi)) : hi;
  };
  double m = *std::max_element(lw.begin(), lw.end());
  if (!std::isfinite(m)) {
    // Every run ended on a state summed exactly: the rest of Z went unmeasured. The estimate is the exact sum, a
    // rigorous lower end; nothing bounds the upper one.
    res.log_z = res.log_z_lo = log_z_exact;
    res.log_z_hi = std::numeric_limits<double>::infinity();
    res.ess = 0;
    return;
  }
  // Weights scaled by exp(-m): the largest is 1, so sums neither overflow nor underflow.
  double s1 = 0, s2 = 0;
  for (double l : lw) {
    const double w = std::exp(l - m);
    s1 += w;
    s2 += w * w;
  }
  const double n = static_cast<double>(lw.size());
  const double mean = s1 / n;
  const double var = lw.size() > 1 ? std::max(0.0, (s2 - n * mean * mean) / (n - 1)) : 0.0;
  const double half = 3.0 * std::sqrt(var / n);
  res.log_z = plus_exact(log_z_base + m + std::log(mean));
  if (lw.size() < 2) {
    // One weight has no spread: an interval of zero width would claim an exact answer.
    res.log_z_hi = res.log_z_lo = std::numeric_limits<double>::quiet_NaN();
  } else {
    res.log_z_hi = plus_exact(log_z_base + m + std::log(mean + half));
    // The rest of Z is not negative: the lower end is at least the exact part (-inf without one).
    res.log_z_lo = mean - half > 0 ? plus_exact(log_z_base + m + std::log(mean - half)) : log_z_exact;
  }
  res.ess = s1 * s1 / s2;
  if (std::isfinite(log_z_exact) && res.ess < 0.1 * n) {
    // Few runs measure the rest of Z beyond the states summed exactly: their spread says little, so the interval
    // keeps only what is certain, the exact sum below and nothing above.
    res.log_z_lo = log_z_exact;
    res.log_z_hi = std::numeric_limits<double>::infinity();
  }
}

// The packed bits of a binary row, the key of the exactly summed states.
std::string state_key(const float* x, Eigen::Index n) {
  std::string k(static_cast<std::size_t>((n + 7) / 8), '\0');
  for (Eigen::Index i = 0; i < n; ++i)
    if (x[i] > 0.5f) k[static_cast<std::size_t>(i / 8)] = static_cast<char>(k[static_cast<std::size_t>(i / 8)] | (1 << (i % 8)));
  return k;
}

// `am` is the model seen from the annealed layer with the base's biases (detail::annealed_model); below "v" is the
// annealed layer and "h" the one summed out. `exact` (rows: distinct states of the annealed layer, may be empty) are
// summed exactly; a run whose final state is
// one of them gets weight 0, so the runs estimate only the rest of Z (see AisOptions::exact_states).
AisResult run_ais(const detail::AnnealedModel& am, int runs, const std::vector<double>& betas, std::uint64_t seed,
                  bool progress, const char* label, const MatrixF& exact) {
  const auto start = std::chrono::steady_clock::now();
  const Rbm& rbm = am.rbm;
  const VectorF& base_bias = am.a;
  const RowVectorF d = am.d.transpose();
  const Eigen::Index nr = runs, nv = rbm.num_visible(), nh = rbm.num_hidden();
  const int temps = static_cast<int>(betas.size());
  const VectorF& b = rbm.visible_bias;
  const RowVectorF c_minus_d = (rbm.hidden_bias - am.d).transpose();
  const VectorF bdiff = b - base_bias;
  const bool par_v = nr > 1 && nr * nv >= 32768;  // the base draw: in parallel where it outweighs the region

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

  // The runs are cut into a fixed number of chunks (from the run count alone), each advanced by its own thread
  // through all the temperatures with one single-threaded SGEMM per layer and step, so the threads never wait for
  // each other; every output row comes from the same calls whatever the thread count.
  const Eigen::Index chunks = ais_chunks(nr), chunk_rows = (nr + chunks - 1) / chunks;
  const MatrixF wt = rbm.weight.transpose();  // x = c + W v - d row by row as v·wt, a plain (NN) product
  ensure_serial_blas();
  Progress bar(label, static_cast<std::size_t>(temps - 1), progress);
  const int team = static_cast<int>(std::min<Eigen::Index>(chunks, num_threads()));
#pragma omp parallel num_threads(team)
  {
    const Eigen::Index tid = omp_get_thread_num(), nt = omp_get_num_threads();
    const Eigen::Index c0 = tid * chunks / nt, c1 = (tid + 1) * chunks / nt;
    RowVectorF vis_bias(nv);
    for (int k = 1; k < temps && !interrupt_requested(); ++k) {
      const bool last = k == temps - 1;
      const double dbeta = betas[k] - betas[k - 1];
      const float fd = static_cast<float>(dbeta), fprev = static_cast<float>(betas[k - 1]),
                  fbeta = static_cast<float>(betas[k]);
      vis_bias = (fbeta * b + (1.0f - fbeta) * base_bias).transpose();
      for (Eigen::Index c = c0; c < c1; ++c) {
        const Eigen::Index r0 = c * chunk_rows, len = std::min(chunk_rows, nr - r0);
        if (len <= 0) continue;
        auto xs = x.middleRows(r0, len);
        xs.rowwise() = c_minus_d;  // x = c + W v - d: the summed layer's field relative to its base
        gemm_serial(1.0f, v.middleRows(r0, len), Trans::no, wt, Trans::no, 1.0f, xs);
        for (Eigen::Index r = r0; r < r0 + len; ++r) {
          // h's probabilities at β_k, and the log weight's step from them.
          const double hidden_sum = detail::softplus_gap_sum_and_probs(x.row(r), d, fprev, fd, fbeta, h.row(r));
          lw[static_cast<std::size_t>(r)] += dbeta * vd[static_cast<std::size_t>(r)] + hidden_sum;
          if (!last) sample_row(&h(r, 0), nh, seed, kTagHidden, static_cast<std::uint64_t>(k), r);
        }
        if (last) continue;
        auto as = acc.middleRows(r0, len);
        gemm_serial(1.0f, h.middleRows(r0, len), Trans::no, rbm.weight, Trans::no, 0.0f, as);
        for (Eigen::Index r = r0; r < r0 + len; ++r) {
          v.row(r).array() = (1.0f + (-(fbeta * acc.row(r).array() + vis_bias.array())).exp()).inverse();
          sample_row(&v(r, 0), nv, seed, kTagVisible, static_cast<std::uint64_t>(k), r);
          vd[static_cast<std::size_t>(r)] = static_cast<double>(v.row(r).dot(bdiff));
        }
      }
      if (tid == 0) bar.advance();
    }
  }
  throw_if_interrupted("log_partition_ais");
  bar.finish();

  AisResult res;
  res.runs = runs;
  res.temperatures = temps;
  res.log_z_base = am.log_z_base();
  res.exact_states = static_cast<int>(exact.rows());
  set_estimate(res, lw, -std::numeric_limits<double>::infinity());
  if (exact.rows() > 0) {
    // The exactly summed states: their log p* in double, and the runs that ended on one of them (weight 0).
    std::set<std::string> keys;
    std::vector<double> lp;
    const VectorD bd = b.cast<double>(), cd = rbm.hidden_bias.cast<double>();
    const MatrixD wd = rbm.weight.cast<double>();
    for (Eigen::Index s = 0; s < exact.rows(); ++s) {
      const RowVectorF row = exact.row(s);
      if (!keys.insert(state_key(row.data(), nv)).second) continue;  // counted once
      const VectorD x = row.transpose().cast<double>();
      lp.push_back(detail::log_p_star(bd, x, cd + wd * x));
    }
    res.log_z_exact_states = detail::log_sum_exp(lp);
    std::vector<double> rest = lw;
    for (Eigen::Index r = 0; r < nr; ++r) {
      const RowVectorF row = v.row(r);
      if (keys.count(state_key(row.data(), nv)) > 0) {
        rest[static_cast<std::size_t>(r)] = -std::numeric_limits<double>::infinity();
        ++res.runs_in_exact_states;
      }
    }
    // Used only when the plain estimate cannot be trusted (its ESS below a tenth of the runs, no error bar, or the
    // estimate below Σ_S p*, a rigorous lower bound) and S holds most of the result (Z_S > the runs' estimate of
    // the rest): a set with a small share that no run happened to reach would be counted twice (in Z_S and, through
    // the runs, in the rest), and where the plain runs are sound they measure the rest better than the few runs
    // that end outside S.
    AisResult strat = res;
    set_estimate(strat, rest, res.log_z_exact_states);
    const bool plain_unreliable =
        res.ess < 0.1 * runs || std::isnan(res.log_z_hi) || !(res.log_z >= res.log_z_exact_states);
    if (plain_unreliable && res.log_z_exact_states > strat.log_z + std::log(kExactShare)) {
      strat.exact_states_used = true;
      res = std::move(strat);
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

}  // namespace

void detail::set_ais_estimate(AisResult& res, const std::vector<double>& lw) {
  set_estimate(res, lw, -std::numeric_limits<double>::infinity());
}

namespace {

void validate_ais(const Rbm& rbm, const AisOptions& options) {
  rbm.validate("log_partition_ais");
  ONSAGER_CHECK(options.runs >= 1, "log_partition_ais: options.runs must be at least 1 (got {})", options.runs);
}

// logit((p + pseudo) / (1 + 2 pseudo)) of each entry.
VectorF smoothed_logit(const ConstVectorFRef& p, const char* what) {
  VectorF out(p.size());
  for (Eigen::Index i = 0; i < p.size(); ++i) {
    const double x = p(i);
    ONSAGER_CHECK(x >= 0.0 && x <= 1.0, "ais_base_bias: {} {} is {}, not in [0, 1]", what, i, x);
    const double q = (x + ais_pseudo_count) / (1.0 + 2.0 * ais_pseudo_count);
    out(i) = static_cast<float>(std::log(q / (1.0 - q)));
  }
  return out;
}

VectorF sigmoid_of(const VectorF& x) { return (1.0f + (-x.array()).exp()).inverse().matrix(); }

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
  return smoothed_logit(pixel_marginals, "pixel marginal");
}

std::string_view to_string(AisLayer layer) {
  switch (layer) {
    case AisLayer::visible: return "visible";
    case AisLayer::hidden: return "hidden";
    default: return "automatic";
  }
}

std::string_view to_string(AisBase base) {
  switch (base) {
    case AisBase::uniform: return "uniform";
    case AisBase::mean_field: return "mean-field";
    default: return "data";
  }
}

AisLayer parse_ais_layer(std::string_view s) {
  if (s == "automatic" || s == "auto") return AisLayer::automatic;
  if (s == "visible") return AisLayer::visible;
  if (s == "hidden") return AisLayer::hidden;
  throw Error(fmt::format("AIS layer must be automatic, visible or hidden (got '{}')", s));
}

AisBase parse_ais_base(std::string_view s) {
  if (s == "data") return AisBase::data;
  if (s == "uniform") return AisBase::uniform;
  if (s == "mean-field" || s == "mean_field" || s == "mf") return AisBase::mean_field;
  throw Error(fmt::format("AIS base must be data, uniform or mean-field (got '{}')", s));
}

AisLayer resolve_ais_layer(const Rbm& rbm, AisLayer layer) {
  if (layer != AisLayer::automatic) return layer;
  return rbm.num_hidden() < rbm.num_visible() ? AisLayer::hidden : AisLayer::visible;
}

VectorF hidden_marginals(const Rbm& rbm, const ConstMatrixFRef& data) {
  ONSAGER_CHECK(data.rows() > 0, "hidden_marginals: the data is empty");
  ONSAGER_CHECK(data.cols() == rbm.num_visible(), "hidden_marginals: the data has {} features, the model {} visible units",
                data.cols(), rbm.num_visible());
  VectorD sum = VectorD::Zero(rbm.num_hidden());
  constexpr Eigen::Index kBlock = 1024;
  for (Eigen::Index lo = 0; lo < data.rows(); lo += kBlock) {
    const Eigen::Index len = std::min(kBlock, data.rows() - lo);
    const MatrixF p = rbm.hidden_probs(data.middleRows(lo, len));
    sum += p.colwise().sum().transpose().cast<double>();
  }
  return (sum / static_cast<double>(data.rows())).cast<float>();
}

namespace detail {

AnnealedModel annealed_model(const Rbm& rbm, const ConstVectorFRef& pixel_marginals, AisLayer resolved, AisBase base,
                             const VectorF& hidden_marg) {
  const Eigen::Index nv = rbm.num_visible(), nh = rbm.num_hidden();
  VectorF av = VectorF::Zero(nv), ah = VectorF::Zero(nh);
  const bool have_pixels = pixel_marginals.size() > 0;
  const VectorF pixel_bias = ais_base_bias(pixel_marginals, nv);  // checks the size and range
  if (base == AisBase::data) {
    av = pixel_bias;
    if (hidden_marg.size() > 0) {
      ONSAGER_CHECK(hidden_marg.size() == nh,
                    "ais_base_bias: options.hidden_marginals has {} entries, the model {} hidden units",
                    hidden_marg.size(), nh);
      ah = smoothed_logit(hidden_marg, "hidden marginal");
    } else if (have_pixels) {
      ah = smoothed_logit(sigmoid_of(rbm.hidden_bias + rbm.weight * sigmoid_of(pixel_bias)), "hidden marginal");
    }
  } else if (base == AisBase::mean_field) {
    // The naive fixed point from the smoothed pixel marginals (½ without them).
    TapOptions t;
    t.order = TapOrder::naive;
    const MatrixF start = sigmoid_of(pixel_bias).transpose();
    const TapFixedPoint fp = tap_fixed_point(rbm, start, t);
    av = smoothed_logit(fp.m_v.row(0).transpose(), "mean-field magnetisation");
    ah = smoothed_logit(fp.m_h.row(0).transpose(), "mean-field magnetisation");
  }
  AnnealedModel am;
  if (resolved == AisLayer::hidden) {
    am.rbm.weight = rbm.weight.transpose();
    am.rbm.visible_bias = rbm.hidden_bias;
    am.rbm.hidden_bias = rbm.visible_bias;
    am.a = std::move(ah);
    am.d = std::move(av);
  } else {
    am.rbm = rbm;
    am.a = std::move(av);
    am.d = std::move(ah);
  }
  return am;
}

}  // namespace detail

VectorF ais_base_bias(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals, AisLayer layer,
                      const AisOptions& options) {
  const AisLayer resolved = resolve_ais_layer(rbm, layer);
  return detail::annealed_model(rbm, base_pixel_marginals, resolved, options.base, options.hidden_marginals).a;
}

AisResult log_partition_ais(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals, const AisOptions& options) {
  validate_ais(rbm, options);
  const std::vector<double> betas = ais_schedule(options.betas);
  if (rbm.gaussian()) {
    ONSAGER_CHECK(options.exact_states.rows() == 0,
                  "log_partition_ais: options.exact_states is for Bernoulli models");
    if (resolve_ais_layer(rbm, options.layer) == AisLayer::hidden)
      return detail::gaussian_hidden_ais(rbm, base_pixel_marginals, options, betas);
    return detail::gaussian_ais(rbm, base_pixel_marginals, options, betas);
  }
  const AisLayer layer = resolve_ais_layer(rbm, options.layer);
  const detail::AnnealedModel am =
      detail::annealed_model(rbm, base_pixel_marginals, layer, options.base, options.hidden_marginals);
  ONSAGER_CHECK(options.exact_states.rows() == 0 || options.exact_states.cols() == am.rbm.num_visible(),
                "log_partition_ais: options.exact_states has {} columns, the annealed ({}) layer {} units",
                options.exact_states.cols(), to_string(layer), am.rbm.num_visible());
  AisResult r = run_ais(am, options.runs, betas, options.seed, options.progress, "AIS", options.exact_states);
  r.layer = layer;
  r.base = options.base;
  return r;
}

AisResult log_partition_ais(const Rbm& rbm, const AisOptions& options) {
  return log_partition_ais(rbm, VectorF(), options);
}

AisReport log_partition_ais_checked(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals,
                                    const AisOptions& options, const BarOptions& bar_options) {
  validate_ais(rbm, options);
  bar_options.validate("log_partition_bar");
  AisReport report;
  report.main = log_partition_ais(rbm, base_pixel_marginals, options);
  if (rbm.gaussian()) return report;  // BAR over parallel tempering is for Bernoulli models: no check
  BarOptions b = bar_options;
  b.layer = options.layer;
  b.base = options.base;
  b.hidden_marginals = options.hidden_marginals;
  b.seed = stream_seed(options.seed, kCheckStream);
  b.progress = options.progress;
  report.check = log_partition_bar(rbm, base_pixel_marginals, b);
  report.gap = report.main.log_z - report.check.log_z;
  return report;
}

namespace {
// AIS's interval [lo, hi] and BAR's [log_z - err, log_z + err]; false when either is not finite.
bool intervals(const AisReport& r, double& alo, double& ahi, double& blo, double& bhi) {
  alo = r.main.log_z_lo;
  ahi = r.main.log_z_hi;
  blo = r.check.log_z - r.check.log_z_err;
  bhi = r.check.log_z + r.check.log_z_err;
  return std::isfinite(alo) && std::isfinite(ahi) && std::isfinite(blo) && std::isfinite(bhi);
}
}  // namespace

std::string ais_bar_verdict(const AisReport& report) {
  double alo = 0, ahi = 0, blo = 0, bhi = 0;
  if (report.check.ladders == 0 || !intervals(report, alo, ahi, blo, bhi)) return "unchecked";
  return (alo <= bhi && blo <= ahi) ? "agree" : "disagree";
}

std::vector<std::string> ais_warnings(const AisReport& report) {
  std::vector<std::string> out;
  const AisResult& m = report.main;
  if (m.exact_states_used && m.ess < 0.1 * m.runs)
    out.push_back(fmt::format("AIS: {} of {} runs ended on the {} states summed exactly and the others have an "
                              "effective sample size of {:.1f}, so the rest of Z beyond those states is poorly "
                              "measured: the lower end of the interval is their exact sum (rigorous), the upper end "
                              "is unknown",
                              m.runs_in_exact_states, m.runs, m.exact_states, m.ess));
  else if (m.ess < 0.1 * m.runs)
    out.push_back(fmt::format("AIS: effective sample size {:.1f} of {} runs: a few runs dominate, so the estimate "
                              "and its error bar are unreliable; use more temperatures or runs",
                              m.ess, m.runs));
  if (m.runs < 2)
    out.push_back("AIS: a single run has no spread to measure, so the estimate has no error bar; use 2 or more runs "
                  "(100 is the usual choice)");
  else if (!std::isfinite(m.log_z_lo))
    out.push_back("AIS: the weights' spread exceeds their mean, so the lower error bar is unbounded; use more "
                  "temperatures or runs");
  const BarResult& b = report.check;
  if (b.ladders == 0) return out;
  if (b.swap_rate_min < 0.05)
    out.push_back(fmt::format("BAR: a neighbouring swap of the parallel-tempering ladder was accepted in only "
                              "{:.1f}% of proposals, so the ladder barely mixes there; use more BAR temperatures",
                              100.0 * b.swap_rate_min));
  if (ais_bar_verdict(report) == "disagree")
    out.push_back(fmt::format("AIS ({:.3f}) and BAR ({:.3f} ± {:.3f}) disagree by {:.3f} nats, beyond both error "
                              "bars: at least one of them has missed part of the distribution; AIS tends to "
                              "under-estimate log Z, so the larger estimate is usually the closer",
                              m.log_z, b.log_z, b.log_z_err, report.gap));
  return out;
}

}  // namespace onsager
