#include "onsager/rbm/sampling.hpp"

#include <algorithm>
#include <numeric>

#include "onsager/core/error.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/core/random.hpp"

namespace onsager {

SampleResult sample_rbm(const Rbm& rbm, const ConstMatrixFRef& start, const SampleOptions& options) {
  rbm.validate("sample_rbm");
  ONSAGER_CHECK(options.n >= 1 && options.n <= 10000, "sample_rbm: options.n must be in 1..10000 (got {})", options.n);
  ONSAGER_CHECK(options.steps >= 0 && options.steps <= 100000000, "sample_rbm: options.steps must be in 0..1e8 (got {})",
                options.steps);
  MatrixF v(options.n, rbm.num_visible());
  if (start.rows() == 0 && rbm.gaussian()) {
    v.rowwise() = rbm.visible_bias.transpose();  // the model without its weights: N(b, σ²)
    sample_gaussian(v, (0.5f * rbm.log_var.array()).exp().matrix(), options.seed, 1, 0);
  } else if (start.rows() == 0) {
    v.setConstant(0.5f);
    sample_bernoulli(v, options.seed, 1, 0);
  } else {
    ONSAGER_CHECK(start.cols() == rbm.num_visible(), "sample_rbm: start has {} columns, the model {} visible units",
                  start.cols(), rbm.num_visible());
    for (int i = 0; i < options.n; ++i) v.row(i) = start.row(i % start.rows());
  }
  // Block Gibbs sampling in chunks, for the progress bar; chunk k has its own random stream.
  constexpr int kChunk = 100;
  Progress bar("gibbs", static_cast<std::size_t>(options.steps), options.progress);
  for (int done = 0, k = 0; done < options.steps; done += kChunk, ++k) {
    const int s = std::min(kChunk, options.steps - done);
    gibbs_sample(rbm, v, s, stream_seed(options.seed, 2, static_cast<std::uint64_t>(k)));
    bar.advance(static_cast<std::size_t>(s));
    throw_if_interrupted("sample_rbm");
  }
  bar.finish();
  SampleResult r;
  MatrixF hid = rbm.hidden_probs(v);
  sample_bernoulli(hid, options.seed, 3, 0);
  r.probabilities = rbm.visible_probs(hid);
  r.mean_free_energy = rbm.free_energy(v).mean();
  r.states = std::move(v);
  return r;
}

FilterOrder parse_filter_order(std::string_view s) {
  if (s == "norm") return FilterOrder::norm;
  if (s == "index") return FilterOrder::index;
  ONSAGER_FAIL("parse_filter_order: order must be norm or index (got '{}')", s);
}

MatrixF filter_tiles(const Rbm& rbm, int n, FilterOrder order) {
  ONSAGER_CHECK(n >= 1, "filter_tiles: n must be >= 1 (got {})", n);
  const auto hidden = static_cast<int>(rbm.num_hidden());
  const int shown = std::min(n, hidden);
  std::vector<int> idx(static_cast<std::size_t>(hidden));
  std::iota(idx.begin(), idx.end(), 0);
  if (order == FilterOrder::norm)
    std::stable_sort(idx.begin(), idx.end(),
                     [&](int x, int y) { return rbm.weight.row(x).squaredNorm() > rbm.weight.row(y).squaredNorm(); });
  MatrixF tiles(shown, rbm.num_visible());
  for (int i = 0; i < shown; ++i) tiles.row(i) = rbm.weight.row(idx[static_cast<std::size_t>(i)]);
  return tiles;
}

}  // namespace onsager
