// End-to-end benchmark of `onsager analyze` (docs/analyze.md): a model of L layers of R x C float32 weights is
// written as safetensors (by a child process, so its buffers do not count in this process's peak memory),
// then analysed (ESD by Gram matrix + dsyevd, layers in parallel, fast power-law fit), and compared with the
// naive baseline measured in the same run: one layer at a time, a full double SVD (Eigen's BDCSVD) and the
// direct O(n²) fit, as WeightWatcher does. Also measures the ESD route's accuracy against known singular
// values and the fit's agreement and speed. Prints one line per measurement; --json FILE keeps the numbers.
//
//   build/bench/bench_analyze [--layers 24] [--rows 4096] [--cols 1024] [--baseline-layers 24] [--dir /tmp]

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/io/safetensors.hpp"
#include "onsager/io/tensor_source.hpp"
#include "onsager/spectral/analyze.hpp"

using namespace onsager;

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// A layer: Gaussian noise plus a heavy-tailed low-rank part, so the ESDs have realistic tails.
std::vector<float> make_layer(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> w(rows * cols);
  for (auto& x : w) x = static_cast<float>(rng.normal() / std::sqrt(static_cast<double>(rows)));
  for (int k = 0; k < 8; ++k) {
    std::vector<double> u(rows), v(cols);
    for (auto& x : u) x = rng.normal() / std::sqrt(static_cast<double>(rows));
    for (auto& x : v) x = rng.normal() / std::sqrt(static_cast<double>(cols));
    const double s = 2.0 * std::pow(1.0 - rng.uniform(), -1.0 / 1.5);
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < cols; ++j) w[i * cols + j] += static_cast<float>(s * u[i] * v[j]);
  }
  return w;
}

void write_model(const std::string& path, std::size_t layers, std::size_t rows, std::size_t cols) {
  // In a child process: the parent's peak RSS then measures the analysis alone.
  const pid_t pid = fork();
  ONSAGER_CHECK(pid >= 0, "bench: fork failed");
  if (pid == 0) {
    try {
      std::vector<std::vector<float>> data;
      std::vector<TensorToWrite> t;
      for (std::size_t l = 0; l < layers; ++l) data.push_back(make_layer(rows, cols, 1000 + l));
      for (std::size_t l = 0; l < layers; ++l)
        t.push_back({fmt::format("layers.{}.weight", l), {static_cast<std::int64_t>(rows), static_cast<std::int64_t>(cols)},
                     data[l], {}});
      write_safetensors(path, t);
      _exit(0);
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench: {}\n", e.what());
      _exit(1);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ONSAGER_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "bench: writing {} failed", path);
}

std::vector<double> bdcsvd_esd(const std::vector<double>& w, std::size_t rows, std::size_t cols) {
  const Eigen::Map<const MatrixD> a(w.data(), static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(cols));
  Eigen::MatrixXd dense = a;
  Eigen::BDCSVD<Eigen::MatrixXd> svd(dense);
  std::vector<double> e;
  for (Eigen::Index i = 0; i < svd.singularValues().size(); ++i) e.push_back(svd.singularValues()[i] * svd.singularValues()[i]);
  std::sort(e.begin(), e.end());
  return e;
}

std::vector<double> above(const std::vector<double>& e, double t) {
  std::vector<double> out;
  for (double v : e)
    if (v > t) out.push_back(v);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"onsager analyze benchmark"};
  std::size_t layers = 24, rows = 4096, cols = 1024, baseline_layers = 24;
  std::string dir = "/tmp", json_path;
  int threads = 0;
  bool keep = false, skip_extras = false;
  app.add_option("--layers", layers)->capture_default_str();
  app.add_option("--rows", rows)->capture_default_str();
  app.add_option("--cols", cols)->capture_default_str();
  app.add_option("--baseline-layers", baseline_layers, "Layers the naive baseline analyses (0: none)")->capture_default_str();
  app.add_option("--dir", dir, "Where the model file is written")->capture_default_str();
  app.add_option("--threads", threads, "Threads (0: all cores)")->capture_default_str();
  app.add_flag("--keep", keep, "Keep the model file");
  app.add_flag("--skip-extras", skip_extras, "Only the end-to-end run (no accuracy/fit sections)");
  app.add_option("--json", json_path, "Also write the numbers to FILE");
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(threads);
    nlohmann::json out;
    const std::string path = (std::filesystem::path(dir) / fmt::format("bench_analyze_{}.safetensors", ::getpid())).string();
    double t0 = now();
    write_model(path, layers, rows, cols);
    const double file_gb = static_cast<double>(std::filesystem::file_size(path)) / 1e9;
    fmt::print("model      {} layers of {} x {} float32, {:.2f} GB, written in {:.1f} s\n", layers, rows, cols, file_gb,
               now() - t0);
    const double rss_before = peak_rss_mib();
    const auto source = open_tensor_source(path);
    t0 = now();
    const AnalyzeReport report = analyze(*source, path, AnalyzeOptions{});
    const double t_fast = now() - t0;
    const double rss = peak_rss_mib();
    fmt::print("onsager    {:.2f} s for {} layers ({:.3f} s/layer, {} threads); peak RSS {:.0f} MiB (before {:.0f} MiB)\n",
               t_fast, layers, t_fast / static_cast<double>(layers), num_threads(), rss, rss_before);
    out["model"] = {{"layers", layers}, {"rows", rows}, {"cols", cols}, {"file_gb", file_gb}};
    out["onsager"] = {{"seconds", t_fast}, {"threads", num_threads()}, {"peak_rss_mib", rss}, {"rss_before_mib", rss_before}};

    if (baseline_layers > 0) {
      // Naive: one layer at a time, full double SVD, direct O(n²) fit.
      const std::size_t nb = std::min(baseline_layers, layers);
      double worst_alpha = 0;
      t0 = now();
      for (std::size_t l = 0; l < nb; ++l) {
        const auto& entry = source->tensors()[l];
        const std::vector<double> w = source->read(entry);
        const std::vector<double> e = bdcsvd_esd(w, rows, cols);
        const PowerLawFit f = fit_power_law_naive(above(e, 1e-5));
        worst_alpha = std::max(worst_alpha, std::abs(f.alpha - report.layers[l].powerlaw.alpha));
      }
      const double t_naive = (now() - t0) * static_cast<double>(layers) / static_cast<double>(nb);
      fmt::print("naive      {:.2f} s for {} layers{} (BDCSVD + O(n^2) fit, one layer at a time); speedup {:.1f}x; "
                 "max |alpha difference| {:.2e}\n",
                 t_naive, layers, nb < layers ? fmt::format(" (measured on {}, scaled)", nb) : "", t_fast > 0 ? t_naive / t_fast : 0,
                 worst_alpha);
      out["naive"] = {{"seconds", t_naive}, {"layers_measured", nb}, {"speedup", t_naive / t_fast},
                      {"max_alpha_difference", worst_alpha}};
    }
    if (!keep) std::filesystem::remove(path);

    if (!skip_extras) {
      // ESD accuracy: a matrix with known singular values spanning 4 decades (λ over 8).
      const std::size_t m = cols, n = rows;
      Rng rng(3);
      Eigen::MatrixXd g1(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(m)),
          g2(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(m));
      for (Eigen::Index i = 0; i < g1.size(); ++i) g1.data()[i] = rng.normal();
      for (Eigen::Index i = 0; i < g2.size(); ++i) g2.data()[i] = rng.normal();
      const Eigen::MatrixXd u = Eigen::HouseholderQR<Eigen::MatrixXd>(g1).householderQ() *
                                Eigen::MatrixXd::Identity(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(m));
      const Eigen::MatrixXd v = Eigen::HouseholderQR<Eigen::MatrixXd>(g2).householderQ();
      Eigen::VectorXd s(static_cast<Eigen::Index>(m));
      std::vector<double> truth(m);
      for (std::size_t i = 0; i < m; ++i) {
        s[static_cast<Eigen::Index>(i)] = std::pow(10.0, -2.0 + 4.0 * static_cast<double>(i) / static_cast<double>(m - 1));
        truth[i] = s[static_cast<Eigen::Index>(i)] * s[static_cast<Eigen::Index>(i)];
      }
      const MatrixD a = u * s.asDiagonal() * v.transpose();
      for (EsdMethod method : {EsdMethod::gram, EsdMethod::svd}) {
        t0 = now();
        const std::vector<double> e = esd(a, method);
        const double t = now() - t0;
        double abs_err = 0, rel_err_top = 0, rel_err_all = 0;
        for (std::size_t i = 0; i < m; ++i) {
          abs_err = std::max(abs_err, std::abs(e[i] - truth[i]) / truth.back());
          rel_err_all = std::max(rel_err_all, std::abs(e[i] - truth[i]) / truth[i]);
          if (truth[i] >= 1e-4 * truth.back()) rel_err_top = std::max(rel_err_top, std::abs(e[i] - truth[i]) / truth[i]);
        }
        fmt::print("esd {:<5}  {} x {}: {:.3f} s; max |err|/lambda_max {:.1e}; max rel err {:.1e} (lambda >= 1e-4 lambda_max), "
                   "{:.1e} (all, down to 1e-8 lambda_max)\n",
                   to_string(method), n, m, t, abs_err, rel_err_top, rel_err_all);
        out["esd_" + std::string(to_string(method))] = {{"seconds", t}, {"max_abs_err_over_lmax", abs_err},
                                                        {"max_rel_err_top4decades", rel_err_top}, {"max_rel_err_all", rel_err_all}};
      }
      // Fit: fast against direct on one ESD of the model's shape.
      std::vector<float> lf = make_layer(n, m, 7);
      const std::vector<double> ld(lf.begin(), lf.end());
      const std::vector<double> x = above(esd(ld, n, m), 1e-5);
      t0 = now();
      const PowerLawFit fast = fit_power_law(x);
      const double tf = now() - t0;
      t0 = now();
      const PowerLawFit slow = fit_power_law_naive(x);
      const double tn = now() - t0;
      fmt::print("fit        n = {}: fast {:.4f} s ({} KS terms, {:.1f} n log2 n), direct {:.3f} s; same xmin {}, |d alpha| {:.1e}\n",
                 x.size(), tf, fast.points_evaluated,
                 static_cast<double>(fast.points_evaluated) / (static_cast<double>(x.size()) * std::log2(static_cast<double>(x.size()))),
                 tn, fast.xmin_index == slow.xmin_index ? "yes" : "NO", std::abs(fast.alpha - slow.alpha));
      out["fit"] = {{"n", x.size()}, {"fast_seconds", tf}, {"direct_seconds", tn}, {"ks_terms", fast.points_evaluated},
                    {"same_xmin", fast.xmin_index == slow.xmin_index}, {"alpha_difference", std::abs(fast.alpha - slow.alpha)}};
    }
    if (!json_path.empty()) write_file_atomic(json_path, out.dump(2) + "\n");
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_analyze: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
