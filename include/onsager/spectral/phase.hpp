#pragma once
// The 5+1 phases of training (Martin & Mahoney 2021, DESIGN.md §6), decided by explicit rules on the MP
// fit (mean-1 ESD) and the power-law fit, tried in this order ("spikes": eigenvalues above λ₊ + √Δ_TW;
// "reach": λ_max / λ₊):
//   too-small      M < 50: the MP edges and α are not reliable at this size, so no phase is guessed;
//   rank-collapse  at least 10% of the eigenvalues are numerically zero (matrix_rank's tolerance);
//   random-like    no spike;
//   bleeding-out   reach < 1.5: every spike lies just past the bulk edge;
//   bulk+spikes    at most 3% of the eigenvalues are spikes (an MP bulk and a few outliers);
//   heavy-tailed   more spikes, the power law has α < 4 and the tail reaches 10 λ₊ or more;
//   bulk-decay     more spikes otherwise (the bulk decays into many moderate outliers).
// docs/analyze.md explains the thresholds; tests/unit/test_spectral.cpp checks them on matrices whose phase is
// known by construction.

#include <cstddef>
#include <string>
#include <string_view>

#include "onsager/spectral/marchenko_pastur.hpp"
#include "onsager/spectral/powerlaw.hpp"

namespace onsager {

enum class Phase { random_like, bleeding_out, bulk_plus_spikes, bulk_decay, heavy_tailed, rank_collapse, too_small };

/// "random-like", "bleeding-out", "bulk+spikes", "bulk-decay", "heavy-tailed", "rank-collapse", "too-small".
std::string_view to_string(Phase p);

/// Every phase, in the order above.
inline constexpr Phase kAllPhases[] = {Phase::random_like, Phase::bleeding_out, Phase::bulk_plus_spikes,
                                       Phase::bulk_decay, Phase::heavy_tailed, Phase::rank_collapse,
                                       Phase::too_small};

struct PhaseDecision {
  Phase phase = Phase::too_small;
  std::string reason;  ///< the rule that fired, with its numbers
};

/// Classifies a layer: `m` its (slice) min dimension, `num_evals` the ESD size, `rank_loss` its numerically
/// zero eigenvalues, `lambda_max_scaled` λ_max of the mean-1 ESD.
PhaseDecision classify_phase(std::size_t m, std::size_t num_evals, std::size_t rank_loss, double lambda_max_scaled,
                             const MarchenkoPasturFit& mp, const PowerLawFit& pl);

}  // namespace onsager
