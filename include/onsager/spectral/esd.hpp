#pragma once
// Empirical spectral density of a layer: the eigenvalues λ_i = s_i² of WᵀW (W is N x M, N ≥ M; the
// singular values squared, not divided by N), in double (DESIGN.md §6).
//
// Two routes. `gram` (the default) forms the M x M Gram matrix with BLAS dsyrk and takes its eigenvalues
// with LAPACK dsyevd (eigenvalues only): about N·M² + 4/3·M³ flops. `svd` takes the singular values of W
// with Eigen's BDCSVD, the textbook route (several times slower). The Gram route's absolute error is about
// M·ε·λ_max, so eigenvalues far below that are noise; the analysis drops λ ≤ 1e-5 before the tail fit and
// counts rank against a tolerance above that floor (docs/analyze.md gives the measured accuracy).
//
// The Gram route runs in double or in single precision. In single (SSYRK + SSYEVD) it costs about half as
// much, and every eigenvalue's absolute error stays below single_precision_floor() (M·ε_f·λ_max, ε_f = 2⁻²³;
// measured errors are 10–50× smaller); a single Gram matrix with the double eigensolver (automatic, where it
// resolves every eigenvalue) sits in between. The matrix is read in blocks of rows (or columns, when it is wider
// than tall), so a layer never needs more than its Gram matrix and one block in memory.

#include <cstddef>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "onsager/core/matrix.hpp"

namespace onsager {

enum class EsdMethod { gram, svd };

/// "gram" or "svd".
std::string_view to_string(EsdMethod m);
/// Parses "gram" or "svd"; throws onsager::Error otherwise.
EsdMethod esd_method_from_string(std::string_view s);

/// Precision of the Gram route (see blocked_esd).
enum class EsdPrecision { automatic, f32, f64 };

/// "auto", "single" or "double".
std::string_view to_string(EsdPrecision p);
/// Parses "auto", "single" or "double"; throws onsager::Error otherwise.
EsdPrecision esd_precision_from_string(std::string_view s);

/// A bound on the absolute error of each eigenvalue from the single-precision route: M·ε_f·λ_max.
double single_precision_floor(std::size_t m, double lambda_max);

/// Fills `out` with one block of a rows x cols matrix, row-major, as float: rows [first, first + count) (all
/// columns) when cols <= rows, else columns [first, first + count) (all rows: out is rows x count).
using BlockReader = std::function<void(std::size_t first, std::size_t count, float* out)>;

/// Buffers one thread reuses across layers (Gram matrix, blocks, LAPACK work space), so a model of many layers
/// does not allocate and page-fault them afresh for each.
struct EsdWorkspace {
  std::vector<float> gram_f, block_f;
  std::vector<double> gram_d, block_d, work_d;
  std::vector<float> work_f;
  std::vector<int> iwork;
};

/// The number of rows (or columns) per block for a rows x cols matrix: fixed by the shape alone, so the
/// summation order, and with it every result, does not depend on the thread count.
std::size_t esd_block_size(std::size_t rows, std::size_t cols);

struct BlockedEsd {
  std::vector<double> evals;  ///< ascending, negatives clamped to 0
  bool all_zero = false;      ///< every entry of the matrix is 0 (evals are then all 0)
  bool single_gram = false;   ///< the Gram matrix was formed in single precision
};

/// The min(rows, cols) eigenvalues of the Gram matrix of the matrix `read` gives, block by block:
///   f64: Gram matrix and eigensolver in double (each block widened exactly);
///   f32: both in single (fastest; eigenvalue errors up to single_precision_floor(), measured 20–50x below);
///   automatic: a single Gram matrix with the double eigensolver (errors those of the Gram matrix alone, 10–50x
///     below f32's) where that resolves every eigenvalue, i.e. all lie above twice the floor (checked before
///     the eigensolver by a Cholesky factorisation of G − 2·floor·I, and again after it); otherwise, and for
///     near-square matrices whose bulk reaches below the floor, f64.
/// Throws onsager::Error on a non-finite entry or a LAPACK failure.
BlockedEsd blocked_esd(std::size_t rows, std::size_t cols, const BlockReader& read, EsdPrecision precision,
                       EsdWorkspace& workspace);

/// True when every eigenvalue (ascending) lies above twice single_precision_floor(): a single-precision Gram
/// matrix then decides the rank as double would (full) and resolves every eigenvalue.
bool single_resolves(const std::vector<double>& evals);

/// The min(rows, cols) eigenvalues of WᵀW (equivalently W Wᵀ) of the row-major `rows` x `cols` matrix at `w`,
/// ascending, tiny negative rounding clamped to 0. Throws onsager::Error on a LAPACK failure or non-finite input.
std::vector<double> esd(std::span<const double> w, std::size_t rows, std::size_t cols,
                        EsdMethod method = EsdMethod::gram);

/// The same for an Eigen matrix.
std::vector<double> esd(const MatrixD& w, EsdMethod method = EsdMethod::gram);

}  // namespace onsager
