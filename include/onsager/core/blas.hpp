#pragma once
// Thin, checked wrappers over the BLAS level-3 routine the trainers spend their time in.
// All matrices are row-major (core/matrix.hpp).

#include "onsager/core/matrix.hpp"

namespace onsager {

enum class Trans { no, yes };

/// C = alpha * op(A) * op(B) + beta * C in float through OpenBLAS SGEMM.
/// Shapes are checked; C must already have the result's shape.
void gemm(float alpha, const ConstMatrixFRef& a, Trans trans_a, const ConstMatrixFRef& b, Trans trans_b,
          float beta, MatrixFRef c);

/// The same in double through DGEMM, blocked the same way (Eigen's own products of double matrices size their
/// reduction blocks by the thread count, so their rounding would depend on it).
void gemm(double alpha, const Eigen::Ref<const MatrixD>& a, Trans trans_a, const Eigen::Ref<const MatrixD>& b,
          Trans trans_b, double beta, Eigen::Ref<MatrixD> c);

/// The same product as one single-threaded SGEMM call on the calling thread, for use inside a parallel region
/// (each thread its own rows). A given output row depends only on the call's shape and operands.
void gemm_serial(float alpha, const ConstMatrixFRef& a, Trans trans_a, const ConstMatrixFRef& b, Trans trans_b,
                 float beta, MatrixFRef c);

}  // namespace onsager
