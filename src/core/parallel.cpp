#include "onsager/core/parallel.hpp"

#include <cblas.h>
#include <omp.h>

#include <thread>

namespace onsager {
namespace {
int g_threads = 0;
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void set_num_threads(int n) {
  g_threads = n <= 0 ? hardware_threads() : n;
  openblas_set_num_threads(g_threads);
  omp_set_num_threads(g_threads);
}

int num_threads() { return g_threads <= 0 ? hardware_threads() : g_threads; }

const char* blas_info() { return openblas_get_config(); }

}  // namespace onsager
