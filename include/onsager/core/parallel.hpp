#pragma once
// Thread control for the whole library: OpenBLAS's GEMM threads and onsager's own OpenMP loops.
// Results never depend on the thread count: GEMMs split rows/columns (never the reduction), and
// element-wise loops give each row its own random stream.

namespace onsager {

/// Sets the threads of onsager's loops (BLAS itself stays single-threaded); n <= 0 means all hardware
/// threads. Throws onsager::Error above max_threads(). Changes nothing outside onsager: the process's OpenMP
/// thread count (omp_set_num_threads) and BLAS's stay as the host set them.
void set_num_threads(int n);

/// The most threads set_num_threads accepts: 4 x hardware_threads().
int max_threads();

/// Makes BLAS single-threaded, once; every routine of onsager that calls BLAS calls it first.
void ensure_serial_blas();

/// For hosts whose own code shares onsager's OpenBLAS (NumPy, in the Python module: both load the same
/// libopenblas): BLAS is single-threaded while the scope lives, and the host's BLAS thread count comes back
/// when it ends, so that onsager's setting never slows the host's own matrix products.
class SerialBlasScope {
 public:
  SerialBlasScope();
  ~SerialBlasScope();
  SerialBlasScope(const SerialBlasScope&) = delete;
  SerialBlasScope& operator=(const SerialBlasScope&) = delete;

 private:
  int saved_;
};

/// The thread count set by set_num_threads (all hardware threads by default).
int num_threads();

/// The number of hardware threads.
int hardware_threads();

/// A short description of the BLAS in use (e.g. "OpenBLAS 0.3.21 Haswell").
const char* blas_info();

}  // namespace onsager
