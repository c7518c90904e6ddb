// onsager data info NAME|PATH: what a data set holds.

#include <map>

#include <fmt/format.h>

#include "common.hpp"
#include "options.hpp"
#include "onsager/data/dataset.hpp"

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

void register_data_commands(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Inspect the data sets (digits, mnist, fashion-mnist, or a file)");
  data->require_subcommand(1);
  auto args = std::make_shared<DataInfoArgs>();
  auto* info = data->add_subcommand(
      "info",
      "Print samples, features, image shape, value range and label counts.\n"
      "NAME is digits, mnist or fashion-mnist (installed by scripts/setup.sh);\n"
      "PATH is an IDX (.gz), CSV (.gz), .npy file or a directory of mnist JSON files.");
  info->add_option("source", args->source, "Data set name or path")->required()->type_name("NAME|PATH");
  info->add_option("--split", args->split, "train, validation, test, trainval or all")->capture_default_str();
  add_data_dir_option(info, args->data_dir);
  add_json_option(info, args->json);
  info->callback([args] { run_info(*args); });
}

}  // namespace onsager::cli
