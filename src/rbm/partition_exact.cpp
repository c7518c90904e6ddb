// Exact log Z by enumerating the smaller layer (DESIGN.md §5), and the average log-likelihood it gives. A
// Gaussian-Bernoulli RBM enumerates its hidden layer, with the Gaussian integral over v in closed form:
//   log Z = logsumexp_h [c·h + Σ_i (½ log(2π σ_i²) + ((b_i + (Wᵀh)_i)² - b_i²)/(2σ_i²))].
//
// With n enumerated units (contribution rows A: n x m in double, biases a (n) and d (m)),
//   log Z = logsumexp_s [a·s + Σ_i softplus(d_i + (Aᵀ s)_i)].
// The 2^n states are cut into chunks of 2^12 consecutive Gray-code indices. Within a chunk each step flips
// one unit, so the pre-activation d + Aᵀs changes by ± one row of A (O(m) per state); it is recomputed from
// scratch at the start of every chunk, so rounding drift spans at most 4,095 additions. Each chunk keeps a
// running (max, sum) logsumexp; chunks are combined in index order, so the result is the same for any
// thread count.

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/rbm/partition.hpp"
#include "partition_internal.hpp"

namespace onsager {
double detail::softplus_sum(const Eigen::ArrayXd& x) {
  constexpr Eigen::Index kBlock = 1000;
  double s = x.max(0.0).sum();
  for (Eigen::Index lo = 0; lo < x.size(); lo += kBlock) {
    const auto seg = x.segment(lo, std::min(kBlock, x.size() - lo));
    s += std::log(((-seg.abs()).exp() + 1.0).prod());
  }
  return s;
}

namespace {

using ArrayD = Eigen::ArrayXd;
using MatrixDRow = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

constexpr int kChunkBits = 12;

using detail::LogSumExp;
using detail::softplus_sum;

// Bernoulli units summed out: Σ_i softplus(pre_i).
struct SoftplusSum {
  double operator()(const ArrayD& pre) const { return softplus_sum(pre); }
};

// Gaussian visible units integrated out, pre = b + Wᵀh: Σ_i ½ log(2π σ_i²) + (pre_i² - b_i²)/(2σ_i²).
struct GaussianIntegral {
  ArrayD half_prec, b2;
  double constant = 0;
  double operator()(const ArrayD& pre) const { return constant + ((pre.square() - b2) * half_prec).sum(); }
};

template <class OtherSum>
double enumerate(const MatrixDRow& a, const VectorD& enum_bias, const VectorD& other_bias, bool progress,
                 const OtherSum& other_sum) {
  const int n = static_cast<int>(a.rows());
  const Eigen::Index m = a.cols();
  const int chunk_bits = std::min(n, kChunkBits);
  const std::uint64_t chunk = std::uint64_t{1} << chunk_bits;
  const std::uint64_t chunks = std::uint64_t{1} << (n - chunk_bits);
  std::vector<LogSumExp> partial(chunks);
  Progress bar("exact log Z", chunks, progress);

#pragma omp parallel num_threads(num_threads()) if (chunks > 1)
  {
    ArrayD pre(m);
#pragma omp for schedule(dynamic, 16)
    for (std::int64_t ci = 0; ci < static_cast<std::int64_t>(chunks); ++ci) {
      if (interrupt_requested()) continue;  // the remaining chunks are skipped; thrown below
      const std::uint64_t first = static_cast<std::uint64_t>(ci) * chunk;
      std::uint64_t gray = first ^ (first >> 1);
      pre = other_bias.array();
      double linear = 0;
      for (int u = 0; u < n; ++u)
        if ((gray >> u) & 1) {
          pre += a.row(u).transpose().array();
          linear += enum_bias(u);
        }
      LogSumExp acc;
      acc.add(linear + other_sum(pre));
      for (std::uint64_t i = first + 1; i < first + chunk; ++i) {
        const int u = std::countr_zero(i);  // the bit Gray code flips going from i - 1 to i
        gray ^= std::uint64_t{1} << u;
        if ((gray >> u) & 1) {
          pre += a.row(u).transpose().array();
          linear += enum_bias(u);
        } else {
          pre -= a.row(u).transpose().array();
          linear -= enum_bias(u);
        }
        acc.add(linear + other_sum(pre));
      }
      partial[static_cast<std::size_t>(ci)] = acc;
      if (progress) {
#pragma omp critical(onsager_exact_progress)
        bar.advance();
      }
    }
  }
  bar.finish();
  throw_if_interrupted("log_partition_exact");

  LogSumExp total;
  for (const auto& p : partial) total.add(p);
  return total.value();
}

}  // namespace

double log_partition_exact(const Rbm& rbm, const ExactOptions& options) {
  rbm.validate("log_partition_exact");
  ONSAGER_CHECK(options.max_log2_states >= 0 && options.max_log2_states <= 62,
                "log_partition_exact: options.max_log2_states must be in [0, 62] (got {})", options.max_log2_states);
  const Eigen::Index nv = rbm.num_visible(), nh = rbm.num_hidden();
  bool hidden = nh <= nv || rbm.gaussian();
  ONSAGER_CHECK(!rbm.gaussian() || options.layer != EnumerateLayer::visible,
                "log_partition_exact: a Gaussian-Bernoulli RBM's visible units are real-valued; only the hidden layer can "
                "be enumerated (options.layer)");
  if (options.layer == EnumerateLayer::visible) hidden = false;
  if (options.layer == EnumerateLayer::hidden) hidden = true;
  const Eigen::Index n = hidden ? nh : nv;
  if (options.layer == EnumerateLayer::automatic && rbm.gaussian()) {
    ONSAGER_CHECK(n <= options.max_log2_states,
                  "log_partition_exact: exact log Z needs 2^{} states (the hidden layer of a Gaussian-Bernoulli RBM has {} "
                  "units); the limit is 2^{} (options.max_log2_states)",
                  n, n, options.max_log2_states);
  } else if (options.layer == EnumerateLayer::automatic) {
    ONSAGER_CHECK(n <= options.max_log2_states,
                  "log_partition_exact: exact log Z needs 2^{} states (smaller layer has {} units); the limit is 2^{} "
                  "(options.max_log2_states)",
                  n, n, options.max_log2_states);
  } else {
    ONSAGER_CHECK(n <= options.max_log2_states,
                  "log_partition_exact: exact log Z needs 2^{} states ({} layer has {} units); the limit is 2^{} "
                  "(options.max_log2_states)",
                  n, hidden ? "hidden" : "visible", n, options.max_log2_states);
  }
  const MatrixDRow w = rbm.weight.cast<double>();
  const VectorD b = rbm.visible_bias.cast<double>(), c = rbm.hidden_bias.cast<double>();
  if (rbm.gaussian()) {
    GaussianIntegral g;
    const ArrayD var = rbm.log_var.cast<double>().array().exp();
    g.half_prec = 0.5 / var;
    g.b2 = b.array().square();
    g.constant = 0.5 * (2.0 * std::numbers::pi * var).log().sum();
    return enumerate(w, c, b, options.progress, g);
  }
  if (hidden) return enumerate(w, c, b, options.progress, SoftplusSum{});
  const MatrixDRow wt = w.transpose();
  return enumerate(wt, b, c, options.progress, SoftplusSum{});
}

double average_log_likelihood(const Rbm& rbm, const ConstMatrixFRef& data, double log_z) {
  rbm.validate("average_log_likelihood");
  ONSAGER_CHECK(data.rows() > 0, "average_log_likelihood: the data set is empty");
  ONSAGER_CHECK(data.cols() == rbm.num_visible(), "average_log_likelihood: data has {} columns, the model {} visible units",
                data.cols(), rbm.num_visible());
  ONSAGER_CHECK(std::isfinite(log_z), "average_log_likelihood: log Z must be finite (got {})", log_z);
  if (rbm.gaussian()) return -rbm.free_energy(data).mean() - log_z;
  const MatrixDRow w = rbm.weight.cast<double>();
  const VectorD b = rbm.visible_bias.cast<double>(), c = rbm.hidden_bias.cast<double>();
  constexpr Eigen::Index kBlock = 256;
  const Eigen::Index rows = data.rows();
  const Eigen::Index blocks = (rows + kBlock - 1) / kBlock;
  std::vector<double> block_sum(static_cast<std::size_t>(blocks), 0.0);
  // Row blocks in parallel; Eigen's GEMM runs single-threaded inside the parallel region, and the block sums
  // are added in order, so the value does not depend on the thread count.
#pragma omp parallel for schedule(dynamic) num_threads(num_threads()) if (blocks > 1)
  for (Eigen::Index blk = 0; blk < blocks; ++blk) {
    const Eigen::Index lo = blk * kBlock, len = std::min(kBlock, rows - lo);
    const MatrixDRow v = data.middleRows(lo, len).cast<double>();
    MatrixDRow pre = v * w.transpose();
    pre.rowwise() += c.transpose();
    double s = 0;
    for (Eigen::Index r = 0; r < len; ++r) {
      const ArrayD x = pre.row(r).transpose().array();
      s += v.row(r).dot(b) + softplus_sum(x);  // -F(v)
    }
    block_sum[static_cast<std::size_t>(blk)] = s;
  }
  double total = 0;
  for (double s : block_sum) total += s;
  return total / static_cast<double>(rows) - log_z;
}

VectorF pixel_marginals(const ConstMatrixFRef& data) {
  ONSAGER_CHECK(data.rows() > 0 && data.cols() > 0, "pixel_marginals: the data set is empty ({}x{})", data.rows(),
                data.cols());
  ONSAGER_CHECK(data.allFinite(), "pixel_marginals: the data has NaN or Inf values");
  VectorD sum = VectorD::Zero(data.cols());
  for (Eigen::Index r = 0; r < data.rows(); ++r) sum += data.row(r).transpose().cast<double>();
  return (sum / static_cast<double>(data.rows())).cast<float>();
}

}  // namespace onsager
