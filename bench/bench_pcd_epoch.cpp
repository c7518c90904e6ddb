// One PCD-1 epoch on Fashion-MNIST (60,000 x 784, binarized at 0.5, 500 hidden, batch 100, lr 0.05):
// onsager against scikit-learn's BernoulliRBM, measured in the same run, with this machine's SGEMM
// throughput as the ceiling. Prints medians and the ratio; --json FILE keeps the numbers.
//
//   build/bench/bench_pcd_epoch [--repeats 3] [--sklearn-repeats 1] [--threads 0] [--json out.json]

#include <algorithm>
#include <array>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_common.hpp"
#include "onsager/core/blas.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/rbm/train.hpp"

using namespace onsager;

using bench::median;
using bench::now;
using bench::run_capture;
using bench::sgemm_gflops;

int main(int argc, char** argv) try {
  CLI::App app{"PCD-1 epoch on Fashion-MNIST: onsager vs scikit-learn's BernoulliRBM, in one run"};
  int repeats = 3, sk_repeats = 1, threads = 0, hidden = 500, batch = 100;
  float lr = 0.05f;
  std::string json_path, python = "/usr/bin/python3";
  std::vector<std::string> sk_dtypes{"float64", "float32"};
  bool skip_sklearn = false;
  app.add_option("--repeats", repeats, "onsager epochs timed (median reported)")->capture_default_str();
  app.add_option("--sklearn-repeats", sk_repeats, "scikit-learn epochs timed")->capture_default_str();
  app.add_option("--sklearn-dtype", sk_dtypes,
                 "float64 (what scikit-learn gets from ordinary NumPy arrays) and/or float32 (kept since 1.2)")
      ->capture_default_str();
  app.add_option("--threads", threads, "Threads for onsager (0: all)")->capture_default_str();
  app.add_option("--hidden", hidden)->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--lr", lr)->capture_default_str();
  app.add_option("--python", python, "Python with scikit-learn")->capture_default_str();
  app.add_flag("--skip-sklearn", skip_sklearn, "Time onsager only");
  app.add_option("--json", json_path, "Write the numbers to FILE");
  CLI11_PARSE(app, argc, argv);

  set_num_threads(threads);
  fmt::print("machine: {} threads; BLAS: {}\n", num_threads(), blas_info());
  const double g_rbm = sgemm_gflops(batch, hidden, 784, 2e10);
  const double g_big = sgemm_gflops(2048, 2048, 2048, 2e10);
  fmt::print("SGEMM ceiling: {:.1f} GFLOP/s at {}x{}x784 (the RBM's shape), {:.1f} GFLOP/s at 2048^3\n", g_rbm, batch,
             hidden, g_big);

  Dataset d = load_dataset("fashion-mnist", Split::trainval);
  binarize(d.x, parse_binarization("threshold:0.5"));
  const double n = static_cast<double>(d.x.rows());
  // Per minibatch: 3 forward GEMMs (data, chain visible, chain hidden) + 2 gradient GEMMs, 2·B·H·V each.
  const double epoch_gflop = 5.0 * 2.0 * n * hidden * 784 / 1e9;

  TrainConfig cfg;
  cfg.method = TrainMethod::pcd;
  cfg.hidden = hidden;
  cfg.batch_size = batch;
  cfg.lr = lr;
  cfg.epochs = 1;
  cfg.monitor_samples = 0;
  std::vector<double> ours;
  for (int r = 0; r < repeats; ++r) {
    cfg.seed = static_cast<std::uint64_t>(r);
    TrainState s = init_training(d.x, cfg);
    const double t0 = now();
    train(s, d.x, cfg, {.progress = false});
    ours.push_back(now() - t0);
    fmt::print("onsager  epoch {}: {:.3f} s ({:.1f} GFLOP/s)\n", r + 1, ours.back(), epoch_gflop / ours.back());
  }
  const double ours_med = median(ours);

  nlohmann::json result = {{"data", "fashion-mnist 60000x784, binarized at 0.5"},
                           {"hidden", hidden},
                           {"batch", batch},
                           {"lr", lr},
                           {"threads", num_threads()},
                           {"sgemm_gflops_rbm_shape", g_rbm},
                           {"sgemm_gflops_2048", g_big},
                           {"epoch_gflop", epoch_gflop},
                           {"onsager_seconds", ours},
                           {"onsager_median", ours_med}};
  if (!skip_sklearn) {
    const std::string images = (std::getenv("ONSAGER_DATA") ? std::string(std::getenv("ONSAGER_DATA")) : std::string(ONSAGER_SOURCE_DIR) + "/data") + "/fashion-mnist/train-images-idx3-ubyte.gz";
    std::vector<std::pair<std::string, double>> rows{{"onsager (float32)", ours_med}};
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& dtype : sk_dtypes) {
      const std::string cmd = fmt::format("{} {}/bench/sklearn_rbm_epoch.py --images {} --hidden {} --batch {} --lr {} "
                                          "--repeats {} --dtype {}",
                                          python, ONSAGER_SOURCE_DIR, images, hidden, batch, lr, sk_repeats, dtype);
      fmt::print("running scikit-learn: {}\n", cmd);
      std::fflush(stdout);
      const std::string out = run_capture(cmd);
      nlohmann::json sk;
      try {
        sk = nlohmann::json::parse(out);
      } catch (const nlohmann::json::exception&) {
        ONSAGER_FAIL("bench: scikit-learn run failed (is python3-sklearn installed? run scripts/setup.sh): {}", out);
      }
      const auto sk_times = sk.at("seconds").get<std::vector<double>>();
      for (std::size_t i = 0; i < sk_times.size(); ++i)
        fmt::print("sklearn {} epoch {}: {:.3f} s ({:.1f} GFLOP/s)\n", dtype, i + 1, sk_times[i],
                   epoch_gflop / sk_times[i]);
      sk["median"] = median(sk_times);
      sk["speedup"] = median(sk_times) / ours_med;
      peers.push_back(sk);
      rows.emplace_back(fmt::format("scikit-learn {} ({})", sk.value("peer", "?").substr(13, 5), dtype), median(sk_times));
    }
    result["sklearn"] = peers;
    fmt::print("\n{:<38} {:>9} {:>9} {:>14}\n", fmt::format("PCD-1 epoch, {} x 784 -> {}", d.x.rows(), hidden),
               "seconds", "GFLOP/s", "onsager is");
    for (const auto& [name, t] : rows)
      fmt::print("{:<38} {:>9.3f} {:>9.1f} {:>13.1f}x\n", name, t, epoch_gflop / t, t / ours_med);
    fmt::print("{:<38} {:>9.3f} {:>9.1f}\n", "SGEMM-bound floor (5 GEMMs at peak)", epoch_gflop / g_rbm, g_rbm);
    fmt::print("(medians of {} onsager and {} scikit-learn epochs, measured in this run)\n", repeats, sk_repeats);
  } else {
    fmt::print("onsager median {:.3f} s; SGEMM-bound floor {:.3f} s\n", ours_med, epoch_gflop / g_rbm);
  }
  if (!json_path.empty()) write_file_atomic(json_path, result.dump(2) + "\n");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "bench_pcd_epoch: error: {}\n", e.what());
  return 1;
}
