// EMF / TAP free energy: fixed points against their stationarity conditions, Γ's magnetisation and parameter
// gradients against finite differences, and log Z against exact enumeration (errors and their ε-scaling).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/tap.hpp"

namespace onsager {
namespace {

constexpr TapOrder kOrders[] = {TapOrder::naive, TapOrder::second, TapOrder::third};

// Weights ~ N(0, w_std²), biases ~ N(0, bias_std²).
Rbm random_model(int v, int h, double w_std, double bias_std, std::uint64_t seed) {
  Rbm rbm = Rbm::random(v, h, static_cast<float>(w_std), seed);
  Rng rng(seed + 1000);
  for (int i = 0; i < v; ++i) rbm.visible_bias(i) = static_cast<float>(bias_std * rng.normal());
  for (int j = 0; j < h; ++j) rbm.hidden_bias(j) = static_cast<float>(bias_std * rng.normal());
  return rbm;
}

MatrixF random_binary(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  MatrixF x(n, d);
  Rng rng(seed);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform() < 0.5 ? 1.0f : 0.0f;
  return x;
}

MatrixF random_interior(Eigen::Index n, Eigen::Index d, std::uint64_t seed) {
  MatrixF x(n, d);
  Rng rng(seed);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(0.05 + 0.9 * rng.uniform());
  return x;
}

// Exact log Z, enumerating h and summing v out: logsumexp_h [c·h + Σ_i softplus(b_i + (Wᵀh)_i)], in double.
double exact_log_z(const Rbm& rbm) {
  const int h = static_cast<int>(rbm.num_hidden());
  const MatrixD w = rbm.weight.cast<double>();
  std::vector<double> terms;
  for (int s = 0; s < (1 << h); ++s) {
    Eigen::VectorXd x = rbm.visible_bias.cast<double>();
    double t = 0;
    for (int j = 0; j < h; ++j)
      if ((s >> j) & 1) {
        x += w.row(j).transpose();
        t += rbm.hidden_bias(j);
      }
    for (Eigen::Index i = 0; i < x.size(); ++i) t += softplus(x(i));
    terms.push_back(t);
  }
  const double m = *std::max_element(terms.begin(), terms.end());
  double sum = 0;
  for (double t : terms) sum += std::exp(t - m);
  return m + std::log(sum);
}

TapOptions options_for(TapOrder order) {
  TapOptions o;
  o.order = order;
  o.max_iters = 1000;
  o.tol = 1e-6;
  return o;
}

// Mean Γ over rows, in double, at float magnetisations.
double mean_gamma(const Rbm& rbm, const MatrixF& m_v, const MatrixF& m_h, TapOrder order) {
  return tap_free_energy(rbm, m_v.cast<double>(), m_h.cast<double>(), order).mean();
}

// Least-squares slope of log y against log x.
double log_log_slope(const std::vector<double>& x, const std::vector<double>& y) {
  const auto n = static_cast<double>(x.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx;
    sy += ly;
    sxx += lx * lx;
    sxy += lx * ly;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

TEST(TapHelpers, ExactLogZAgreesWithBruteForce) {
  const Rbm rbm = random_model(6, 5, 0.8, 0.5, 3);
  EXPECT_NEAR(exact_log_z(rbm), testing::brute_log_z(rbm), 1e-10);
}

TEST(TapFreeEnergy, PartsAddUpAndNaiveMatchesTheClosedForm) {
  const Rbm rbm = random_model(5, 4, 0.7, 0.5, 11);
  const MatrixD mv = random_interior(3, 5, 1).cast<double>(), mh = random_interior(3, 4, 2).cast<double>();
  const MatrixD w = rbm.weight.cast<double>();
  for (Eigen::Index r = 0; r < 3; ++r) {
    double s = 0, e = -mv.row(r).dot(rbm.visible_bias.cast<double>()) - mh.row(r).dot(rbm.hidden_bias.cast<double>());
    double o2 = 0, o3 = 0;
    for (int i = 0; i < 5; ++i) s -= mv(r, i) * std::log(mv(r, i)) + (1 - mv(r, i)) * std::log(1 - mv(r, i));
    for (int j = 0; j < 4; ++j) s -= mh(r, j) * std::log(mh(r, j)) + (1 - mh(r, j)) * std::log(1 - mh(r, j));
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 5; ++i) {
        const double av = mv(r, i) - mv(r, i) * mv(r, i), ah = mh(r, j) - mh(r, j) * mh(r, j);
        e -= w(j, i) * mh(r, j) * mv(r, i);
        o2 -= 0.5 * w(j, i) * w(j, i) * ah * av;
        o3 -= 2.0 / 3.0 * std::pow(w(j, i), 3) * ah * (0.5 - mh(r, j)) * av * (0.5 - mv(r, i));
      }
    const auto p3 = tap_free_energy_parts(rbm, mv.row(r), mh.row(r), TapOrder::third);
    EXPECT_NEAR(p3.entropy(0), s, 1e-12);
    EXPECT_NEAR(p3.energy(0), e, 1e-12);
    EXPECT_NEAR(p3.onsager(0), o2 + o3, 1e-12);
    EXPECT_NEAR(tap_free_energy(rbm, mv.row(r), mh.row(r), TapOrder::naive)(0), -s + e, 1e-12);
    EXPECT_NEAR(tap_free_energy(rbm, mv.row(r), mh.row(r), TapOrder::second)(0), -s + e + o2, 1e-12);
    EXPECT_NEAR(tap_free_energy(rbm, mv.row(r), mh.row(r), TapOrder::third)(0), -s + e + o2 + o3, 1e-12);
  }
  // Saturated magnetisations are allowed: 0 ln 0 = 0.
  const MatrixD zeros = MatrixD::Zero(1, 5), ones = MatrixD::Ones(1, 4);
  EXPECT_TRUE(std::isfinite(tap_free_energy(rbm, zeros, ones, TapOrder::third)(0)));
}

// The fixed-point update and Γ come from the same terms: ∂Γ/∂m = logit(m) - field must be Γ's gradient.
TEST(TapFreeEnergy, MagnetisationGradientMatchesFiniteDifferences) {
  const Rbm rbm = random_model(7, 5, 0.9, 0.5, 21);
  const MatrixD mv = random_interior(2, 7, 3).cast<double>(), mh = random_interior(2, 5, 4).cast<double>();
  const double h = 1e-5;
  for (TapOrder order : kOrders) {
    const TapMagnetisationGradient g = tap_magnetisation_gradient(rbm, mv, mh, order);
    double worst = 0;
    for (Eigen::Index r = 0; r < 2; ++r) {
      for (int i = 0; i < 7; ++i) {
        MatrixD p = mv.row(r), m = mv.row(r);
        p(0, i) += h;
        m(0, i) -= h;
        const double fd = (tap_free_energy(rbm, p, mh.row(r), order)(0) - tap_free_energy(rbm, m, mh.row(r), order)(0)) /
                          (2 * h);
        worst = std::max(worst, std::abs(fd - g.m_v(r, i)));
      }
      for (int j = 0; j < 5; ++j) {
        MatrixD p = mh.row(r), m = mh.row(r);
        p(0, j) += h;
        m(0, j) -= h;
        const double fd = (tap_free_energy(rbm, mv.row(r), p, order)(0) - tap_free_energy(rbm, mv.row(r), m, order)(0)) /
                          (2 * h);
        worst = std::max(worst, std::abs(fd - g.m_h(r, j)));
      }
    }
    EXPECT_LT(worst, 1e-7) << to_string(order);
  }
}

TEST(TapFixedPoint, SatisfiesItsStationarityConditions) {
  const Rbm rbm = random_model(12, 9, 0.3, 0.7, 5);
  const MatrixF starts = random_binary(16, 12, 6);
  for (TapOrder order : kOrders) {
    const TapFixedPoint fp = tap_fixed_point(rbm, starts, options_for(order));
    ASSERT_TRUE(fp.converged) << to_string(order);
    EXPECT_EQ(fp.num_converged, 16);
    EXPECT_EQ(*std::max_element(fp.iterations.begin(), fp.iterations.end()), fp.sweeps);
    const double residual =
        tap_magnetisation_gradient(rbm, fp.m_v.cast<double>(), fp.m_h.cast<double>(), order).max_abs();
    EXPECT_LT(residual, 1e-4) << to_string(order);
    // Not a fixed point of another order: the test has teeth.
    const TapOrder other = order == TapOrder::naive ? TapOrder::second : TapOrder::naive;
    EXPECT_GT(tap_magnetisation_gradient(rbm, fp.m_v.cast<double>(), fp.m_h.cast<double>(), other).max_abs(), 1e-3);
    // Persistent use: continuing from a fixed point stops after one sweep.
    const TapFixedPoint again = tap_iterate(rbm, fp.m_v, fp.m_h, options_for(order));
    EXPECT_EQ(again.sweeps, 1);
    EXPECT_TRUE(again.converged);
  }
}

TEST(TapFixedPoint, DampedSweepsDoNotIncreaseGamma) {
  struct Case {
    int v, h;
    double w_std;
    std::uint64_t seed;
  };
  for (const Case& c : {Case{20, 15, 0.05, 1}, Case{20, 15, 0.1, 2}, Case{30, 10, 0.1, 3}, Case{8, 24, 0.08, 4}}) {
    const Rbm rbm = random_model(c.v, c.h, c.w_std, 1.0, c.seed);
    const MatrixF data = random_binary(8, c.v, c.seed + 50);
    for (TapOrder order : kOrders) {
      TapOptions one = options_for(order);
      one.max_iters = 1;
      one.tol = 0;
      MatrixF mv = data, mh = rbm.hidden_probs(data);
      VectorD prev = tap_free_energy(rbm, mv.cast<double>(), mh.cast<double>(), order);
      for (int sweep = 0; sweep < 30; ++sweep) {
        TapFixedPoint fp = tap_iterate(rbm, mv, mh, one);
        mv = fp.m_v;
        mh = fp.m_h;
        const VectorD now = tap_free_energy(rbm, fp, order);
        for (Eigen::Index r = 0; r < now.size(); ++r)
          ASSERT_LE(now(r), prev(r) + 1e-10 * (1 + std::abs(prev(r))))
              << to_string(order) << " w_std " << c.w_std << " sweep " << sweep << " row " << r;
        prev = now;
      }
    }
  }
}

TEST(TapFixedPoint, ReportsRowsThatDidNotConverge) {
  const Rbm rbm = random_model(10, 8, 0.5, 0.5, 9);
  TapOptions o = options_for(TapOrder::second);
  o.max_iters = 2;
  o.tol = 1e-12;
  const TapFixedPoint fp = tap_fixed_point(rbm, random_binary(5, 10, 1), o);
  EXPECT_FALSE(fp.converged);
  EXPECT_EQ(fp.num_converged, 0);
  EXPECT_EQ(fp.sweeps, 2);
  for (int it : fp.iterations) EXPECT_EQ(it, -1);
}

TEST(TapGradient, MatchesFiniteDifferencesOfGamma) {
  Rbm rbm = random_model(7, 5, 0.8, 0.5, 31);
  const MatrixF mv = random_interior(4, 7, 7), mh = random_interior(4, 5, 8);
  const float h = 0x1.0p-10f;
  for (TapOrder order : kOrders) {
    const TapGradient g = tap_gradient(rbm, mv, mh, order);
    const auto fd = [&](float& param) {
      const float saved = param;
      param = saved + h;
      const double up = static_cast<double>(param), f_up = mean_gamma(rbm, mv, mh, order);
      param = saved - h;
      const double down = static_cast<double>(param), f_down = mean_gamma(rbm, mv, mh, order);
      param = saved;
      return (f_up - f_down) / (up - down);
    };
    double worst_w = 0, worst_b = 0, worst_c = 0;
    for (int j = 0; j < 5; ++j)
      for (int i = 0; i < 7; ++i) worst_w = std::max(worst_w, std::abs(fd(rbm.weight(j, i)) - g.weight(j, i)));
    for (int i = 0; i < 7; ++i) worst_b = std::max(worst_b, std::abs(fd(rbm.visible_bias(i)) - g.visible_bias(i)));
    for (int j = 0; j < 5; ++j) worst_c = std::max(worst_c, std::abs(fd(rbm.hidden_bias(j)) - g.hidden_bias(j)));
    EXPECT_LT(worst_w, 2e-6) << to_string(order);
    EXPECT_LT(worst_b, 2e-6) << to_string(order);
    EXPECT_LT(worst_c, 2e-6) << to_string(order);
  }
  // The orders differ by more than the tolerance, so each order's formula is really tested.
  const double d23 = (tap_gradient(rbm, mv, mh, TapOrder::third).weight -
                      tap_gradient(rbm, mv, mh, TapOrder::second).weight).cwiseAbs().maxCoeff();
  EXPECT_GT(d23, 1e-3);
}

TEST(TapGradient, AveragesOverTheBatch) {
  const Rbm rbm = random_model(6, 4, 0.4, 0.3, 41);
  const TapFixedPoint fp = tap_fixed_point(rbm, random_binary(6, 6, 2), options_for(TapOrder::third));
  const TapGradient all = tap_gradient(rbm, fp, TapOrder::third);
  MatrixF sum = MatrixF::Zero(4, 6);
  for (Eigen::Index r = 0; r < 6; ++r) sum += tap_gradient(rbm, fp.m_v.row(r), fp.m_h.row(r), TapOrder::third).weight;
  EXPECT_LT((all.weight - sum / 6.0f).cwiseAbs().maxCoeff(), 1e-6);
}

// At a stationary point dΓ*/dθ = ∂Γ/∂θ: re-solving the fixed point after each parameter change gives the same
// derivative as the partial one at fixed magnetisations (what a TAP training step relies on).
TEST(TapGradient, TotalDerivativeAtTheFixedPointEqualsThePartial) {
  Rbm rbm = random_model(6, 5, 0.4, 0.5, 51);
  const MatrixF start = random_binary(1, 6, 3);
  const float h = 0x1.0p-7f;
  for (TapOrder order : kOrders) {
    const TapOptions o = options_for(order);
    const TapGradient g = tap_gradient(rbm, tap_fixed_point(rbm, start, o), order);
    const auto fd = [&](float& param) {
      const float saved = param;
      param = saved + h;
      const double up = static_cast<double>(param), f_up = -log_partition_tap(rbm, start, o).log_z;
      param = saved - h;
      const double down = static_cast<double>(param), f_down = -log_partition_tap(rbm, start, o).log_z;
      param = saved;
      return (f_up - f_down) / (up - down);
    };
    double worst = 0;
    for (int j = 0; j < 5; ++j)
      for (int i = 0; i < 6; i += 2) worst = std::max(worst, std::abs(fd(rbm.weight(j, i)) - g.weight(j, i)));
    for (int i = 0; i < 6; ++i) worst = std::max(worst, std::abs(fd(rbm.visible_bias(i)) - g.visible_bias(i)));
    for (int j = 0; j < 5; ++j) worst = std::max(worst, std::abs(fd(rbm.hidden_bias(j)) - g.hidden_bias(j)));
    EXPECT_LT(worst, 1e-4) << to_string(order);
  }
}

struct LogZErrors {
  double naive, tap2, tap3;
};

LogZErrors log_z_errors(const Rbm& rbm, const MatrixF& starts) {
  const double exact = exact_log_z(rbm);
  LogZErrors e{};
  for (TapOrder order : kOrders) {
    const TapLogZ t = log_partition_tap(rbm, starts, options_for(order));
    EXPECT_EQ(t.converged, t.starts) << to_string(order);
    EXPECT_LT(t.max_residual, 1e-5);
    const double err = t.log_z - exact;
    (order == TapOrder::naive ? e.naive : order == TapOrder::second ? e.tap2 : e.tap3) = err;
  }
  return e;
}

// Weak coupling, zero-mean weights ~ N(0, w_std²). Two bias families: "centred" (biases ~ N(0, 1), magnetisations
// spread around ½) and "sparse" (biases ~ N(-1.5, 0.5²), magnetisations ≈ 0.2, like image pixels and the hidden
// units of a trained RBM). The third-order term is ∝ (½ - m_v)(½ - m_h): in the centred family it has random
// signs and is comparable to the fourth-order terms TAP3 leaves out unless w_std is tiny, so TAP3 is only
// required to win on the sparse family.
TEST(TapLogZ, HigherOrdersAreMoreAccurateAtWeakCoupling) {
  std::printf("  %-8s %-6s %-6s %12s %12s %12s  %s\n", "biases", "model", "w_std", "|naive-ex|", "|tap2-ex|",
              "|tap3-ex|", "tap3 wins");
  const auto median = [](std::vector<double> x) {
    std::sort(x.begin(), x.end());
    return 0.5 * (x[x.size() / 2 - 1] + x[x.size() / 2]);
  };
  for (bool sparse : {false, true})
    for (auto [v, h] : {std::pair{8, 6}, std::pair{10, 8}})
      for (double w_std : {0.05, 0.1, 0.2, 0.3}) {
        std::vector<double> en, e2, e3;
        int tap3_wins = 0;
        for (std::uint64_t seed = 1; seed <= 4; ++seed) {
          Rbm rbm = random_model(v, h, w_std, sparse ? 0.5 : 1.0, 100 * seed + static_cast<std::uint64_t>(v));
          if (sparse) {
            rbm.visible_bias.array() -= 1.5f;
            rbm.hidden_bias.array() -= 1.5f;
          }
          const LogZErrors e = log_z_errors(rbm, random_binary(12, v, seed));
          const std::string what = fmt::format("{} {}x{} w_std {} seed {}", sparse ? "sparse" : "centred", v, h, w_std, seed);
          EXPECT_LT(e.naive, 0) << what << ": naive mean field is a variational lower bound on log Z";
          EXPECT_LT(std::abs(e.tap2), std::abs(e.naive)) << what;
          if (sparse && w_std <= 0.1) {
            EXPECT_LT(std::abs(e.tap3), std::abs(e.tap2)) << what;
          }
          en.push_back(std::abs(e.naive));
          e2.push_back(std::abs(e.tap2));
          e3.push_back(std::abs(e.tap3));
          tap3_wins += std::abs(e.tap3) < std::abs(e.tap2);
        }
        std::printf("  %-8s %2dx%-3d %-6.2f %12.2e %12.2e %12.2e  %d/4\n", sparse ? "sparse" : "centred", v, h, w_std,
                    median(en), median(e2), median(e3), tap3_wins);
      }
}

TEST(TapLogZ, NaiveIsALowerBoundEvenAtStrongCoupling) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const Rbm rbm = random_model(9, 7, 2.0, 1.0, seed);
    TapOptions o = options_for(TapOrder::naive);
    const TapLogZ t = log_partition_tap(rbm, random_binary(20, 9, seed), o);
    // Every -Γ_naive(m) is an ELBO, converged or not.
    EXPECT_LT(t.neg_gamma.maxCoeff(), exact_log_z(rbm));
  }
}

// Weights ε·W₀ with fixed O(1) biases: the error of order k is O(ε^(k+1)).
TEST(TapLogZ, ErrorScalesAsTheNextPowerOfTheCoupling) {
  const std::vector<double> eps = {0.2, 0.1, 0.05, 0.025};
  std::printf("  %-5s %-6s %12s %12s %12s\n", "seed", "eps", "naive-exact", "tap2-exact", "tap3-exact");
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    const Rbm base = random_model(6, 5, 1.0, 1.0, 500 + seed);
    const MatrixF starts = random_binary(4, 6, seed);
    std::vector<double> en, e2, e3;
    for (double s : eps) {
      Rbm rbm = base;
      rbm.weight *= static_cast<float>(s);
      const LogZErrors e = log_z_errors(rbm, starts);
      std::printf("  %-5d %-6.3f %12.3e %12.3e %12.3e\n", static_cast<int>(seed), s, e.naive, e.tap2, e.tap3);
      en.push_back(std::abs(e.naive));
      e2.push_back(std::abs(e.tap2));
      e3.push_back(std::abs(e.tap3));
    }
    const double sn = log_log_slope(eps, en), s2 = log_log_slope(eps, e2), s3 = log_log_slope(eps, e3);
    std::printf("  seed %d slopes: naive %.3f  tap2 %.3f  tap3 %.3f\n", static_cast<int>(seed), sn, s2, s3);
    EXPECT_NEAR(sn, 2.0, 0.4) << "seed " << seed;
    EXPECT_NEAR(s2, 3.0, 0.4) << "seed " << seed;
    EXPECT_NEAR(s3, 4.0, 0.4) << "seed " << seed;
  }
}

TEST(TapApi, RejectsBadInput) {
  const Rbm rbm = random_model(4, 3, 0.1, 0.1, 1);
  const MatrixF ok = MatrixF::Constant(2, 4, 0.5f);
  TapOptions o;
  o.damping = 1.0f;
  EXPECT_THROW(tap_fixed_point(rbm, ok, o), Error);
  o = {};
  o.max_iters = 0;
  EXPECT_THROW(tap_fixed_point(rbm, ok, o), Error);
  o = {};
  o.tol = -1;
  EXPECT_THROW(tap_fixed_point(rbm, ok, o), Error);
  EXPECT_THROW(tap_fixed_point(rbm, MatrixF::Constant(2, 5, 0.5f), {}), Error);
  EXPECT_THROW(tap_fixed_point(rbm, MatrixF::Constant(2, 4, 1.5f), {}), Error);
  MatrixF nan = ok;
  nan(1, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(tap_fixed_point(rbm, nan, {}), Error);
  EXPECT_THROW(tap_iterate(rbm, ok, MatrixF::Constant(3, 3, 0.5f), {}), Error);
  EXPECT_THROW(log_partition_tap(rbm, MatrixF(0, 4), {}), Error);
  EXPECT_THROW(tap_gradient(rbm, MatrixF(0, 4), MatrixF(0, 3), TapOrder::second), Error);
  EXPECT_THROW(tap_free_energy(rbm, MatrixD::Constant(1, 4, 0.5), MatrixD::Constant(1, 4, 0.5), TapOrder::second),
               Error);
  EXPECT_EQ(parse_tap_order("tap3"), TapOrder::third);
  EXPECT_EQ(parse_tap_order("naive"), TapOrder::naive);
  EXPECT_EQ(to_string(parse_tap_order("2")), "tap2");
  try {
    parse_tap_order("tap4");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tap4"), std::string::npos);
  }
}

}  // namespace
}  // namespace onsager
