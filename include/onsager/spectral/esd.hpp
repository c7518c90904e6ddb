#pragma once
// Empirical spectral density of a layer: the eigenvalues λ_i = s_i² of WᵀW (W is N x M, N ≥ M; the
// singular values squared, not divided by N), in double (DESIGN.md §6).
//
// Two routes. `gram` (the default) forms the M x M Gram matrix with BLAS dsyrk and takes its eigenvalues
// with LAPACK dsyevd (eigenvalues only): about N·M² + 4/3·M³ flops. `svd` takes the singular values of W
// with Eigen's BDCSVD, the textbook route (several times slower). The Gram route's absolute error is about
// M·ε·λ_max, so eigenvalues far below that are noise; the analysis drops λ ≤ 1e-5 before the tail fit and
// counts rank against a tolerance above that floor (docs/analyze.md gives the measured accuracy).

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

/// The min(rows, cols) eigenvalues of WᵀW (equivalently W Wᵀ) of the row-major `rows` x `cols` matrix at `w`,
/// ascending, tiny negative rounding clamped to 0. Throws onsager::Error on a LAPACK failure or non-finite input.
std::vector<double> esd(std::span<const double> w, std::size_t rows, std::size_t cols,
                        EsdMethod method = EsdMethod::gram);

/// The same for an Eigen matrix.
std::vector<double> esd(const MatrixD& w, EsdMethod method = EsdMethod::gram);

}  // namespace onsager
