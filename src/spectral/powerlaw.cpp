#include "onsager/spectral/powerlaw.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "onsager/core/error.hpp"

namespace onsager {
namespace {

void check_input(std::span<const double> x) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    ONSAGER_CHECK(std::isfinite(x[i]) && x[i] > 0, "power-law fit: value {} is {}; values must be finite and > 0", i,
                  x[i]);
    ONSAGER_CHECK(i == 0 || x[i - 1] <= x[i], "power-law fit: values must be sorted ascending (index {})", i);
  }
}

// The index of the point nearest to xmax (first on ties), as numpy's argmin(|x - xmax|).
std::size_t limit_index(std::span<const double> x, const std::optional<double>& xmax) {
  if (!xmax) return x.size() - 1;
  std::size_t best = 0;
  for (std::size_t i = 1; i < x.size(); ++i)
    if (std::abs(x[i] - *xmax) < std::abs(x[best] - *xmax)) best = i;
  return best;
}

// |theoretical - empirical| CDF at point j of candidate i: the one formula both scans evaluate.
inline double ks_term(double one_minus_alpha, double log_xj, double log_xi, std::size_t u, double n) {
  const double e = std::exp(one_minus_alpha * (log_xj - log_xi));
  return std::abs((1.0 - e) - static_cast<double>(u) / n);
}

struct Candidate {
  double alpha;
  bool ok;
};

// α_i from the suffix sum of logs (long double: the sum and n·ln x_i nearly cancel far out in the tail).
inline Candidate alpha_at(const std::vector<long double>& suffix, const std::vector<double>& logs, std::size_t i,
                          std::size_t end) {
  const double n = static_cast<double>(end - i);
  const long double s = suffix[i] - suffix[end] - static_cast<long double>(n) * logs[i];
  if (!(s > 0)) return {0, false};
  const double alpha = 1.0 + n / static_cast<double>(s);
  return {alpha, alpha > 1};
}

class KsSearch {
 public:
  KsSearch(const std::vector<double>& logs, std::size_t i, double alpha, std::size_t end, double stop_at)
      : logs_(logs), i_(i), c_(1.0 - alpha), n_(static_cast<double>(end - i)), stop_at_(stop_at) {}

  // The max over [l, r] of the KS term, or a value ≥ stop_at once the running max reaches it. `hint` is a
  // point to try first (the previous candidate's argmax): it usually decides a losing candidate at once.
  double run(std::size_t l, std::size_t r, std::size_t hint) {
    if (hint >= l && hint <= r) take(hint);
    search(l, r);
    return best_;
  }
  std::size_t argmax() const { return arg_; }
  std::size_t evaluated = 0;

 private:
  double theo(std::size_t j) const { return 1.0 - std::exp(c_ * (logs_[j] - logs_[i_])); }
  double emp(std::size_t j) const { return static_cast<double>(j - i_) / n_; }
  void take(std::size_t j) {
    const double v = ks_term(c_, logs_[j], logs_[i_], j - i_, n_);
    ++evaluated;
    if (v > best_) best_ = v, arg_ = j;
  }
  // theo and emp are non-decreasing in j, so on [l, r]: theo - emp ∈ [theo(l) - emp(r), theo(r) - emp(l)].
  double bound(std::size_t l, std::size_t r) {
    evaluated += 2;
    return std::max(theo(r) - emp(l), emp(r) - theo(l));
  }
  void search(std::size_t l, std::size_t r) {
    if (best_ >= stop_at_) return;
    if (r - l < 16) {
      for (std::size_t j = l; j <= r; ++j) take(j);
      return;
    }
    const std::size_t mid = l + (r - l) / 2;
    const double bl = bound(l, mid), br = bound(mid + 1, r);
    // The more promising half first: a large running max prunes more of the other.
    if (bl >= br) {
      if (bl > best_) search(l, mid);
      if (br > best_) search(mid + 1, r);
    } else {
      if (br > best_) search(mid + 1, r);
      if (bl > best_) search(l, mid);
    }
  }
  const std::vector<double>& logs_;
  std::size_t i_;
  double c_, n_, stop_at_;
  double best_ = 0;
  std::size_t arg_ = 0;
};

PowerLawFit make_fit(std::span<const double> x, std::size_t i, std::size_t end, double alpha, double d) {
  PowerLawFit f;
  f.valid = true;
  f.alpha = alpha;
  f.xmin = x[i];
  f.xmax = x[end - 1];
  f.D = d;
  f.num_pl_spikes = end - i;
  f.sigma = (alpha - 1) / std::sqrt(static_cast<double>(end - i));
  f.xmin_index = i;
  return f;
}

struct Scored {
  double alpha = 0, d = 1;  // d = 1 for a failed candidate, as in WeightWatcher
  std::size_t evaluated = 0;
};

// One fit of x[0, end) (no finger fix): the candidate with the smallest D, the first on ties.
// `score(logs, i, best_d)` returns candidate i's α and D (or any value ≥ best_d once it cannot win).
template <class Score>
PowerLawFit scan(std::span<const double> x, std::size_t end, std::size_t min_tail, Score score) {
  if (end < 2 || end < min_tail) return {};
  std::vector<double> logs(end);
  for (std::size_t j = 0; j < end; ++j) logs[j] = std::log(x[j]);
  const std::size_t last = end - std::max<std::size_t>(min_tail, 2);  // last candidate index
  double best_d = 2, best_alpha = 0;
  std::size_t best_i = 0, evaluated = 0;
  for (std::size_t i = 0; i <= last; ++i) {
    const Scored c = score(logs, i, best_d);
    evaluated += c.evaluated;
    if (c.d < best_d) best_d = c.d, best_i = i, best_alpha = c.alpha;
  }
  if (best_d > 1 || !(best_alpha > 1)) return {};  // no candidate, or only failed ones
  PowerLawFit f = make_fit(x, best_i, end, best_alpha, best_d);
  f.candidates_scanned = last + 1;
  f.points_evaluated = evaluated;
  return f;
}

PowerLawFit fit_fast(std::span<const double> x, std::size_t end, std::size_t min_tail) {
  std::vector<long double> suffix;
  std::size_t hint = 0;
  return scan(x, end, min_tail, [&](const std::vector<double>& logs, std::size_t i, double best_d) {
    if (suffix.empty()) {
      suffix.assign(end + 1, 0.0L);
      for (std::size_t j = end; j-- > 0;) suffix[j] = suffix[j + 1] + logs[j];
    }
    const Candidate c = alpha_at(suffix, logs, i, end);
    Scored r;
    if (!c.ok) return r;
    KsSearch s(logs, i, c.alpha, end, best_d);
    r.alpha = c.alpha;
    r.d = s.run(i, end - 1, hint);
    r.evaluated = s.evaluated;
    hint = s.argmax();
    return r;
  });
}

PowerLawFit fit_naive(std::span<const double> x, std::size_t end, std::size_t min_tail) {
  return scan(x, end, min_tail, [&](const std::vector<double>& logs, std::size_t i, double) {
    const double n = static_cast<double>(end - i);
    long double sum = 0;
    for (std::size_t j = i; j < end; ++j) sum += logs[j];
    sum -= static_cast<long double>(n) * logs[i];
    Scored r;
    r.evaluated = end - i;
    if (!(sum > 0)) return r;
    r.alpha = 1.0 + n / static_cast<double>(sum);
    if (!(r.alpha > 1)) return r;
    r.d = 0;
    for (std::size_t j = i; j < end; ++j) r.d = std::max(r.d, ks_term(1.0 - r.alpha, logs[j], logs[i], j - i, n));
    return r;
  });
}

template <class Fit>
PowerLawFit fit_with_options(std::span<const double> x, const PowerLawOptions& o, Fit fit) {
  check_input(x);
  ONSAGER_CHECK(!o.xmax || (std::isfinite(*o.xmax) && *o.xmax > 0), "power-law fit: xmax must be > 0 (got {})",
                o.xmax.value_or(0));
  ONSAGER_CHECK(o.max_fingers >= 0 && o.finger_thresh >= 0, "power-law fit: max_fingers and finger_thresh must be >= 0");
  if (x.empty()) return {};
  const std::size_t end = limit_index(x, o.xmax) + 1;
  const PowerLawFit first = fit(x, end, o.min_tail);
  if (!o.clip_xmax || !first.valid) return first;
  for (int k = 1; k <= o.max_fingers && static_cast<std::size_t>(k) + 2 <= end; ++k) {
    PowerLawFit f = fit(x, end - static_cast<std::size_t>(k), o.min_tail);
    if (!f.valid) break;
    if (f.alpha + o.finger_thresh < first.alpha) {
      f.num_fingers = k;
      return f;
    }
    if (f.alpha <= 2.0) break;
  }
  return first;
}

}  // namespace

PowerLawFit fit_power_law(std::span<const double> x, const PowerLawOptions& options) {
  return fit_with_options(x, options, fit_fast);
}

PowerLawFit fit_power_law_naive(std::span<const double> x, const PowerLawOptions& options) {
  return fit_with_options(x, options, fit_naive);
}

}  // namespace onsager
