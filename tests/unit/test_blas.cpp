// The GEMM wrappers (core/blas.hpp) against a naive triple loop in long double, every transpose combination, and
// the same bits for any thread count.

#include <gtest/gtest.h>

#include <string>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"

namespace onsager {
namespace {

template <class M>
M naive(const M& a, bool ta, const M& b, bool tb, double alpha, double beta, const M& c0) {
  const M A = ta ? M(a.transpose()) : a, B = tb ? M(b.transpose()) : b;
  M out = c0;
  for (Eigen::Index i = 0; i < A.rows(); ++i)
    for (Eigen::Index j = 0; j < B.cols(); ++j) {
      long double s = 0;
      for (Eigen::Index k = 0; k < A.cols(); ++k) s += static_cast<long double>(A(i, k)) * B(k, j);
      out(i, j) = static_cast<typename M::Scalar>(alpha * static_cast<double>(s) + beta * static_cast<double>(c0(i, j)));
    }
  return out;
}

template <class M>
void check_all_forms(double tol) {
  // 40 x 300 x 600: about 14 MFLOP per product at m x n = 40 x 600, split into column blocks.
  const Eigen::Index m = 40, k = 300, n = 600;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const M a = ta ? M(M::Random(k, m)) : M(M::Random(m, k));
      const M b = tb ? M(M::Random(n, k)) : M(M::Random(k, n));
      const M c0 = M::Random(m, n);
      M c = c0;
      using S = typename M::Scalar;
      gemm(S(0.5), a, ta ? Trans::yes : Trans::no, b, tb ? Trans::yes : Trans::no, S(2), c);
      const M ref = naive(a, ta, b, tb, 0.5, 2.0, c0);
      EXPECT_LT((c - ref).cwiseAbs().maxCoeff(), tol) << "ta " << ta << " tb " << tb;
    }
}

TEST(Gemm, FloatMatchesANaiveProductInEveryForm) { check_all_forms<MatrixF>(2e-4); }

TEST(Gemm, DoubleMatchesANaiveProductInEveryForm) { check_all_forms<MatrixD>(1e-12); }

TEST(Gemm, SerialFloatMatchesANaiveProduct) {
  const MatrixF a = MatrixF::Random(33, 70), b = MatrixF::Random(70, 45), c0 = MatrixF::Random(33, 45);
  MatrixF c = c0;
  gemm_serial(1.0f, a, Trans::no, b, Trans::no, 1.0f, c);
  EXPECT_LT((c - naive(a, false, b, false, 1.0, 1.0, c0)).cwiseAbs().maxCoeff(), 1e-4);
}

TEST(Gemm, SameBitsForAnyThreadCount) {
  // Large enough to be cut into several blocks; the blocks depend on the shape alone.
  const MatrixD a = MatrixD::Random(512, 700), b = MatrixD::Random(600, 700);
  const MatrixF af = a.cast<float>(), bf = b.cast<float>();
  MatrixD d1(512, 600), d3(512, 600);
  MatrixF f1(512, 600), f3(512, 600);
  set_num_threads(1);
  gemm(1.0, a, Trans::no, b, Trans::yes, 0.0, d1);
  gemm(1.0f, af, Trans::no, bf, Trans::yes, 0.0f, f1);
  set_num_threads(3);
  gemm(1.0, a, Trans::no, b, Trans::yes, 0.0, d3);
  gemm(1.0f, af, Trans::no, bf, Trans::yes, 0.0f, f3);
  set_num_threads(0);
  EXPECT_TRUE(d1 == d3);
  EXPECT_TRUE(f1 == f3);
}

TEST(Gemm, MismatchedShapesAreRefused) {
  const MatrixD a = MatrixD::Zero(3, 4), b = MatrixD::Zero(5, 2);
  MatrixD c(3, 2);
  try {
    gemm(1.0, a, Trans::no, b, Trans::no, 0.0, c);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shapes do not match (3x4 * 5x2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace onsager
