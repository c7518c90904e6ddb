#include "onsager/core/blas.hpp"

#include <cblas.h>

#include "onsager/core/error.hpp"

namespace onsager {

void gemm(float alpha, const ConstMatrixFRef& a, Trans trans_a, const ConstMatrixFRef& b, Trans trans_b,
          float beta, MatrixFRef c) {
  const bool ta = trans_a == Trans::yes;
  const bool tb = trans_b == Trans::yes;
  const Eigen::Index m = ta ? a.cols() : a.rows();
  const Eigen::Index k = ta ? a.rows() : a.cols();
  const Eigen::Index kb = tb ? b.cols() : b.rows();
  const Eigen::Index n = tb ? b.rows() : b.cols();
  ONSAGER_CHECK(k == kb && c.rows() == m && c.cols() == n,
                "gemm: shapes do not match ({}x{} * {}x{} -> {}x{})", m, k, kb, n, c.rows(), c.cols());
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, a.data(),
              static_cast<int>(a.outerStride()), b.data(), static_cast<int>(b.outerStride()), beta, c.data(),
              static_cast<int>(c.outerStride()));
}

}  // namespace onsager
