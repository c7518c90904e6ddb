// What a host program that calls the library (the Python module) relies on. core/interrupt.hpp: an installed
// check stops each long loop with onsager::Interrupted, and what the loop was updating is left consistent
// (training: the last finished epoch); without a check, or with one that says no, the work runs to the end and
// gives the uninterrupted result. core/parallel.hpp: onsager's thread count holds whatever OpenMP thread count
// the host set for its own loops (torch sets 1), and SerialBlasScope gives the host its BLAS threads back.

#include <gtest/gtest.h>

#include <cblas.h>
#include <omp.h>

#include <atomic>
#include <thread>

#include "brute_force.hpp"
#include "onsager/core/interrupt.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/io/tensor_source.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/sampling.hpp"
#include "onsager/rbm/train.hpp"
#include "onsager/spectral/analyze.hpp"

namespace onsager {
namespace {

std::atomic<int> g_calls{0};
std::atomic<int> g_yes_after{0};  // the check says yes from this call on (0: never)

bool counting_check() {
  const int n = ++g_calls;
  return g_yes_after > 0 && n >= g_yes_after;
}

// Installs counting_check for one test and removes it afterwards.
struct CheckInstalled {
  explicit CheckInstalled(int yes_after) {
    g_calls = 0;
    g_yes_after = yes_after;
    set_interrupt_check(&counting_check);
  }
  ~CheckInstalled() { set_interrupt_check(nullptr); }
};

// `count` dense rows x cols layers of Gaussian entries.
class Layers final : public TensorSource {
 public:
  Layers(int count, std::int64_t rows, std::int64_t cols) {
    for (int i = 0; i < count; ++i) {
      TensorEntry e;
      e.name = "layer" + std::to_string(i) + ".weight";
      e.shape = {rows, cols};
      e.dtype = "F64";
      e.floating = true;
      e.index = static_cast<std::size_t>(i);
      entries_.push_back(e);
    }
  }
  const std::vector<TensorEntry>& tensors() const override { return entries_; }
  std::vector<double> read(const TensorEntry& t) const override {
    Rng rng(t.index + 1);
    std::vector<double> v(static_cast<std::size_t>(t.shape[0] * t.shape[1]));
    for (double& x : v) x = rng.normal();
    return v;
  }
  std::string format() const override { return "test"; }

 private:
  std::vector<TensorEntry> entries_;
};

TEST(Interrupt, NothingInstalledNothingRequested) {
  set_interrupt_check(nullptr);
  EXPECT_FALSE(interrupt_requested());
  EXPECT_NO_THROW(throw_if_interrupted("here"));
}

TEST(Interrupt, TheCheckIsPolledAtMostEvery50MsAndItsAnswerSticks) {
  CheckInstalled installed(2);
  EXPECT_FALSE(interrupt_requested());  // call 1: no
  EXPECT_FALSE(interrupt_requested());  // within 50 ms: not polled again
  EXPECT_EQ(g_calls, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_TRUE(interrupt_requested());  // call 2: yes
  EXPECT_TRUE(interrupt_requested());  // sticky, without calling again
  EXPECT_EQ(g_calls, 2);
  try {
    throw_if_interrupted("somewhere");
    FAIL() << "no exception";
  } catch (const Interrupted& e) {
    EXPECT_STREQ(e.what(), "somewhere: interrupted");
  }
  // Another thread sees the request but never calls the check itself.
  bool other = false;
  std::thread([&] { other = interrupt_requested(); }).join();
  EXPECT_TRUE(other);
  set_interrupt_check(&counting_check);  // re-installing clears the request
  g_yes_after = 0;
  EXPECT_FALSE(interrupt_requested());
}

TEST(Interrupt, TrainingStopsAndKeepsTheLastFinishedEpoch) {
  const MatrixF data = testing::random_binary(4000, 64, 5);
  TrainConfig c;
  c.hidden = 32;
  c.epochs = 3;
  c.batch_size = 10;
  c.seed = 2;
  c.monitor_samples = 0;
  TrainState reference = init_training(data, c);
  c.epochs = 1;
  ASSERT_EQ(train(reference, data, c, {.progress = false}), TrainOutcome::finished);  // one epoch, uninterrupted
  c.epochs = 3;

  TrainState s = reference;  // epoch 1 done; epochs 2 and 3 to go
  {
    CheckInstalled installed(1);  // yes at the first poll: in epoch 2
    EXPECT_THROW(train(s, data, c, {.progress = false}), Interrupted);
  }
  EXPECT_EQ(s.epochs_done, 1);
  EXPECT_EQ(s.rbm.weight, reference.rbm.weight);  // exactly the state after epoch 1
  EXPECT_EQ(s.chains, reference.chains);
}

TEST(Interrupt, AisSamplingExactAndAnalyzeStop) {
  const Rbm rbm = testing::random_rbm(20, 22, 0.5f, 0.3f, 4);
  {
    CheckInstalled installed(1);
    EXPECT_THROW(log_partition_ais(rbm, {.runs = 10, .betas = 1000}), Interrupted);
  }
  {
    CheckInstalled installed(1);
    EXPECT_THROW(sample_rbm(rbm, MatrixF(), {.n = 4, .steps = 1000}), Interrupted);
  }
  const Rbm small = testing::random_rbm(8, 9, 0.5f, 0.3f, 4);
  {
    CheckInstalled installed(1);
    EXPECT_THROW(log_partition_exact(small), Interrupted);
  }
  {
    // A check that never says yes changes nothing.
    CheckInstalled installed(0);
    EXPECT_NEAR(log_partition_exact(small), testing::brute_log_z(small), 1e-9);
  }
  {
    CheckInstalled installed(1);
    const Layers layers(3, 40, 30);
    EXPECT_THROW(analyze(layers, "layers", AnalyzeOptions{}), Interrupted);
  }
  {
    CheckInstalled installed(0);
    const Layers layers(3, 40, 30);
    EXPECT_EQ(analyze(layers, "layers", AnalyzeOptions{}).layers.size(), 3u);
  }
}

TEST(Host, OnsagersThreadCountHoldsWhateverTheHostSetForOpenMp) {
  set_num_threads(3);
  omp_set_num_threads(1);  // what torch does at import on a one-thread setting
  const Layers layers(4, 40, 30);
  int team = 0;
  analyze(layers, "layers", AnalyzeOptions{}, [&](std::size_t, std::size_t, const LayerResult*) {
    team = std::max(team, omp_get_num_threads());
  });
  EXPECT_EQ(team, 3);
  set_num_threads(0);
}

TEST(Host, SetNumThreadsLeavesTheProcesssOpenMpAndBlasSettingsAlone) {
  omp_set_num_threads(5);
  openblas_set_num_threads(2);
  set_num_threads(1);
  EXPECT_EQ(num_threads(), 1);
  EXPECT_EQ(omp_get_max_threads(), 5);
  EXPECT_EQ(openblas_get_num_threads(), 2);
  set_num_threads(0);
  EXPECT_EQ(num_threads(), hardware_threads());
  omp_set_num_threads(hardware_threads());
  openblas_set_num_threads(1);
}

TEST(Host, SerialBlasScopeGivesTheHostItsBlasThreadsBack) {
  openblas_set_num_threads(2);
  {
    SerialBlasScope scope;
    EXPECT_EQ(openblas_get_num_threads(), 1);
  }
  EXPECT_EQ(openblas_get_num_threads(), 2);
  openblas_set_num_threads(1);  // the library's own setting, for the tests that follow
}

}  // namespace
}  // namespace onsager
