#pragma once
// Helpers shared by the end-to-end benchmark programs: wall time, medians, this machine's SGEMM throughput
// (the ceiling every comparison is read against) and running a peer's script.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/matrix.hpp"

namespace onsager::bench {

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

/// GFLOP/s of C = A·Bᵀ with A m x k, B n x k (an RBM's forward pass has m = batch, n = hidden, k = visible):
/// the median of 5 timings of enough repetitions for ~`flop_per_timing` floating-point operations.
inline double sgemm_gflops(int m, int n, int k, double flop_per_timing = 1e10) {
  MatrixF a = MatrixF::Random(m, k), b = MatrixF::Random(n, k), c(m, n);
  gemm(1.0f, a, Trans::no, b, Trans::yes, 0.0f, c);
  std::vector<double> t;
  const double flops = 2.0 * m * n * k;
  const int reps = std::max(3, static_cast<int>(flop_per_timing / flops));
  for (int r = 0; r < 5; ++r) {
    const double t0 = now();
    for (int i = 0; i < reps; ++i) gemm(1.0f, a, Trans::no, b, Trans::yes, 0.0f, c);
    t.push_back((now() - t0) / reps);
  }
  return flops / median(t) / 1e9;
}

/// Runs a shell command and returns its standard output.
inline std::string run_capture(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
  ONSAGER_CHECK(pipe != nullptr, "bench: cannot run '{}'", cmd);
  std::string out;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  return out;
}

}  // namespace onsager::bench
