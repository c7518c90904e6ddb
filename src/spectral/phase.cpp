#include "onsager/spectral/phase.hpp"

#include <fmt/format.h>

namespace onsager {

std::string_view to_string(Phase p) {
  switch (p) {
    case Phase::random_like: return "random-like";
    case Phase::bleeding_out: return "bleeding-out";
    case Phase::bulk_plus_spikes: return "bulk+spikes";
    case Phase::bulk_decay: return "bulk-decay";
    case Phase::heavy_tailed: return "heavy-tailed";
    case Phase::rank_collapse: return "rank-collapse";
    case Phase::too_small: return "too-small";
  }
  return "?";
}

PhaseDecision classify_phase(std::size_t m, std::size_t num_evals, std::size_t rank_loss, double lambda_max_scaled,
                             const MarchenkoPasturFit& mp, const PowerLawFit& pl) {
  constexpr std::size_t kMinM = 50;
  constexpr double kCollapse = 0.10, kSpikeFraction = 0.03, kSeparated = 1.5, kDecade = 10.0, kHeavyAlpha = 4.0;
  if (m < kMinM) return {Phase::too_small, fmt::format("M = {} < {}: too small for a reliable fit", m, kMinM)};
  const double zero_fraction = static_cast<double>(rank_loss) / static_cast<double>(num_evals);
  if (zero_fraction >= kCollapse)
    return {Phase::rank_collapse, fmt::format("{:.0f}% of the eigenvalues are numerically zero", 100 * zero_fraction)};
  if (mp.num_spikes == 0) return {Phase::random_like, "no eigenvalue beyond the MP edge + Tracy-Widom margin"};
  const double reach = lambda_max_scaled / mp.lambda_plus;
  if (reach < kSeparated)
    return {Phase::bleeding_out,
            fmt::format("{} eigenvalue(s) just beyond the MP edge (largest {:.2f} x lambda+)", mp.num_spikes, reach)};
  const double spike_fraction = static_cast<double>(mp.num_spikes) / static_cast<double>(num_evals);
  if (spike_fraction <= kSpikeFraction)
    return {Phase::bulk_plus_spikes,
            fmt::format("{} spike(s) ({:.1f}% of the ESD) beyond the MP bulk, the largest at {:.1f} x lambda+",
                        mp.num_spikes, 100 * spike_fraction, reach)};
  if (pl.valid && pl.alpha < kHeavyAlpha && reach >= kDecade)
    return {Phase::heavy_tailed,
            fmt::format("{:.1f}% of the ESD beyond the MP bulk, reaching {:.0f} x lambda+, alpha {:.2f} < {}",
                        100 * spike_fraction, reach, pl.alpha, kHeavyAlpha)};
  return {Phase::bulk_decay,
          fmt::format("{:.1f}% of the ESD beyond the MP bulk, reaching {:.1f} x lambda+, alpha {}", 100 * spike_fraction,
                      reach, pl.valid ? fmt::format("{:.2f}", pl.alpha) : std::string("(no fit)"))};
}

}  // namespace onsager
