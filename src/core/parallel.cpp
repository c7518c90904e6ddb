#include "onsager/core/parallel.hpp"

#include <cblas.h>
#include <omp.h>

#include <thread>

namespace onsager {
namespace {
int g_threads = 0;

// BLAS runs single-threaded; onsager threads over fixed blocks (core/blas.cpp) so that results do not
// depend on the thread count.
const bool g_blas_serial = [] {
  openblas_set_num_threads(1);
  return true;
}();
}  // namespace

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void set_num_threads(int n) {
  g_threads = n <= 0 ? hardware_threads() : n;
  openblas_set_num_threads(1);
  omp_set_num_threads(g_threads);
}

int num_threads() { return g_threads <= 0 ? hardware_threads() : g_threads; }

const char* blas_info() { return openblas_get_config(); }

}  // namespace onsager
