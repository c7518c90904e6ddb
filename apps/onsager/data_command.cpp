// onsager data info NAME|PATH: what a data set holds.

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "common.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/output.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/readers.hpp"
#include "onsager/physics/ising.hpp"

namespace onsager::cli {
namespace {

struct DataInfoArgs {
  std::string source;
  std::string split = "all";
  std::string data_dir;
  JsonOutput json;
};

nlohmann::json describe(const Dataset& d, std::string_view split) {
  std::map<int, long> counts;
  for (int y : d.labels) ++counts[y];
  nlohmann::json labels = nlohmann::json::object();
  for (const auto& [y, n] : counts) labels[std::to_string(y)] = n;
  nlohmann::json image = nullptr;
  if (d.height > 0) image = {d.height, d.width};
  return {{"name", d.name},
          {"source", d.source},
          {"split", split},
          {"samples", d.x.rows()},
          {"features", d.x.cols()},
          {"image_shape", image},
          {"raw_min", d.raw_min},
          {"raw_max", d.raw_max},
          {"scale", d.scale},
          {"min", d.x.size() ? d.x.minCoeff() : 0.0f},
          {"max", d.x.size() ? d.x.maxCoeff() : 0.0f},
          {"mean", d.x.size() ? d.x.cast<double>().mean() : 0.0},
          {"label_counts", d.labels.empty() ? nlohmann::json(nullptr) : labels}};
}

void run_info(const DataInfoArgs& a) {
  const Split split = parse_split(a.split);
  const auto locks = guard_outputs({{json_file(a.json), "--json"}}, {{data_file(a.source), "the data"}});
  const Dataset d = load_dataset(a.source, split, a.data_dir.empty() ? default_data_dir() : a.data_dir);
  const nlohmann::json j = describe(d, to_string(split));
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("data set   {} ({} split)\n", d.name, to_string(split));
  fmt::print("source     {}\n", d.source);
  fmt::print("samples    {}\n", d.x.rows());
  fmt::print("features   {}\n", d.x.cols());
  if (d.height > 0) fmt::print("image      {} x {}\n", d.height, d.width);
  if (d.scale == 1)
    fmt::print("values     {} .. {} in the file, already in [0, 1]; mean {:.4f}\n", d.raw_min, d.raw_max,
               j["mean"].get<double>());
  else
    fmt::print("values     {} .. {} in the file, scaled by 1/{} to [0, 1]; mean {:.4f}\n", d.raw_min, d.raw_max,
               d.scale, j["mean"].get<double>());
  if (!d.labels.empty()) {
    std::string line;
    for (const auto& [y, n] : j["label_counts"].items()) line += fmt::format("{}:{} ", y, n.get<long>());
    fmt::print("labels     {}\n", line);
  } else {
    fmt::print("labels     none\n");
  }
  emit_json(a.json, j);
}

}  // namespace

struct IsingArgs {
  IsingOptions options;
  std::string out;
  int threads = 0;
  bool quiet = false;
  JsonOutput json;
};

void run_data_ising(IsingArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(!a.out.empty(), "data ising: --out FILE.npy is required");
  a.options.validate();
  const auto locks = guard_outputs({{a.out, "--out"}, {json_file(a.json), "--json"}}, {});
  const IsingOptions& o = a.options;
  if (!a.quiet)
    fmt::print(stderr, "data ising: {} x {} lattice at T = {:g} (T_c = {:.6f}), {} samples, {} sweeps between, {} chains\n",
               o.L, o.L, o.temperature, ising_critical_temperature(), o.samples, o.sweeps_between, o.chains);
  const IsingSamples s = sample_ising_wolff(o);
  write_npy(a.out, s.spins, o.L, o.L);
  nlohmann::json j = to_json(s);
  j["out"] = a.out;
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  const double u = onsager_energy_per_spin(o.temperature), m = onsager_magnetization(o.temperature);
  fmt::print("samples          {} ({} x {} spins as 0/1, float32) in {}\n", s.spins.rows(), o.L, o.L, a.out);
  fmt::print("energy per spin  {:.5f} +- {:.5f}   (Onsager, infinite lattice: {:.5f})\n", s.mean_energy, s.mean_energy_err, u);
  fmt::print("|magnetization|  {:.5f} +- {:.5f}   (Onsager/Yang, infinite lattice: {:.5f})\n", s.mean_abs_magnetization,
             s.mean_abs_magnetization_err, m);
  fmt::print("Wolff clusters   {} flips, {:.1f} spins each on average\n", s.clusters, s.mean_cluster_size);
  if (std::abs(o.temperature - ising_critical_temperature()) < 0.1 * ising_critical_temperature())
    fmt::print("note             near T_c a finite lattice's values differ from the infinite lattice's: |m| ~ L^(-1/8) "
               "at T_c\n");
  emit_json(a.json, j);
}

void register_data_commands(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Inspect the data sets (digits, mnist, fashion-mnist, or a file), or draw 2-D Ising configurations");
  data->require_subcommand(1);
  auto args = std::make_shared<DataInfoArgs>();
  auto* info = data->add_subcommand(
      "info",
      "Print samples, features, image shape, value range and label counts.\n"
      "NAME is digits, mnist or fashion-mnist (installed by scripts/setup.sh);\n"
      "PATH is an IDX (.gz), CSV (.gz), .npy file or a directory of mnist JSON files.");
  info->add_option("source", args->source, "Data set name or path")->required()->type_name("NAME|PATH");
  info->add_option("--split", args->split, "train, validation, test, trainval or all")->capture_default_str();
  {
    auto ia = std::make_shared<IsingArgs>();
    IsingOptions& o = ia->options;
    auto* ising = data->add_subcommand(
        "ising",
        "Configurations of the 2-D ferromagnetic Ising model (J = 1, periodic L x L lattice) by the Wolff cluster\n"
        "algorithm, saved as a .npy of shape (samples, L, L) with spins as 0/1 that every data reader takes;\n"
        "prints the mean energy and |magnetization| per spin next to Onsager's exact infinite-lattice values.\n"
        "Example: onsager data ising --L 40 --T 2.269 --samples 1000 --out ising-tc.npy");
    ising->add_option("--L", o.L, "Lattice side")->capture_default_str();
    ising->add_option("--T", o.temperature, "Temperature (T_c = 2/ln(1+sqrt 2) = 2.269185)")->capture_default_str();
    ising->add_option("--samples", o.samples, "Configurations to keep")->capture_default_str();
    ising->add_option("--sweeps-between", o.sweeps_between,
                      "Wolff sweeps between kept samples (a sweep flips L^2 spins in clusters)")
        ->capture_default_str();
    ising->add_option("--burn-in", o.burn_in, "Sweeps before each chain's first sample")->capture_default_str();
    ising->add_option("--chains", o.chains, "Independent chains (run in parallel; same output for any --threads)")
        ->capture_default_str();
    ising->add_option("--seed", o.seed, "Random seed")->capture_default_str();
    add_threads_option(ising, ia->threads);
    ising->add_option("--out", ia->out, "The .npy file to write")->type_name("FILE.npy");
    add_quiet_flag(ising, ia->quiet);
    add_json_option(ising, ia->json);
    ising->callback([ia] { run_data_ising(*ia); });
  }
  add_data_dir_option(info, args->data_dir);
  add_json_option(info, args->json);
  info->callback([args] { run_info(*args); });
}

}  // namespace onsager::cli
