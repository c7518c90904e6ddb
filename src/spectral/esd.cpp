#include "onsager/spectral/esd.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include <Eigen/SVD>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"

extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info);

namespace onsager {

std::string_view to_string(EsdMethod m) { return m == EsdMethod::gram ? "gram" : "svd"; }

EsdMethod esd_method_from_string(std::string_view s) {
  if (s == "gram") return EsdMethod::gram;
  if (s == "svd") return EsdMethod::svd;
  ONSAGER_FAIL("esd: method must be 'gram' or 'svd' (got '{}')", s);
}

std::vector<double> esd(std::span<const double> w, std::size_t rows, std::size_t cols, EsdMethod method) {
  ONSAGER_CHECK(rows > 0 && cols > 0 && w.size() == rows * cols, "esd: a {} x {} matrix needs {} values (got {})", rows,
                cols, rows * cols, w.size());
  for (double v : w) ONSAGER_CHECK(std::isfinite(v), "esd: the matrix holds a non-finite value ({})", v);
  const std::size_t m = std::min(rows, cols);
  ONSAGER_CHECK(m < (std::size_t{1} << 30), "esd: matrix dimension {} is too large", m);
  std::vector<double> evals(m);
  if (method == EsdMethod::svd) {
    const Eigen::Map<const MatrixD> a(w.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    Eigen::MatrixXd dense = a;  // BDCSVD works on column-major storage
    Eigen::BDCSVD<Eigen::MatrixXd> svd(dense);
    const Eigen::VectorXd s = svd.singularValues();
    for (std::size_t i = 0; i < m; ++i) evals[i] = s[static_cast<Eigen::Index>(i)] * s[static_cast<Eigen::Index>(i)];
    std::sort(evals.begin(), evals.end());
    return evals;
  }
  // Row-major Gram matrix of the smaller side; its upper triangle in row-major is LAPACK's lower triangle.
  std::vector<double> g(m * m, 0.0);
  const int n = static_cast<int>(m);
  ensure_serial_blas();
  if (cols <= rows)
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, static_cast<int>(rows), 1.0, w.data(), static_cast<int>(cols),
                0.0, g.data(), n);
  else
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, static_cast<int>(cols), 1.0, w.data(),
                static_cast<int>(cols), 0.0, g.data(), n);
  const char jobz = 'N', uplo = 'L';
  int lwork = -1, liwork = -1, info = 0, iwork_query = 0;
  double work_query = 0;
  dsyevd_(&jobz, &uplo, &n, g.data(), &n, evals.data(), &work_query, &lwork, &iwork_query, &liwork, &info);
  ONSAGER_CHECK(info == 0, "esd: LAPACK dsyevd workspace query failed (info {})", info);
  lwork = std::max(1, static_cast<int>(work_query));
  liwork = std::max(1, iwork_query);
  std::vector<double> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(liwork));
  dsyevd_(&jobz, &uplo, &n, g.data(), &n, evals.data(), work.data(), &lwork, iwork.data(), &liwork, &info);
  ONSAGER_CHECK(info == 0, "esd: LAPACK dsyevd failed to converge on a {} x {} Gram matrix (info {})", m, m, info);
  for (double& v : evals) v = std::max(v, 0.0);
  std::sort(evals.begin(), evals.end());
  return evals;
}

std::vector<double> esd(const MatrixD& w, EsdMethod method) {
  return esd(std::span<const double>(w.data(), static_cast<std::size_t>(w.size())), static_cast<std::size_t>(w.rows()),
             static_cast<std::size_t>(w.cols()), method);
}

}  // namespace onsager
