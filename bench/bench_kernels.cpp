// Google Benchmark kernels of a PCD-1 minibatch (B = 100, V = 784, H = 500): where an epoch's time goes.

#include <benchmark/benchmark.h>

#include "onsager/core/blas.hpp"
#include "onsager/core/random.hpp"
#include "onsager/rbm/rbm.hpp"
#include "onsager/rbm/train.hpp"

using namespace onsager;

namespace {
constexpr int kB = 100, kV = 784, kH = 500;

MatrixF random_binary(int n, int d, std::uint64_t seed) {
  MatrixF x = MatrixF::Constant(n, d, 0.3f);
  sample_bernoulli(x, seed, 0, 0);
  return x;
}

void BM_SgemmForward(benchmark::State& st) {
  const MatrixF v = random_binary(kB, kV, 1), w = MatrixF::Random(kH, kV);
  MatrixF out(kB, kH);
  for (auto _ : st) {
    gemm(1.0f, v, Trans::no, w, Trans::yes, 0.0f, out);
    benchmark::DoNotOptimize(out.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * kB * kH * kV, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_SgemmForward)->Unit(benchmark::kMicrosecond);

void BM_SgemmGradient(benchmark::State& st) {
  const MatrixF v = random_binary(kB, kV, 1), h = MatrixF::Random(kB, kH);
  MatrixF g(kH, kV);
  for (auto _ : st) {
    gemm(1.0f, h, Trans::yes, v, Trans::no, 0.0f, g);
    benchmark::DoNotOptimize(g.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * kB * kH * kV, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_SgemmGradient)->Unit(benchmark::kMicrosecond);

void BM_Sigmoid(benchmark::State& st) {
  MatrixF x = MatrixF::Random(kB, kH);
  for (auto _ : st) {
    sigmoid_inplace(x);
    benchmark::DoNotOptimize(x.data());
  }
  st.SetItemsProcessed(st.iterations() * kB * kH);
}
BENCHMARK(BM_Sigmoid)->Unit(benchmark::kMicrosecond);

void BM_SampleBernoulli(benchmark::State& st) {
  MatrixF p = MatrixF::Constant(kB, kV, 0.4f);
  std::uint64_t step = 0;
  for (auto _ : st) {
    st.PauseTiming();
    p.setConstant(0.4f);
    st.ResumeTiming();
    sample_bernoulli(p, 1, 2, step++);
    benchmark::DoNotOptimize(p.data());
  }
  st.SetItemsProcessed(st.iterations() * kB * kV);
}
BENCHMARK(BM_SampleBernoulli)->Unit(benchmark::kMicrosecond);

void BM_PcdStep(benchmark::State& st) {
  const MatrixF data = random_binary(1000, kV, 3);
  TrainConfig cfg;
  cfg.hidden = kH;
  cfg.batch_size = kB;
  cfg.monitor_samples = 0;
  TrainState s = init_training(data, cfg);
  TrainWorkspace ws;
  std::uint64_t step = 0;
  for (auto _ : st) {
    train_step(s, data.topRows(kB), cfg, 0.05f, 0.0f, step++, ws);
    benchmark::DoNotOptimize(s.rbm.weight.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(10.0 * kB * kH * kV, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
BENCHMARK(BM_PcdStep)->Unit(benchmark::kMillisecond);

}  // namespace
