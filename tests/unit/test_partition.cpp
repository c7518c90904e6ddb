// Partition functions: exact enumeration against brute force over every (v, h), AIS against exact log Z,
// determinism across thread counts, and the average log-likelihood against brute-force log p(v).

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <algorithm>
#include <vector>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/train.hpp"
#include "rbm/partition_internal.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

using testing::all_states;
using testing::brute_log_z;

using testing::random_rbm;

double exact(const Rbm& rbm, EnumerateLayer layer) {
  ExactOptions o;
  o.layer = layer;
  return log_partition_exact(rbm, o);
}

void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no onsager::Error thrown; expected one mentioning '" << *parts.begin() << "'";
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "'" << p << "' not in: " << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "multi-line message: " << what;
  }
}

// AIS's ±3σ band [lo, hi] must contain the exact value, and the estimate lie within `max_distance` of it.
void expect_within_error_bar(const AisResult& a, double exact_log_z, double max_distance) {
  EXPECT_LE(a.log_z_lo, exact_log_z + 1e-6) << "AIS " << a.log_z << " [" << a.log_z_lo << ", " << a.log_z_hi
                                            << "], exact " << exact_log_z << ", ESS " << a.ess;
  EXPECT_GE(a.log_z_hi, exact_log_z - 1e-6) << "AIS " << a.log_z << " [" << a.log_z_lo << ", " << a.log_z_hi
                                            << "], exact " << exact_log_z << ", ESS " << a.ess;
  EXPECT_NEAR(a.log_z, exact_log_z, max_distance);
}

TEST(PartitionExact, MatchesBruteForceOverBothLayers) {
  for (const auto& [v, h] : {std::pair{5, 3}, std::pair{4, 6}, std::pair{1, 1}, std::pair{7, 7}})
    for (float std : {0.5f, 3.0f}) {
      const Rbm rbm = random_rbm(v, h, std, 1.0f, 11 + static_cast<std::uint64_t>(v * 10 + h));
      const double truth = brute_log_z(rbm);
      for (auto layer : {EnumerateLayer::automatic, EnumerateLayer::visible, EnumerateLayer::hidden})
        EXPECT_NEAR(exact(rbm, layer), truth, 1e-10 * std::abs(truth) + 1e-12) << v << "x" << h << " std " << std;
    }
}

TEST(PartitionExact, VisibleAndHiddenEnumerationAgree) {
  for (const auto& [v, h] : {std::pair{12, 10}, std::pair{10, 12}, std::pair{14, 14}})
    for (float std : {0.3f, 3.0f}) {
      const Rbm rbm = random_rbm(v, h, std, 2.0f, 5 + static_cast<std::uint64_t>(v * 100 + h));
      const double by_v = exact(rbm, EnumerateLayer::visible), by_h = exact(rbm, EnumerateLayer::hidden);
      EXPECT_NEAR(by_v, by_h, 1e-9 * std::abs(by_h)) << v << "x" << h << " std " << std;
      EXPECT_EQ(exact(rbm, EnumerateLayer::automatic), v < h ? by_v : by_h);
    }
}

TEST(PartitionExact, SameValueForOneAndTwoThreads) {
  const Rbm rbm = random_rbm(30, 17, 1.0f, 1.0f, 3);  // 2^17 hidden states: 32 chunks
  set_num_threads(1);
  const double one = log_partition_exact(rbm);
  set_num_threads(2);
  const double two = log_partition_exact(rbm);
  set_num_threads(0);
  EXPECT_EQ(one, two);
}

TEST(PartitionExact, RefusesBeyondTheLimit) {
  const Rbm big(40, 40);
  expect_error([&] { log_partition_exact(big); },
               {"log_partition_exact", "2^40 states", "smaller layer has 40 units", "2^30", "options.max_log2_states"});
  const Rbm rbm = random_rbm(10, 12, 1.0f, 0.0f, 1);
  ExactOptions o;
  o.max_log2_states = 9;
  expect_error([&] { log_partition_exact(rbm, o); }, {"2^10 states", "the limit is 2^9"});
  o.layer = EnumerateLayer::hidden;
  expect_error([&] { log_partition_exact(rbm, o); }, {"2^12 states", "hidden layer has 12 units"});
  o.max_log2_states = 12;
  EXPECT_NO_THROW(log_partition_exact(rbm, o));
  o.max_log2_states = 63;
  expect_error([&] { log_partition_exact(rbm, o); }, {"log_partition_exact: options.max_log2_states", "[0, 62]", "63"});
}

TEST(PartitionLikelihood, AverageLogLikelihoodMatchesBruteForce) {
  const Rbm rbm = random_rbm(6, 4, 1.5f, 1.0f, 21);
  const MatrixF vs = all_states(6), hs = all_states(4);
  MatrixF data(5, 6);
  Rng rng(4);
  for (Eigen::Index i = 0; i < data.size(); ++i) data.data()[i] = rng.uniform() < 0.4 ? 1.0f : 0.0f;
  const double log_z = brute_log_z(rbm);
  double mean = 0;
  for (Eigen::Index r = 0; r < data.rows(); ++r) {
    std::vector<double> t;
    for (Eigen::Index k = 0; k < hs.rows(); ++k) t.push_back(-rbm.energy(data.row(r).transpose(), hs.row(k).transpose()));
    const double m = *std::max_element(t.begin(), t.end());
    double s = 0;
    for (double x : t) s += std::exp(x - m);
    mean += (m + std::log(s) - log_z) / static_cast<double>(data.rows());
  }
  EXPECT_NEAR(average_log_likelihood(rbm, data, log_z), mean, 1e-10 * std::abs(mean));
  // The probabilities of all 2^V states sum to one.
  const VectorD f = rbm.free_energy(vs);
  double total = 0;
  for (Eigen::Index k = 0; k < vs.rows(); ++k) total += std::exp(-f(k) - log_z);
  EXPECT_NEAR(total, 1.0, 1e-6);
  expect_error([&] { average_log_likelihood(rbm, MatrixF(2, 5), log_z); }, {"5 columns", "6 visible"});
  expect_error([&] { average_log_likelihood(rbm, MatrixF(0, 6), log_z); }, {"empty"});
}

TEST(PartitionLikelihood, ProbabilitiesOfAllVisibleStatesSumToOne) {
  const Rbm rbm = random_rbm(5, 4, 1.0f, 0.5f, 5);
  const MatrixF vs = all_states(5);
  const double z = brute_log_z(rbm);
  double total = 0;
  for (Eigen::Index r = 0; r < vs.rows(); ++r) total += std::exp(average_log_likelihood(rbm, vs.row(r), z));
  EXPECT_NEAR(total, 1.0, 1e-9);
}

TEST(PartitionAis, ScheduleIsSalakhutdinovAndMurrays) {
  const std::vector<double> b = ais_schedule();
  ASSERT_EQ(b.size(), 14501u);
  EXPECT_EQ(b.front(), 0.0);
  EXPECT_EQ(b.back(), 1.0);
  EXPECT_NEAR(b[1], 1e-3, 1e-15);
  EXPECT_NEAR(b[500], 0.5, 1e-15);
  EXPECT_NEAR(b[501], 0.5001, 1e-15);
  EXPECT_NEAR(b[4500], 0.9, 1e-15);
  EXPECT_NEAR(b[4501], 0.90001, 1e-15);
  for (std::size_t k = 1; k < b.size(); ++k) ASSERT_LT(b[k - 1], b[k]);
  EXPECT_EQ(ais_schedule(14501), b);
  EXPECT_EQ(ais_schedule(2), (std::vector<double>{0.0, 1.0}));
  const std::vector<double> c = ais_schedule(30);  // 29 steps: 1 below 0.5, 8 to 0.9, 20 to 1
  EXPECT_NEAR(c[1], 0.5, 1e-12);
  EXPECT_NEAR(c[9], 0.9, 1e-12);
  expect_error([] { ais_schedule(1); }, {"ais_schedule: betas", "at least 2", "got 1"});
  expect_error([] { ais_schedule(-5); }, {"ais_schedule: betas"});
}

TEST(PartitionAis, BaseModelFromSmoothedMarginals) {
  MatrixF data(4, 3);
  data << 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0;
  const VectorF p = pixel_marginals(data);
  EXPECT_FLOAT_EQ(p(0), 0.0f);
  EXPECT_FLOAT_EQ(p(1), 1.0f);
  EXPECT_FLOAT_EQ(p(2), 0.5f);
  const VectorF b = ais_base_bias(p, 3);
  const double q0 = 0.05 / 1.1;
  EXPECT_NEAR(b(0), std::log(q0 / (1 - q0)), 1e-6);
  EXPECT_NEAR(b(1), -b(0), 1e-6);
  EXPECT_NEAR(b(2), 0.0, 1e-7);
  EXPECT_EQ(ais_base_bias(VectorF(), 5), VectorF::Zero(5));
  VectorF bad = p;
  bad(1) = 1.5f;
  expect_error([&] { ais_base_bias(bad, 3); }, {"pixel marginal 1", "[0, 1]"});
  expect_error([&] { ais_base_bias(p, 4); }, {"4 pixel marginals", "got 3"});
  // The uniform base: log Z_A = (V + H) log 2.
  const Rbm rbm = random_rbm(7, 5, 0.1f, 0.0f, 1);
  AisOptions o;
  o.runs = 4;
  o.betas = 10;
  EXPECT_NEAR(log_partition_ais(rbm, o).log_z_base, 12 * std::log(2.0), 1e-12);
  o.runs = 0;
  expect_error([&] { log_partition_ais(rbm, o); }, {"log_partition_ais: options.runs must be at least 1", "got 0"});
}

TEST(PartitionAis, AgreesWithExactOnRandomModels) {
  struct Case {
    int v, h;
    float std, bias_std;
    int betas;
    double max_distance;
  };
  for (const Case& k : {Case{20, 10, 0.5f, 0.5f, 2000, 0.05}, Case{20, 10, 2.0f, 1.0f, 5000, 0.5},
                        Case{12, 16, 1.0f, 1.0f, 3000, 0.1}}) {
    const Rbm rbm = random_rbm(k.v, k.h, k.std, k.bias_std, 77 + static_cast<std::uint64_t>(k.v + k.h));
    const double truth = log_partition_exact(rbm);
    // Marginals of some fictitious data: the base need not match the model, only cover it.
    VectorF marg(k.v);
    for (int i = 0; i < k.v; ++i) marg(i) = static_cast<float>(i % 5) / 4.0f;
    AisOptions o;
    o.runs = 200;
    o.betas = k.betas;
    o.seed = 9;
    const AisResult a = log_partition_ais(rbm, marg, o);
    SCOPED_TRACE(::testing::Message() << k.v << "x" << k.h << " std " << k.std);
    expect_within_error_bar(a, truth, k.max_distance);
    EXPECT_EQ(a.runs, 200);
    EXPECT_EQ(a.temperatures, k.betas);
    EXPECT_EQ(a.log_weights.size(), 200u);
    EXPECT_GE(a.ess, 1.0);
    EXPECT_LE(a.ess, 200.0 + 1e-9);
  }
}

TEST(PartitionAis, UniformBaseAgreesWithExact) {
  for (auto [std, seed] : {std::pair{0.5f, 1ULL}, {1.5f, 2ULL}}) {
    const Rbm rbm = random_rbm(20, 10, std, 0.5f, seed);
    AisOptions o;
    o.runs = 200;
    o.betas = 3000;
    o.seed = seed;
    SCOPED_TRACE(::testing::Message() << "std " << std);
    expect_within_error_bar(log_partition_ais(rbm, o), log_partition_exact(rbm), 0.5);
  }
}

TEST(PartitionAis, ErrorBarShrinksWithMoreRuns) {
  const Rbm rbm = random_rbm(20, 10, 1.0f, 0.5f, 5);
  const double truth = log_partition_exact(rbm);
  AisOptions o;
  o.betas = 500;
  o.seed = 3;
  o.runs = 16;
  const AisResult few = log_partition_ais(rbm, o);
  o.runs = 256;
  const AisResult many = log_partition_ais(rbm, o);
  ASSERT_TRUE(std::isfinite(few.log_z_lo));
  EXPECT_LT(many.log_z_hi - many.log_z_lo, 0.5 * (few.log_z_hi - few.log_z_lo));
  expect_within_error_bar(many, truth, 0.2);
}

TEST(PartitionAis, SameResultForOneAndTwoThreads) {
  // 200 runs make 8 chunks of 25: one thread advances all eight, two take four each, three split them 2/3/3.
  const Rbm rbm = random_rbm(784, 256, 0.05f, 0.5f, 8);
  AisOptions o;
  o.runs = 200;
  o.betas = 40;
  o.seed = 12;
  set_num_threads(1);
  const AisResult one = log_partition_ais(rbm, o);
  set_num_threads(2);
  const AisResult two = log_partition_ais(rbm, o);
  set_num_threads(3);
  const AisResult three = log_partition_ais(rbm, o);
  set_num_threads(0);
  EXPECT_EQ(one.log_weights, two.log_weights);
  EXPECT_EQ(one.log_weights, three.log_weights);
  EXPECT_EQ(one.log_z, two.log_z);
  // 40 runs make two chunks of 20.
  AisOptions few = o;
  few.runs = 40;
  set_num_threads(1);
  const AisResult few_one = log_partition_ais(rbm, few);
  set_num_threads(2);
  const AisResult few_two = log_partition_ais(rbm, few);
  set_num_threads(0);
  EXPECT_EQ(few_one.log_weights, few_two.log_weights);
  o.seed = 13;
  EXPECT_NE(log_partition_ais(rbm, o).log_weights, one.log_weights);
}

// Marginals of some fictitious data: a base need not match the model, only cover it.
VectorF fake_marginals(int v) {
  VectorF marg(v);
  for (int i = 0; i < v; ++i) marg(i) = static_cast<float>(i % 5) / 4.0f;
  return marg;
}

TEST(PartitionAis, EitherLayerAndEveryBaseAgreeWithExact) {
  for (const auto& [v, h] : {std::pair{20, 10}, std::pair{10, 20}}) {
    const Rbm rbm = random_rbm(v, h, 1.0f, 1.0f, 31 + static_cast<std::uint64_t>(v));
    const double truth = log_partition_exact(rbm);
    MatrixF data(50, v);
    for (int r = 0; r < 50; ++r)
      for (int i = 0; i < v; ++i) data(r, i) = static_cast<float>((r * 7 + i * 3) % 5 < 2);
    for (AisLayer layer : {AisLayer::visible, AisLayer::hidden})
      for (AisBase base : {AisBase::data, AisBase::uniform, AisBase::mean_field}) {
        AisOptions o;
        o.runs = 200;
        o.betas = 3000;
        o.seed = 4;
        o.layer = layer;
        o.base = base;
        o.hidden_marginals = hidden_marginals(rbm, data);
        const AisResult a = log_partition_ais(rbm, pixel_marginals(data), o);
        SCOPED_TRACE(::testing::Message() << v << "x" << h << " " << to_string(layer) << " " << to_string(base));
        EXPECT_EQ(a.layer, layer);
        EXPECT_EQ(a.base, base);
        expect_within_error_bar(a, truth, 0.1);
      }
    // automatic anneals the smaller layer.
    EXPECT_EQ(resolve_ais_layer(rbm, AisLayer::automatic), v < h ? AisLayer::visible : AisLayer::hidden);
  }
  EXPECT_EQ(parse_ais_layer("hidden"), AisLayer::hidden);
  EXPECT_EQ(parse_ais_base("mean-field"), AisBase::mean_field);
  expect_error([] { parse_ais_base("gaussian"); }, {"data, uniform or mean-field", "gaussian"});
}

TEST(PartitionAis, BaseOnBothLayersFromTheMarginals) {
  const Rbm rbm = random_rbm(6, 3, 1.0f, 1.0f, 3);
  MatrixF data(4, 6);
  data << 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1;
  const VectorF hm = hidden_marginals(rbm, data);
  EXPECT_NEAR(hm(1), rbm.hidden_probs(data).col(1).mean(), 1e-6);
  AisOptions o;
  o.hidden_marginals = hm;
  const VectorF a = ais_base_bias(rbm, pixel_marginals(data), AisLayer::hidden, o);
  const double q = (hm(2) + ais_pseudo_count) / (1 + 2 * ais_pseudo_count);
  EXPECT_NEAR(a(2), std::log(q / (1 - q)), 1e-5);
  EXPECT_EQ(ais_base_bias(rbm, pixel_marginals(data), AisLayer::visible, o), ais_base_bias(pixel_marginals(data), 6));
  o.hidden_marginals = VectorF::Constant(4, 0.5f);
  expect_error([&] { ais_base_bias(rbm, pixel_marginals(data), AisLayer::hidden, o); }, {"hidden_marginals", "4"});
}

TEST(PartitionAis, SoftplusGapMatchesDoubleReference) {
  // Both branches of the fast form (δ of either sign) and the exact form for |δ| >= 80.
  for (float delta : {1e-5f, 1e-3f, 0.05f, 0.5f})
    for (float scale : {0.1f, 10.0f, 300.0f}) {
      RowVectorF w(40), d(40);
      for (int j = 0; j < 40; ++j) {
        w(j) = scale * std::sin(1.7f * static_cast<float>(j) + 0.3f);
        d(j) = 3.0f * std::cos(0.9f * static_cast<float>(j));
      }
      for (float lo : {0.0f, 0.3f, 0.999f}) {
        double ref = 0;
        for (int j = 0; j < 40; ++j)
          ref += softplus(static_cast<double>(d(j)) + (static_cast<double>(lo) + delta) * w(j)) -
                 softplus(static_cast<double>(d(j)) + static_cast<double>(lo) * w(j));
        const double got = detail::softplus_gap_sum(w, d, lo, delta);
        EXPECT_NEAR(got, ref, 1e-5 * (1 + std::abs(ref))) << "delta " << delta << " scale " << scale << " lo " << lo;
      }
    }
}

TEST(PartitionAis, SoftplusGapFromProbabilitiesMatchesDoubleReference) {
  // AIS's fused form: p = σ(d + hi w) and the gap from p (series for small steps, else the general form).
  for (float delta : {-2e-3f, 1e-5f, 1e-4f, 2.9e-3f, 0.05f})
    for (float scale : {0.1f, 1.0f, 30.0f}) {
      RowVectorF w(50), d(50), p(50);
      for (int j = 0; j < 50; ++j) {
        w(j) = scale * std::sin(1.3f * static_cast<float>(j) + 0.2f);
        d(j) = 4.0f * std::cos(0.7f * static_cast<float>(j));
      }
      for (float lo : {0.0f, 0.5f, 0.99f}) {
        const float hi = lo + delta;
        double ref = 0;
        for (int j = 0; j < 50; ++j)
          ref += softplus(static_cast<double>(d(j)) + (static_cast<double>(lo) + delta) * w(j)) -
                 softplus(static_cast<double>(d(j)) + static_cast<double>(lo) * w(j));
        const double got = detail::softplus_gap_sum_and_probs(w, d, lo, delta, hi, p);
        // The terms are O(|δ w|); the float bound scales with their sum of magnitudes.
        EXPECT_NEAR(got, ref, 1e-6 * (1e-3 + std::abs(delta) * w.cwiseAbs().sum()))
            << "delta " << delta << " scale " << scale << " lo " << lo;
        for (int j = 0; j < 50; ++j)
          EXPECT_NEAR(p(j), 1.0 / (1.0 + std::exp(-(static_cast<double>(d(j)) + static_cast<double>(hi) * w(j)))), 1e-6);
      }
    }
}

TEST(PartitionAis, StatesSummedExactlyLeaveTheEstimateUnbiased) {
  // A set holding most of the mass is summed exactly; the runs estimate the rest, and the total stays within its bars.
  const Rbm rbm = random_rbm(20, 10, 1.5f, 1.0f, 9);
  const double truth = log_partition_exact(rbm);
  std::vector<std::pair<double, int>> lp;  // log p*(h) of every hidden state, by brute force
  for (int s = 0; s < 1024; ++s) {
    VectorD h(10);
    for (int j = 0; j < 10; ++j) h(j) = (s >> j) & 1;
    const VectorD y = rbm.visible_bias.cast<double>() + rbm.weight.cast<double>().transpose() * h;
    double l = rbm.hidden_bias.cast<double>().dot(h);
    for (int i = 0; i < 20; ++i) l += softplus(y(i));
    lp.emplace_back(l, s);
  }
  std::sort(lp.rbegin(), lp.rend());
  AisOptions o;
  o.runs = 200;
  o.betas = 2000;
  o.seed = 2;
  o.layer = AisLayer::hidden;
  o.exact_states = MatrixF::Zero(60, 10);
  double top = 0;
  for (int k = 0; k < 60; ++k) {
    for (int j = 0; j < 10; ++j) o.exact_states(k, j) = static_cast<float>((lp[k].second >> j) & 1);
    top += std::exp(lp[k].first - truth);
  }
  ASSERT_GT(top, 0.6);  // the 60 heaviest of 1,024 states hold most of Z
  const AisResult a = log_partition_ais(rbm, o);
  EXPECT_TRUE(a.exact_states_used);
  expect_within_error_bar(a, truth, 0.05);
  EXPECT_EQ(a.exact_states, 60);
  EXPECT_GT(a.runs_in_exact_states, 100);
  EXPECT_NEAR(a.log_z_exact_states, truth + std::log(top), 1e-9);
  EXPECT_GE(a.log_z_lo, a.log_z_exact_states);
  // A set with a small share is not used: the plain estimate is kept.
  o.exact_states = o.exact_states.bottomRows(3).eval();
  for (int k = 0; k < 3; ++k)
    for (int j = 0; j < 10; ++j) o.exact_states(k, j) = static_cast<float>((lp[1000 + k].second >> j) & 1);
  const AisResult plain = log_partition_ais(rbm, o);
  EXPECT_FALSE(plain.exact_states_used);
  expect_within_error_bar(plain, truth, 0.05);
  // A cold model: its bound's states hold nearly all the mass, and the estimate is within 0.01 of exact.
  const Rbm cold = random_rbm(30, 12, 5.0f, 1.0f, 4);
  const double cold_truth = log_partition_exact(cold);
  MatrixF data = MatrixF::Zero(5, 30);
  const ModeBound mb = log_partition_mode_bound(cold, data, 50, 3);
  EXPECT_EQ(mb.neighbour_flips, 2);
  o.exact_states = mb.states;
  o.betas = 100;
  const AisResult c = log_partition_ais(cold, o);
  EXPECT_TRUE(c.exact_states_used);
  EXPECT_NEAR(c.log_z, cold_truth, 0.01);
  EXPECT_LE(c.log_z_lo, cold_truth + 1e-6);
  o.exact_states = MatrixF::Zero(3, 7);
  expect_error([&] { log_partition_ais(cold, o); }, {"exact_states has 7 columns", "12 units"});
}

TEST(PartitionBar, AgreesWithExactOnRandomModels) {
  for (const auto& [v, h, std] : {std::tuple{20, 10, 0.5f}, std::tuple{12, 16, 1.0f}, std::tuple{20, 8, 2.0f}}) {
    const Rbm rbm = random_rbm(v, h, std, 1.0f, 51 + static_cast<std::uint64_t>(v * h));
    const double truth = log_partition_exact(rbm);
    BarOptions o;
    o.seed = 5;
    o.ladders = 10;
    o.temperatures = 30;
    o.sweeps = 600;
    o.burn_in = 100;
    const BarResult b = log_partition_bar(rbm, fake_marginals(v), o);
    SCOPED_TRACE(::testing::Message() << v << "x" << h << " std " << std << ": BAR " << b.log_z << " ± "
                                      << b.log_z_err << ", exact " << truth);
    EXPECT_LE(std::abs(b.log_z - truth), b.log_z_err);
    EXPECT_LT(b.log_z_err, 0.3);
    EXPECT_GT(b.log_z_err, 0.0);
    EXPECT_GT(b.swap_rate_min, 0.1);
    EXPECT_EQ(b.ladder_log_z.size(), 10u);
    EXPECT_EQ(b.layer, resolve_ais_layer(rbm, AisLayer::automatic));
  }
  const Rbm rbm = random_rbm(20, 10, 1.0f, 1.0f, 2);
  BarOptions bad;
  bad.burn_in = bad.sweeps;
  expect_error([&] { log_partition_bar(rbm, VectorF(), bad); }, {"log_partition_bar: options.burn_in", "[0, 1000)"});
  bad = BarOptions{};
  bad.ladders = 1;
  expect_error([&] { log_partition_bar(rbm, VectorF(), bad); }, {"options.ladders must be at least 2", "got 1"});
}

TEST(PartitionBar, SameResultForOneAndTwoThreads) {
  // Each thread advances its own ladders: one thread all five, two 2/3, three 1/2/2.
  const Rbm rbm = random_rbm(300, 120, 0.1f, 0.5f, 8);
  BarOptions o;
  o.ladders = 5;
  o.temperatures = 20;
  o.sweeps = 30;
  o.burn_in = 10;
  o.seed = 3;
  set_num_threads(1);
  const BarResult one = log_partition_bar(rbm, VectorF(), o);
  set_num_threads(2);
  const BarResult two = log_partition_bar(rbm, VectorF(), o);
  set_num_threads(3);
  const BarResult three = log_partition_bar(rbm, VectorF(), o);
  set_num_threads(0);
  EXPECT_EQ(one.log_z, two.log_z);
  EXPECT_EQ(one.ladder_log_z, two.ladder_log_z);
  EXPECT_EQ(one.ladder_log_z, three.ladder_log_z);
  EXPECT_EQ(one.swap_rate_min, three.swap_rate_min);
}

TEST(PartitionAis, CheckedReportHasBarAndAVerdict) {
  const Rbm rbm = random_rbm(20, 10, 1.0f, 0.5f, 6);
  const double truth = log_partition_exact(rbm);
  AisOptions o;
  o.runs = 100;
  o.betas = 2001;
  BarOptions bo;
  bo.temperatures = 30;
  bo.sweeps = 500;
  bo.burn_in = 100;
  const AisReport r = log_partition_ais_checked(rbm, VectorF(), o, bo);
  EXPECT_EQ(r.main.temperatures, 2001);
  EXPECT_EQ(r.check.temperatures, 30);
  EXPECT_DOUBLE_EQ(r.gap, r.main.log_z - r.check.log_z);
  expect_within_error_bar(r.main, truth, 0.1);
  EXPECT_LE(std::abs(r.check.log_z - truth), r.check.log_z_err);
  EXPECT_EQ(ais_bar_verdict(r), "agree");
  EXPECT_TRUE(ais_warnings(r).empty()) << ais_warnings(r).front();
  // Two estimates whose bars do not overlap disagree, and say so.
  AisReport apart = r;
  apart.check.log_z = r.main.log_z_hi + 3 * r.check.log_z_err + 1.0;
  apart.gap = apart.main.log_z - apart.check.log_z;
  EXPECT_EQ(ais_bar_verdict(apart), "disagree");
  const std::vector<std::string> w = ais_warnings(apart);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("disagree"), std::string::npos) << w[0];
  // Without the check, or with an unbounded AIS bar: nothing to compare.
  AisReport alone;
  alone.main = r.main;
  EXPECT_EQ(ais_bar_verdict(alone), "unchecked");
  // Two temperatures on a strongly coupled model: plain importance sampling from the base, which fails visibly.
  const Rbm hard = random_rbm(20, 10, 3.0f, 1.0f, 7);
  o.betas = 3;
  const std::vector<std::string> hw = ais_warnings(log_partition_ais_checked(hard, VectorF(), o, bo));
  ASSERT_FALSE(hw.empty());
  EXPECT_NE(hw.front().find("effective sample size"), std::string::npos) << hw.front();
}

TEST(PartitionAis, WarningsWithoutTheCheckAreAboutAisAlone) {
  AisReport single;
  single.main = log_partition_ais(random_rbm(20, 10, 3.0f, 1.0f, 7), {.runs = 100, .betas = 3, .seed = 1});
  ASSERT_LT(single.main.ess, 10.0);  // plain importance sampling from the base on a strongly coupled model
  const std::vector<std::string> w = ais_warnings(single);
  ASSERT_FALSE(w.empty());
  for (const auto& s : w) {
    EXPECT_EQ(s.rfind("AIS:", 0), 0u) << s;
    EXPECT_EQ(s.find("BAR"), std::string::npos) << s;
  }
  single.main = log_partition_ais(random_rbm(20, 10, 0.1f, 0.5f, 7), {.runs = 100, .betas = 500, .seed = 1});
  EXPECT_TRUE(ais_warnings(single).empty());
}

TEST(PartitionBound, IsALowerBoundThatFindsTheBestState) {
  for (float std : {0.5f, 2.0f, 6.0f})
    for (const auto& [v, h] : {std::pair{14, 6}, std::pair{5, 12}}) {
      const Rbm rbm = random_rbm(v, h, std, 1.0f, 61 + static_cast<std::uint64_t>(v));
      const double truth = log_partition_exact(rbm);
      // The best single state of the smaller layer, by brute force.
      const bool hidden = h < v;
      double best = -1e300;
      const int n = hidden ? h : v;
      for (int s = 0; s < (1 << n); ++s) {
        VectorD x(n);
        for (int i = 0; i < n; ++i) x(i) = (s >> i) & 1;
        double lp = 0;
        if (hidden) {
          const VectorD y = rbm.visible_bias.cast<double>() + rbm.weight.cast<double>().transpose() * x;
          lp = rbm.hidden_bias.cast<double>().dot(x);
          for (int i = 0; i < y.size(); ++i) lp += softplus(y(i));
        } else {
          lp = -rbm.free_energy(x.cast<float>().transpose())(0);
        }
        best = std::max(best, lp);
      }
      MatrixF data(10, v);
      for (int r = 0; r < 10; ++r)
        for (int i = 0; i < v; ++i) data(r, i) = static_cast<float>((r + i) % 3 == 0);
      const ModeBound m = log_partition_mode_bound(rbm, data, 50, 1);
      SCOPED_TRACE(::testing::Message() << v << "x" << h << " std " << std);
      EXPECT_LE(m.log_z_lower, truth + 1e-9);
      EXPECT_GE(m.log_z_lower, best - 1e-6);  // found the best state (and maybe more)
      EXPECT_EQ(m.layer, hidden ? AisLayer::hidden : AisLayer::visible);
      EXPECT_EQ(m.starts, 60);
      EXPECT_GE(m.distinct, 1);
      if (std == 6.0f) {
        EXPECT_NEAR(m.log_z_lower, truth, 0.5);  // a cold model: a few states hold the mass
      }
    }
}

TEST(PartitionAis, AgreesWithExactOnAnRbmTrainedOnDigits) {
  Dataset d;
  try {
    d = load_dataset("digits", Split::train);
  } catch (const Error& e) {
    ONSAGER_MISSING("digits is not installed: " << e.what());
  }
  binarize(d.x, parse_binarization("threshold:0.5"));
  TrainConfig cfg;
  cfg.method = TrainMethod::pcd;
  cfg.hidden = 20;
  cfg.epochs = 15;
  cfg.batch_size = 50;
  cfg.lr = 0.05;
  cfg.seed = 1;
  TrainState s = init_training(d.x, cfg);
  ASSERT_EQ(train(s, d.x, cfg, {.progress = false}), TrainOutcome::finished);
  const double truth = log_partition_exact(s.rbm);
  AisOptions o;
  o.runs = 100;
  o.betas = 5000;
  o.seed = 2;
  const AisResult a = log_partition_ais(s.rbm, pixel_marginals(d.x), o);
  expect_within_error_bar(a, truth, 0.3);
  // The log-likelihoods from the two estimates differ by exactly the log Z difference.
  const double ll_exact = average_log_likelihood(s.rbm, d.x, truth);
  EXPECT_NEAR(average_log_likelihood(s.rbm, d.x, a.log_z), ll_exact - (a.log_z - truth), 1e-9);
  EXPECT_LT(ll_exact, 0.0);
  EXPECT_GT(ll_exact, -64 * std::log(2.0));  // better than the uniform distribution
}

}  // namespace
}  // namespace onsager
