// The spectral module against independent truths: ESDs of matrices built from known singular values and
// Eigen's BDCSVD; the fast power-law scan against the direct O(n²) scan and against Pareto samples of known
// exponent; the MP fit against the theoretical bulk edges of Gaussian matrices; and the phase rules on
// matrices whose phase is known by construction.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include <Eigen/QR>

#include "onsager/core/error.hpp"
#include "onsager/core/random.hpp"
#include "onsager/spectral/analyze.hpp"

namespace onsager {
namespace {

MatrixD gaussian(std::size_t n, std::size_t m, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  MatrixD w(n, m);
  for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = scale * rng.normal();
  return w;
}

// A random n x m matrix with orthonormal columns (m <= n), from the QR of a Gaussian matrix.
Eigen::MatrixXd orthonormal(std::size_t n, std::size_t m, std::uint64_t seed) {
  const Eigen::MatrixXd g = gaussian(n, m, seed);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(g);
  return qr.householderQ() * Eigen::MatrixXd::Identity(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(m));
}

LayerResult analyze_one(const MatrixD& w, const AnalyzeOptions& o = {}) {
  LayerSpec spec;
  spec.name = "w";
  spec.kind = "dense";
  spec.rows = static_cast<std::size_t>(w.rows());
  spec.cols = static_cast<std::size_t>(w.cols());
  spec.shape = {w.rows(), w.cols()};
  spec.slices = {0};
  return analyze_matrices(spec, {std::vector<double>(w.data(), w.data() + w.size())}, o);
}

// ---------------------------------------------------------------------------------------------------- ESD

TEST(Esd, KnownSingularValuesBothRoutesAndBothOrientations) {
  const std::size_t n = 300, m = 120;
  Eigen::VectorXd s(m);
  for (std::size_t i = 0; i < m; ++i) s[static_cast<Eigen::Index>(i)] = std::pow(10.0, -2.0 + 4.0 * i / (m - 1));
  const Eigen::MatrixXd a = orthonormal(n, m, 1) * s.asDiagonal() * orthonormal(m, m, 2).transpose();
  const MatrixD w = a;
  const MatrixD wt = a.transpose();
  std::vector<double> truth(m);
  for (std::size_t i = 0; i < m; ++i) truth[i] = s[static_cast<Eigen::Index>(i)] * s[static_cast<Eigen::Index>(i)];
  const double lmax = truth.back();
  for (const MatrixD* mat : {&w, &wt})
    for (EsdMethod method : {EsdMethod::gram, EsdMethod::svd}) {
      const std::vector<double> e = esd(*mat, method);
      ASSERT_EQ(e.size(), m);
      for (std::size_t i = 0; i < m; ++i) {
        EXPECT_NEAR(e[i], truth[i], 1e-12 * lmax) << to_string(method) << " i=" << i;
        if (truth[i] > 1e-6 * lmax) {
          EXPECT_NEAR(e[i] / truth[i], 1.0, 1e-8) << to_string(method) << " i=" << i;
        }
      }
    }
}

TEST(Esd, GramAgreesWithBdcsvdOnGaussian) {
  const MatrixD w = gaussian(500, 200, 3);
  const std::vector<double> g = esd(w, EsdMethod::gram), s = esd(w, EsdMethod::svd);
  double worst = 0;
  for (std::size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - s[i]) / s[i]);
  EXPECT_LT(worst, 1e-12);
}

TEST(Esd, RejectsNonFiniteAndBadShapes) {
  MatrixD w = gaussian(5, 4, 1);
  w(2, 2) = std::nan("");
  EXPECT_THROW(esd(w), Error);
  std::vector<double> v(7);
  EXPECT_THROW(esd(v, 2, 4), Error);
  EXPECT_THROW(esd_method_from_string("qr"), Error);
}

TEST(Esd, BlockedRoutesAgreeWithTheWholeMatrixRoute) {
  // Tall and wide matrices of several blocks each: the double route matches esd() to rounding, the single
  // route stays within its documented floor, and the blocks really are several.
  for (const auto& [n, m] : {std::pair<std::size_t, std::size_t>{9000, 512}, {512, 9000}}) {
    const std::size_t block = esd_block_size(n, m);
    ASSERT_LT(block, std::max(n, m)) << "the test needs several blocks";
    Rng rng(11);
    std::vector<double> w(n * m);
    for (auto& x : w) x = static_cast<double>(static_cast<float>(rng.normal()));  // values float holds exactly
    const BlockReader read = [&](std::size_t first, std::size_t count, float* out) {
      if (m <= n)
        for (std::size_t k = 0; k < count * m; ++k) out[k] = static_cast<float>(w[first * m + k]);
      else
        for (std::size_t r = 0; r < n; ++r)
          for (std::size_t j = 0; j < count; ++j) out[r * count + j] = static_cast<float>(w[r * m + first + j]);
    };
    const std::vector<double> truth = esd(w, n, m);
    EsdWorkspace ws;
    const BlockedEsd d = blocked_esd(n, m, read, EsdPrecision::f64, ws), f = blocked_esd(n, m, read, EsdPrecision::f32, ws),
                     a = blocked_esd(n, m, read, EsdPrecision::automatic, ws);
    ASSERT_EQ(d.evals.size(), truth.size());
    ASSERT_EQ(f.evals.size(), truth.size());
    ASSERT_EQ(a.evals.size(), truth.size());
    EXPECT_FALSE(d.all_zero);
    EXPECT_FALSE(d.single_gram);
    EXPECT_TRUE(f.single_gram);
    EXPECT_TRUE(a.single_gram) << "a Gaussian matrix with Q = 17.6 is resolved in single";
    EXPECT_TRUE(single_resolves(truth));
    const double floor = single_precision_floor(truth.size(), truth.back());
    double worst_single = 0, worst_auto = 0;
    for (std::size_t i = 0; i < truth.size(); ++i) {
      EXPECT_NEAR(d.evals[i] / truth[i], 1.0, 1e-12) << n << "x" << m << " i=" << i;
      worst_single = std::max(worst_single, std::abs(f.evals[i] - truth[i]));
      worst_auto = std::max(worst_auto, std::abs(a.evals[i] - truth[i]));
    }
    EXPECT_LT(worst_single, floor) << n << "x" << m;
    EXPECT_GT(worst_single, 0.0) << "single precision should differ from double somewhere";
    EXPECT_LT(worst_auto, worst_single) << "the double eigensolver removes the single one's share of the error";
  }
  {
    // Square: the bulk reaches 0, so automatic does not try single; a rank-deficient tall product fails the
    // Cholesky test and is done in double too. Both then equal the f64 route exactly.
    const std::size_t n = 400;
    Rng rng(12);
    std::vector<double> sq(n * n), low(600 * 100, 0.0), u(600 * 10), v(10 * 100);
    for (auto& x : sq) x = static_cast<double>(static_cast<float>(rng.normal()));
    for (auto& x : u) x = static_cast<double>(static_cast<float>(rng.normal()));
    for (auto& x : v) x = static_cast<double>(static_cast<float>(rng.normal()));
    for (std::size_t i = 0; i < 600; ++i)
      for (std::size_t j = 0; j < 100; ++j) {
        float acc = 0;  // the product as float32 weights would hold it
        for (std::size_t k = 0; k < 10; ++k) acc += static_cast<float>(u[i * 10 + k] * v[k * 100 + j]);
        low[i * 100 + j] = acc;
      }
    for (const auto* w : {&sq, &low}) {
      const std::size_t rows = w == &sq ? n : 600, cols = w == &sq ? n : 100;
      const BlockReader read = [&](std::size_t first, std::size_t count, float* out) {
        for (std::size_t k = 0; k < count * cols; ++k) out[k] = static_cast<float>((*w)[first * cols + k]);
      };
      EsdWorkspace ws;
      const BlockedEsd a = blocked_esd(rows, cols, read, EsdPrecision::automatic, ws),
                       d = blocked_esd(rows, cols, read, EsdPrecision::f64, ws);
      EXPECT_FALSE(a.single_gram) << rows << "x" << cols;
      EXPECT_EQ(a.evals, d.evals) << rows << "x" << cols;
      EXPECT_FALSE(single_resolves(d.evals));
    }
  }
  std::vector<double> zero(300 * 100, 0.0);
  EsdWorkspace ws;
  const BlockedEsd z = blocked_esd(
      300, 100, [&](std::size_t, std::size_t count, float* out) { std::fill(out, out + count * 100, 0.0f); },
      EsdPrecision::f32, ws);
  EXPECT_TRUE(z.all_zero);
  EXPECT_THROW(blocked_esd(
                   300, 100,
                   [&](std::size_t, std::size_t count, float* out) {
                     std::fill(out, out + count * 100, 1.0f);
                     out[7] = std::numeric_limits<float>::infinity();
                   },
                   EsdPrecision::f32, ws),
               Error);
  EXPECT_EQ(esd_precision_from_string("single"), EsdPrecision::f32);
  EXPECT_EQ(to_string(EsdPrecision::automatic), "auto");
  EXPECT_THROW(esd_precision_from_string("half"), Error);
}

// --------------------------------------------------------------------------------------------- power law

std::vector<double> pareto_sample(std::size_t n, double alpha, double xmin, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<double> x(n);
  for (auto& v : x) v = xmin * std::pow(1.0 - rng.uniform(), -1.0 / (alpha - 1.0));
  std::sort(x.begin(), x.end());
  return x;
}

void expect_same_fit(const PowerLawFit& fast, const PowerLawFit& naive, const std::string& what) {
  ASSERT_EQ(fast.valid, naive.valid) << what;
  if (!fast.valid) return;
  EXPECT_EQ(fast.xmin_index, naive.xmin_index) << what;
  EXPECT_EQ(fast.xmin, naive.xmin) << what;
  EXPECT_EQ(fast.num_pl_spikes, naive.num_pl_spikes) << what;
  EXPECT_NEAR(fast.alpha, naive.alpha, 1e-10 * naive.alpha) << what;
  EXPECT_NEAR(fast.D, naive.D, 1e-12) << what;
  EXPECT_EQ(fast.num_fingers, naive.num_fingers) << what;
}

TEST(PowerLaw, FastScanEqualsDirectScan) {
  int cases = 0;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    for (std::size_t n : {3, 20, 150, 900}) {
      // A Pareto tail over a log-normal body, an MP-like ESD, and data with ties.
      std::vector<double> mixed = pareto_sample(n / 3 + 1, 1.5 + 0.25 * static_cast<double>(seed % 8), 1.0, seed);
      Rng rng(seed * 77);
      for (std::size_t i = 0; i < n; ++i) mixed.push_back(std::exp(0.5 * rng.normal()));
      std::sort(mixed.begin(), mixed.end());
      const MatrixD g = gaussian(std::max<std::size_t>(n, 4) * 2, std::max<std::size_t>(n, 4), seed);
      std::vector<double> mp = esd(g);
      std::vector<double> ties = mixed;
      for (auto& v : ties) v = std::round(v * 4) / 4 + 0.25;
      std::sort(ties.begin(), ties.end());
      for (const auto* data : {&mixed, &mp, &ties}) {
        PowerLawOptions o;
        expect_same_fit(fit_power_law(*data, o), fit_power_law_naive(*data, o), "default");
        o.min_tail = 10;
        expect_same_fit(fit_power_law(*data, o), fit_power_law_naive(*data, o), "min_tail");
        o = {};
        o.xmax = (*data)[data->size() * 3 / 4];
        expect_same_fit(fit_power_law(*data, o), fit_power_law_naive(*data, o), "xmax");
        o = {};
        o.clip_xmax = true;
        expect_same_fit(fit_power_law(*data, o), fit_power_law_naive(*data, o), "clip_xmax");
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 12 * 4 * 3);
}

TEST(PowerLaw, XmaxAndMinTailFollowTheirDefinitions) {
  const std::vector<double> x = pareto_sample(400, 2.5, 1.0, 5);
  PowerLawOptions o;
  o.xmax = x[299] * 1.0000001;  // nearest point: index 299
  const PowerLawFit f = fit_power_law(x, o);
  ASSERT_TRUE(f.valid);
  EXPECT_EQ(f.xmax, x[299]);
  EXPECT_EQ(f.xmin_index + f.num_pl_spikes, 300u);
  o = {};
  o.min_tail = 390;
  const PowerLawFit g = fit_power_law(x, o);
  EXPECT_GE(g.num_pl_spikes, 390u);
  o.min_tail = 401;
  EXPECT_FALSE(fit_power_law(x, o).valid);
}

TEST(PowerLaw, RecoversParetoExponentWithinItsStandardError) {
  for (double alpha : {1.5, 2.0, 3.0, 4.5}) {
    int within = 0;
    for (std::uint64_t seed = 1; seed <= 10; ++seed) {
      const std::vector<double> x = pareto_sample(4000, alpha, 0.5, seed * 31 + 7);
      const PowerLawFit f = fit_power_law(x);
      ASSERT_TRUE(f.valid);
      // sigma = (alpha - 1)/sqrt(n) is the ML standard error; the KS choice of xmin adds a little.
      if (std::abs(f.alpha - alpha) <= 2 * f.sigma) ++within;
      EXPECT_LT(std::abs(f.alpha - alpha), 5 * f.sigma) << "alpha " << alpha << " seed " << seed;
    }
    EXPECT_GE(within, 8) << "alpha " << alpha;
  }
}

TEST(PowerLaw, ScanWorkIsFarBelowQuadratic) {
  const std::vector<double> e = esd(gaussian(4000, 2000, 9));
  std::vector<double> x;
  for (double v : e)
    if (v > 1e-5) x.push_back(v);
  const PowerLawFit f = fit_power_law(x);
  ASSERT_TRUE(f.valid);
  const double n = static_cast<double>(x.size());
  EXPECT_LT(static_cast<double>(f.points_evaluated), 40 * n * std::log2(n)) << "evaluated " << f.points_evaluated;
}

TEST(PowerLaw, FingerFixDropsOutliersOnlyWhenAlphaFalls) {
  std::vector<double> x = pareto_sample(2000, 3.0, 1.0, 11);
  PowerLawOptions o;
  o.clip_xmax = true;
  const PowerLawFit plain = fit_power_law(x);
  const PowerLawFit clipped = fit_power_law(x, o);
  if (clipped.num_fingers == 0) {
    EXPECT_EQ(clipped.alpha, plain.alpha);
  } else {
    EXPECT_LT(clipped.alpha + o.finger_thresh, plain.alpha);
    // Equals the plain fit of the data without the clipped points.
    const std::vector<double> cut(x.begin(), x.end() - clipped.num_fingers);
    EXPECT_EQ(fit_power_law(cut).alpha, clipped.alpha);
  }
}

TEST(PowerLaw, RejectsBadInput) {
  EXPECT_THROW(fit_power_law(std::vector<double>{2, 1}), Error);
  EXPECT_THROW(fit_power_law(std::vector<double>{0, 1}), Error);
  EXPECT_FALSE(fit_power_law(std::vector<double>{1}).valid);
}

// ------------------------------------------------------------------------------------ Marchenko–Pastur

TEST(MarchenkoPastur, CdfIntegratesTheDensity) {
  for (double q : {1.0, 2.0, 4.0}) {
    const double lp = std::pow(1 + 1 / std::sqrt(q), 2), lm = std::pow(1 - 1 / std::sqrt(q), 2);
    const int k = 200000;
    double acc = 0;
    for (int i = 0; i < k; ++i) {
      const double x = lm + (lp - lm) * (i + 0.5) / k;
      acc += mp_density(x, q, 1.0) * (lp - lm) / k;
      if (i % 20000 == 19999) {
        EXPECT_NEAR(mp_cdf(lm + (lp - lm) * (i + 1.0) / k, q, 1.0), acc, 2e-3) << "Q " << q;
      }
    }
    EXPECT_NEAR(acc, 1.0, 2e-3);
    // Mean of the MP law is sigma^2.
    double mean = 0;
    for (int i = 0; i < k; ++i) {
      const double x = lm + (lp - lm) * (i + 0.5) / k;
      mean += x * mp_density(x, q, 1.0) * (lp - lm) / k;
    }
    EXPECT_NEAR(mean, 1.0, 2e-3);
  }
}

TEST(MarchenkoPastur, GaussianBulkEdgesMatchTheory) {
  for (auto [n, m] : {std::pair<std::size_t, std::size_t>{1000, 500}, {600, 600}, {2000, 400}}) {
    const LayerResult r = analyze_one(gaussian(n, m, n + m, 0.03));
    const double q = static_cast<double>(n) / static_cast<double>(m);
    // Eigenvalues of WᵀW for entries of variance s²: bulk edges N s² (1 ± 1/√Q)².
    const double s2n = 0.03 * 0.03 * static_cast<double>(n);
    const double lp = s2n * std::pow(1 + 1 / std::sqrt(q), 2), lm = s2n * std::pow(1 - 1 / std::sqrt(q), 2);
    EXPECT_NEAR(r.mp.sigma, 1.0, 0.03) << n << "x" << m;
    EXPECT_NEAR(r.mp.lambda_plus * r.mp.scale / lp, 1.0, 0.03) << n << "x" << m;
    if (q > 1) {
      EXPECT_NEAR(r.mp.lambda_minus * r.mp.scale / lm, 1.0, 0.05) << n << "x" << m;
    }
    EXPECT_NEAR(r.metrics.lambda_max / lp, 1.0, 0.05) << n << "x" << m;
    EXPECT_EQ(r.mp.num_spikes, 0u) << n << "x" << m;
    EXPECT_EQ(r.phase.phase, Phase::random_like) << n << "x" << m << ": " << r.phase.reason;
    EXPECT_GT(r.powerlaw.alpha, 4.0) << n << "x" << m;
  }
}

// ------------------------------------------------------------------------------------------- phases

TEST(Phase, SpikesAreFoundAndClassified) {
  const std::size_t n = 800, m = 400, k = 5;
  MatrixD w = gaussian(n, m, 21, 1 / std::sqrt(static_cast<double>(n)));
  const Eigen::MatrixXd u = orthonormal(n, k, 22), v = orthonormal(m, k, 23);
  for (std::size_t i = 0; i < k; ++i)
    w += (3.0 + static_cast<double>(i)) * u.col(static_cast<Eigen::Index>(i)) * v.col(static_cast<Eigen::Index>(i)).transpose();
  const LayerResult r = analyze_one(w);
  EXPECT_EQ(r.mp.num_spikes, k);
  EXPECT_EQ(r.phase.phase, Phase::bulk_plus_spikes) << r.phase.reason;
}

TEST(Phase, WeakSpikesJustPastTheEdgeAreBleedingOut) {
  const std::size_t n = 1000, m = 500, k = 12;
  MatrixD w = gaussian(n, m, 31, 1 / std::sqrt(static_cast<double>(n)));
  const Eigen::MatrixXd u = orthonormal(n, k, 32), v = orthonormal(m, k, 33);
  for (std::size_t i = 0; i < k; ++i)
    w += 1.2 * u.col(static_cast<Eigen::Index>(i)) * v.col(static_cast<Eigen::Index>(i)).transpose();
  const LayerResult r = analyze_one(w);
  EXPECT_GE(r.mp.num_spikes, 1u);
  EXPECT_EQ(r.phase.phase, Phase::bleeding_out) << r.phase.reason;
}

TEST(Phase, ManyModerateSpikesAreBulkDecay) {
  // A rank-50 signal of strengths 1.5-3 on a 1000 x 500 Gaussian: 10% of the ESD leaves the bulk, but the
  // outliers stay within a decade of the edge.
  const std::size_t n = 1000, m = 500, k = 50;
  MatrixD w = gaussian(n, m, 35, 1 / std::sqrt(static_cast<double>(n)));
  const Eigen::MatrixXd u = orthonormal(n, k, 36), v = orthonormal(m, k, 37);
  Rng rng(38);
  for (std::size_t i = 0; i < k; ++i)
    w += (1.5 + 1.5 * rng.uniform()) * u.col(static_cast<Eigen::Index>(i)) * v.col(static_cast<Eigen::Index>(i)).transpose();
  const LayerResult r = analyze_one(w);
  EXPECT_GT(r.mp.num_spikes, 15u);
  EXPECT_EQ(r.phase.phase, Phase::bulk_decay) << r.phase.reason;
}

MatrixD heavy_tailed(std::size_t n, std::size_t m, double mu, std::uint64_t seed) {
  // Entries with a Pareto tail of index mu and a random sign: P(|x| > t) = t^-mu for t >= 1.
  Rng rng(seed);
  MatrixD w(n, m);
  for (Eigen::Index i = 0; i < w.size(); ++i)
    w.data()[i] = (rng.uniform() < 0.5 ? -1 : 1) * std::pow(1.0 - rng.uniform(), -1.0 / mu);
  return w;
}

TEST(Phase, ParetoEntriesAreHeavyTailedWithTheoreticalAlpha) {
  // Martin & Mahoney (JMLR 2021, Table 3): entries with tail index mu < 2 give an ESD tail alpha = 1 + mu/2.
  for (double mu : {1.0, 1.5}) {
    const LayerResult r = analyze_one(heavy_tailed(1000, 500, mu, 41));
    EXPECT_EQ(r.phase.phase, Phase::heavy_tailed) << "mu " << mu << ": " << r.phase.reason;
    EXPECT_NEAR(r.powerlaw.alpha, 1 + mu / 2, 0.35) << "mu " << mu;
  }
}

TEST(Phase, RankDeficientProductIsRankCollapse) {
  const std::size_t n = 400, m = 200, rank = 50;
  const MatrixD w = gaussian(n, rank, 51) * gaussian(rank, m, 52);
  const LayerResult r = analyze_one(w);
  EXPECT_EQ(r.metrics.matrix_rank, rank);
  EXPECT_EQ(r.metrics.rank_loss, m - rank);
  EXPECT_EQ(r.phase.phase, Phase::rank_collapse) << r.phase.reason;
}

TEST(Phase, SmallLayersSaySoInsteadOfGuessing) {
  const LayerResult r = analyze_one(gaussian(60, 30, 61));
  EXPECT_EQ(r.phase.phase, Phase::too_small);
  EXPECT_FALSE(r.valid_fit());
}

TEST(Randomize, GaussianShufflesToItselfAndALargeEntryIsATrap) {
  AnalyzeOptions o;
  o.randomize = true;
  o.seed = 3;
  const LayerResult g = analyze_one(gaussian(600, 300, 71), o);
  ASSERT_TRUE(g.randomized.has_value());
  EXPECT_EQ(g.randomized->num_traps, 0u);
  EXPECT_LT(g.randomized->distance, 0.2);
  // A low-rank signal: its spikes vanish when shuffled, so the ESDs differ.
  MatrixD s = gaussian(600, 300, 72, 1 / std::sqrt(600.0));
  const Eigen::MatrixXd u = orthonormal(600, 20, 73), v = orthonormal(300, 20, 74);
  s += 6.0 * u * v.transpose();
  const LayerResult sr = analyze_one(s, o);
  EXPECT_GT(sr.randomized->distance, g.randomized->distance);
  EXPECT_LT(sr.randomized->lambda_max, sr.metrics.lambda_max / 4);
  // One huge entry survives any shuffle: a correlation trap.
  MatrixD t = gaussian(600, 300, 75, 1 / std::sqrt(600.0));
  t(17, 5) = 10.0;
  const LayerResult tr = analyze_one(t, o);
  EXPECT_GE(tr.randomized->num_traps, 1u);
  // Same seed, same answer.
  EXPECT_EQ(analyze_one(t, o).randomized->lambda_max, tr.randomized->lambda_max);
}

TEST(Metrics, MatchTheirDefinitions) {
  const std::vector<double> e = {0.0, 1.0, 2.0, 4.0};
  const SpectralMetrics m = spectral_metrics(e, 4, 2.0);
  EXPECT_DOUBLE_EQ(m.log_norm, std::log10(7.0));
  EXPECT_DOUBLE_EQ(m.log_spectral_norm, std::log10(4.0));
  EXPECT_DOUBLE_EQ(m.stable_rank, 7.0 / 4.0);
  EXPECT_DOUBLE_EQ(m.alpha_weighted, 2.0 * std::log10(4.0));
  EXPECT_DOUBLE_EQ(m.log_alpha_norm, std::log10(1.0 + 4.0 + 16.0));
  EXPECT_EQ(m.matrix_rank, 3u);
  EXPECT_EQ(m.rank_loss, 1u);
  const double h = -(1 / 7.0 * std::log(1 / 7.0) + 2 / 7.0 * std::log(2 / 7.0) + 4 / 7.0 * std::log(4 / 7.0));
  EXPECT_NEAR(m.entropy, h / std::log(3.0), 1e-15);
  EXPECT_THROW(spectral_metrics(std::vector<double>{0.0, 0.0}, 2, 2.0), Error);
}

// WeightWatcher's rule (RMT_Util.matrix_rank, matrix_entropy): singular values above n·ε·s_max, and its entropy.
TEST(Metrics, WeightWatcherRankRule) {
  const std::vector<double> e = {0.0, 1e-30, 1e-20, 1.0, 4.0};  // s = 0, 1e-15, 1e-10, 1, 2; tol = 2·5·ε = 2.2e-15
  EXPECT_EQ(ww_rank_loss(e, 5), 2u);
  SpectralMetrics m = spectral_metrics(e, 5, 2.0);
  EXPECT_EQ(m.matrix_rank, 2u);  // onsager's λ > 16·M·ε·λ_max drops 1e-20 too
  set_ww_rank(m, e, 5, 7);
  EXPECT_EQ(m.matrix_rank, 3u);
  EXPECT_EQ(m.rank_loss, 7u);  // as given: the per-slice sum
  const double sum = 5.0 + 1e-20 + 1e-30;
  double h = 0;
  for (double v : e) h -= (v / sum + 1e-10) * std::log(v / sum + 1e-10);
  EXPECT_NEAR(m.entropy, h / std::log(3.0 + 1e-10), 1e-15);
  EXPECT_EQ(ww_rank_loss(std::vector<double>{0.0, 0.0}, 3), 2u);  // an all-zero slice loses its whole rank
}

// --ww-compat on a conv layer: eigenvalues times conv2d_count/2 (½ pooled, kh·kw/2 per slice), rank_loss per slice
// against each slice's own s_max, matrix_rank on the pooled ESD.
TEST(Analyze, WwCompatScalesConv2dAndCountsRankPerSlice) {
  const MatrixD a = gaussian(60, 20, 41), b = gaussian(60, 20, 42, 1e-9);  // b: full rank, 1e-9 of a's scale
  LayerSpec spec;
  spec.name = "conv";
  spec.kind = "conv2d";
  spec.shape = {60, 20, 1, 2};
  spec.rows = 60;
  spec.cols = 20;
  spec.slices = {0, 1};
  const std::vector<std::vector<double>> mats = {{a.data(), a.data() + a.size()}, {b.data(), b.data() + b.size()}};
  AnalyzeOptions o;
  o.esd_method = EsdMethod::svd;
  const LayerResult plain = analyze_matrices(spec, mats, o);
  o.ww_compat = true;
  const LayerResult ww = analyze_matrices(spec, mats, o);
  EXPECT_DOUBLE_EQ(ww.metrics.lambda_max, plain.metrics.lambda_max / 2);
  EXPECT_NEAR(plain.metrics.log_norm - ww.metrics.log_norm, std::log10(2.0), 1e-12);
  EXPECT_NEAR(ww.powerlaw.alpha, plain.powerlaw.alpha, 1e-9 * plain.powerlaw.alpha);
  EXPECT_EQ(plain.metrics.rank_loss, 20u);  // b's eigenvalues lie below the pooled tolerance
  EXPECT_EQ(ww.metrics.rank_loss, 0u);
  EXPECT_EQ(ww.metrics.matrix_rank, 40u);
  o.esd_method = EsdMethod::gram;  // the Gram route resolves each slice against its own λ_max just as well
  EXPECT_EQ(analyze_matrices(spec, mats, o).metrics.rank_loss, 0u);
  // One slice of a 3 x 3 kernel (pool=False): times 9/2. Dense layers are not scaled.
  spec.shape = {60, 20, 3, 3};
  spec.slices = {4};
  o.selection.per_slice = true;
  EXPECT_NEAR(analyze_matrices(spec, {mats[0]}, o).metrics.lambda_max, 4.5 * ww.metrics.lambda_max * 2,
              1e-12 * plain.metrics.lambda_max * 4.5);
  EXPECT_DOUBLE_EQ(analyze_one(a, o).metrics.lambda_max, analyze_one(a).metrics.lambda_max);
}

// The one check of the analysis options that the command line and the Python module share.
TEST(AnalyzeOptions, ValidateAndConvLayoutNameTheField) {
  AnalyzeOptions o;
  EXPECT_NO_THROW(o.validate());
  o.powerlaw.min_tail = 1;
  EXPECT_THROW({
    try { o.validate(); } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "analyze: options.powerlaw.min_tail must be at least 2 (got 1)");
      throw;
    }
  }, Error);
  o.powerlaw.min_tail = 2;
  for (double x : {0.0, -1.0, std::nan("")}) {
    o.powerlaw.xmax = x;
    EXPECT_THROW(o.validate(), Error) << x;
  }
  o.powerlaw.xmax = 3.5;
  EXPECT_NO_THROW(o.validate());
  EXPECT_EQ(parse_conv_layout("oihw"), ConvLayout::oihw);
  EXPECT_EQ(parse_conv_layout("hwio"), ConvLayout::hwio);
  EXPECT_THROW(parse_conv_layout("OIHW"), Error);
}

}  // namespace
}  // namespace onsager
