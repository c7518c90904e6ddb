#pragma once
// Seeded, thread-count-independent randomness.
// Every stochastic routine takes a seed; parallel work derives one stream per unit of work
// (e.g. per minibatch row) with `stream_seed(seed, a, b, c)`, so the numbers a row sees do not
// depend on which thread handles it. The generator is xoshiro256+ seeded through SplitMix64.

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace onsager {

/// SplitMix64 step: a good 64-bit mixer, used to seed and to combine stream keys.
constexpr std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// A seed for the stream named by (seed, a, b, c): distinct keys give independent streams.
constexpr std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0,
                                    std::uint64_t c = 0) {
  std::uint64_t s = seed;
  std::uint64_t h = splitmix64(s);
  for (std::uint64_t k : {a, b, c}) {
    s = h ^ (k * 0xD6E8FEB86659FD93ULL);
    h = splitmix64(s);
  }
  return h;
}

/// A 32-bit integer hash with low bias (Wellons' "lowbias32"): a bijection with strong avalanche.
constexpr std::uint32_t lowbias32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

/// Counter-based uniform in [0, 1) with 24 random bits: element `j` of the stream keyed by `key`.
/// Two keyed rounds of lowbias32; loops over j vectorise, which is what makes Bernoulli sampling cheap.
constexpr float counter_uniform(std::uint64_t key, std::uint32_t j) {
  std::uint32_t x = lowbias32(j ^ static_cast<std::uint32_t>(key));
  x = lowbias32(x ^ static_cast<std::uint32_t>(key >> 32));
  return static_cast<float>(x >> 8) * 0x1.0p-24f;
}

/// Counter-based standard normal: Box-Muller on uniforms 2j and 2j+1 of the stream keyed by `key` (the first shifted
/// into (0, 1) so its logarithm is finite; tails reach about 5.8σ).
inline float counter_normal(std::uint64_t key, std::uint32_t j) {
  const float u1 = counter_uniform(key, 2 * j) + 0x1.0p-25f;
  const float u2 = counter_uniform(key, 2 * j + 1);
  return std::sqrt(-2.0f * std::log(u1)) * std::cos(6.28318530717958647692f * u2);
}

/// xoshiro256+ (Blackman & Vigna): fast, 2^256 period; satisfies UniformRandomBitGenerator.
class Rng {
 public:
  using result_type = std::uint64_t;

  explicit Rng(std::uint64_t seed = 0) {
    std::uint64_t s = seed;
    for (auto& w : s_) w = splitmix64(s);
  }

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }

  result_type operator()() {
    const std::uint64_t result = s_[0] + s_[3];
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = (s_[3] << 45) | (s_[3] >> 19);
    return result;
  }

  /// Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  /// Uniform float in [0, 1) with 24 random bits.
  float uniform_float() { return static_cast<float>((*this)() >> 40) * 0x1.0p-24f; }

  /// Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias below 2^-32 for n < 2^32).
  std::uint64_t below(std::uint64_t n) {
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>((*this)()) * n) >> 64);
  }

  /// Standard normal deviate (Box-Muller, one of the pair).
  double normal();

 private:
  std::uint64_t s_[4];
};

/// A uniformly random permutation of 0..n-1 (Fisher-Yates), identical on every machine.
std::vector<std::size_t> random_permutation(std::size_t n, std::uint64_t seed);

}  // namespace onsager
