#pragma once
// The 2-D ferromagnetic Ising model on an L x L periodic lattice, E(s) = -J Σ_<ij> s_i s_j (J = 1, k_B = 1,
// s = ±1, each nearest-neighbour bond once), sampled by the Wolff cluster algorithm (Wolff, PRL 62, 361, 1989):
// grow a cluster from a random site, adding each aligned neighbour with probability p = 1 - exp(-2/T), and flip
// it. Onsager's exact solution (Phys. Rev. 65, 117, 1944) gives the infinite lattice's energy per spin and
// Yang's (1952) its spontaneous magnetisation, the references the sampler is tested against.
//
// Determinism: the samples come from `chains` independent chains, each with its own random stream keyed by
// (seed, chain); chains run in parallel and are concatenated in chain order, so the output does not depend on
// the thread count.

#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "onsager/core/matrix.hpp"
#include "onsager/core/random.hpp"

namespace onsager {

/// T_c = 2 / ln(1 + √2) ≈ 2.269185.
double ising_critical_temperature();
/// Onsager's energy per spin of the infinite lattice at temperature T > 0:
/// u = -coth(2β) [1 + (2/π)(2 tanh²(2β) - 1) K(κ)], κ = 2 sinh(2β) / cosh²(2β), K the complete elliptic integral
/// of the first kind. Throws onsager::Error for T <= 0 or non-finite.
double onsager_energy_per_spin(double temperature);
/// The spontaneous magnetisation per spin, (1 - sinh⁻⁴(2β))^{1/8} below T_c and 0 above.
double onsager_magnetization(double temperature);

struct IsingOptions {
  int L = 40;                ///< lattice side (2..4096)
  double temperature = 2.269185314213022;  ///< T > 0 (default T_c)
  std::size_t samples = 1000;
  int sweeps_between = 10;   ///< Wolff sweeps between kept samples (a sweep: clusters until L² spins flipped)
  int burn_in = 100;         ///< sweeps before the first sample of each chain
  int chains = 4;            ///< independent chains (the samples are split evenly, the first ones get the rest)
  std::uint64_t seed = 0;
  /// Throws onsager::Error naming the field.
  void validate() const;
};

struct IsingSamples {
  int L = 0;
  double temperature = 0;
  MatrixF spins;                  ///< samples x L², row-major lattice (site (r, c) at r L + c), spins as {0, 1}
  std::vector<double> energy;     ///< per sample, per spin
  std::vector<double> magnetization;  ///< |Σ s| / L² per sample
  double mean_energy = 0, mean_energy_err = 0;          ///< mean and its standard error (from chain means)
  double mean_abs_magnetization = 0, mean_abs_magnetization_err = 0;
  double mean_cluster_size = 0;   ///< spins per Wolff cluster, over all flips
  std::size_t clusters = 0;       ///< cluster flips done in all
};

nlohmann::json to_json(const IsingSamples& s, bool with_samples = false);

/// Draws configurations by the Wolff algorithm from all-up starts. Throws onsager::Error on bad options.
IsingSamples sample_ising_wolff(const IsingOptions& options);

/// The energy per spin of one configuration (L² spins as {0, 1} or ±1 signs: values > 0.5 are up).
double ising_energy_per_spin(const float* spins, int L);

/// One Wolff cluster flip of `spins` (L² entries, ±1) at temperature T, drawing from `rng`; returns the cluster
/// size. The sampler's step, exposed for tests (detailed balance on small lattices).
std::size_t wolff_flip(std::vector<signed char>& spins, int L, double temperature, Rng& rng);

}  // namespace onsager
