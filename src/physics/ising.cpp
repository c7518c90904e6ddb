// The 2-D Ising model: Onsager's exact solution and the Wolff cluster sampler (physics/ising.hpp).

#include "onsager/physics/ising.hpp"

#include <cmath>
#include <numbers>

#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"

namespace onsager {
namespace {

constexpr std::uint64_t kTagChain = 0x15196'01;

// The cluster's growth, with its stack reused across flips.
std::size_t flip_cluster(std::vector<signed char>& s, int L, double p_add, Rng& rng, std::vector<int>& stack) {
  const int n = L * L;
  const int seed_site = static_cast<int>(rng.below(static_cast<std::uint64_t>(n)));
  const signed char spin = s[static_cast<std::size_t>(seed_site)];
  // Flipping a site on entry marks it as in the cluster (it no longer equals `spin`).
  s[static_cast<std::size_t>(seed_site)] = static_cast<signed char>(-spin);
  stack.clear();
  stack.push_back(seed_site);
  std::size_t size = 1;
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    const int r = i / L, c = i % L;
    const int nb[4] = {(r == 0 ? L - 1 : r - 1) * L + c, (r == L - 1 ? 0 : r + 1) * L + c, r * L + (c == 0 ? L - 1 : c - 1),
                       r * L + (c == L - 1 ? 0 : c + 1)};
    for (int j : nb) {
      if (s[static_cast<std::size_t>(j)] == spin && rng.uniform() < p_add) {
        s[static_cast<std::size_t>(j)] = static_cast<signed char>(-spin);
        stack.push_back(j);
        ++size;
      }
    }
  }
  return size;
}

double energy_of(const std::vector<signed char>& s, int L) {
  long e = 0;
  for (int r = 0; r < L; ++r)
    for (int c = 0; c < L; ++c) {
      const int i = r * L + c;
      e -= s[static_cast<std::size_t>(i)] *
           (s[static_cast<std::size_t>(r * L + (c + 1) % L)] + s[static_cast<std::size_t>(((r + 1) % L) * L + c)]);
    }
  return static_cast<double>(e) / static_cast<double>(L * L);
}

nlohmann::json num(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

}  // namespace

double ising_critical_temperature() { return 2.0 / std::log(1.0 + std::numbers::sqrt2); }

double onsager_energy_per_spin(double t) {
  ONSAGER_CHECK(std::isfinite(t) && t > 0, "onsager_energy_per_spin: temperature must be > 0 (got {})", t);
  const double b = 1.0 / t;
  const double kappa = 2.0 * std::sinh(2 * b) / (std::cosh(2 * b) * std::cosh(2 * b));
  const double th = std::tanh(2 * b);
  // At T_c, κ = 1 and K diverges while its prefactor 2 tanh²(2β) - 1 vanishes: the product tends to 0.
  const double k = kappa >= 1.0 ? 0.0 : std::comp_ellint_1(kappa) * (2 * th * th - 1);
  return -(1.0 / th) * (1.0 + (2.0 / std::numbers::pi) * k);
}

double onsager_magnetization(double t) {
  ONSAGER_CHECK(std::isfinite(t) && t > 0, "onsager_magnetization: temperature must be > 0 (got {})", t);
  if (t >= ising_critical_temperature()) return 0.0;
  const double sh = std::sinh(2.0 / t);
  return std::pow(1.0 - 1.0 / (sh * sh * sh * sh), 0.125);
}

void IsingOptions::validate() const {
  ONSAGER_CHECK(L >= 2 && L <= 4096, "sample_ising_wolff: options.L must be in 2..4096 (got {})", L);
  ONSAGER_CHECK(std::isfinite(temperature) && temperature > 0,
                "sample_ising_wolff: options.temperature must be > 0 (got {})", temperature);
  ONSAGER_CHECK(samples >= 1 && samples <= 100000000, "sample_ising_wolff: options.samples must be in 1..1e8 (got {})",
                samples);
  ONSAGER_CHECK(static_cast<double>(samples) * L * L <= 4e9,
                "sample_ising_wolff: options.samples x L² = {} spins is more than 4e9 (16 GB of float)",
                static_cast<double>(samples) * L * L);
  ONSAGER_CHECK(sweeps_between >= 1, "sample_ising_wolff: options.sweeps_between must be >= 1 (got {})", sweeps_between);
  ONSAGER_CHECK(burn_in >= 0, "sample_ising_wolff: options.burn_in must be >= 0 (got {})", burn_in);
  ONSAGER_CHECK(chains >= 1 && chains <= 1024, "sample_ising_wolff: options.chains must be in 1..1024 (got {})", chains);
}

std::size_t wolff_flip(std::vector<signed char>& spins, int L, double temperature, Rng& rng) {
  ONSAGER_CHECK(L >= 2 && spins.size() == static_cast<std::size_t>(L) * static_cast<std::size_t>(L),
                "wolff_flip: {} spins for L = {}", spins.size(), L);
  ONSAGER_CHECK(temperature > 0, "wolff_flip: temperature must be > 0 (got {})", temperature);
  std::vector<int> stack;
  return flip_cluster(spins, L, 1.0 - std::exp(-2.0 / temperature), rng, stack);
}

double ising_energy_per_spin(const float* spins, int L) {
  std::vector<signed char> s(static_cast<std::size_t>(L) * static_cast<std::size_t>(L));
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = spins[i] > 0.5f ? 1 : -1;
  return energy_of(s, L);
}

IsingSamples sample_ising_wolff(const IsingOptions& o) {
  o.validate();
  const int L = o.L;
  const std::size_t n = static_cast<std::size_t>(L) * static_cast<std::size_t>(L);
  const double p_add = 1.0 - std::exp(-2.0 / o.temperature);
  IsingSamples out;
  out.L = L;
  out.temperature = o.temperature;
  out.spins.resize(static_cast<Eigen::Index>(o.samples), static_cast<Eigen::Index>(n));
  out.energy.assign(o.samples, 0.0);
  out.magnetization.assign(o.samples, 0.0);
  const int chains = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(o.chains), o.samples));
  std::vector<std::size_t> first(static_cast<std::size_t>(chains) + 1, 0);
  for (int c = 0; c < chains; ++c)
    first[c + 1] = first[c] + o.samples / chains + (static_cast<std::size_t>(c) < o.samples % chains ? 1 : 0);
  std::vector<std::size_t> cluster_spins(static_cast<std::size_t>(chains), 0), cluster_count(static_cast<std::size_t>(chains), 0);
  std::vector<char> interrupted(static_cast<std::size_t>(chains), 0);
#pragma omp parallel for schedule(dynamic, 1) num_threads(num_threads())
  for (int c = 0; c < chains; ++c) {
    Rng rng(stream_seed(o.seed, kTagChain, static_cast<std::uint64_t>(c)));
    std::vector<signed char> s(n, 1);
    std::vector<int> stack;
    stack.reserve(n);
    auto sweep = [&] {
      std::size_t flipped = 0;
      while (flipped < n) {
        const std::size_t size = flip_cluster(s, L, p_add, rng, stack);
        flipped += size;
        cluster_spins[c] += size;
        ++cluster_count[c];
      }
    };
    for (int b = 0; b < o.burn_in && !interrupted[c]; ++b) {
      sweep();
      if (interrupt_requested()) interrupted[c] = 1;
    }
    for (std::size_t k = first[c]; k < first[c + 1] && !interrupted[c]; ++k) {
      for (int w = 0; w < o.sweeps_between; ++w) sweep();
      float* row = out.spins.data() + static_cast<Eigen::Index>(k) * static_cast<Eigen::Index>(n);
      long m = 0;
      for (std::size_t i = 0; i < n; ++i) {
        row[i] = s[i] > 0 ? 1.0f : 0.0f;
        m += s[i];
      }
      out.energy[k] = energy_of(s, L);
      out.magnetization[k] = std::abs(static_cast<double>(m)) / static_cast<double>(n);
      if (interrupt_requested()) interrupted[c] = 1;
    }
  }
  for (char i : interrupted)
    if (i) throw_if_interrupted("sample_ising_wolff");
  // Means, and standard errors from the spread of the chains' means (independent chains), or of the samples when
  // there is one chain (an underestimate when they are correlated).
  auto stats = [&](const std::vector<double>& v, double& mean, double& err) {
    double sum = 0;
    for (double x : v) sum += x;
    mean = sum / static_cast<double>(v.size());
    std::vector<double> means;
    if (chains > 1) {
      for (int c = 0; c < chains; ++c) {
        double s = 0;
        for (std::size_t k = first[c]; k < first[c + 1]; ++k) s += v[k];
        means.push_back(s / static_cast<double>(first[c + 1] - first[c]));
      }
    } else {
      means = v;
    }
    double ss = 0;
    for (double x : means) ss += (x - mean) * (x - mean);
    err = means.size() > 1 ? std::sqrt(ss / static_cast<double>(means.size() - 1) / static_cast<double>(means.size())) : 0.0;
  };
  stats(out.energy, out.mean_energy, out.mean_energy_err);
  stats(out.magnetization, out.mean_abs_magnetization, out.mean_abs_magnetization_err);
  std::size_t spins = 0;
  for (int c = 0; c < chains; ++c) spins += cluster_spins[c], out.clusters += cluster_count[c];
  out.mean_cluster_size = out.clusters ? static_cast<double>(spins) / static_cast<double>(out.clusters) : 0.0;
  return out;
}

nlohmann::json to_json(const IsingSamples& s, bool with_samples) {
  nlohmann::json j = {{"L", s.L},
                      {"temperature", s.temperature},
                      {"samples", s.spins.rows()},
                      {"mean_energy", num(s.mean_energy)},
                      {"mean_energy_err", num(s.mean_energy_err)},
                      {"mean_abs_magnetization", num(s.mean_abs_magnetization)},
                      {"mean_abs_magnetization_err", num(s.mean_abs_magnetization_err)},
                      {"exact_energy", num(onsager_energy_per_spin(s.temperature))},
                      {"exact_magnetization", num(onsager_magnetization(s.temperature))},
                      {"mean_cluster_size", num(s.mean_cluster_size)},
                      {"clusters", s.clusters}};
  if (with_samples) {
    j["energy"] = s.energy;
    j["magnetization"] = s.magnetization;
  }
  return j;
}

}  // namespace onsager
