// A rigorous bracket on log Z by branch and bound over the smaller layer (log_partition_bracket, rbm/partition.hpp).
//
// In the model seen from the enumerated layer x (n units: the transposed model when it is the hidden one), with the
// other layer summed out, log p*(x) = b·x + Σ_j softplus(y_j), y = c + Σ_i x_i w_i (w_i: unit i's weights to the m
// units of the other layer). A node fixes k of the units and stands for the 2^(n-k) states that complete it. Over
// those states y_j lies in [lo_j, hi_j], lo_j = base_j + Σ_free min(w_ij, 0), hi_j = base_j + Σ_free max(w_ij, 0),
// base_j = c_j + Σ_fixed x_i w_ij. Softplus is convex, so on that interval it lies below its chord and above any
// tangent; both are linear in y_j, hence in the free units, and a linear function of the free units sums over them
// in closed form, Σ_x exp(K + a·x) = exp(K + Σ_i softplus(a_i)):
//   upper: log U = b·x_fixed + Σ_j [softplus(lo_j) - s_j neg_j] + Σ_free softplus(b_i + Σ_j s_j w_ij),
//          s_j = (softplus(hi_j) - softplus(lo_j)) / (hi_j - lo_j), neg_j = Σ_free min(w_ij, 0);
//   lower: log L = b·x_fixed + Σ_j [softplus(t_j) + σ(t_j)(base_j - t_j)] + Σ_free softplus(b_i + Σ_j σ(t_j) w_ij)
//          for any t; here t_j = base_j + Σ_free σ(a_i) w_ij with a the upper bound's coefficients (a mean-field guess).
// Z lies in [Σ L, Σ U] over the open nodes, plus the states already summed exactly. The nodes with the largest U - L
// are split, in batches (the same batches for any thread count), each on the free unit that owns most of its chords'
// excess (Bracketer::bound); a child's chord lies below its parent's on the child's interval, so Σ U never rises. A
// node with at most kExactFree free units is summed exactly.
// Everything is in double; "rigorous" means up to double rounding (relative 1e-13 of a node's terms).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/rbm.hpp"
#include "partition_internal.hpp"

namespace onsager {
namespace {

using ArrayD = Eigen::ArrayXd;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kExactFree = 3;  // nodes with this many free units or fewer are summed exactly (2^3 states)
constexpr int kBatch = 64;     // nodes split per round (in parallel)

// softplus elementwise: max(x, 0) + log(1 + exp(-|x|)).
ArrayD softplus_array(const ArrayD& x) { return x.max(0.0) + ((-x.abs()).exp() + 1.0).log(); }
ArrayD sigmoid_array(const ArrayD& x) { return 1.0 / (1.0 + (-x).exp()); }

// log(e^a - e^b) for a >= b.
double log_sub(double a, double b) {
  if (b == -kInf) return a;
  if (b >= a) return -kInf;
  return a + std::log1p(-std::exp(b - a));
}

struct Node {
  std::uint64_t mask = 0;  // the fixed units (bit i: unit i)
  std::uint64_t bits = 0;  // their values
  int split = -1;          // the unit to split on next (chosen when the bounds are computed)
  double log_u = 0, log_l = 0, log_gap = 0;
};

// Largest gap first; ties broken by the fixed units and their values so that the order is total (deterministic).
bool heap_less(const Node& a, const Node& b) {
  if (a.log_gap != b.log_gap) return a.log_gap < b.log_gap;
  if (a.mask != b.mask) return a.mask > b.mask;
  return a.bits > b.bits;
}

class Bracketer {
 public:
  Bracketer(const MatrixD& w, const VectorD& b, const VectorD& c) : w_(w), b_(b), c_(c), n_(w.rows()), m_(w.cols()) {}

  // Fills the node's bounds and the unit to split on; nodes with few free units get the exact sum (log_l = log_u).
  // Returns whether the node was summed exactly.
  bool bound(Node& node) const {
    ArrayD base = c_.array();
    double bias = 0;
    std::vector<Eigen::Index> free;
    for (Eigen::Index i = 0; i < n_; ++i) {
      if (!((node.mask >> i) & 1U)) {
        free.push_back(i);
      } else if ((node.bits >> i) & 1U) {
        base += w_.row(i).transpose().array();
        bias += b_(i);
      }
    }
    const auto nf = static_cast<Eigen::Index>(free.size());
    if (nf <= kExactFree) {
      detail::LogSumExp l;
      for (std::uint64_t s = 0; s < (std::uint64_t{1} << nf); ++s) {
        ArrayD y = base;
        double t = bias;
        for (Eigen::Index q = 0; q < nf; ++q)
          if ((s >> q) & 1U) {
            y += w_.row(free[static_cast<std::size_t>(q)]).transpose().array();
            t += b_(free[static_cast<std::size_t>(q)]);
          }
        l.add(t + detail::softplus_sum(y));
      }
      node.log_u = node.log_l = l.value();
      node.log_gap = -kInf;
      return true;
    }
    MatrixD fw(nf, m_);
    VectorD fb(nf);
    for (Eigen::Index q = 0; q < nf; ++q) {
      fw.row(q) = w_.row(free[static_cast<std::size_t>(q)]);
      fb(q) = b_(free[static_cast<std::size_t>(q)]);
    }
    const ArrayD neg = fw.array().min(0.0).colwise().sum().transpose();
    const ArrayD lo = base + neg;
    const ArrayD hi = base + fw.array().max(0.0).colwise().sum().transpose();
    const ArrayD sp_lo = softplus_array(lo), sp_hi = softplus_array(hi);
    const ArrayD width = hi - lo;
    // The chord's slope; on a tiny interval σ(hi), the largest slope on it (still an upper bound, by the mean value
    // theorem), where the chord's difference quotient would lose its digits.
    const ArrayD slope = (width > 1e-6).select((sp_hi - sp_lo) / width.max(1e-300), sigmoid_array(hi));
    const VectorD a_u = fb + fw * slope.matrix();
    node.log_u = bias + (sp_lo - slope * neg).sum() + detail::softplus_sum(a_u.array());
    // The tangent points: each field's mean under independent free units with the upper bound's probabilities
    // σ(a_u). (Further naive mean-field steps from the lower bound's own probabilities were measured to split no
    // fewer nodes.)
    const VectorD q = sigmoid_array(a_u.array()).matrix();
    const ArrayD t = base + (fw.transpose() * q).array();
    const ArrayD st = sigmoid_array(t);
    const VectorD a_l = fb + fw * st.matrix();
    node.log_l = bias + detail::softplus_sum(t) + (st * (base - t)).sum() + detail::softplus_sum(a_l.array());
    // Rounding can leave the tangent a hair above the chord on a node that is nearly exact.
    if (node.log_l > node.log_u) node.log_l = node.log_u;
    node.log_gap = log_sub(node.log_u, node.log_l);
    // Split next on the free unit that owns most of the chords' excess: field j's excess at its midpoint, shared among
    // the free units in proportion to their share |w_ij| of its interval.
    const ArrayD excess = 0.5 * (sp_lo + sp_hi) - softplus_array(0.5 * (lo + hi));
    const ArrayD share = (width > 1e-12).select(excess / width.max(1e-300), 0.0);
    const VectorD score = fw.cwiseAbs() * share.matrix();
    Eigen::Index best = 0;
    score.maxCoeff(&best);
    node.split = static_cast<int>(free[static_cast<std::size_t>(best)]);
    return false;
  }

 private:
  const MatrixD& w_;
  const VectorD& b_;
  const VectorD& c_;
  Eigen::Index n_, m_;
};

}  // namespace

BracketResult log_partition_bracket(const Rbm& model, const BracketOptions& options) {
  const auto start_time = std::chrono::steady_clock::now();
  model.validate("log_partition_bracket");
  model.require_bernoulli("log_partition_bracket");
  ONSAGER_CHECK(options.tolerance > 0 && std::isfinite(options.tolerance),
                "log_partition_bracket: options.tolerance must be a positive number of nats (got {})", options.tolerance);
  ONSAGER_CHECK(options.abandon_width >= 0 && !std::isnan(options.abandon_width),
                "log_partition_bracket: options.abandon_width must be 0 or more nats (got {})", options.abandon_width);
  ONSAGER_CHECK(options.max_nodes >= 1, "log_partition_bracket: options.max_nodes must be at least 1 (got {})",
                options.max_nodes);
  const bool hidden = resolve_ais_layer(model, AisLayer::automatic) == AisLayer::hidden;
  const Eigen::Index n = hidden ? model.num_hidden() : model.num_visible();
  ONSAGER_CHECK(n <= 64, "log_partition_bracket: the smaller layer has {} units; the bracket is for at most 64", n);

  // The enumerated layer's view: w (n x m, row i = unit i's weights to the other layer), own bias b, other bias c.
  const MatrixD w = hidden ? MatrixD(model.weight.cast<double>()) : MatrixD(model.weight.transpose().cast<double>());
  const VectorD b = (hidden ? model.hidden_bias : model.visible_bias).cast<double>();
  const VectorD c = (hidden ? model.visible_bias : model.hidden_bias).cast<double>();
  const Bracketer bracketer(w, b, c);

  BracketResult r;
  r.layer = hidden ? AisLayer::hidden : AisLayer::visible;
  detail::LogSumExp log_exact;  // Σ p* over the states summed exactly
  std::vector<Node> heap;
  Node root;
  if (bracketer.bound(root)) {
    log_exact.add(root.log_u);
    r.exact_nodes = 1;
  } else {
    heap.push_back(root);
  }
  r.log_z_root_lo = root.log_l;
  r.log_z_root_hi = root.log_u;

  Progress progress("bracket", static_cast<std::size_t>(options.max_nodes), options.progress);
  const auto totals = [&](double& lo, double& hi) {
    detail::LogSumExp su = log_exact, sl = log_exact;
    for (const Node& nd : heap) {
      su.add(nd.log_u);
      sl.add(nd.log_l);
    }
    hi = su.value();
    lo = sl.value();
  };

  double lo = 0, hi = 0;
  totals(lo, hi);
  std::int64_t next_check = 0;
  while (!heap.empty() && r.nodes < options.max_nodes) {
    if (r.nodes >= next_check) {
      totals(lo, hi);
      if (hi - lo <= options.tolerance) break;
      if (options.abandon_width > 0 && 4 * r.nodes >= options.max_nodes && hi - lo > options.abandon_width) {
        r.abandoned = true;
        break;
      }
      next_check = r.nodes + std::max<std::int64_t>(kBatch, static_cast<std::int64_t>(heap.size()) / 8);
      throw_if_interrupted("log_partition_bracket");
    }
    // The batch: the nodes with the largest gaps, split into two children each.
    std::vector<Node> batch;
    while (!heap.empty() && static_cast<int>(batch.size()) < kBatch &&
           r.nodes + static_cast<std::int64_t>(batch.size()) < options.max_nodes) {
      std::pop_heap(heap.begin(), heap.end(), heap_less);
      batch.push_back(heap.back());
      heap.pop_back();
    }
    std::vector<Node> children(2 * batch.size());
    std::vector<char> exact(children.size(), 0);
#pragma omp parallel for schedule(dynamic) num_threads(num_threads())
    for (std::size_t q = 0; q < children.size(); ++q) {
      const Node& parent = batch[q / 2];
      Node& child = children[q];
      child.mask = parent.mask | (std::uint64_t{1} << parent.split);
      child.bits = parent.bits | (static_cast<std::uint64_t>(q % 2) << parent.split);
      exact[q] = bracketer.bound(child) ? 1 : 0;
    }
    for (std::size_t q = 0; q < children.size(); ++q) {
      if (exact[q]) {
        log_exact.add(children[q].log_u);
        ++r.exact_nodes;
      } else {
        heap.push_back(children[q]);
        std::push_heap(heap.begin(), heap.end(), heap_less);
      }
    }
    r.nodes += static_cast<std::int64_t>(batch.size());
    progress.advance(batch.size());
  }
  totals(lo, hi);
  r.log_z_lo = lo;
  r.log_z_hi = hi;
  r.log_z = 0.5 * (lo + hi);
  r.open_nodes = static_cast<std::int64_t>(heap.size());
  r.converged = hi - lo <= options.tolerance;
  r.tolerance = options.tolerance;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return r;
}

}  // namespace onsager
