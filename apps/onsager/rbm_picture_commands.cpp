// onsager rbm sample / rbm filters: pictures of what a model has learned.

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <regex>

#include <fmt/format.h>

#include "common.hpp"
#include "options.hpp"
#include "onsager/rbm/sampling.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/core/random.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/plot/image_grid.hpp"
#include "onsager/rbm/model_file.hpp"
#include "rbm_commands.hpp"

namespace onsager::cli {
namespace {

std::pair<int, int> parse_shape(const std::string& s) {
  if (s.empty()) return {0, 0};
  std::smatch m;
  static const std::regex re(R"((\d{1,5})x(\d{1,5}))");
  ONSAGER_CHECK(std::regex_match(s, m, re), "--shape must look like HxW, e.g. 28x28 (got '{}')", s);
  const int h = std::stoi(m[1]), w = std::stoi(m[2]);
  ONSAGER_CHECK(h >= 1 && w >= 1, "--shape {}: both sides must be at least 1", s);
  return {h, w};
}

// The tile shape: --shape, else the image shape recorded in the model, else a square.
std::pair<int, int> tile_shape(const RbmModel& m, const std::string& shape) {
  std::pair<int, int> hint = parse_shape(shape);
  if (hint.first == 0 && m.data_info.is_object()) {
    const auto it = m.data_info.find("image_shape");
    if (it != m.data_info.end() && it->is_array() && it->size() == 2)
      hint = {(*it)[0].get<int>(), (*it)[1].get<int>()};
  }
  return image_shape_for(m.state.rbm.num_visible(), hint);
}

struct SampleArgs {
  std::string model, png, from = "noise", data, split = "test", shape, show = "probabilities", binarize, data_dir;
  int n = 64, steps = 1000, columns = 0, zoom = 2, threads = 0;
  std::uint64_t seed = 0;
  bool quiet = false;
  JsonOutput json;
};

void run_sample(const SampleArgs& a) {
  set_num_threads(a.threads);
  ONSAGER_CHECK(a.show == "probabilities" || a.show == "states",
                "rbm sample: --show must be probabilities or states (got '{}')", a.show);
  ONSAGER_CHECK(a.from == "noise" || a.from == "data", "rbm sample: --from must be noise or data (got '{}')", a.from);
  const auto locks = guard_outputs({{a.png, "--png"}, {json_file(a.json), "--json"}}, {{a.model, "the model"}});
  const RbmModel m = load_rbm_model(a.model);
  const Rbm& rbm = m.state.rbm;
  const auto [h, w] = tile_shape(m, a.shape);
  MatrixF start;
  if (a.from == "data")
    start = model_data(m, a.data, a.binarize, a.data_dir, "rbm sample --from data").load(a.split, rbm, "rbm sample").x;
  const SampleResult r = sample_rbm(rbm, start, {.n = a.n, .steps = a.steps, .seed = a.seed, .progress = !a.quiet});
  // A Gaussian model's values are real: the picture clips them to [0, 1], the range of pixel data.
  const MatrixF shown = rbm.gaussian() ? MatrixF((a.show == "probabilities" ? r.probabilities : r.states).cwiseMax(0.0f).cwiseMin(1.0f))
                                       : (a.show == "probabilities" ? r.probabilities : r.states);
  ImageGridOptions opt;
  opt.height = h;
  opt.width = w;
  opt.columns = a.columns;
  opt.zoom = a.zoom;
  write_image_grid_png(a.png, shown, opt);
  const nlohmann::json j = {{"model", a.model}, {"png", a.png},       {"n", a.n},
                            {"steps", a.steps}, {"from", a.from},     {"seed", a.seed},
                            {"mean_free_energy", r.mean_free_energy}, {"mean_pixel", shown.cast<double>().mean()}};
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("wrote {}: {} samples after {} Gibbs steps from {} ({}x{} tiles{}); mean F = {:.2f}\n", a.png, a.n,
             a.steps, a.from, h, w, rbm.gaussian() ? ", Gaussian values clipped to [0, 1]" : "", r.mean_free_energy);
  emit_json(a.json, j);
}

struct FiltersArgs {
  std::string model, png, shape, order = "norm";
  int n = 100, columns = 0, zoom = 2;
  JsonOutput json;
};

void run_filters(const FiltersArgs& a) {
  const auto locks = guard_outputs({{a.png, "--png"}, {json_file(a.json), "--json"}}, {{a.model, "the model"}});
  const RbmModel m = load_rbm_model(a.model);
  const Rbm& rbm = m.state.rbm;
  const auto [h, w] = tile_shape(m, a.shape);
  const MatrixF tiles = filter_tiles(rbm, a.n, parse_filter_order(a.order));
  const auto n = tiles.rows();
  ImageGridOptions opt;
  opt.height = h;
  opt.width = w;
  opt.columns = a.columns;
  opt.zoom = a.zoom;
  opt.scale = TileScale::per_tile;
  write_image_grid_png(a.png, tiles, opt);
  const nlohmann::json j = {{"model", a.model}, {"png", a.png}, {"filters", n}, {"order", a.order}};
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("wrote {}: {} of {} filters ({}x{} tiles, each stretched to its own range, ordered by {})\n", a.png, n,
             rbm.num_hidden(), h, w, a.order);
  emit_json(a.json, j);
}

}  // namespace

void register_rbm_pictures(CLI::App& rbm) {
  auto s = std::make_shared<SampleArgs>();
  auto* sample = rbm.add_subcommand(
      "sample",
      "Run block Gibbs chains and draw the samples as a PNG grid.\n"
      "Example: onsager rbm sample rbm.safetensors --n 64 --steps 1000 --png samples.png");
  sample->add_option("model", s->model, "Model file (.safetensors)")->required()->type_name("MODEL");
  sample->add_option("--png", s->png, "PNG file to write")->required()->type_name("FILE");
  sample->add_option("--n", s->n, "Chains (tiles)")->capture_default_str();
  sample->add_option("--steps", s->steps, "Gibbs steps (v -> h -> v)")->capture_default_str();
  sample->add_option("--from", s->from, "Start from noise or from data")->capture_default_str();
  add_data_flags(sample, s->data, s->split, s->binarize, s->data_dir, true, "Split for --from data");
  sample->add_option("--show", s->show,
                     "probabilities (p(v|h) after the last step; a Gaussian model's means E[v|h]) or states")
      ->capture_default_str();
  sample->add_option("--shape", s->shape, "Tile shape HxW (default: the model's image shape)");
  sample->add_option("--columns", s->columns, "Tiles per row (0: about square)")->capture_default_str();
  sample->add_option("--zoom", s->zoom, "Pixels per value")->capture_default_str();
  sample->add_option("--seed", s->seed, "Random seed")->capture_default_str();
  add_threads_option(sample, s->threads);
  add_quiet_flag(sample, s->quiet);
  add_json_option(sample, s->json);
  sample->callback([s] { run_sample(*s); });

  auto f = std::make_shared<FiltersArgs>();
  auto* filters = rbm.add_subcommand(
      "filters",
      "Draw each hidden unit's weights as an image tile (a PNG grid).\n"
      "Example: onsager rbm filters rbm.safetensors --n 100 --png filters.png");
  filters->add_option("model", f->model, "Model file (.safetensors)")->required()->type_name("MODEL");
  filters->add_option("--png", f->png, "PNG file to write")->required()->type_name("FILE");
  filters->add_option("--n", f->n, "Filters to draw")->capture_default_str();
  filters->add_option("--order", f->order, "norm (largest first) or index")->capture_default_str();
  filters->add_option("--shape", f->shape, "Tile shape HxW (default: the model's image shape)");
  filters->add_option("--columns", f->columns, "Tiles per row (0: about square)")->capture_default_str();
  filters->add_option("--zoom", f->zoom, "Pixels per value")->capture_default_str();
  add_json_option(filters, f->json);
  filters->callback([f] { run_filters(*f); });
}

}  // namespace onsager::cli
