// MLP model files (safetensors with PyTorch's names) and the rows an MLP run reads (nn/mlp_file.hpp).

#include "onsager/nn/mlp_file.hpp"

#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "onsager/core/error.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/io/safetensors.hpp"

namespace onsager {
namespace {

std::span<const float> span_of(const MatrixF& m) { return {m.data(), static_cast<std::size_t>(m.size())}; }
std::span<const float> span_of(const VectorF& v) { return {v.data(), static_cast<std::size_t>(v.size())}; }

std::vector<float> read_exact(const SafetensorsFile& f, const std::string& path, const std::string& name,
                              const std::vector<std::int64_t>& shape) {
  const TensorInfo* t = f.find(name);
  ONSAGER_CHECK(t != nullptr, "{}: no tensor '{}' (the file is not a complete onsager MLP model)", path, name);
  ONSAGER_CHECK(t->shape == shape, "{}: tensor '{}' has shape [{}], expected [{}]", path, name, fmt::join(t->shape, ", "),
                fmt::join(shape, ", "));
  return f.read_f32(name);
}

nlohmann::json parse_entry(const std::map<std::string, std::string>& meta, const std::string& path, const char* key) {
  const auto it = meta.find(key);
  ONSAGER_CHECK(it != meta.end(), "{}: the metadata has no '{}' entry (not an onsager MLP model file?)", path, key);
  try {
    return nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception&) {
    ONSAGER_FAIL("{}: the metadata entry '{}' is not valid JSON", path, key);
  }
}

}  // namespace

nlohmann::json to_json(const MlpDataSpec& d) {
  return {{"source", d.source},   {"split", d.split},   {"test_split", d.test_split},
          {"subset", d.subset},   {"label_noise", d.label_noise}};
}

MlpDataSpec mlp_data_spec_from_json(const nlohmann::json& j) {
  MlpDataSpec d;
  try {
    d.source = j.at("source").get<std::string>();
    d.split = j.at("split").get<std::string>();
    d.test_split = j.at("test_split").get<std::string>();
    d.subset = j.at("subset").get<std::size_t>();
    d.label_noise = j.at("label_noise").get<double>();
  } catch (const nlohmann::json::exception& e) {
    ONSAGER_FAIL("mlp_data_spec_from_json: the data record is incomplete or malformed ({})", e.what());
  }
  return d;
}

MlpData load_mlp_data(const MlpDataSpec& spec, int inputs, int classes, std::uint64_t seed) {
  ONSAGER_CHECK(!spec.source.empty(), "load_mlp_data: spec.source is empty (a data set name or a file)");
  ONSAGER_CHECK(spec.label_noise >= 0 && spec.label_noise <= 1, "load_mlp_data: spec.label_noise must be in [0, 1] (got {})",
                spec.label_noise);
  const std::string dir = spec.data_dir.empty() ? default_data_dir() : spec.data_dir;
  const Split split = parse_split(spec.split);
  MlpData d;
  d.train = load_dataset(spec.source, split, dir);
  ONSAGER_CHECK(!d.train.labels.empty(), "load_mlp_data: {} has no labels; an MLP trains on labelled rows",
                d.train.source);
  if (spec.subset > 0) {
    ONSAGER_CHECK(spec.subset <= static_cast<std::size_t>(d.train.x.rows()),
                  "load_mlp_data: spec.subset ({}) exceeds the {} rows of {} {}", spec.subset, d.train.x.rows(),
                  spec.source, spec.split);
    d.train = take_rows(d.train, random_subset(static_cast<std::size_t>(d.train.x.rows()), spec.subset, seed));
  }
  if (spec.test_split != "none") {
    ONSAGER_CHECK(is_dataset_name(spec.source),
                  "load_mlp_data: spec.test_split '{}' needs a named data set; {} is a file (use none)", spec.test_split,
                  spec.source);
    const Split ts = parse_split(spec.test_split);
    ONSAGER_CHECK(!splits_overlap(spec.source, split, ts),
                  "load_mlp_data: spec.split '{}' and spec.test_split '{}' share rows of {}", spec.split, spec.test_split,
                  spec.source);
    d.test = load_dataset(spec.source, ts, dir);
  }
  for (const Dataset* s : {&d.train, &d.test}) {
    if (s->x.rows() == 0 && s == &d.test) continue;
    ONSAGER_CHECK(s->x.cols() == inputs, "load_mlp_data: {} has {} columns, the network {} inputs", s->source,
                  s->x.cols(), inputs);
    for (int y : s->labels)
      ONSAGER_CHECK(y >= 0 && y < classes, "load_mlp_data: {} has label {}, outside the network's {} classes", s->source,
                    y, classes);
  }
  if (spec.label_noise > 0) {
    const std::vector<int> noisy = randomize_labels(d.train.labels, spec.label_noise, classes, seed);
    for (std::size_t i = 0; i < noisy.size(); ++i) d.noisy_labels += noisy[i] != d.train.labels[i];
    d.train.labels = noisy;
  }
  return d;
}

void save_mlp_model(const std::string& path, const MlpState& state, const MlpConfig& config, const MlpDataSpec& data,
                    std::string_view outcome) {
  const Mlp& m = state.model;
  const std::size_t L = static_cast<std::size_t>(m.num_layers());
  std::vector<std::string> names;
  names.reserve(6 * L);
  std::vector<TensorToWrite> tensors;
  auto add = [&](std::string name, std::vector<std::int64_t> shape, std::span<const float> values) {
    names.push_back(std::move(name));
    tensors.push_back({names.back(), std::move(shape), values, {}});
  };
  for (std::size_t l = 0; l < L; ++l) {
    const std::int64_t out = m.weights[l].rows(), in = m.weights[l].cols();
    add(fmt::format("layers.{}.weight", l), {out, in}, span_of(m.weights[l]));
    add(fmt::format("layers.{}.bias", l), {out}, span_of(m.biases[l]));
  }
  const bool buffers = state.weight_m.size() == L && state.bias_m.size() == L;
  for (std::size_t l = 0; buffers && l < L; ++l) {
    const std::int64_t out = m.weights[l].rows(), in = m.weights[l].cols();
    add(fmt::format("train_state.layers.{}.weight_m", l), {out, in}, span_of(state.weight_m[l]));
    add(fmt::format("train_state.layers.{}.bias_m", l), {out}, span_of(state.bias_m[l]));
    if (state.weight_v.size() == L && state.bias_v.size() == L) {
      add(fmt::format("train_state.layers.{}.weight_v", l), {out, in}, span_of(state.weight_v[l]));
      add(fmt::format("train_state.layers.{}.bias_v", l), {out}, span_of(state.bias_v[l]));
    }
  }
  nlohmann::json history = nlohmann::json::array();
  for (const auto& e : state.history) history.push_back(to_json(e));
  nlohmann::json train_state = {{"steps", state.steps},
                                {"epochs_without_improvement", state.epochs_without_improvement},
                                {"best_loss", std::isfinite(state.best_loss) ? nlohmann::json(state.best_loss)
                                                                             : nlohmann::json(nullptr)}};
  const std::map<std::string, std::string> meta{
      {"format", kMlpFormat},
      {"architecture", arch_string(m.arch())},
      {"activation", std::string(to_string(m.activation))},
      {"settings", to_json(config).dump()},
      {"data", to_json(data).dump()},
      {"epochs_done", std::to_string(state.epochs_done)},
      {"history", history.dump()},
      {"train_state", train_state.dump()},
      {"outcome", std::string(outcome)},
  };
  write_safetensors(path, tensors, meta);
}

MlpModelFile load_mlp_model(const std::string& path) {
  SafetensorsFile f(path);
  const auto& meta = f.metadata();
  const auto fmt_it = meta.find("format");
  ONSAGER_CHECK(fmt_it != meta.end() && fmt_it->second == kMlpFormat,
                "{}: not an onsager MLP model file (its metadata 'format' is '{}', expected '{}')", path,
                fmt_it == meta.end() ? std::string() : fmt_it->second, kMlpFormat);
  MlpModelFile r;
  try {
    r.config = mlp_config_from_json(parse_entry(meta, path, "settings"));
  } catch (const Error& e) {
    ONSAGER_FAIL("{}: {}", path, e.what());
  }
  const std::vector<int>& arch = r.config.arch;
  Mlp& m = r.state.model;
  m.activation = r.config.activation;
  for (std::size_t l = 0; l + 1 < arch.size(); ++l) {
    const std::int64_t in = arch[l], out = arch[l + 1];
    const auto w = read_exact(f, path, fmt::format("layers.{}.weight", l), {out, in});
    const auto b = read_exact(f, path, fmt::format("layers.{}.bias", l), {out});
    m.weights.push_back(Eigen::Map<const MatrixF>(w.data(), out, in));
    m.biases.push_back(Eigen::Map<const VectorF>(b.data(), out));
  }
  ONSAGER_CHECK(f.find(fmt::format("layers.{}.weight", arch.size() - 1)) == nullptr,
                "{}: holds more layers than its settings' architecture {}", path, arch_string(arch));
  for (std::size_t l = 0; l < m.weights.size(); ++l)
    ONSAGER_CHECK(m.weights[l].allFinite() && m.biases[l].allFinite(), "{}: layer {} holds NaN or Inf", path, l);
  r.has_train_state = f.find("train_state.layers.0.weight_m") != nullptr;
  const bool adam = r.config.optimizer == MlpOptimizer::adam;
  for (std::size_t l = 0; l < m.weights.size(); ++l) {
    const std::int64_t out = m.weights[l].rows(), in = m.weights[l].cols();
    auto load_matrix = [&](const std::string& name, std::vector<MatrixF>& dst) {
      if (!r.has_train_state) return dst.push_back(MatrixF::Zero(out, in));
      const auto v = read_exact(f, path, name, {out, in});
      dst.push_back(Eigen::Map<const MatrixF>(v.data(), out, in));
    };
    auto load_vector = [&](const std::string& name, std::vector<VectorF>& dst) {
      if (!r.has_train_state) return dst.push_back(VectorF::Zero(out));
      const auto v = read_exact(f, path, name, {out});
      dst.push_back(Eigen::Map<const VectorF>(v.data(), out));
    };
    load_matrix(fmt::format("train_state.layers.{}.weight_m", l), r.state.weight_m);
    load_vector(fmt::format("train_state.layers.{}.bias_m", l), r.state.bias_m);
    if (adam) {
      load_matrix(fmt::format("train_state.layers.{}.weight_v", l), r.state.weight_v);
      load_vector(fmt::format("train_state.layers.{}.bias_v", l), r.state.bias_v);
    }
  }
  try {
    const nlohmann::json ts = parse_entry(meta, path, "train_state");
    r.state.steps = ts.at("steps").get<std::int64_t>();
    r.state.epochs_without_improvement = ts.at("epochs_without_improvement").get<int>();
    if (!ts.at("best_loss").is_null()) r.state.best_loss = ts.at("best_loss").get<double>();
    ONSAGER_CHECK(meta.count("epochs_done"), "the metadata has no 'epochs_done' entry");
    r.state.epochs_done = std::stoi(meta.at("epochs_done"));
    for (const auto& e : parse_entry(meta, path, "history")) r.state.history.push_back(mlp_epoch_stats_from_json(e));
    if (meta.count("data")) r.data = mlp_data_spec_from_json(parse_entry(meta, path, "data"));
    if (meta.count("outcome")) r.outcome = meta.at("outcome");
  } catch (const nlohmann::json::exception& e) {
    ONSAGER_FAIL("{}: the training record is malformed ({})", path, e.what());
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(path, 0) == 0) throw;
    ONSAGER_FAIL("{}: {}", path, what);
  } catch (const std::logic_error&) {
    ONSAGER_FAIL("{}: the metadata entry 'epochs_done' is not a number", path);
  }
  ONSAGER_CHECK(r.state.epochs_done >= 0 && static_cast<std::size_t>(r.state.epochs_done) == r.state.history.size(),
                "{}: records {} epochs done but a history of {}", path, r.state.epochs_done, r.state.history.size());
  return r;
}

}  // namespace onsager
