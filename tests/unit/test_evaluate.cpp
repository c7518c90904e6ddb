// evaluate_rbm: what `rbm eval` reports, checked against brute-force enumeration of a tiny RBM.

#include <gtest/gtest.h>

#include <cmath>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/evaluate.hpp"

namespace onsager {
namespace {

Rbm tiny_rbm() { return testing::random_rbm(8, 5, 0.8f, 0.5f, 3); }

MatrixF some_rows() {
  // 40 rows of the 256 states, every 6th.
  const MatrixF all = testing::all_states(8);
  MatrixF x(40, 8);
  for (int r = 0; r < 40; ++r) x.row(r) = all.row((r * 6) % 256);
  return x;
}

TEST(EvaluateRbm, ExactAndAisAgreeWithBruteForce) {
  const Rbm rbm = tiny_rbm();
  const MatrixF x = some_rows();
  EvalOptions o;
  o.exact = true;
  o.ais_options = {.runs = 200, .betas = 2000, .seed = 1};
  const double truth = testing::brute_log_z(rbm);
  const EvalReport r = evaluate_rbm(rbm, x, VectorF(), o);
  ASSERT_TRUE(r.log_z_exact.has_value());
  EXPECT_NEAR(*r.log_z_exact, truth, 1e-9);
  // Brute-force average log-likelihood: log p(v) = log sum_h exp(-E(v, h)) - log Z.
  const MatrixF hs = testing::all_states(5);
  double ll = 0;
  for (Eigen::Index a = 0; a < x.rows(); ++a) {
    double s = 0;
    for (Eigen::Index c = 0; c < hs.rows(); ++c) s += std::exp(-rbm.energy(x.row(a).transpose(), hs.row(c).transpose()));
    ll += std::log(s) - truth;
  }
  ll /= static_cast<double>(x.rows());
  EXPECT_NEAR(r.avg_log_likelihood(*r.log_z_exact), ll, 1e-6);
  ASSERT_TRUE(r.ais.has_value());
  EXPECT_GT(r.ais->check.ladders, 0);  // the independent check ran
  EXPECT_LE(r.ais->main.log_z_lo, truth + 1e-6);
  EXPECT_GE(r.ais->main.log_z_hi, truth - 1e-6);
  EXPECT_LE(std::abs(r.ais->check.log_z - truth), r.ais->check.log_z_err);
  EXPECT_EQ(r.verdict, "agree");
  ASSERT_TRUE(r.mode_bound.has_value());
  EXPECT_LE(r.mode_bound->log_z_lower, truth + 1e-9);
  // The plain runs are sound here (a warm model), so the bound's states are not summed in.
  EXPECT_GT(r.ais->main.exact_states, 0);
  EXPECT_FALSE(r.ais->main.exact_states_used);
  EXPECT_NEAR(r.pseudo_likelihood, r.pseudo_likelihood_per_feature * 8, 1e-12);
  EXPECT_EQ(r.pseudo_likelihood_per_feature, rbm.pseudo_likelihood(x, 0));
  EXPECT_EQ(r.n_samples, 40);

  const nlohmann::json j = to_json(r);
  EXPECT_NEAR(j["log_z"]["exact"].get<double>(), truth, 1e-9);
  EXPECT_NEAR(j["avg_log_likelihood"]["exact"].get<double>(), ll, 1e-6);
  EXPECT_TRUE(j["log_z"]["tap2"].is_null());  // not asked for
  EXPECT_TRUE(j["log_z"]["ais_err"].is_number());
  EXPECT_EQ(j["log_z"]["bar"].get<double>(), r.ais->check.log_z);
  EXPECT_EQ(j["log_z"]["verdict"], "agree");
  EXPECT_EQ(j["log_z"]["lower_bound"].get<double>(), r.mode_bound->log_z_lower);
  EXPECT_EQ(j["details"]["bar"]["ladders"], 10);
}

TEST(EvaluateRbm, TheBoundCatchesAnEstimateThatMissedTheMass) {
  // Cold models (weights of std 6): plain importance sampling from the base (2 temperatures) misses their few heavy
  // states, and the rigorous bound says so whatever AIS's own error bar claims.
  const MatrixF x = some_rows().leftCols(8).replicate(1, 2);
  int caught = 0;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    const Rbm rbm = testing::random_rbm(16, 6, 6.0f, 1.0f, seed);
    const double truth = log_partition_exact(rbm);
    EvalOptions o;
    o.ais_check = false;
    o.ais_exact_states = false;
    o.ais_options = {.runs = 5, .betas = 2, .seed = 1};
    const EvalReport r = evaluate_rbm(rbm, x, VectorF(), o);
    ASSERT_TRUE(r.mode_bound.has_value());
    EXPECT_LE(r.mode_bound->log_z_lower, truth + 1e-9);
    EXPECT_NEAR(r.mode_bound->log_z_lower, truth, 0.05);  // 6 hidden units: the flips cover nearly every state
    bool said = false;
    for (const auto& w : r.warnings) said = said || w.find("below a rigorous lower bound") != std::string::npos;
    const bool below = r.ais->main.log_z_hi < r.mode_bound->log_z_lower - 1e-9;
    EXPECT_EQ(said, below) << "seed " << seed;
    if (below) {
      EXPECT_EQ(r.verdict, "disagree");
      ++caught;
    }
    // Summing the bound's states exactly (a short schedule), AIS gives log Z to within what the states miss.
    o.ais_exact_states = true;
    o.ais_options = {.runs = 20, .betas = 200, .seed = 1};
    const EvalReport s = evaluate_rbm(rbm, x, VectorF(), o);
    // Summed in only when the plain runs cannot be trusted; then never below the bound, and near the truth.
    if (s.ais->main.exact_states_used) {
      EXPECT_GE(s.ais->main.log_z, r.mode_bound->log_z_lower - 1e-9);
      EXPECT_NEAR(s.ais->main.log_z, truth, 0.05) << "seed " << seed;
    }
    EXPECT_GT(s.ais->main.exact_states, 6);
  }
  EXPECT_GT(caught, 0);
  EvalOptions o;
  o.mode_bound = false;
  o.ais_check = false;
  EXPECT_FALSE(evaluate_rbm(testing::random_rbm(16, 6, 6.0f, 1.0f, 1), x, VectorF(), o).mode_bound.has_value());
}

TEST(EvaluateRbm, TheBracketCatchesAnEstimateOutsideIt) {
  // The same cold models: the bracket closes on the exact value, and an AIS from 2 temperatures whose error bar
  // misses it is named, with the verdict "disagree"; one whose bar overlaps it is not.
  const MatrixF x = some_rows().leftCols(8).replicate(1, 2);
  int caught = 0;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    const Rbm rbm = testing::random_rbm(16, 6, 6.0f, 1.0f, seed);
    const double truth = log_partition_exact(rbm);
    EvalOptions o;
    o.ais_check = false;
    o.mode_bound = false;
    o.bracket = true;
    o.bracket_options.tolerance = 1e-4;
    o.ais_options = {.runs = 5, .betas = 2, .seed = 1};
    const EvalReport r = evaluate_rbm(rbm, x, VectorF(), o);
    ASSERT_TRUE(r.bracket.has_value());
    EXPECT_TRUE(r.bracket->converged);
    EXPECT_LE(r.bracket->log_z_lo, truth + 1e-9);
    EXPECT_GE(r.bracket->log_z_hi, truth - 1e-9);
    const AisResult& a = r.ais->main;
    const double lo = std::isfinite(a.log_z_lo) ? a.log_z_lo : a.log_z;
    const double hi = std::isfinite(a.log_z_hi) ? a.log_z_hi : a.log_z;
    const bool outside = hi < r.bracket->log_z_lo - 1e-9 || lo > r.bracket->log_z_hi + 1e-9;
    EXPECT_EQ(r.outside_bracket.size(), outside ? 1U : 0U) << "seed " << seed;
    bool said = false;
    for (const auto& w : r.warnings) said = said || w.find("outside the rigorous bracket") != std::string::npos;
    EXPECT_EQ(said, outside);
    if (outside) {
      EXPECT_EQ(r.verdict, "disagree");
      ++caught;
    }
    const nlohmann::json j = to_json(r);
    EXPECT_NEAR(j["log_z"]["bracket"].get<double>(), truth, 1e-4);
    EXPECT_NEAR(j["avg_log_likelihood"]["bracket"].get<double>(), r.avg_log_likelihood(truth), 1e-4);
    EXPECT_EQ(j["details"]["bracket"]["converged"], true);
    // Asked to skip AIS once the bracket closes, it does.
    o.ais_only_if_bracket_open = true;
    EXPECT_FALSE(evaluate_rbm(rbm, x, VectorF(), o).ais.has_value());
  }
  EXPECT_GT(caught, 0);
}

TEST(EvaluateRbm, OneAisRunHasNoErrorBar) {
  const Rbm rbm = tiny_rbm();
  EvalOptions o;
  o.ais_check = false;
  o.mode_bound = false;  // (5 hidden units: the bound would hold all 32 states, and AIS would be exact)
  o.ais_options = {.runs = 1, .betas = 500, .seed = 2};
  const EvalReport r = evaluate_rbm(rbm, some_rows(), VectorF(), o);
  const nlohmann::json j = to_json(r);
  EXPECT_TRUE(j["log_z"]["ais"].is_number());
  EXPECT_TRUE(j["log_z"]["ais_err"].is_null());
  EXPECT_TRUE(j["log_z"]["ais_lo"].is_null());
  EXPECT_TRUE(j["log_z"]["bar"].is_null());
  EXPECT_EQ(j["log_z"]["verdict"], "unchecked");
  ASSERT_FALSE(r.warnings.empty());
  EXPECT_NE(r.warnings[0].find("no error bar"), std::string::npos) << r.warnings[0];
}

TEST(EvaluateRbm, TapEstimatesAndBadInput) {
  const Rbm rbm = tiny_rbm();
  EvalOptions o;
  o.ais = false;
  o.tap = true;
  const EvalReport r = evaluate_rbm(rbm, some_rows(), VectorF(), o);
  ASSERT_EQ(r.tap.size(), 3u);
  const double truth = testing::brute_log_z(rbm);
  for (const TapEstimate& e : r.tap) EXPECT_NEAR(e.result.log_z, truth, 2.0) << to_string(e.order);
  EXPECT_FALSE(r.ais.has_value());
  EXPECT_THROW(evaluate_rbm(rbm, MatrixF(3, 7), VectorF(), o), Error);
  o.tap_starts = 0;
  try {
    evaluate_rbm(rbm, some_rows(), VectorF(), o);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("evaluate_rbm: options.tap_starts"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace onsager
