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
  const EvalReport r = evaluate_rbm(rbm, x, VectorF(), o);
  const double truth = testing::brute_log_z(rbm);
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
  EXPECT_GT(r.ais->check.runs, 0);  // the independent check ran
  EXPECT_LE(r.ais->main.log_z_lo, truth + 1e-6);
  EXPECT_GE(r.ais->main.log_z_hi, truth - 1e-6);
  EXPECT_NEAR(r.pseudo_likelihood, r.pseudo_likelihood_per_feature * 8, 1e-12);
  EXPECT_EQ(r.pseudo_likelihood_per_feature, rbm.pseudo_likelihood(x, 0));
  EXPECT_EQ(r.n_samples, 40);

  const nlohmann::json j = to_json(r);
  EXPECT_NEAR(j["log_z"]["exact"].get<double>(), truth, 1e-9);
  EXPECT_NEAR(j["avg_log_likelihood"]["exact"].get<double>(), ll, 1e-6);
  EXPECT_TRUE(j["log_z"]["tap2"].is_null());  // not asked for
  EXPECT_TRUE(j["log_z"]["ais_err"].is_number());
}

TEST(EvaluateRbm, OneAisRunHasNoErrorBar) {
  const Rbm rbm = tiny_rbm();
  EvalOptions o;
  o.ais_check = false;
  o.ais_options = {.runs = 1, .betas = 500, .seed = 2};
  const EvalReport r = evaluate_rbm(rbm, some_rows(), VectorF(), o);
  const nlohmann::json j = to_json(r);
  EXPECT_TRUE(j["log_z"]["ais"].is_number());
  EXPECT_TRUE(j["log_z"]["ais_err"].is_null());
  EXPECT_TRUE(j["log_z"]["ais_lo"].is_null());
  EXPECT_TRUE(j["log_z"]["ais_check"].is_null());
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
