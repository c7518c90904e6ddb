#include "onsager/core/blas.hpp"

#include <cblas.h>

#include <algorithm>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"

namespace onsager {
namespace {

void gemm_block(bool ta, bool tb, Eigen::Index m, Eigen::Index n, Eigen::Index k, float alpha, const float* a,
                Eigen::Index lda, const float* b, Eigen::Index ldb, float beta, float* c, Eigen::Index ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

void gemm_block(bool ta, bool tb, Eigen::Index m, Eigen::Index n, Eigen::Index k, double alpha, const double* a,
                Eigen::Index lda, const double* b, Eigen::Index ldb, double beta, double* c, Eigen::Index ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta,
              c, static_cast<int>(ldc));
}

struct GemmShape {
  Eigen::Index m, n, k;
};

template <class A, class C>
GemmShape checked_shape(const A& a, bool ta, const A& b, bool tb, const C& c) {
  const Eigen::Index m = ta ? a.cols() : a.rows();
  const Eigen::Index k = ta ? a.rows() : a.cols();
  const Eigen::Index kb = tb ? b.cols() : b.rows();
  const Eigen::Index n = tb ? b.rows() : b.cols();
  ONSAGER_CHECK(k == kb && c.rows() == m && c.cols() == n,
                "gemm: shapes do not match ({}x{} * {}x{} -> {}x{})", m, k, kb, n, c.rows(), c.cols());
  return {m, n, k};
}

// OpenBLAS's own threading gives results that depend on the thread count. Instead, the larger output
// dimension is cut into a fixed number of blocks (never the reduction dimension), each computed by one
// single-threaded GEMM call, and onsager's threads share the blocks: every element comes from the same
// kernel call whatever the thread count.
template <class T, class A, class C>
void blocked_gemm(T alpha, const A& a, Trans trans_a, const A& b, Trans trans_b, T beta, C& c) {
  const bool ta = trans_a == Trans::yes;
  const bool tb = trans_b == Trans::yes;
  const auto [m, n, k] = checked_shape(a, ta, b, tb, c);
  if (m == 0 || n == 0) return;
  ensure_serial_blas();
  const Eigen::Index lda = a.outerStride(), ldb = b.outerStride(), ldc = c.outerStride();
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const bool split_n = n >= m;
  const Eigen::Index dim = split_n ? n : m;
  // A power of two (so 1, 2, 4 or 8 threads get equal shares) chosen from the shape alone, with at least
  // ~30 MFLOP per block so that each call stays near the kernel's peak.
  constexpr Eigen::Index kMaxBlocks = 8, kMinBlock = 32, kAlign = 8;
  constexpr double kMinBlockFlops = 3e7;
  Eigen::Index blocks = 1;
  while (blocks * 2 <= kMaxBlocks && dim / (blocks * 2) >= kMinBlock && flops / static_cast<double>(blocks * 2) >= kMinBlockFlops)
    blocks *= 2;
  const Eigen::Index step = ((dim + blocks - 1) / blocks + kAlign - 1) / kAlign * kAlign;
  const Eigen::Index used = (dim + step - 1) / step;

#pragma omp parallel for schedule(static) num_threads(num_threads()) if (used > 1)
  for (Eigen::Index blk = 0; blk < used; ++blk) {
    const Eigen::Index lo = blk * step, len = std::min(step, dim - lo);
    if (split_n) {
      const T* bb = tb ? b.data() + lo * ldb : b.data() + lo;
      gemm_block(ta, tb, m, len, k, alpha, a.data(), lda, bb, ldb, beta, c.data() + lo, ldc);
    } else {
      const T* aa = ta ? a.data() + lo : a.data() + lo * lda;
      gemm_block(ta, tb, len, n, k, alpha, aa, lda, b.data(), ldb, beta, c.data() + lo * ldc, ldc);
    }
  }
}

}  // namespace

void gemm_serial(float alpha, const ConstMatrixFRef& a, Trans trans_a, const ConstMatrixFRef& b, Trans trans_b,
                 float beta, MatrixFRef c) {
  const bool ta = trans_a == Trans::yes, tb = trans_b == Trans::yes;
  const GemmShape s = checked_shape(a, ta, b, tb, c);
  if (s.m == 0 || s.n == 0) return;
  ensure_serial_blas();
  gemm_block(ta, tb, s.m, s.n, s.k, alpha, a.data(), a.outerStride(), b.data(), b.outerStride(), beta, c.data(),
             c.outerStride());
}

void gemm(float alpha, const ConstMatrixFRef& a, Trans trans_a, const ConstMatrixFRef& b, Trans trans_b,
          float beta, MatrixFRef c) {
  blocked_gemm(alpha, a, trans_a, b, trans_b, beta, c);
}

void gemm(double alpha, const Eigen::Ref<const MatrixD>& a, Trans trans_a, const Eigen::Ref<const MatrixD>& b,
          Trans trans_b, double beta, Eigen::Ref<MatrixD> c) {
  blocked_gemm(alpha, a, trans_a, b, trans_b, beta, c);
}

}  // namespace onsager
