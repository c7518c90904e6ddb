#include "onsager/core/parallel.hpp"

#include <cblas.h>
#include <omp.h>

#include <mutex>
#include <thread>

#include "onsager/core/error.hpp"

namespace onsager {
namespace {
int g_threads = 0;
std::once_flag g_blas_once;
}  // namespace

// BLAS runs single-threaded; onsager threads over fixed blocks (core/blas.cpp) so that results do not
// depend on the thread count. Set on first use, not by a static initializer: a host program (Python, a
// user's application) keeps its own BLAS settings until it calls onsager.
void ensure_serial_blas() {
  std::call_once(g_blas_once, [] { openblas_set_num_threads(1); });
}

int max_threads() { return 4 * hardware_threads(); }

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void set_num_threads(int n) {
  ONSAGER_CHECK(n <= max_threads(),
                "set_num_threads: n must be at most {} (4 x the {} hardware threads; 0 or less means all of them) "
                "(got {})", max_threads(), hardware_threads(), n);
  g_threads = n <= 0 ? hardware_threads() : n;
  ensure_serial_blas();
  omp_set_num_threads(g_threads);
}

int num_threads() { return g_threads <= 0 ? hardware_threads() : g_threads; }

const char* blas_info() { return openblas_get_config(); }

}  // namespace onsager
