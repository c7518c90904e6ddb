// Binarization and row subsets. Stochastic binarization gives row i its own stream stream_seed(seed, i),
// so the parallel loop produces the same bits for any thread count.

#include "onsager/data/transforms.hpp"

#include <charconv>
#include <cmath>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"

namespace onsager {
namespace {

[[noreturn]] void bad_binarization(std::string_view spec, std::string_view why) {
  ONSAGER_FAIL("parse_binarization: spec '{}': {}; use none, threshold:T with T in [0, 1], or stochastic:SEED with SEED a "
               "non-negative integer",
               spec, why);
}

}  // namespace

Binarization parse_binarization(std::string_view spec) {
  Binarization b;
  if (spec == "none") return b;
  const auto colon = spec.find(':');
  const std::string_view kind = spec.substr(0, colon);
  const std::string_view arg = colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  const char* first = arg.data();
  const char* last = arg.data() + arg.size();
  if (kind == "threshold") {
    if (arg.empty()) bad_binarization(spec, "the threshold is missing");
    float t = 0;
    const auto r = std::from_chars(first, last, t);
    if (r.ec != std::errc() || r.ptr != last || !std::isfinite(t)) bad_binarization(spec, "the threshold is not a number");
    if (t < 0 || t > 1) bad_binarization(spec, "the threshold must lie in [0, 1]");
    b.kind = Binarization::Kind::threshold;
    b.threshold = t;
    return b;
  }
  if (kind == "stochastic") {
    if (arg.empty()) bad_binarization(spec, "the seed is missing");
    std::uint64_t seed = 0;
    const auto r = std::from_chars(first, last, seed);
    if (r.ec != std::errc() || r.ptr != last) bad_binarization(spec, "the seed is not a non-negative 64-bit integer");
    b.kind = Binarization::Kind::stochastic;
    b.seed = seed;
    return b;
  }
  bad_binarization(spec, "unknown binarization");
}

std::string to_string(const Binarization& b) {
  switch (b.kind) {
    case Binarization::Kind::none: return "none";
    case Binarization::Kind::threshold: return fmt::format("threshold:{}", b.threshold);
    case Binarization::Kind::stochastic: return fmt::format("stochastic:{}", b.seed);
  }
  return "none";
}

void binarize(MatrixF& x, const Binarization& b) {
  const Eigen::Index n = x.rows(), d = x.cols();
  switch (b.kind) {
    case Binarization::Kind::none: return;
    case Binarization::Kind::threshold: {
      const float t = b.threshold;
      x = (x.array() > t).cast<float>();
      return;
    }
    case Binarization::Kind::stochastic: {
#pragma omp parallel for schedule(static) num_threads(num_threads())
      for (Eigen::Index i = 0; i < n; ++i) {
        Rng rng(stream_seed(b.seed, static_cast<std::uint64_t>(i)));
        float* row = x.data() + i * d;
        for (Eigen::Index j = 0; j < d; ++j) row[j] = rng.uniform_float() < row[j] ? 1.0f : 0.0f;
      }
      return;
    }
  }
}

Dataset take_rows(const Dataset& d, const std::vector<std::size_t>& rows) {
  const auto n = static_cast<std::size_t>(d.x.rows());
  const bool labelled = !d.labels.empty();
  ONSAGER_CHECK(!labelled || d.labels.size() == n, "take_rows: {} has {} labels for {} samples", d.name,
                d.labels.size(), n);
  Dataset out;
  out.name = d.name;
  out.source = d.source;
  out.height = d.height;
  out.width = d.width;
  out.raw_min = d.raw_min;
  out.raw_max = d.raw_max;
  out.scale = d.scale;
  out.x.resize(static_cast<Eigen::Index>(rows.size()), d.x.cols());
  if (labelled) out.labels.resize(rows.size());
  for (std::size_t k = 0; k < rows.size(); ++k) {
    ONSAGER_CHECK(rows[k] < n, "take_rows: row {} is out of range ({} has {} samples)", rows[k], d.name, n);
    out.x.row(static_cast<Eigen::Index>(k)) = d.x.row(static_cast<Eigen::Index>(rows[k]));
    if (labelled) out.labels[k] = d.labels[rows[k]];
  }
  return out;
}

}  // namespace onsager
