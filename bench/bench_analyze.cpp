// End-to-end benchmark of `onsager analyze` (docs/analyze.md). A model is written as safetensors (F32 or BF16,
// one file or sharded with a Hugging Face index; by a child process, so its buffers do not count), then
// analysed in a fresh child process per precision route (so each peak RSS is the analysis alone), against
// the naive baseline measured in the same run: one layer at a time, a full double SVD (Eigen's BDCSVD) and the
// direct O(n²) fit, as WeightWatcher does. Also measures the ESD routes' accuracy against known singular
// values and the fit's agreement and speed. Prints one line per measurement; --json FILE keeps the numbers.
//
//   build/bench/bench_analyze                                   # 24 layers of 4096 x 1024, rank-8 spikes
//   build/bench/bench_analyze --model 24x4096x1024,12x1024x1024 --weights student-t --precision auto,single,double
//   build/bench/bench_analyze --llama-blocks 2 --llama-embeddings --dtype bf16 --shards 3 --baseline-layers 0
//
// With --llama-blocks K the model is K transformer blocks of LLaMA-7B's shapes (q, k, v, o 4096 x 4096; gate,
// up 11008 x 4096; down 4096 x 11008), and the time for the whole model (32 blocks, plus the two 32000 x 4096
// embeddings when --llama-embeddings measured them) is extrapolated from the measured blocks.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>
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

struct LayerShape {
  std::string name;
  std::size_t rows = 0, cols = 0;
};

// "24x4096x1024,12x1024x1024": 24 layers of 4096 x 1024, then 12 of 1024 x 1024.
std::vector<LayerShape> parse_model(const std::string& spec) {
  std::vector<LayerShape> out;
  const std::regex group(R"((\d+)x(\d+)x(\d+))");
  std::size_t start = 0;
  while (start <= spec.size()) {
    const std::size_t end = std::min(spec.find(',', start), spec.size());
    const std::string g = spec.substr(start, end - start);
    std::smatch m;
    ONSAGER_CHECK(std::regex_match(g, m, group), "bench: --model: '{}' is not COUNTxROWSxCOLS", g);
    for (std::size_t k = 0, n = std::stoul(m[1]); k < n; ++k)
      out.push_back({fmt::format("layers.{}.weight", out.size()), std::stoul(m[2]), std::stoul(m[3])});
    start = end + 1;
  }
  return out;
}

std::vector<LayerShape> llama_model(std::size_t blocks, bool embeddings) {
  std::vector<LayerShape> out;
  if (embeddings) out.push_back({"model.embed_tokens.weight", 32000, 4096});
  for (std::size_t b = 0; b < blocks; ++b) {
    for (const char* p : {"q_proj", "k_proj", "v_proj", "o_proj"})
      out.push_back({fmt::format("model.layers.{}.self_attn.{}.weight", b, p), 4096, 4096});
    out.push_back({fmt::format("model.layers.{}.mlp.gate_proj.weight", b), 11008, 4096});
    out.push_back({fmt::format("model.layers.{}.mlp.up_proj.weight", b), 11008, 4096});
    out.push_back({fmt::format("model.layers.{}.mlp.down_proj.weight", b), 4096, 11008});
  }
  if (embeddings) out.push_back({"lm_head.weight", 32000, 4096});
  return out;
}

// A layer's weights. rank8: Gaussian noise plus a heavy-tailed rank-8 part (realistic tails); student-t:
// Student-t entries with 3 degrees of freedom (the WeightWatcher comparison's weights). Rows are filled in
// parallel, each from its own stream, so the weights do not depend on the thread count.
std::vector<float> make_layer(std::size_t rows, std::size_t cols, std::uint64_t seed, const std::string& kind) {
  std::vector<float> w(rows * cols);
  const double scale = 1.0 / std::sqrt(static_cast<double>(rows));
#pragma omp parallel for schedule(static) num_threads(num_threads())
  for (std::size_t i = 0; i < rows; ++i) {
    Rng rng(stream_seed(seed, i, 0));
    for (std::size_t j = 0; j < cols; ++j) {
      double x = rng.normal();
      if (kind == "student-t") {
        const double a = rng.normal(), b = rng.normal(), c = rng.normal();
        x /= std::sqrt((a * a + b * b + c * c) / 3.0);
      }
      w[i * cols + j] = static_cast<float>(x * scale);
    }
  }
  if (kind == "rank8") {
    Rng rng(seed);
    for (int k = 0; k < 8; ++k) {
      std::vector<double> u(rows), v(cols);
      for (auto& x : u) x = rng.normal() / std::sqrt(static_cast<double>(rows));
      for (auto& x : v) x = rng.normal() / std::sqrt(static_cast<double>(cols));
      const double s = 2.0 * std::pow(1.0 - rng.uniform(), -1.0 / 1.5);
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < cols; ++j) w[i * cols + j] += static_cast<float>(s * u[i] * v[j]);
    }
  }
  return w;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct ChildResult {
  std::string text;
  double peak_rss_mib = 0, cpu_seconds = 0;
};

// Runs `f` in a child process: what it returned, its peak RSS and its CPU time (user + system).
ChildResult in_child(const std::function<std::string()>& f) {
  int fds[2];
  ONSAGER_CHECK(::pipe(fds) == 0, "bench: pipe failed");
  std::fflush(stdout);
  const pid_t pid = fork();
  ONSAGER_CHECK(pid >= 0, "bench: fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    std::string out;
    try {
      out = f();
    } catch (const std::exception& e) {
      fmt::print(stderr, "bench: {}\n", e.what());
      code = 1;
    }
    for (std::size_t done = 0; done < out.size();) {
      const ssize_t n = ::write(fds[1], out.data() + done, out.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::close(fds[1]);
    _exit(code);
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  rusage u{};
  ::wait4(pid, &status, 0, &u);
  ONSAGER_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "bench: the child process failed");
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return {got, static_cast<double>(u.ru_maxrss) / 1024.0, seconds(u.ru_utime) + seconds(u.ru_stime)};
}

// Writes the model (one file, or `shards` files and model.safetensors.index.json in `dir`); returns the path to
// open. Each shard's weights are generated, written and freed before the next.
std::string write_model(const std::string& dir, const std::vector<LayerShape>& layers, const std::string& kind,
                        bool bf16, std::size_t shards) {
  std::filesystem::create_directories(dir);
  shards = std::max<std::size_t>(1, std::min(shards, layers.size()));
  in_child([&] {
    nlohmann::json map = nlohmann::json::object();
    for (std::size_t s = 0; s < shards; ++s) {
      const std::string file = shards == 1 ? "model.safetensors"
                                           : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, shards);
      std::vector<std::vector<float>> data;
      std::vector<TensorToWrite> t;
      const std::size_t first = s * layers.size() / shards, last = (s + 1) * layers.size() / shards;
      for (std::size_t l = first; l < last; ++l) data.push_back(make_layer(layers[l].rows, layers[l].cols, 1000 + l, kind));
      for (std::size_t l = first; l < last; ++l) {
        t.push_back({layers[l].name,
                     {static_cast<std::int64_t>(layers[l].rows), static_cast<std::int64_t>(layers[l].cols)},
                     data[l - first], {}, bf16});
        map[layers[l].name] = file;
      }
      write_safetensors((std::filesystem::path(dir) / file).string(), t);
    }
    if (shards > 1)
      write_file_atomic((std::filesystem::path(dir) / "model.safetensors.index.json").string(),
                        nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", map}}.dump());
    return std::string();
  });
  return shards == 1 ? (std::filesystem::path(dir) / "model.safetensors").string() : dir;
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
  CLI::App app{"onsager analyze benchmark: end to end against a full-SVD baseline, per precision route"};
  std::size_t layers = 24, rows = 4096, cols = 1024, baseline_layers = 24, llama_blocks = 0, shards = 1;
  std::string dir = "/tmp", json_path, model_spec, weights = "rank8", dtype = "f32", routes = "auto";
  int threads = 0;
  double ww_seconds = 0;
  bool keep = false, skip_extras = false, llama_embeddings = false;
  app.add_option("--layers", layers, "Layers of --rows x --cols (without --model)")->capture_default_str();
  app.add_option("--rows", rows)->capture_default_str();
  app.add_option("--cols", cols)->capture_default_str();
  app.add_option("--model", model_spec, "Layer shapes, COUNTxROWSxCOLS[,...] (e.g. 24x4096x1024,12x1024x1024)");
  app.add_option("--llama-blocks", llama_blocks, "K transformer blocks of LLaMA-7B's shapes instead")->capture_default_str();
  app.add_flag("--llama-embeddings", llama_embeddings, "With --llama-blocks: also the two 32000 x 4096 embeddings");
  app.add_option("--weights", weights, "rank8 (Gaussian + heavy-tailed rank-8 part) or student-t (3 d.o.f.)")
      ->check(CLI::IsMember({"rank8", "student-t"}))
      ->capture_default_str();
  app.add_option("--dtype", dtype, "Stored dtype: f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}))->capture_default_str();
  app.add_option("--shards", shards, "Files the model is split into (with a model.safetensors.index.json)")
      ->capture_default_str();
  app.add_option("--precision", routes, "Routes to time, comma-separated: auto, single, double")->capture_default_str();
  app.add_option("--ww-seconds", ww_seconds, "WeightWatcher's time on this model, measured elsewhere: prints the ratio");
  app.add_option("--baseline-layers", baseline_layers, "Layers the naive baseline analyses (0: none)")->capture_default_str();
  app.add_option("--dir", dir, "Where the model is written")->capture_default_str();
  app.add_option("--threads", threads, "Threads (0: all cores)")->capture_default_str();
  app.add_flag("--keep", keep, "Keep the model files");
  app.add_flag("--skip-extras", skip_extras, "Only the end-to-end run (no accuracy/fit sections)");
  app.add_option("--json", json_path, "Also write the numbers to FILE");
  CLI11_PARSE(app, argc, argv);
  try {
    set_num_threads(threads);
    nlohmann::json out;
    const std::vector<LayerShape> shapes = llama_blocks > 0  ? llama_model(llama_blocks, llama_embeddings)
                                           : !model_spec.empty() ? parse_model(model_spec)
                                                                 : parse_model(fmt::format("{}x{}x{}", layers, rows, cols));
    std::vector<EsdPrecision> precisions;
    for (std::size_t a = 0; a <= routes.size();) {
      const std::size_t b = std::min(routes.find(',', a), routes.size());
      precisions.push_back(esd_precision_from_string(routes.substr(a, b - a)));
      a = b + 1;
    }
    const std::string model_dir = (std::filesystem::path(dir) / fmt::format("bench_analyze_{}", ::getpid())).string();
    double t0 = now();
    const std::string path = write_model(model_dir, shapes, weights, dtype == "bf16", shards);
    std::uintmax_t bytes = 0;
    double params = 0;
    for (const auto& e : std::filesystem::directory_iterator(model_dir)) bytes += e.file_size();
    for (const auto& l : shapes) params += static_cast<double>(l.rows * l.cols);
    fmt::print("model      {} layers ({:.2f} B parameters, {} {}, {} weights), {} file{}, {:.2f} GB, written in {:.1f} s\n",
               shapes.size(), params / 1e9, dtype, llama_blocks ? fmt::format("{} LLaMA-7B blocks", llama_blocks) : model_spec,
               weights, std::max<std::size_t>(1, std::min(shards, shapes.size())), shards > 1 ? "s + index" : "",
               static_cast<double>(bytes) / 1e9, now() - t0);
    out["model"] = {{"layers", shapes.size()}, {"parameters", params}, {"dtype", dtype}, {"weights", weights},
                    {"bytes", bytes}, {"llama_blocks", llama_blocks}, {"llama_embeddings", llama_embeddings}};

    // Each route in its own process: its time and its peak resident memory alone.
    double t_auto = 0;
    for (EsdPrecision p : precisions) {
      const auto [text, rss, cpu_all] = in_child([&] {
        const auto source = open_tensor_source(path);
        AnalyzeOptions o;
        o.precision = p;
        nlohmann::json j;
        // The transformer blocks and the embeddings are timed apart, for the extrapolation.
        if (llama_blocks > 0 && llama_embeddings) o.selection.regex = R"(^model\.layers\.)";
        double c0 = cpu_seconds(), start = now();
        const AnalyzeReport r = analyze(*source, path, o);
        j["seconds"] = now() - start;
        j["cpu_seconds"] = cpu_seconds() - c0;
        if (llama_blocks > 0 && llama_embeddings) {
          o.selection.regex = "embed_tokens|lm_head";
          c0 = cpu_seconds(), start = now();
          (void)analyze(*source, path, o);
          j["embedding_seconds"] = now() - start;
          j["embedding_cpu_seconds"] = cpu_seconds() - c0;
        }
        j["report"] = to_json(r, true);
        return j.dump();
      });
      const nlohmann::json j = nlohmann::json::parse(text);
      const double te = j.value("embedding_seconds", 0.0), t = j["seconds"].get<double>() + te;
      const double cpu = j["cpu_seconds"].get<double>();
      std::size_t single = 0;
      for (const auto& l : j["report"]["layers"]) single += l["esd_precision"] == "single";
      fmt::print("onsager    --precision {:<6} {:.2f} s for {} layers ({:.3f} s/layer, {} threads; {} layers kept in single); "
                 "peak RSS {:.0f} MiB\n",
                 to_string(p), t, shapes.size(), t / static_cast<double>(shapes.size()), num_threads(), single, rss);
      nlohmann::json entry = {{"seconds", t},        {"cpu_seconds", cpu_all},  {"threads", num_threads()},
                              {"peak_rss_mib", rss}, {"layers_single", single}};
      if (ww_seconds > 0) {
        fmt::print("           {:.1f}x WeightWatcher's {:.1f} s (measured elsewhere, not in this run)\n", ww_seconds / t,
                   ww_seconds);
        entry["weightwatcher_ratio"] = ww_seconds / t;
      }
      if (llama_blocks > 0) {
        const double k = static_cast<double>(llama_blocks), tb = t - te;
        const double whole = tb * 32.0 / k + te;
        // With many blocks the threads stay busy to the end; a few blocks leave one idle at the last layer.
        const double busy = cpu / num_threads() * 32.0 / k + te;
        fmt::print("           LLaMA-7B extrapolated: {:.1f} s per block x 32{} = {:.1f} min for the whole model "
                   "({:.1f} min from the blocks' CPU time with all {} threads busy)\n",
                   tb / k, llama_embeddings ? fmt::format(" + {:.1f} s embeddings", te) : " (embeddings not measured)",
                   whole / 60, busy / 60, num_threads());
        entry["llama7b_extrapolated_seconds"] = whole;
        entry["llama7b_extrapolated_busy_seconds"] = busy;
        entry["embedding_seconds"] = te;
      }
      out["onsager_" + std::string(to_string(p))] = entry;
      if (p == EsdPrecision::automatic) t_auto = t;
      out["reports"][std::string(to_string(p))] = j["report"];
    }
    // Agreement of each route with the double route, where both ran.
    if (out["reports"].contains("double"))
      for (const auto& [name, r] : out["reports"].items()) {
        if (name == "double") continue;
        double worst_alpha = 0, worst_lmax = 0;
        std::size_t xmin_moved = 0, rank_changed = 0, phase_changed = 0;
        const auto& d = out["reports"]["double"]["layers"];
        for (std::size_t k = 0; k < d.size(); ++k) {
          const auto &a = r["layers"][k], &b = d[k];
          if (!a["alpha"].is_null() && !b["alpha"].is_null())
            worst_alpha = std::max(worst_alpha, std::abs(a["alpha"].get<double>() / b["alpha"].get<double>() - 1));
          worst_lmax = std::max(worst_lmax, std::abs(a["lambda_max"].get<double>() / b["lambda_max"].get<double>() - 1));
          xmin_moved += a["num_pl_spikes"] != b["num_pl_spikes"];
          rank_changed += a["matrix_rank"] != b["matrix_rank"];
          phase_changed += a["phase"] != b["phase"];
        }
        fmt::print("accuracy   {} vs double: max |alpha/alpha_double - 1| {:.1e}, max |lambda_max ratio - 1| {:.1e}; "
                   "layers with another xmin {}, another matrix_rank {}, another phase {}\n",
                   name, worst_alpha, worst_lmax, xmin_moved, rank_changed, phase_changed);
        out["agreement_" + name] = {{"max_alpha_rel", worst_alpha}, {"max_lambda_max_rel", worst_lmax}, {"xmin_moved", xmin_moved},
                                         {"rank_changed", rank_changed}, {"phase_changed", phase_changed}};
      }

    if (baseline_layers > 0) {
      // Naive: one layer at a time, full double SVD, direct O(n²) fit (in this process, after every child).
      const auto source = open_tensor_source(path);
      const std::size_t nb = std::min(baseline_layers, shapes.size());
      double cost_measured = 0, cost_all = 0;
      for (std::size_t l = 0; l < shapes.size(); ++l) {
        const double c = static_cast<double>(shapes[l].rows) * static_cast<double>(shapes[l].cols) *
                         static_cast<double>(std::min(shapes[l].rows, shapes[l].cols));
        cost_all += c;
        if (l < nb) cost_measured += c;
      }
      t0 = now();
      for (std::size_t l = 0; l < nb; ++l) {
        const auto& entry = source->tensors()[l];
        const std::vector<double> w = source->read(entry);
        const std::vector<double> e = bdcsvd_esd(w, shapes[l].rows, shapes[l].cols);
        (void)fit_power_law_naive(above(e, 1e-5));
      }
      const double t_naive = (now() - t0) * cost_all / cost_measured;
      fmt::print("naive      {:.2f} s for {} layers{} (BDCSVD + O(n^2) fit, one layer at a time); {:.1f}x the auto route\n",
                 t_naive, shapes.size(), nb < shapes.size() ? fmt::format(" (measured on {}, scaled by N M^2)", nb) : "",
                 t_auto > 0 ? t_naive / t_auto : 0);
      out["naive"] = {{"seconds", t_naive}, {"layers_measured", nb}, {"speedup_auto", t_auto > 0 ? t_naive / t_auto : 0}};
    }
    if (!keep) std::filesystem::remove_all(model_dir);
    out.erase("reports");

    if (!skip_extras) {
      // ESD accuracy: a matrix with known singular values spanning 4 decades (λ over 8).
      const std::size_t n = 4096, m = 1024;  // the shape docs/analyze.md reports
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
      std::vector<float> lf = make_layer(n, m, 7, weights);
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
