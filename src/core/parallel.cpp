#include "onsager/core/parallel.hpp"

#include <cblas.h>

#include <Eigen/Core>

#include <atomic>
#include <mutex>
#include <thread>

#include "onsager/core/error.hpp"

namespace onsager {
namespace {
std::atomic<int> g_threads{0};  // 0: all hardware threads
std::once_flag g_blas_once;
}  // namespace

// BLAS runs single-threaded; onsager threads over fixed blocks (core/blas.cpp) so that results do not
// depend on the thread count. Set on first use, not by a static initializer: a host program (Python, a
// user's application) keeps its own BLAS settings until it calls onsager.
void ensure_serial_blas() {
  std::call_once(g_blas_once, [] { openblas_set_num_threads(1); });
}

SerialBlasScope::SerialBlasScope() : saved_(openblas_get_num_threads()) {
  ensure_serial_blas();
  openblas_set_num_threads(1);
}

SerialBlasScope::~SerialBlasScope() { openblas_set_num_threads(saved_); }

int max_threads() { return 4 * hardware_threads(); }

int hardware_threads() {
  // Read once: std::thread::hardware_concurrency() reads sysfs on every call (an open, a read and a close), and
  // num_threads() asks for it in every parallel loop until set_num_threads is called.
  static const int n = [] {
    const unsigned h = std::thread::hardware_concurrency();
    return h == 0 ? 1 : static_cast<int>(h);
  }();
  return n;
}

// Only onsager's own setting changes: every parallel loop names num_threads() in its clause, so the OpenMP
// thread count of the process (which a host and its other libraries share) and BLAS's are left alone.
void set_num_threads(int n) {
  ONSAGER_CHECK(n <= max_threads(),
                "set_num_threads: n must be at most {} (4 x the {} hardware threads; 0 or less means all of them) "
                "(got {})", max_threads(), hardware_threads(), n);
  g_threads.store(n <= 0 ? 0 : n);
  Eigen::setNbThreads(num_threads());  // Eigen's own products, where it parallelises them
}

int num_threads() {
  const int n = g_threads.load(std::memory_order_relaxed);
  return n <= 0 ? hardware_threads() : n;
}

const char* blas_info() { return openblas_get_config(); }

}  // namespace onsager
