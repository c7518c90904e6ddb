#pragma once
// The partition function Z of a Bernoulli RBM and the log-likelihood it gives (docs/likelihood.md).
//
// Exact: enumerate the smaller layer (DESIGN.md §5). Summing out the other layer analytically,
//   enumerating h:  log Z = logsumexp_h [c·h + Σ_i softplus(b_i + (Wᵀh)_i)],
//   enumerating v:  log Z = logsumexp_v [b·v + Σ_j softplus(c_j + (W v)_j)],
// in double, visiting the states in Gray-code order so that each step adds one row or column of W.
//
// AIS: annealed importance sampling (Salakhutdinov & Murray, ICML 2008, §4.1 and eq. 13-15) from a base
// RBM with W = 0, hidden bias 0 and visible bias b_A (logit of the smoothed data marginals) to the model,
// through p_k*(v) = exp((1-β_k) b_A·v + β_k b·v) Π_j (1 + exp(β_k (c_j + W_j·v))). The estimate of log Z
// is a stochastic lower bound in expectation (Jensen), so log-likelihoods from it are upper bounds in
// expectation.

#include <cstdint>
#include <string>
#include <vector>

#include "onsager/core/matrix.hpp"
#include "onsager/rbm/rbm.hpp"

namespace onsager {

/// Which layer exact enumeration runs over; `automatic` picks the smaller (hidden on a tie).
enum class EnumerateLayer { automatic, visible, hidden };

struct ExactOptions {
  int max_log2_states = 30;  ///< refuse when more than 2^max_log2_states states would be visited (0..62)
  EnumerateLayer layer = EnumerateLayer::automatic;
  bool progress = false;     ///< progress bar on stderr (terminal only)
};

/// Exact log Z in double. Parallel over fixed chunks of states and combined in a fixed order, so the value
/// does not depend on the thread count. Throws onsager::Error on an invalid model or when the enumerated
/// layer has more than options.max_log2_states units.
double log_partition_exact(const Rbm& rbm, const ExactOptions& options = {});

/// Mean over the rows of `data` (N x V) of log p(v) = -F(v) - log Z, with F computed in double.
/// Throws onsager::Error on empty data, a column-count mismatch or a non-finite log_z.
double average_log_likelihood(const Rbm& rbm, const ConstMatrixFRef& data, double log_z);

/// The mean of each column of `data` (N x V, values in [0, 1]): the pixel marginals AIS's base model uses.
/// Throws onsager::Error on empty or non-finite data.
VectorF pixel_marginals(const ConstMatrixFRef& data);

/// Pseudo-count of the AIS base model: p_i is smoothed to (p_i + ais_pseudo_count) / (1 + 2 ais_pseudo_count),
/// as if 5% more examples had every pixel on and 5% every pixel off (Salakhutdinov & Murray's code adds 5 "on"
/// counts per 100 examples); the base stays broad enough that every pixel value keeps some probability.
inline constexpr double ais_pseudo_count = 0.05;

/// The AIS base model's visible bias b_A (V): logit of the smoothed marginals; an empty vector gives b_A = 0
/// (the uniform base). Throws onsager::Error unless the marginals are in [0, 1].
VectorF ais_base_bias(const ConstVectorFRef& pixel_marginals, Eigen::Index num_visible);

/// The inverse temperatures β_0 = 0 < ... < β_{K-1} = 1 of an AIS schedule with K = `betas` entries.
/// 0 gives Salakhutdinov & Murray's schedule: steps of 1e-3 to 0.5, 1e-4 to 0.9, 1e-5 to 1 (14,501 values).
/// Any other K >= 2 spaces K values evenly along the same piecewise-linear curve (1/29 of the steps below 0.5,
/// 8/29 between 0.5 and 0.9, 20/29 above), so K = 14,501 is the default schedule. Throws onsager::Error for
/// K = 1 or K < 0.
std::vector<double> ais_schedule(int betas = 0);

struct AisOptions {
  int runs = 100;           ///< independent AIS chains (the batch dimension of every GEMM)
  int betas = 0;            ///< number of temperatures β, see ais_schedule (0: the default 14,501)
  std::uint64_t seed = 0;
  bool progress = false;    ///< progress bar over temperatures on stderr (terminal only)
};

struct AisResult {
  double log_z = 0;       ///< log Z_A + log mean(w)
  double log_z_lo = 0;    ///< log Z_A + log(mean w - 3 std(w)/√R); -inf when that is <= 0; NaN for one run
  double log_z_hi = 0;    ///< log Z_A + log(mean w + 3 std(w)/√R); NaN for one run (no spread, no error bar)
  double log_z_base = 0;  ///< log Z_A = Σ softplus(b_A) + H log 2
  double ess = 0;         ///< effective sample size (Σw)² / Σw², between 1 and runs
  int runs = 0, temperatures = 0;
  std::vector<double> log_weights;  ///< log w of each run (runs entries)
  double seconds = 0;
};

/// AIS estimate of log Z. `base_pixel_marginals` (V entries in [0, 1], usually pixel_marginals of the
/// training data; empty for the uniform base) defines the base model via ais_base_bias. Run r draws its
/// numbers from streams keyed by (seed, r), so the result does not depend on the thread count.
/// Throws onsager::Error on an invalid model, marginals or options.
AisResult log_partition_ais(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals, const AisOptions& options);

/// The same with the uniform base model (b_A = 0).
AisResult log_partition_ais(const Rbm& rbm, const AisOptions& options);

/// AIS and an independent check: a second AIS run with about half the temperatures and its own random streams.
struct AisReport {
  AisResult main;          ///< options.betas temperatures (default 14,501)
  AisResult check;         ///< (K + 1) / 2 temperatures, independent seed
  double schedule_gap = 0; ///< main.log_z - check.log_z
};

/// Runs log_partition_ais twice (see AisReport); costs about 1.5 times a single run.
AisReport log_partition_ais_checked(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals,
                                    const AisOptions& options);

/// Reasons to distrust an AIS report, one sentence each (empty when none applies): an ESS below a tenth of
/// the runs, a single run (no error bar), an unbounded lower error bar, or a schedule gap larger than the error bars. A report whose `check`
/// has no runs (a single AIS run placed in `main`) gets the checks on `main` alone.
std::vector<std::string> ais_warnings(const AisReport& report);

}  // namespace onsager
