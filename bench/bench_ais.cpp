// AIS for a 784 x 500 RBM (Salakhutdinov & Murray's setting: 100 runs x 14,501 temperatures) with onsager, and
// the same algorithm in NumPy float64 (bench/numpy_ais.py, their MATLAB code's structure) measured in the same
// run on a shorter schedule, compared per temperature. The model is a PCD-1 RBM trained here on mnist for a few
// epochs (or --model FILE); the machine's SGEMM throughput at the AIS shape gives the floor.
//
//   build/bench/bench_ais [--runs 100] [--betas 0] [--numpy-betas 1451] [--epochs 5] [--json out.json]

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

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
#include "onsager/io/safetensors.hpp"
#include "onsager/rbm/model_file.hpp"
#include "onsager/rbm/partition.hpp"
#include "onsager/rbm/train.hpp"

using namespace onsager;

using bench::median;
using bench::now;
using bench::run_capture;
using bench::sgemm_gflops;

int main(int argc, char** argv) try {
  CLI::App app{"AIS for a 784 x 500 RBM: onsager vs the same algorithm in NumPy, in one run"};
  int runs = 100, betas = 0, numpy_betas = 1451, epochs = 5, repeats = 1, threads = 0;
  std::string model_path, json_path, python = "/usr/bin/python3";
  bool skip_numpy = false;
  app.add_option("--runs", runs, "AIS runs")->capture_default_str();
  app.add_option("--betas", betas, "onsager's temperatures (0: Salakhutdinov & Murray's 14,501)")->capture_default_str();
  app.add_option("--numpy-betas", numpy_betas, "NumPy's temperatures (timed per temperature)")->capture_default_str();
  app.add_option("--repeats", repeats, "onsager AIS runs timed (median reported)")->capture_default_str();
  app.add_option("--epochs", epochs, "PCD-1 epochs on mnist for the benchmark model")->capture_default_str();
  app.add_option("--model", model_path, "Use this model instead of training one");
  app.add_option("--threads", threads, "Threads for onsager (0: all)")->capture_default_str();
  app.add_option("--python", python, "Python with NumPy")->capture_default_str();
  app.add_flag("--skip-numpy", skip_numpy, "Time onsager only");
  app.add_option("--json", json_path, "Write the numbers to FILE");
  CLI11_PARSE(app, argc, argv);

  set_num_threads(threads);
  fmt::print("machine: {} threads; BLAS: {}\n", num_threads(), blas_info());
  Dataset d = load_dataset("mnist", Split::train);
  binarize(d.x, parse_binarization("threshold:0.5"));
  Rbm rbm;
  if (!model_path.empty()) {
    rbm = load_rbm_model(model_path).state.rbm;
  } else {
    TrainConfig cfg;
    cfg.method = TrainMethod::pcd;
    cfg.hidden = 500;
    cfg.epochs = epochs;
    cfg.lr = 0.05;
    cfg.seed = 1;
    cfg.monitor_samples = 0;
    TrainState s = init_training(d.x, cfg);
    train(s, d.x, cfg, {.progress = false});
    rbm = s.rbm;
    fmt::print("model: PCD-1 RBM {} x {}, {} epochs on mnist (7,000 images)\n", rbm.num_visible(), rbm.num_hidden(),
               epochs);
  }
  const VectorF marginals = pixel_marginals(d.x);
  const int temperatures = static_cast<int>(ais_schedule(betas).size());
  const double g = sgemm_gflops(runs, static_cast<int>(rbm.num_hidden()), static_cast<int>(rbm.num_visible()));
  // Two GEMMs of runs x H x V per temperature.
  const double gflop = 2.0 * 2.0 * runs * static_cast<double>(rbm.num_hidden()) * rbm.num_visible() * temperatures / 1e9;
  fmt::print("SGEMM at {}x{}x{}: {:.1f} GFLOP/s; the {} temperatures' GEMMs ({:.0f} GFLOP) alone take {:.2f} s\n", runs,
             rbm.num_hidden(), rbm.num_visible(), g, temperatures, gflop, gflop / g);

  AisOptions o;
  o.runs = runs;
  o.betas = betas;
  std::vector<double> ours;
  AisResult last;
  for (int r = 0; r < repeats; ++r) {
    o.seed = static_cast<std::uint64_t>(r);
    const double t0 = now();
    last = log_partition_ais(rbm, marginals, o);
    ours.push_back(now() - t0);
    fmt::print("onsager  AIS {} runs x {} temperatures: {:.2f} s, log Z {:.3f} [{:.3f}, {:.3f}], ESS {:.1f}\n", runs,
               temperatures, ours.back(), last.log_z, last.log_z_lo, last.log_z_hi, last.ess);
  }
  const double ours_med = median(ours);
  // The same runs annealing the visible layer (Salakhutdinov & Murray's layer; the default anneals the smaller).
  std::vector<double> ours_visible;
  AisOptions ov = o;
  ov.layer = AisLayer::visible;
  for (int r = 0; r < repeats; ++r) {
    ov.seed = static_cast<std::uint64_t>(r);
    const double t0 = now();
    const AisResult a = log_partition_ais(rbm, marginals, ov);
    ours_visible.push_back(now() - t0);
    fmt::print("onsager  AIS, visible layer annealed: {:.2f} s, log Z {:.3f} [{:.3f}, {:.3f}], ESS {:.1f}\n",
               ours_visible.back(), a.log_z, a.log_z_lo, a.log_z_hi, a.ess);
  }
  nlohmann::json result = {{"model", model_path.empty() ? fmt::format("pcd-1 784x500, {} epochs on mnist", epochs) : model_path},
                           {"runs", runs},
                           {"temperatures", temperatures},
                           {"threads", num_threads()},
                           {"sgemm_gflops", g},
                           {"gemm_floor_seconds", gflop / g},
                           {"onsager_seconds", ours},
                           {"onsager_median", ours_med},
                           {"onsager_layer", std::string(to_string(last.layer))},
                           {"onsager_visible_seconds", ours_visible},
                           {"onsager_visible_median", median(ours_visible)},
                           {"onsager_log_z", last.log_z},
                           {"onsager_ess", last.ess}};

  if (!skip_numpy) {
    const auto dir = std::filesystem::temp_directory_path() / fmt::format("bench_ais_{}", ::getpid());
    std::filesystem::create_directories(dir);
    const std::string mfile = (dir / "model.safetensors").string();
    const VectorF base = ais_base_bias(marginals, rbm.num_visible());
    write_safetensors(mfile, {{"weight", {rbm.num_hidden(), rbm.num_visible()}, {rbm.weight.data(), static_cast<std::size_t>(rbm.weight.size())}, {}},
                              {"visible_bias", {rbm.num_visible()}, {rbm.visible_bias.data(), static_cast<std::size_t>(rbm.num_visible())}, {}},
                              {"hidden_bias", {rbm.num_hidden()}, {rbm.hidden_bias.data(), static_cast<std::size_t>(rbm.num_hidden())}, {}},
                              {"base_bias", {rbm.num_visible()}, {base.data(), static_cast<std::size_t>(base.size())}, {}}});
    // The same schedule length and layer (the visible one) for both sides of the per-temperature comparison.
    o.betas = numpy_betas;
    o.seed = 0;
    o.layer = AisLayer::visible;
    const double t0 = now();
    const AisResult short_run = log_partition_ais(rbm, marginals, o);
    const double ours_short = now() - t0;
    const std::string cmd = fmt::format("{} {}/bench/numpy_ais.py --model {} --runs {} --betas {}", python,
                                        ONSAGER_SOURCE_DIR, mfile, runs, numpy_betas);
    fmt::print("running NumPy: {}\n", cmd);
    std::fflush(stdout);
    const std::string out = run_capture(cmd);
    std::filesystem::remove_all(dir);
    nlohmann::json np;
    try {
      np = nlohmann::json::parse(out);
    } catch (const nlohmann::json::exception&) {
      ONSAGER_FAIL("bench: the NumPy run failed (is python3-numpy installed? run scripts/setup.sh): {}", out);
    }
    const double np_per = np.at("seconds").get<double>() / numpy_betas, ours_per = ours_short / numpy_betas;
    fmt::print("\n{:<36} {:>12} {:>16} {:>12} {:>11}\n", fmt::format("AIS, {} runs, 784 x 500", runs), "temperatures",
               "ms/temperature", "log Z", "onsager is");
    fmt::print("{:<36} {:>12} {:>16.3f} {:>12.3f}\n", "onsager (float32 GEMMs, double sums)", numpy_betas,
               1e3 * ours_per, short_run.log_z);
    fmt::print("{:<36} {:>12} {:>16.3f} {:>12.3f} {:>10.1f}x\n", np.value("peer", "numpy"), numpy_betas, 1e3 * np_per,
               np.at("log_z").get<double>(), np_per / ours_per);
    fmt::print("{:<36} {:>12} {:>16.3f}\n", "SGEMM floor (2 GEMMs per temperature)", numpy_betas,
               1e3 * gflop / g / temperatures);
    fmt::print("onsager, full schedule ({} temperatures): {:.2f} s (median of {}); NumPy at its measured rate would "
               "need {:.1f} s\n",
               temperatures, ours_med, repeats, np_per * temperatures);
    result["numpy"] = np;
    result["onsager_short_seconds"] = ours_short;
    result["onsager_short_log_z"] = short_run.log_z;
    result["speedup_per_temperature"] = np_per / ours_per;
  }
  if (!json_path.empty()) write_file_atomic(json_path, result.dump(2) + "\n");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "bench_ais: error: {}\n", e.what());
  return 1;
}
