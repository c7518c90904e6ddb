#pragma once
// The partition function Z of a Bernoulli RBM and the log-likelihood it gives (docs/likelihood.md). A
// Gaussian-Bernoulli RBM (Rbm::log_var) has exact enumeration of its hidden layer and AIS on either layer
// (docs/gaussian-rbm.md); BAR, the mode bound and the TAP estimates refuse it.
//
// Exact: enumerate the smaller layer (DESIGN.md §5). Summing out the other layer analytically,
//   enumerating h:  log Z = logsumexp_h [c·h + Σ_i softplus(b_i + (Wᵀh)_i)],
//   enumerating v:  log Z = logsumexp_v [b·v + Σ_j softplus(c_j + (W v)_j)],
// in double, visiting the states in Gray-code order so that each step adds one row or column of W.
//
// AIS: annealed importance sampling (Salakhutdinov & Murray, ICML 2008, §4.1 and eq. 13-15) from a base
// model of independent units to the model, annealing one layer (by default the smaller: marginalised AIS) with the
// other summed out at every temperature,
//   p_k*(x) = exp(((1-β_k) a + β_k b)·x) Π_j (1 + exp((1-β_k) d_j + β_k (c_j + W_j·x)))
// in the model seen from the annealed layer x (a, d: the base's biases on the annealed and the summed layer). The
// estimate of log Z is a stochastic lower bound in expectation (Jensen), so log-likelihoods from it are upper
// bounds in expectation.
//
// BAR: Bennett's acceptance ratio between the neighbouring levels of parallel-tempering ladders on the same path,
// the independent check. ModeBound: a rigorous lower bound from the heaviest states of the smaller layer, which AIS
// sums exactly when they hold most of Z (docs/likelihood.md). Bracket: rigorous lower and upper bounds by branch and
// bound over the smaller layer, for cold models too large to enumerate.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
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

/// Which layer AIS (and BAR) anneals; the other layer is summed out analytically at every temperature.
/// `automatic` anneals the smaller layer (the visible one on a tie): marginalised AIS (Yasuda & Takahashi),
/// whose weights then carry no variance from the larger layer.
enum class AisLayer { automatic, visible, hidden };
/// The base distribution over the annealed layer: independent units with probabilities
///   data:       the data's marginals on that layer (pixel marginals; for the hidden layer the mean of p(h|v) over
///               the data, AisOptions::hidden_marginals, or σ(c + W p̃) without them), smoothed by ais_pseudo_count;
///   uniform:    ½ per unit;
///   mean_field: the model's own naive mean-field magnetisations, iterated from the smoothed pixel marginals
///               (½ without them), smoothed the same way.
enum class AisBase { data, uniform, mean_field };

/// "automatic", "visible", "hidden" / "data", "uniform", "mean-field".
std::string_view to_string(AisLayer layer);
std::string_view to_string(AisBase base);
/// Parse the names above; throw onsager::Error naming the allowed values.
AisLayer parse_ais_layer(std::string_view s);
AisBase parse_ais_base(std::string_view s);

/// The layer `layer` resolves to for this model: visible or hidden.
AisLayer resolve_ais_layer(const Rbm& rbm, AisLayer layer);

/// Mean over the rows of `data` (N x V) of p(h = 1 | v): the hidden layer's data marginals (H entries).
/// Throws onsager::Error on empty data or a column-count mismatch.
VectorF hidden_marginals(const Rbm& rbm, const ConstMatrixFRef& data);

struct AisOptions {
  int runs = 100;           ///< independent AIS chains (the batch dimension of every GEMM)
  int betas = 0;            ///< number of temperatures β, see ais_schedule (0: the default 14,501)
  std::uint64_t seed = 0;
  bool progress = false;    ///< progress bar over temperatures on stderr (terminal only)
  AisLayer layer = AisLayer::automatic;
  AisBase base = AisBase::data;
  VectorF hidden_marginals; ///< for AisBase::data on the hidden layer (H entries; see hidden_marginals()); may be empty
  /// States of the annealed layer (rows, binary) whose share of Z is summed exactly: Z = Σ_{x in S} p*(x) + Z_rest,
  /// where the runs estimate only Z_rest (a run whose final state is in S gets weight 0; unbiased, and the lower
  /// error bar is then at least log Σ_S p*). Used only when the plain estimate from the same runs cannot be trusted
  /// (ESS below runs/10, no error bar, or the estimate below Σ_S p*) and Σ_S p* is more than half of the result
  /// (else the plain estimate is kept): ModeBound::states of a cold model hold most of its mass. May be empty.
  MatrixF exact_states;
  /// Gaussian-Bernoulli models with AisBase::data: the base's variance per visible unit (usually the training data's;
  /// each raised to at least the model's σ_i²), the base's means being `base_pixel_marginals` (the data's means). Empty:
  /// the model's σ². A Gaussian model's visible layer is annealed from these independent Gaussians (docs/gaussian-rbm.md);
  /// AisBase::uniform there means N(b, σ²), the model without its weights. Annealing its hidden layer (the default when
  /// it is the smaller) integrates the Gaussians out instead and starts from hidden_marginals, like a Bernoulli model.
  VectorF base_variance;
};

struct AisResult {
  double log_z = 0;       ///< log Z_A + log mean(w)
  double log_z_lo = 0;    ///< log Z_A + log(mean w - 3 std(w)/√R); -inf when that is <= 0; NaN for one run
  double log_z_hi = 0;    ///< log Z_A + log(mean w + 3 std(w)/√R); NaN for one run (no spread, no error bar); +inf
                          ///< when states summed exactly were used and the other runs' ESS is below runs/10 (the
                          ///< rest of Z poorly measured; log_z_lo is then the exact sum)
  double log_z_base = 0;  ///< log Z_A = Σ softplus(a) over the annealed layer + (units summed out) log 2
  double ess = 0;         ///< effective sample size (Σw)² / Σw², between 1 and runs
  int runs = 0, temperatures = 0;
  AisLayer layer = AisLayer::visible;  ///< the layer annealed (resolved)
  AisBase base = AisBase::data;
  int exact_states = 0;             ///< states summed exactly (AisOptions::exact_states)
  int runs_in_exact_states = 0;     ///< runs that ended on one of them (weight 0 when used)
  bool exact_states_used = false;   ///< whether log_z is Σ_S p* + the runs' estimate of the rest
  double log_z_exact_states = -std::numeric_limits<double>::infinity();  ///< log Σ_S p*(x)
  std::vector<double> log_weights;  ///< log w of each run (runs entries; -inf for a run ended in S)
  double seconds = 0;
};

/// AIS estimate of log Z. `base_pixel_marginals` (V entries in [0, 1], usually pixel_marginals of the
/// training data; empty for none) and options.base define the base model (see AisBase). Run r draws its
/// numbers from streams keyed by (seed, r), so the result does not depend on the thread count.
/// Throws onsager::Error on an invalid model, marginals or options.
AisResult log_partition_ais(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals, const AisOptions& options);

/// The same without data marginals (AisBase::data then means the uniform base).
AisResult log_partition_ais(const Rbm& rbm, const AisOptions& options);

/// The base model's bias on the annealed layer (`layer` resolved: visible or hidden): logit of the smoothed
/// probabilities AisBase describes. Throws onsager::Error on bad marginals.
VectorF ais_base_bias(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals, AisLayer layer,
                      const AisOptions& options);

/// Bennett's acceptance ratio over a parallel-tempering ladder (Krause, Fischer & Igel 2020): `ladders`
/// independent ladders of `temperatures` inverse temperatures β_0 = 0 < ... < β_{K-1} = 1 (ais_schedule's curve)
/// over the annealed layer, each level one chain; every sweep moves every chain by one Gibbs step at its own β and
/// then proposes swaps between neighbouring levels (even pairs on even sweeps, odd pairs on odd ones). After
/// `burn_in` sweeps every sweep's work values log p_{k±1}*(x) - log p_k*(x) are kept, and log Z_{k+1}/Z_k is
/// Bennett's self-consistent estimate from the samples on both sides. The base model is AIS's (same layer and
/// base options), so the estimator shares no random numbers and no annealing path with AIS.
struct BarOptions {
  int ladders = 10;         ///< independent PT ladders: the jackknife blocks of the error bar (>= 2)
  int temperatures = 100;   ///< levels per ladder (>= 2)
  int sweeps = 1000;        ///< sweeps per ladder, burn-in included
  int burn_in = 200;        ///< sweeps discarded (0 <= burn_in < sweeps)
  std::uint64_t seed = 0;
  bool progress = false;
  AisLayer layer = AisLayer::automatic;
  AisBase base = AisBase::data;
  VectorF hidden_marginals;

  /// Throws onsager::Error naming the bad field and its value.
  void validate(const char* where) const;
};

struct BarResult {
  double log_z = 0;       ///< log Z_A + Σ_k BAR(k, k+1) on all ladders' samples
  double log_z_err = 0;   ///< jackknife standard error over the ladders x Student's t at ±3σ coverage (4.09 at 10)
  double log_z_base = 0;  ///< log Z_A
  int ladders = 0, temperatures = 0, sweeps = 0, burn_in = 0;
  AisLayer layer = AisLayer::visible;
  AisBase base = AisBase::data;
  double swap_rate_min = 0;         ///< the lowest acceptance rate of a neighbouring swap over the ladder
  double swap_rate_mean = 0;        ///< mean over the K-1 pairs
  std::vector<double> ladder_log_z; ///< the estimate with each ladder left out (the jackknife replicates)
  double seconds = 0;
};

/// BAR + parallel tempering estimate of log Z (see BarOptions). Parallel over chains; nothing depends on the
/// thread count. Throws onsager::Error on an invalid model, marginals or options.
BarResult log_partition_bar(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals, const BarOptions& options);

/// A rigorous lower bound on log Z from states of the smaller layer: log Z >= log Σ_{x in S} p*(x) for any set S of
/// distinct states, with the other layer summed out exactly (log p*(h) = c·h + Σ_i softplus(b_i + Wᵀ_i h);
/// log p*(v) = -F(v)). S is the set of local maxima of log p* reached by greedy single-unit flips (each kept when it
/// raises log p*, in double, until no flip helps) from the states of `starts` rows of data (p(h|v) rounded, or the
/// rows themselves) and as many uniformly random states, together with every state one flip away from them (and two
/// flips, while that costs at most 5e7 multiply-adds). Cheap for a small layer; an estimate below it has certainly
/// missed mass, whatever its error bar. On a cold model, whose mass sits on a few states, it is close to log Z.
struct ModeBound {
  double log_z_lower = -std::numeric_limits<double>::infinity();
  AisLayer layer = AisLayer::visible;  ///< the layer searched (the smaller; visible on a tie)
  int starts = 0;                      ///< starting states tried
  int distinct = 0;                    ///< distinct local maxima reached
  int neighbour_flips = 0;             ///< their neighbours added: within 2, 1 or 0 flips
  int best_start = -1;                 ///< the one that reached the bound
  MatrixF states;                      ///< the set S: the local maxima and their neighbours (rows, distinct)
  double seconds = 0;
};

/// ModeBound from up to `starts` rows of `data` (N x V, values in [0, 1]; evenly spaced) plus `starts` random states.
/// Seeded; nothing depends on the thread count. Throws onsager::Error on an invalid model, data of the wrong width,
/// or starts < 1.
ModeBound log_partition_mode_bound(const Rbm& rbm, const ConstMatrixFRef& data, int starts = 100,
                                   std::uint64_t seed = 0);

/// A rigorous bracket on log Z by branch and bound over the smaller layer (at most 64 units; docs/likelihood.md,
/// "A rigorous bracket"). A node fixes some units of that layer (the next one to fix chosen per node) and stands for
/// the states that complete it; with the other layer summed out, softplus lies below its chord and above a tangent on the
/// range each field can take there, and both are linear in the free units, so they sum over the node's states in
/// closed form: an upper and a lower bound on the node's share of Z. The nodes with the widest bounds are split until
/// log(Σ U) - log(Σ L) <= tolerance or max_nodes nodes have been split; nodes with at most three free units are summed
/// exactly. Whatever the budget, log Z lies in [log_z_lo, log_z_hi] (up to double rounding). The budget it needs
/// grows with the number of states that hold the mass: small on a cold model (a few states hold Z), exponential on a
/// warm one, where AIS is the tool.
struct BracketOptions {
  double tolerance = 0.01;            ///< stop when the bracket is at most this wide (nats; > 0)
  std::int64_t max_nodes = 1'000'000;  ///< nodes split at most (>= 1): about 30 µs each with 784 units in the other
                                       ///< layer on 2 cores (two children, each ~6 x 784 exp/log and 6 x 784 x free
                                       ///< multiply-adds)
  /// When > 0: give up once a quarter of max_nodes has been split and the bracket is still wider than this (nats),
  /// as one that will not close within the budget (rbm eval's default path, where AIS then runs; 0: never).
  double abandon_width = 0;
  bool progress = false;               ///< progress bar on stderr (terminal only)
};

struct BracketResult {
  double log_z_lo = 0, log_z_hi = 0;  ///< log Z lies in [log_z_lo, log_z_hi]
  double log_z = 0;                   ///< the bracket's midpoint
  bool converged = false;             ///< log_z_hi - log_z_lo <= tolerance
  bool abandoned = false;             ///< stopped early by abandon_width
  double tolerance = 0;
  AisLayer layer = AisLayer::visible;  ///< the layer branched on (the smaller; visible on a tie)
  std::int64_t nodes = 0;              ///< nodes split
  std::int64_t open_nodes = 0;         ///< nodes left with a gap between their bounds
  std::int64_t exact_nodes = 0;        ///< nodes summed exactly
  double log_z_root_lo = 0, log_z_root_hi = 0;  ///< the bounds before any split (the whole layer's chord and tangent)
  double seconds = 0;
};

/// The bracket (see BracketOptions). Nothing depends on the thread count. Throws onsager::Error on an invalid or
/// Gaussian-Bernoulli model, a smaller layer of more than 64 units, a tolerance that is not positive or max_nodes < 1.
BracketResult log_partition_bracket(const Rbm& rbm, const BracketOptions& options = {});

/// AIS and an independent check by BAR over parallel tempering.
struct AisReport {
  AisResult main;   ///< AIS (options.betas temperatures, default 14,501)
  BarResult check;  ///< BAR + PT; check.ladders == 0 when it was not run
  double gap = 0;   ///< main.log_z - check.log_z (0 without the check)
};

/// Runs log_partition_ais and log_partition_bar (bar_options' layer, base and hidden marginals are taken from
/// `options`, its seed derived from options.seed). A Gaussian-Bernoulli model gets AIS alone (check.ladders == 0).
AisReport log_partition_ais_checked(const Rbm& rbm, const ConstVectorFRef& base_pixel_marginals,
                                    const AisOptions& options, const BarOptions& bar_options = {});

/// Whether two estimates' error bars overlap: "agree", "disagree", or "unchecked" when either has no finite bar.
std::string ais_bar_verdict(const AisReport& report);

/// Reasons to distrust an AIS report, one sentence each (empty when none applies): an ESS below a tenth of
/// the runs, a single run (no error bar), an unbounded lower error bar, a BAR ladder whose neighbouring swaps
/// are rarely accepted, or AIS and BAR disagreeing beyond their error bars. Without the check (check.ladders ==
/// 0) the checks on `main` alone.
std::vector<std::string> ais_warnings(const AisReport& report);

}  // namespace onsager
