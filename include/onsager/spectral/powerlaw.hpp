#pragma once
// Power-law fit of an ESD's tail: WeightWatcher's default fitter (a continuous Clauset–Shalizi–Newman
// fit, DESIGN.md §6). For every candidate xmin = x_i (all points but the largest), with tail n = N - i:
//   α_i = 1 + n / Σ_{j≥i} ln(x_j / x_i),   D_i = max_{j≥i} | (j - i)/n - (1 - (x_j / x_i)^{1-α_i}) |,
// and the fit is the i with the smallest D (the first one on ties). WeightWatcher evaluates D_i by a loop
// over all j for every i (O(n²)). Here α_i comes from suffix sums of ln x, and the max over j is found by
// branch and bound: both (j-i)/n and 1 - (x_j/x_i)^{1-α} are non-decreasing in j, so their difference on a
// range [l, r] is bounded by its values at the ends; ranges that cannot beat the running max are skipped, and
// a candidate is abandoned as soon as its running max reaches the best D so far. The result is the same
// xmin, α and D as the direct scan (fit_power_law_naive, kept as the reference); the work is close to
// n log n on ESDs (docs/analyze.md has the measurements).

#include <cstddef>
#include <optional>
#include <span>
#include <string>

namespace onsager {

struct PowerLawOptions {
  /// Fit only eigenvalues up to the one nearest to xmax (WeightWatcher's rule); none: up to λ_max.
  std::optional<double> xmax;
  /// Candidates must leave at least this many points in the tail (WeightWatcher: none, i.e. 2).
  std::size_t min_tail = 2;
  /// "clip_xmax" finger fix: refit without the k largest eigenvalues, k = 1 .. max_fingers, and keep the
  /// first such fit whose α falls more than finger_thresh below the unclipped α (stop early when α ≤ 2).
  bool clip_xmax = false;
  int max_fingers = 10;
  double finger_thresh = 1.0;
};

struct PowerLawFit {
  bool valid = false;       ///< false when fewer than two points (or min_tail) are available
  double alpha = 0, xmin = 0, xmax = 0, D = 1, sigma = 0;
  std::size_t num_pl_spikes = 0;  ///< points in the fitted tail (x ≥ xmin, x ≤ xmax)
  std::size_t xmin_index = 0;     ///< index of xmin within the sorted input
  int num_fingers = 0;            ///< eigenvalues clipped by the finger fix
  std::size_t candidates_scanned = 0, points_evaluated = 0;  ///< work counters of the fast scan
};

/// The fast fit of the ascending, positive values `x` (throws onsager::Error when unsorted or ≤ 0).
PowerLawFit fit_power_law(std::span<const double> x, const PowerLawOptions& options = {});

/// The direct O(n²) scan, WeightWatcher's loop transcribed: the reference the fast fit is tested against.
PowerLawFit fit_power_law_naive(std::span<const double> x, const PowerLawOptions& options = {});

}  // namespace onsager
