// One training epoch per method on Fashion-MNIST (60,000 x 784, binarized at 0.5, 500 hidden, batch 100):
// CD-1, PCD-1 and the deterministic naive mean-field, TAP2 and TAP3 updates, with the arithmetic each does and
// the GFLOP/s it sustains, against the machine's SGEMM at the minibatch shape. The TAP methods run their default
// settings (at most 3 damped sweeps per update, tolerance 1e-4, persistent magnetisations) and, for TAP2, a fixed
// 3 sweeps (tolerance 0) to separate the work the tolerance saves from the speed of each sweep.
//
//   build/bench/bench_tap_epoch [--repeats 3] [--data fashion-mnist] [--json out.json]

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_common.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/rbm/train.hpp"

using namespace onsager;
using bench::median;
using bench::now;

namespace {

// GEMMs of B x H x V per minibatch, with s fixed-point sweeps (see src/rbm/train.cpp and src/rbm/tap.cpp):
// CD/PCD-1: 3 forward + 2 gradient; naive: positive phase, 2 per sweep, 2 gradient; TAP2: 4 per sweep and one
// more gradient product; TAP3: 6 per sweep and two more.
double gemms_per_update(TrainMethod m, double s) {
  switch (m) {
    case TrainMethod::cd:
    case TrainMethod::pcd: return 5;
    case TrainMethod::mf: return 3 + 2 * s;
    case TrainMethod::tap2: return 4 + 4 * s;
    case TrainMethod::tap3: return 5 + 6 * s;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"One epoch of CD-1, PCD-1, naive mean field, TAP2 and TAP3: seconds and GFLOP/s"};
  int repeats = 3, threads = 0, hidden = 500, batch = 100;
  std::string data = "fashion-mnist", json_path;
  app.add_option("--repeats", repeats, "Epochs timed per method (median reported)")->capture_default_str();
  app.add_option("--data", data, "Data set")->capture_default_str();
  app.add_option("--hidden", hidden)->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--threads", threads, "Threads (0: all)")->capture_default_str();
  app.add_option("--json", json_path, "Write the numbers to FILE");
  CLI11_PARSE(app, argc, argv);

  set_num_threads(threads);
  Dataset d = load_dataset(data, Split::trainval);
  binarize(d.x, parse_binarization("threshold:0.5"));
  const double n = static_cast<double>(d.x.rows()), v = static_cast<double>(d.x.cols());
  const double g = bench::sgemm_gflops(batch, hidden, static_cast<int>(d.x.cols()));
  fmt::print("machine: {} threads; SGEMM at {}x{}x{}: {:.1f} GFLOP/s\n", num_threads(), batch, hidden, d.x.cols(), g);

  struct Case {
    std::string name;
    TrainMethod method;
    double tol;
  };
  const std::vector<Case> cases = {{"CD-1", TrainMethod::cd, 1e-4},         {"PCD-1", TrainMethod::pcd, 1e-4},
                                   {"naive MF", TrainMethod::mf, 1e-4},     {"TAP2", TrainMethod::tap2, 1e-4},
                                   {"TAP2, 3 sweeps", TrainMethod::tap2, 0}, {"TAP3", TrainMethod::tap3, 1e-4}};
  nlohmann::json rows = nlohmann::json::array();
  double cd_seconds = 0, cd_gflops = 0;
  fmt::print("\n{:<16} {:>10} {:>10} {:>14} {:>10} {:>9} {:>12}\n", fmt::format("{} x {} -> {}", d.x.rows(), d.x.cols(), hidden),
             "s/epoch", "vs CD-1", "sweeps/update", "GFLOP", "GFLOP/s", "of SGEMM");
  for (const Case& c : cases) {
    TrainConfig cfg;
    cfg.method = c.method;
    cfg.hidden = hidden;
    cfg.batch_size = batch;
    cfg.lr = 0.01;
    cfg.epochs = 2;  // the second epoch is timed: persistent state is warm, as in a long run
    cfg.tap_tol = c.tol;
    cfg.monitor_samples = 0;
    std::vector<double> secs, sweeps;
    for (int r = 0; r < repeats; ++r) {
      cfg.seed = static_cast<std::uint64_t>(r);
      TrainState s = init_training(d.x, cfg);
      train(s, d.x, cfg, {.progress = false});
      secs.push_back(s.history.back().seconds);
      sweeps.push_back(std::isfinite(s.history.back().tap_sweeps) ? s.history.back().tap_sweeps : 0.0);
    }
    const double t = median(secs), sw = median(sweeps);
    const double gflop = gemms_per_update(c.method, sw) * 2.0 * n * hidden * v / 1e9;
    if (c.method == TrainMethod::cd) {
      cd_seconds = t;
      cd_gflops = gflop / t;
    }
    fmt::print("{:<16} {:>10.3f} {:>9.2f}x {:>14} {:>10.0f} {:>9.1f} {:>11.0f}%\n", c.name, t, t / cd_seconds,
               is_tap_method(c.method) ? fmt::format("{:.2f}", sw) : "-", gflop, gflop / t, 100 * gflop / t / g);
    rows.push_back({{"method", c.name}, {"seconds", secs}, {"median", t}, {"sweeps_per_update", sw},
                    {"gflop", gflop}, {"gflops", gflop / t}, {"relative_to_cd1", t / cd_seconds},
                    {"gflops_relative_to_cd1", gflop / t / cd_gflops}});
  }
  fmt::print("(medians of {} timed epochs each, the second epoch of each run; GFLOP counts the GEMMs only)\n", repeats);
  if (!json_path.empty())
    write_file_atomic(json_path, nlohmann::json({{"data", data}, {"samples", d.x.rows()}, {"hidden", hidden},
                                                 {"batch", batch}, {"threads", num_threads()}, {"sgemm_gflops", g},
                                                 {"methods", rows}})
                                         .dump(2) +
                                     "\n");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "bench_tap_epoch: error: {}\n", e.what());
  return 1;
}
