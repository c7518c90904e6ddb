// Deep belief networks: greedy training, files and the two-layer variational bound (rbm/dbn.hpp).

#include "onsager/rbm/dbn.hpp"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model_file_internal.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/core/random.hpp"
#include "onsager/io/safetensors.hpp"

namespace onsager {
namespace {

constexpr std::uint64_t kTagPropagate = 0xdb17'01, kTagBound = 0xdb17'02;

}  // namespace

std::string_view to_string(DbnPropagation p) { return p == DbnPropagation::probabilities ? "probabilities" : "samples"; }

DbnPropagation parse_dbn_propagation(std::string_view s) {
  if (s == "probabilities") return DbnPropagation::probabilities;
  if (s == "samples") return DbnPropagation::samples;
  ONSAGER_FAIL("parse_dbn_propagation: propagation must be probabilities or samples (got '{}')", s);
}

void Dbn::validate(const char* where) const {
  ONSAGER_CHECK(!layers.empty(), "{}: the DBN has no layers", where);
  for (std::size_t l = 0; l < layers.size(); ++l) {
    layers[l].validate(where);
    layers[l].require_bernoulli(where);
    if (l > 0)
      ONSAGER_CHECK(layers[l].num_visible() == layers[l - 1].num_hidden(),
                    "{}: layer {} has {} visible units but layer {} has {} hidden units", where, l,
                    layers[l].num_visible(), l - 1, layers[l - 1].num_hidden());
  }
}

std::vector<int> Dbn::widths() const {
  std::vector<int> w;
  if (layers.empty()) return w;
  w.push_back(static_cast<int>(layers[0].num_visible()));
  for (const Rbm& r : layers) w.push_back(static_cast<int>(r.num_hidden()));
  return w;
}

MatrixF Dbn::up(const ConstMatrixFRef& x, int upto) const {
  ONSAGER_CHECK(upto >= 0 && upto < static_cast<int>(layers.size()), "Dbn::up: layer {} is outside 0..{}", upto,
                layers.size() - 1);
  ONSAGER_CHECK(x.cols() == layers[0].num_visible(), "Dbn::up: the rows have {} columns, the DBN {} visible units",
                x.cols(), layers[0].num_visible());
  MatrixF h = layers[0].hidden_probs(x);
  for (int l = 1; l <= upto; ++l) h = layers[static_cast<std::size_t>(l)].hidden_probs(h);
  return h;
}

void DbnConfig::validate() const {
  ONSAGER_CHECK(!layers.empty(), "DbnConfig::validate: config.layers is empty");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    try {
      layers[l].validate();
    } catch (const Error& e) {
      ONSAGER_FAIL("DbnConfig::validate: layer {}: {}", l, e.what());
    }
    ONSAGER_CHECK(layers[l].visible == VisibleType::bernoulli,
                  "DbnConfig::validate: layer {}: config.visible must be bernoulli (DBN layers are Bernoulli RBMs)", l);
  }
}

MatrixF dbn_layer_input(const Dbn& dbn, const ConstMatrixFRef& x, int layer, DbnPropagation propagation,
                        std::uint64_t seed) {
  if (layer == 0) return x;
  MatrixF h = dbn.up(x, layer - 1);
  if (propagation == DbnPropagation::samples) {
    // One Bernoulli draw per unit, keyed by (seed, row): the same rows for any thread count.
    for (Eigen::Index r = 0; r < h.rows(); ++r) {
      const std::uint64_t key = stream_seed(seed, kTagPropagate, static_cast<std::uint64_t>(r));
      for (Eigen::Index j = 0; j < h.cols(); ++j)
        h(r, j) = counter_uniform(key, static_cast<std::uint32_t>(j)) < h(r, j) ? 1.0f : 0.0f;
    }
  }
  return h;
}

TrainOutcome train_dbn(DbnState& state, const ConstMatrixFRef& data, const DbnConfig& config,
                       const DbnEpochCallback& on_epoch) {
  config.validate();
  ONSAGER_CHECK(state.dbn.layers.size() <= config.layers.size(),
                "train_dbn: the state has {} layers, the config {}", state.dbn.layers.size(), config.layers.size());
  for (std::size_t l = 0; l < state.dbn.layers.size(); ++l)
    ONSAGER_CHECK(state.dbn.layers[l].num_hidden() == config.layers[l].hidden,
                  "train_dbn: layer {} has {} hidden units, its config {}", l, state.dbn.layers[l].num_hidden(),
                  config.layers[l].hidden);
  while (state.dbn.layers.size() < config.layers.size()) {
    const int l = static_cast<int>(state.dbn.layers.size());
    const TrainConfig& c = config.layers[static_cast<std::size_t>(l)];
    const MatrixF input = dbn_layer_input(state.dbn, data, l, config.propagation, c.seed);
    if (!state.current) state.current = init_training(input, c);
    ONSAGER_CHECK(state.current->rbm.num_visible() == input.cols() && state.current->rbm.num_hidden() == c.hidden,
                  "train_dbn: the layer in training is {} x {}, expected {} x {}", state.current->rbm.num_visible(),
                  state.current->rbm.num_hidden(), input.cols(), c.hidden);
    TrainOptions o;
    o.progress = false;
    if (on_epoch) o.on_epoch = [&](const TrainState& s, const EpochStats& e) { return on_epoch(l, s, e); };
    const TrainOutcome out = train(*state.current, input, c, o);
    if (out != TrainOutcome::finished || state.current->epochs_done < c.epochs) return out;
    state.dbn.layers.push_back(state.current->rbm);
    state.history.push_back(state.current->history);
    state.current.reset();
  }
  return TrainOutcome::finished;
}

void save_dbn_model(const std::string& path, const DbnState& state, const DbnConfig& config,
                    const nlohmann::json& data_info) {
  std::vector<TensorToWrite> tensors;
  std::vector<TrainState> finished(state.dbn.layers.size());
  for (std::size_t l = 0; l < finished.size(); ++l) {
    finished[l].rbm = state.dbn.layers[l];
    detail::add_rbm_tensors(finished[l], fmt::format("layers.{}.", l), "", tensors);
  }
  if (state.current)
    detail::add_rbm_tensors(*state.current, fmt::format("layers.{}.", finished.size()),
                            fmt::format("train_state.layers.{}.", finished.size()), tensors);
  nlohmann::json settings = nlohmann::json::array();
  for (const TrainConfig& c : config.layers) settings.push_back(to_json(c));
  nlohmann::json history = nlohmann::json::array();
  auto add_history = [&](const std::vector<EpochStats>& h) {
    nlohmann::json a = nlohmann::json::array();
    for (const EpochStats& e : h) a.push_back(to_json(e));
    history.push_back(std::move(a));
  };
  for (const auto& h : state.history) add_history(h);
  if (state.current) add_history(state.current->history);
  const std::map<std::string, std::string> meta{
      {"format", kDbnFormat},
      {"settings", settings.dump()},
      {"propagation", std::string(to_string(config.propagation))},
      {"layers_done", std::to_string(finished.size())},
      {"current_epochs_done", std::to_string(state.current ? state.current->epochs_done : 0)},
      {"history", history.dump()},
      {"data", data_info.dump()},
  };
  write_safetensors(path, tensors, meta);
}

DbnModel load_dbn_model(const std::string& path) {
  SafetensorsFile f(path);
  const auto& meta = f.metadata();
  const auto fmt_it = meta.find("format");
  ONSAGER_CHECK(fmt_it != meta.end() && fmt_it->second == kDbnFormat,
                "{}: not an onsager DBN file (its metadata 'format' is '{}', expected '{}')", path,
                fmt_it == meta.end() ? std::string() : fmt_it->second, kDbnFormat);
  auto parse = [&](const char* key) -> nlohmann::json {
    const auto it = meta.find(key);
    ONSAGER_CHECK(it != meta.end(), "{}: the metadata has no '{}' entry", path, key);
    try {
      return nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception&) {
      ONSAGER_FAIL("{}: the metadata entry '{}' is not valid JSON", path, key);
    }
  };
  DbnModel m;
  std::size_t done = 0;
  int current_epochs = 0;
  try {
    done = std::stoul(meta.at("layers_done"));
    current_epochs = std::stoi(meta.at("current_epochs_done"));
  } catch (const std::exception&) {
    ONSAGER_FAIL("{}: the metadata entries 'layers_done' and 'current_epochs_done' must be numbers", path);
  }
  DbnConfig config;
  try {
    for (const auto& c : parse("settings")) config.layers.push_back(train_config_from_json(c));
    config.propagation = parse_dbn_propagation(meta.count("propagation") ? meta.at("propagation") : "probabilities");
  } catch (const Error& e) {
    ONSAGER_FAIL("{}: {}", path, e.what());
  } catch (const nlohmann::json::exception& e) {
    ONSAGER_FAIL("{}: the settings are malformed ({})", path, e.what());
  }
  ONSAGER_CHECK(done <= config.layers.size(), "{}: {} layers done of {} configured", path, done, config.layers.size());
  for (std::size_t l = 0; l < done; ++l) {
    TrainState s;
    detail::read_rbm_tensors(f, path, fmt::format("layers.{}.", l), "", s);
    m.state.dbn.layers.push_back(std::move(s.rbm));
  }
  if (f.find(fmt::format("layers.{}.weight", done)) != nullptr) {
    TrainState s;
    detail::read_rbm_tensors(f, path, fmt::format("layers.{}.", done), fmt::format("train_state.layers.{}.", done), s);
    s.epochs_done = current_epochs;
    s.rbm.require_bernoulli(path.c_str());
    m.state.current = std::move(s);
  }
  ONSAGER_CHECK(f.find(fmt::format("layers.{}.weight", done + 1)) == nullptr,
                "{}: holds layer {} beyond the layer in training", path, done + 1);
  if (!m.state.dbn.layers.empty()) m.state.dbn.validate(path.c_str());
  if (m.state.current && !m.state.dbn.layers.empty())
    ONSAGER_CHECK(m.state.current->rbm.num_visible() == m.state.dbn.layers.back().num_hidden(),
                  "{}: layer {} has {} visible units but layer {} has {} hidden units", path, done,
                  m.state.current->rbm.num_visible(), done - 1, m.state.dbn.layers.back().num_hidden());
  ONSAGER_CHECK(current_epochs >= 0, "{}: the metadata entry 'current_epochs_done' is negative ({})", path, current_epochs);
  try {
    const nlohmann::json hist = parse("history");
    const std::size_t expected = done + (m.state.current ? 1 : 0);
    ONSAGER_CHECK(hist.is_array() && hist.size() == expected, "{}: the history has {} layers' records, expected {}", path,
                  hist.is_array() ? hist.size() : 0, expected);
    for (std::size_t l = 0; l < hist.size(); ++l) {
      std::vector<EpochStats> h;
      for (const auto& e : hist[l]) h.push_back(epoch_stats_from_json(e));
      if (l < done) m.state.history.push_back(std::move(h));
      else if (m.state.current) m.state.current->history = std::move(h);
    }
    m.data_info = parse("data");
  } catch (const nlohmann::json::exception& e) {
    ONSAGER_FAIL("{}: the history is malformed ({})", path, e.what());
  }
  m.config = std::move(config);
  return m;
}

DbnBound dbn_lower_bound(const Dbn& dbn, const ConstMatrixFRef& v, double log_z2, int samples, std::uint64_t seed) {
  dbn.validate("dbn_lower_bound");
  ONSAGER_CHECK(dbn.layers.size() == 2, "dbn_lower_bound: the bound is for two-layer DBNs (this one has {})",
                dbn.layers.size());
  ONSAGER_CHECK(samples >= 1, "dbn_lower_bound: samples must be >= 1 (got {})", samples);
  ONSAGER_CHECK(std::isfinite(log_z2), "dbn_lower_bound: log_z2 must be finite (got {})", log_z2);
  const Rbm& r1 = dbn.layers[0];
  const Rbm& r2 = dbn.layers[1];
  ONSAGER_CHECK(v.cols() == r1.num_visible() && v.rows() > 0, "dbn_lower_bound: {} x {} rows for {} visible units",
                v.rows(), v.cols(), r1.num_visible());
  const MatrixF q = r1.hidden_probs(v);  // N x H: Q(h|v)
  const Eigen::Index n = v.rows(), h = r1.num_hidden();
  const MatrixD w1 = r1.weight.cast<double>(), w2 = r2.weight.cast<double>();
  const VectorD b1 = r1.visible_bias.cast<double>(), b2 = r2.visible_bias.cast<double>(), c2 = r2.hidden_bias.cast<double>();
  DbnBound out;
  out.per_row.resize(static_cast<std::size_t>(n));
#pragma omp parallel for schedule(dynamic, 8) num_threads(num_threads())
  for (Eigen::Index r = 0; r < n; ++r) {
    double entropy = 0;
    for (Eigen::Index j = 0; j < h; ++j) {
      const double p = q(r, j);
      if (p > 0 && p < 1) entropy -= p * std::log(p) + (1 - p) * std::log(1 - p);
    }
    const VectorD vr = v.row(r).transpose().cast<double>();
    Rng rng(stream_seed(seed, kTagBound, static_cast<std::uint64_t>(r)));
    VectorD hs(h);
    double sum = 0;
    for (int s = 0; s < samples; ++s) {
      for (Eigen::Index j = 0; j < h; ++j) hs(j) = rng.uniform() < q(r, j) ? 1.0 : 0.0;
      // log p(v|h) = Σ_i v_i a_i - softplus(a_i), a = b₁ + W₁ᵀ h.
      const VectorD a = b1 + w1.transpose() * hs;
      double lp = 0;
      for (Eigen::Index i = 0; i < a.size(); ++i) lp += vr(i) * a(i) - softplus(a(i));
      // log p*₂(h) = b₂·h + Σ_k softplus(c₂_k + W₂_k·h).
      const VectorD z = c2 + w2 * hs;
      double ls = b2.dot(hs);
      for (Eigen::Index k = 0; k < z.size(); ++k) ls += softplus(z(k));
      sum += lp + ls;
    }
    out.per_row[static_cast<std::size_t>(r)] = sum / samples + entropy - log_z2;
  }
  double mean = 0;
  for (double x : out.per_row) mean += x;
  mean /= static_cast<double>(n);
  double ss = 0;
  for (double x : out.per_row) ss += (x - mean) * (x - mean);
  out.mean = mean;
  out.err = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1) / static_cast<double>(n)) : 0.0;
  return out;
}

MlpState unroll_dbn(const Dbn& dbn, int classes, MlpConfig& config) {
  dbn.validate("unroll_dbn");
  ONSAGER_CHECK(classes >= 2, "unroll_dbn: classes must be >= 2 (got {})", classes);
  config.arch = dbn.widths();
  config.arch.push_back(classes);
  config.activation = Activation::sigmoid;
  MlpState s = init_mlp(config);
  for (std::size_t l = 0; l < dbn.layers.size(); ++l) {
    s.model.weights[l] = dbn.layers[l].weight;
    s.model.biases[l] = dbn.layers[l].hidden_bias;
  }
  return s;
}

}  // namespace onsager
