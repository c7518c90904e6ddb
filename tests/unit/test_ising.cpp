// The 2-D Ising model: Onsager's closed form against a numerical derivative of his free-energy integral, the
// Wolff sampler's energy and magnetisation on 64 x 64 lattices against the exact infinite-lattice values,
// detailed balance and the stationary law on 3 x 3 against exact enumeration of its 512 states, and
// thread-count independence.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numbers>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/lab/ising_rg.hpp"
#include "onsager/physics/ising.hpp"

namespace onsager {
namespace {

// -βf of the infinite lattice: ln 2 + 1/(2π²) ∫₀^π∫₀^π ln[cosh²(2β) - sinh(2β)(cos a + cos b)] da db (Onsager 1944),
// by the midpoint rule (the integrand is smooth away from T_c).
double minus_beta_f(double beta) {
  const int n = 800;
  const double h = std::numbers::pi / n, c2 = std::cosh(2 * beta) * std::cosh(2 * beta), s2 = std::sinh(2 * beta);
  double sum = 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) sum += std::log(c2 - s2 * (std::cos((i + 0.5) * h) + std::cos((j + 0.5) * h)));
  return std::log(2.0) + sum * h * h / (2 * std::numbers::pi * std::numbers::pi);
}

TEST(Ising, OnsagerEnergyIsTheDerivativeOfHisFreeEnergy) {
  for (double t : {1.0, 1.8, 2.0, 2.6, 3.5, 6.0}) {
    const double b = 1.0 / t, db = 1e-4;
    const double u = -(minus_beta_f(b + db) - minus_beta_f(b - db)) / (2 * db);  // u = d(βf)/dβ
    EXPECT_NEAR(onsager_energy_per_spin(t), u, 2e-5) << "T = " << t;
  }
  EXPECT_NEAR(onsager_energy_per_spin(ising_critical_temperature()), -std::numbers::sqrt2, 1e-12);
  EXPECT_NEAR(ising_critical_temperature(), 2.269185314213022, 1e-12);
  EXPECT_NEAR(onsager_energy_per_spin(0.2), -2.0, 1e-9);  // ground state: two bonds per spin
  EXPECT_NEAR(onsager_magnetization(0.5), 1.0, 1e-6);
  EXPECT_EQ(onsager_magnetization(2.5), 0.0);
  // Yang's law near T_c: m ~ (1.2224 (T_c - T))^(1/8) to first order; check the closed form's value at T = 2.0.
  const double sh = std::sinh(1.0);
  EXPECT_NEAR(onsager_magnetization(2.0), std::pow(1 - std::pow(sh, -4), 0.125), 1e-15);
  EXPECT_THROW(onsager_energy_per_spin(0.0), Error);
}

TEST(Ising, WolffMatchesOnsagerAwayFromTheCriticalPoint) {
  for (double t : {1.5, 2.0, 2.8, 3.5}) {
    IsingOptions o;
    o.L = 64;
    o.temperature = t;
    o.samples = 400;
    o.sweeps_between = 2;
    o.burn_in = 50;
    o.chains = 4;
    o.seed = 11;
    const IsingSamples s = sample_ising_wolff(o);
    const double u = onsager_energy_per_spin(t);
    EXPECT_NEAR(s.mean_energy, u, 0.005 * std::abs(u)) << "T = " << t << " (±" << s.mean_energy_err << ")";
    if (t < ising_critical_temperature()) {
      const double m = onsager_magnetization(t);
      EXPECT_NEAR(s.mean_abs_magnetization, m, 0.005 * m) << "T = " << t;
    }
    // The stored spins are {0, 1} and give the recorded energies.
    EXPECT_NEAR(ising_energy_per_spin(s.spins.row(7).data(), 64), s.energy[7], 1e-12);
    EXPECT_TRUE(((s.spins.array() == 0.0f) || (s.spins.array() == 1.0f)).all());
  }
}

int state_index(const std::vector<signed char>& s) {
  int k = 0;
  for (std::size_t i = 0; i < s.size(); ++i) k |= (s[i] > 0 ? 1 : 0) << i;
  return k;
}

double energy_3x3(int k) {
  auto spin = [&](int r, int c) { return ((k >> (((r + 3) % 3) * 3 + (c + 3) % 3)) & 1) ? 1.0 : -1.0; };
  double e = 0;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) e -= spin(r, c) * (spin(r, c + 1) + spin(r + 1, c));
  return e;
}

TEST(Ising, WolffKeepsDetailedBalanceOnA3x3Lattice) {
  for (double t : {1.5, ising_critical_temperature(), 4.0}) {
    SCOPED_TRACE(t);
    std::vector<double> p(512);
    double z = 0;
    for (int k = 0; k < 512; ++k) z += p[k] = std::exp(-energy_3x3(k) / t);
    for (double& x : p) x /= z;
    std::vector<signed char> s(9, 1);
    Rng rng(3);
    std::map<std::pair<int, int>, long> moves;
    std::vector<long> visits(512, 0);
    const long steps = 1'000'000;
    int from = state_index(s);
    for (long i = 0; i < steps; ++i) {
      wolff_flip(s, 3, t, rng);
      const int to = state_index(s);
      ++moves[{from, to}];
      ++visits[to];
      from = to;
    }
    // Detailed balance: the flow i -> j equals the flow j -> i (each count Poisson-like, within 5 sd).
    int worst = 0;
    double worst_z = 0;
    for (const auto& [ij, n] : moves) {
      const auto back = moves.find({ij.second, ij.first});
      const long m = back == moves.end() ? 0 : back->second;
      const double zscore = std::abs(static_cast<double>(n - m)) / std::sqrt(static_cast<double>(n + m));
      if (zscore > worst_z) worst_z = zscore;
      worst += zscore > 5;
    }
    EXPECT_EQ(worst, 0) << "largest |N_ij - N_ji| / sqrt(N_ij + N_ji) = " << worst_z;
    // The stationary law is Boltzmann's: total variation distance to the exact one.
    double tv = 0;
    for (int k = 0; k < 512; ++k) tv += std::abs(static_cast<double>(visits[k]) / steps - p[k]);
    EXPECT_LT(tv / 2, 0.01);
  }
}

TEST(Ising, SameSamplesForAnyThreadCount) {
  IsingOptions o;
  o.L = 16;
  o.temperature = 2.3;
  o.samples = 37;
  o.chains = 3;
  o.sweeps_between = 1;
  o.burn_in = 5;
  set_num_threads(1);
  const IsingSamples a = sample_ising_wolff(o);
  set_num_threads(2);
  const IsingSamples b = sample_ising_wolff(o);
  set_num_threads(0);
  EXPECT_EQ(a.spins, b.spins);
  EXPECT_EQ(a.energy, b.energy);
  o.seed = 1;
  EXPECT_NE(sample_ising_wolff(o).spins, a.spins);
}

TEST(Ising, RefusesBadOptions) {
  IsingOptions o;
  o.L = 1;
  EXPECT_THROW(sample_ising_wolff(o), Error);
  o = {};
  o.temperature = -1;
  EXPECT_THROW(sample_ising_wolff(o), Error);
  o = {};
  o.samples = 0;
  EXPECT_THROW(sample_ising_wolff(o), Error);
  o = {};
  o.sweeps_between = 0;
  EXPECT_THROW(sample_ising_wolff(o), Error);
  o = {};
  o.L = 4096;
  o.samples = 1000;
  EXPECT_THROW(sample_ising_wolff(o), Error);
}

}  // namespace
}  // namespace onsager

namespace onsager {
namespace {

TEST(IsingRg, SpinStatsOfKnownConfigurations) {
  const int L = 8;
  MatrixF up = MatrixF::Ones(1, L * L);
  SpinStats s = spin_stats(up, L);
  EXPECT_DOUBLE_EQ(s.energy, -2.0);
  EXPECT_DOUBLE_EQ(s.abs_magnetization, 1.0);
  ASSERT_EQ(s.correlation.size(), 4u);
  for (double g : s.correlation) EXPECT_DOUBLE_EQ(g, 1.0);
  // The checkerboard: every bond antialigned, G(r) = (-1)^r, magnetisation 0.
  MatrixF chess(1, L * L);
  for (int y = 0; y < L; ++y)
    for (int x = 0; x < L; ++x) chess(0, y * L + x) = (x + y) % 2 ? 1.0f : 0.0f;
  s = spin_stats(chess, L);
  EXPECT_DOUBLE_EQ(s.energy, 2.0);
  EXPECT_DOUBLE_EQ(s.abs_magnetization, 0.0);
  for (std::size_t r = 0; r < s.correlation.size(); ++r) EXPECT_DOUBLE_EQ(s.correlation[r], r % 2 == 0 ? -1.0 : 1.0);
  // Stripes along x (rows alternate): G(r) = ((-1)^r + 1) / 2 averaged over the two axes.
  MatrixF stripes(1, L * L);
  for (int y = 0; y < L; ++y)
    for (int x = 0; x < L; ++x) stripes(0, y * L + x) = y % 2 ? 1.0f : 0.0f;
  s = spin_stats(stripes, L);
  EXPECT_DOUBLE_EQ(s.energy, 0.0);
  EXPECT_DOUBLE_EQ(s.correlation[0], 0.0);
  EXPECT_DOUBLE_EQ(s.correlation[1], 1.0);
}

TEST(IsingRg, WindowMassOfLocalAndSpreadFilters) {
  const int L = 10;
  MatrixF w = MatrixF::Zero(3, L * L);
  w(0, 3 * L + 4) = -2.0f;                 // one pixel: all its mass fits any window that holds it
  for (int i = 0; i < L * L; ++i) w(1, i) = 1.0f;  // uniform: a k x k window holds k²/L²
  w(2, 0) = 1.0f;                          // two pixels at opposite corners: neighbours across the periodic edge
  w(2, L * L - 1) = 1.0f;
  EXPECT_DOUBLE_EQ(window_mass_fraction(w.row(0), L, 2), 1.0);
  EXPECT_DOUBLE_EQ(window_mass_fraction(w.row(1), L, 2), 4.0 / 100);
  EXPECT_DOUBLE_EQ(window_mass_fraction(w.row(1), L, 5), 25.0 / 100);
  EXPECT_DOUBLE_EQ(window_mass_fraction(w.row(2), L, 1), 0.5);
  EXPECT_DOUBLE_EQ(window_mass_fraction(w.row(2), L, 2), 1.0);
  EXPECT_DOUBLE_EQ(window_mass_fraction(w, L, 2), (1.0 + 0.04 + 1.0) / 3);
  EXPECT_THROW(window_mass_fraction(w, L, 11), Error);
}

}  // namespace
}  // namespace onsager
