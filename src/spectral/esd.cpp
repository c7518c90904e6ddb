#include "onsager/spectral/esd.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include <Eigen/SVD>

#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"

extern "C" {
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info);
void dsyevd_2stage_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                    double* work, const int* lwork, int* iwork, const int* liwork, int* info);
void ssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda, float* w, float* work,
             const int* lwork, int* iwork, const int* liwork, int* info);
void ssyevd_2stage_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda, float* w,
                    float* work, const int* lwork, int* iwork, const int* liwork, int* info);
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info);
}

namespace onsager {
namespace {

// From this order on, LAPACK's two-stage reduction (to a band, then to tridiagonal) beats the one-stage one
// for eigenvalues only (bench_analyze --esd-sizes: at 2048 one-stage is still ~10% faster, at 4096 two-stage
// is 1.6x faster in single and 1.5x in double on this project's machines).
constexpr std::size_t kTwoStageFrom = 3072;

template <class T>
void symmetric_eigenvalues(std::vector<T>& g, std::size_t m, std::vector<T>& w, std::vector<T>& work,
                           std::vector<int>& iwork) {
  using Fn = void (*)(const char*, const char*, const int*, T*, const int*, T*, T*, const int*, int*, const int*, int*);
  Fn fn;
  if constexpr (std::is_same_v<T, float>) fn = m >= kTwoStageFrom ? ssyevd_2stage_ : ssyevd_;
  else fn = m >= kTwoStageFrom ? dsyevd_2stage_ : dsyevd_;
  const char jobz = 'N', uplo = 'L';
  const int n = static_cast<int>(m);
  int lwork = -1, liwork = -1, info = 0, iwork_query = 0;
  T work_query = 0;
  w.resize(m);
  fn(&jobz, &uplo, &n, g.data(), &n, w.data(), &work_query, &lwork, &iwork_query, &liwork, &info);
  ONSAGER_CHECK(info == 0, "esd: LAPACK eigensolver workspace query failed (info {})", info);
  lwork = std::max(1, static_cast<int>(work_query));
  liwork = std::max(1, iwork_query);
  if (work.size() < static_cast<std::size_t>(lwork)) work.resize(static_cast<std::size_t>(lwork));
  if (iwork.size() < static_cast<std::size_t>(liwork)) iwork.resize(static_cast<std::size_t>(liwork));
  fn(&jobz, &uplo, &n, g.data(), &n, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info);
  ONSAGER_CHECK(info == 0, "esd: LAPACK eigensolver failed to converge on a {} x {} Gram matrix (info {})", m, m, info);
}

template <class T>
std::vector<double> ascending_clamped(const std::vector<T>& w) {
  std::vector<double> evals(w.begin(), w.end());
  for (double& v : evals) v = std::max(v, 0.0);
  std::sort(evals.begin(), evals.end());
  return evals;
}

// Adds the Gram matrix of one block to g (row-major upper triangle = LAPACK's lower): blockᵀ·block for a block
// of `count` rows of width m (tall matrices), block·blockᵀ for a block of m rows and `count` columns (wide).
void syrk_add(bool tall, std::size_t m, std::size_t count, const float* b, float* g, bool first) {
  const int n = static_cast<int>(m), k = static_cast<int>(count);
  if (tall) cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0f, b, n, first ? 0.0f : 1.0f, g, n);
  else cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, k, 1.0f, b, k, first ? 0.0f : 1.0f, g, n);
}
void syrk_add(bool tall, std::size_t m, std::size_t count, const double* b, double* g, bool first) {
  const int n = static_cast<int>(m), k = static_cast<int>(count);
  if (tall) cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, k, 1.0, b, n, first ? 0.0 : 1.0, g, n);
  else cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, k, 1.0, b, k, first ? 0.0 : 1.0, g, n);
}

}  // namespace

std::string_view to_string(EsdMethod m) { return m == EsdMethod::gram ? "gram" : "svd"; }

EsdMethod esd_method_from_string(std::string_view s) {
  if (s == "gram") return EsdMethod::gram;
  if (s == "svd") return EsdMethod::svd;
  ONSAGER_FAIL("esd: method must be 'gram' or 'svd' (got '{}')", s);
}

std::string_view to_string(EsdPrecision p) {
  return p == EsdPrecision::f32 ? "single" : p == EsdPrecision::f64 ? "double" : "auto";
}

EsdPrecision esd_precision_from_string(std::string_view s) {
  if (s == "auto") return EsdPrecision::automatic;
  if (s == "single") return EsdPrecision::f32;
  if (s == "double") return EsdPrecision::f64;
  ONSAGER_FAIL("esd: precision must be 'auto', 'single' or 'double' (got '{}')", s);
}

double single_precision_floor(std::size_t m, double lambda_max) {
  return static_cast<double>(m) * static_cast<double>(std::numeric_limits<float>::epsilon()) * lambda_max;
}

std::size_t esd_block_size(std::size_t rows, std::size_t cols) {
  // About 4 M elements per block (16 MB as float), and never fewer than 256 rows, so SYRK runs at full speed.
  const std::size_t m = std::min(rows, cols), n = std::max(rows, cols);
  return std::min(n, std::max<std::size_t>(256, (std::size_t{1} << 22) / m));
}

namespace {

// The Gram matrix of the blocks `read` gives, accumulated in g (m x m); returns whether every entry was zero.
template <class T>
bool accumulate_gram(bool tall, std::size_t m, std::size_t n, std::size_t block, const BlockReader& read,
                     std::vector<float>& buf, std::vector<T>& g, std::vector<double>& buf_d) {
  g.resize(m * m);
  buf.resize(block * m);
  if constexpr (std::is_same_v<T, double>) buf_d.resize(block * m);
  bool all_zero = true;
  for (std::size_t first = 0; first < n; first += block) {
    const std::size_t count = std::min(block, n - first);
    float* b = buf.data();
    read(first, count, b);
    bool finite = true, zero = true;
    for (std::size_t i = 0; i < count * m; ++i) finite &= std::isfinite(b[i]), zero &= b[i] == 0.0f;
    if (!finite)
      for (std::size_t i = 0; i < count * m; ++i)
        ONSAGER_CHECK(std::isfinite(b[i]), "esd: the matrix holds a non-finite value ({})", b[i]);
    all_zero &= zero;
    if constexpr (std::is_same_v<T, double>) {
      std::copy(b, b + count * m, buf_d.begin());
      syrk_add(tall, m, count, buf_d.data(), g.data(), first == 0);
    } else {
      syrk_add(tall, m, count, b, g.data(), first == 0);
    }
  }
  return all_zero;
}

// A lower bound on λ_max of the symmetric m x m matrix whose upper triangle (row-major) g holds: 30 steps of
// power iteration from a fixed start (the Rayleigh quotient never exceeds λ_max).
double lambda_max_lower_bound(const std::vector<float>& g, std::size_t m) {
  std::vector<float> x(m, 1.0f / std::sqrt(static_cast<float>(m))), y(m);
  const int n = static_cast<int>(m);
  double rayleigh = 0;
  for (int it = 0; it < 30; ++it) {
    cblas_ssymv(CblasRowMajor, CblasUpper, n, 1.0f, g.data(), n, x.data(), 1, 0.0f, y.data(), 1);
    double dot = 0, norm = 0;
    for (std::size_t i = 0; i < m; ++i) dot += static_cast<double>(x[i]) * y[i], norm += static_cast<double>(y[i]) * y[i];
    rayleigh = std::max(rayleigh, dot);
    if (norm == 0) break;
    const auto inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (std::size_t i = 0; i < m; ++i) x[i] = y[i] * inv;
  }
  return rayleigh;
}

// Whether every eigenvalue of the single-precision Gram matrix lies above twice the floor: a Cholesky
// factorisation of G − 2·floor·I (a third of the eigensolver's cost) succeeds only if so, up to rounding far
// below the floor. It works in the triangle g does not use (G's upper triangle, row-major, is copied into the
// lower one), so g comes back as it was, its diagonal restored.
bool above_twice_the_floor(std::vector<float>& g, std::size_t m) {
  const double floor = single_precision_floor(m, lambda_max_lower_bound(g, m));
  if (!(floor > 0)) return false;
  std::vector<float> diagonal(m);
  for (std::size_t i = 0; i < m; ++i) {
    diagonal[i] = g[i * m + i];
    g[i * m + i] -= static_cast<float>(2 * floor);
    for (std::size_t j = i + 1; j < m; ++j) g[j * m + i] = g[i * m + j];
  }
  const char uplo = 'U';  // column-major upper = row-major lower
  const int n = static_cast<int>(m);
  int info = 0;
  spotrf_(&uplo, &n, g.data(), &n, &info);
  for (std::size_t i = 0; i < m; ++i) g[i * m + i] = diagonal[i];
  return info == 0;
}

}  // namespace

bool single_resolves(const std::vector<double>& evals) {
  return !evals.empty() && evals.front() > 2 * single_precision_floor(evals.size(), evals.back());
}

BlockedEsd blocked_esd(std::size_t rows, std::size_t cols, const BlockReader& read, EsdPrecision precision,
                       EsdWorkspace& ws) {
  ONSAGER_CHECK(rows > 0 && cols > 0, "esd: a {} x {} matrix is empty", rows, cols);
  const bool tall = cols <= rows;
  const std::size_t m = tall ? cols : rows, n = tall ? rows : cols;
  ONSAGER_CHECK(m < (std::size_t{1} << 16), "esd: matrix dimension {} is too large for a dense Gram matrix", m);
  const std::size_t block = esd_block_size(rows, cols);
  ensure_serial_blas();
  BlockedEsd r;
  if (precision == EsdPrecision::automatic) {
    // A matrix near square has a Marchenko–Pastur bulk reaching down to λ₊·((√Q − 1)/(√Q + 1))², below the
    // floor for Q near 1: single would not resolve it, so it is not tried.
    const double q = static_cast<double>(n) / static_cast<double>(m);
    const double bulk_floor = std::pow((std::sqrt(q) - 1) / (std::sqrt(q) + 1), 2);
    if (bulk_floor > 2 * single_precision_floor(m, 1.0)) {
      r.all_zero = accumulate_gram(tall, m, n, block, read, ws.block_f, ws.gram_f, ws.block_d);
      if (!r.all_zero && above_twice_the_floor(ws.gram_f, m)) {
        ws.gram_d.assign(ws.gram_f.begin(), ws.gram_f.end());
        std::vector<double> w;
        symmetric_eigenvalues(ws.gram_d, m, w, ws.work_d, ws.iwork);
        r.evals = ascending_clamped(w);
        r.single_gram = true;
        if (single_resolves(r.evals)) return r;
      }
      if (r.all_zero) {
        r.evals.assign(m, 0.0);
        r.single_gram = true;
        return r;
      }
    }
    precision = EsdPrecision::f64;
  }
  if (precision == EsdPrecision::f32) {
    r.all_zero = accumulate_gram(tall, m, n, block, read, ws.block_f, ws.gram_f, ws.block_d);
    std::vector<float> w;
    symmetric_eigenvalues(ws.gram_f, m, w, ws.work_f, ws.iwork);
    r.evals = ascending_clamped(w);
    r.single_gram = true;
  } else {
    r.all_zero = accumulate_gram(tall, m, n, block, read, ws.block_f, ws.gram_d, ws.block_d);
    std::vector<double> w;
    symmetric_eigenvalues(ws.gram_d, m, w, ws.work_d, ws.iwork);
    r.evals = ascending_clamped(w);
    r.single_gram = false;
  }
  return r;
}

std::vector<double> esd(std::span<const double> w, std::size_t rows, std::size_t cols, EsdMethod method) {
  ONSAGER_CHECK(rows > 0 && cols > 0 && w.size() == rows * cols, "esd: a {} x {} matrix needs {} values (got {})", rows,
                cols, rows * cols, w.size());
  for (double v : w) ONSAGER_CHECK(std::isfinite(v), "esd: the matrix holds a non-finite value ({})", v);
  const std::size_t m = std::min(rows, cols);
  ONSAGER_CHECK(m < (std::size_t{1} << 16), "esd: matrix dimension {} is too large for a dense Gram matrix", m);
  if (method == EsdMethod::svd) {
    const Eigen::Map<const MatrixD> a(w.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
    Eigen::MatrixXd dense = a;  // BDCSVD works on column-major storage
    Eigen::BDCSVD<Eigen::MatrixXd> svd(dense);
    const Eigen::VectorXd s = svd.singularValues();
    std::vector<double> evals(m);
    for (std::size_t i = 0; i < m; ++i) evals[i] = s[static_cast<Eigen::Index>(i)] * s[static_cast<Eigen::Index>(i)];
    std::sort(evals.begin(), evals.end());
    return evals;
  }
  // The whole matrix is one block; its Gram matrix goes straight to the eigensolver.
  std::vector<double> g(m * m), work, evals;
  std::vector<int> iwork;
  ensure_serial_blas();
  syrk_add(cols <= rows, m, std::max(rows, cols), w.data(), g.data(), true);
  symmetric_eigenvalues(g, m, evals, work, iwork);
  return ascending_clamped(evals);
}

std::vector<double> esd(const MatrixD& w, EsdMethod method) {
  return esd(std::span<const double>(w.data(), static_cast<std::size_t>(w.size())), static_cast<std::size_t>(w.rows()),
             static_cast<std::size_t>(w.cols()), method);
}

}  // namespace onsager
