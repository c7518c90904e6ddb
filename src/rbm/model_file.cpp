#include "onsager/rbm/model_file.hpp"

#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/io/safetensors.hpp"
#include "model_file_internal.hpp"

namespace onsager {
namespace {

std::span<const float> span_of(const MatrixF& m) { return {m.data(), static_cast<std::size_t>(m.size())}; }
std::span<const float> span_of(const VectorF& v) { return {v.data(), static_cast<std::size_t>(v.size())}; }

std::vector<float> read_tensor(const SafetensorsFile& f, const std::string& path, const std::string& name,
                               std::vector<std::int64_t> shape) {
  const TensorInfo* t = f.find(name);
  ONSAGER_CHECK(t != nullptr, "{}: no tensor '{}' (not an RBM model file?)", path, name);
  ONSAGER_CHECK(t->shape == shape, "{}: tensor '{}' has shape [{}], expected [{}]", path, name,
                fmt::join(t->shape, ", "), fmt::join(shape, ", "));
  return f.read_f32(name);
}

}  // namespace

namespace detail {

void add_rbm_tensors(const TrainState& state, const std::string& prefix, const std::string& state_prefix,
                     std::vector<TensorToWrite>& tensors) {
  const Rbm& rbm = state.rbm;
  const std::int64_t h = rbm.num_hidden(), v = rbm.num_visible();
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, std::span<const float> values) {
    tensors.push_back({name, std::move(shape), values, {}});
  };
  add(prefix + "weight", {h, v}, span_of(rbm.weight));
  add(prefix + "visible_bias", {v}, span_of(rbm.visible_bias));
  add(prefix + "hidden_bias", {h}, span_of(rbm.hidden_bias));
  if (rbm.gaussian()) add(prefix + "visible_log_var", {v}, span_of(rbm.log_var));
  if (state_prefix.empty()) return;
  if (rbm.gaussian() && state.log_var_velocity.size() == v)
    add(state_prefix + "visible_log_var_velocity", {v}, span_of(state.log_var_velocity));
  if (state.weight_velocity.size() == rbm.weight.size()) {
    add(state_prefix + "weight_velocity", {h, v}, span_of(state.weight_velocity));
    add(state_prefix + "visible_velocity", {v}, span_of(state.visible_velocity));
    add(state_prefix + "hidden_velocity", {h}, span_of(state.hidden_velocity));
  }
  if (state.chains.size() > 0) add(state_prefix + "chains", {state.chains.rows(), state.chains.cols()}, span_of(state.chains));
  if (state.tap_m_v.size() > 0) {
    add(state_prefix + "tap_m_v", {state.tap_m_v.rows(), v}, span_of(state.tap_m_v));
    add(state_prefix + "tap_m_h", {state.tap_m_h.rows(), h}, span_of(state.tap_m_h));
  }
}

bool read_rbm_tensors(const SafetensorsFile& f, const std::string& path, const std::string& prefix,
                      const std::string& state_prefix, TrainState& state) {
  const std::string wname = prefix + "weight";
  const TensorInfo* w = f.find(wname);
  ONSAGER_CHECK(w != nullptr, "{}: no tensor '{}' (not an RBM model file?)", path, wname);
  ONSAGER_CHECK(w->shape.size() == 2 && w->shape[0] > 0 && w->shape[1] > 0,
                "{}: tensor '{}' must be 2-D [hidden, visible] (got {} dimensions)", path, wname, w->shape.size());
  const std::int64_t h = w->shape[0], v = w->shape[1];
  Rbm& rbm = state.rbm;
  rbm.weight = Eigen::Map<const MatrixF>(read_tensor(f, path, wname, {h, v}).data(), h, v);
  rbm.visible_bias = Eigen::Map<const VectorF>(read_tensor(f, path, prefix + "visible_bias", {v}).data(), v);
  rbm.hidden_bias = Eigen::Map<const VectorF>(read_tensor(f, path, prefix + "hidden_bias", {h}).data(), h);
  if (f.find(prefix + "visible_log_var"))
    rbm.log_var = Eigen::Map<const VectorF>(read_tensor(f, path, prefix + "visible_log_var", {v}).data(), v);
  else
    rbm.log_var.resize(0);
  rbm.validate(path.c_str());
  bool has_state = false;
  const std::string sp = state_prefix;
  if (!sp.empty() && f.find(sp + "weight_velocity")) {
    state.weight_velocity = Eigen::Map<const MatrixF>(read_tensor(f, path, sp + "weight_velocity", {h, v}).data(), h, v);
    state.visible_velocity = Eigen::Map<const VectorF>(read_tensor(f, path, sp + "visible_velocity", {v}).data(), v);
    state.hidden_velocity = Eigen::Map<const VectorF>(read_tensor(f, path, sp + "hidden_velocity", {h}).data(), h);
    has_state = true;
  } else {
    state.weight_velocity = MatrixF::Zero(h, v);
    state.visible_velocity = VectorF::Zero(v);
    state.hidden_velocity = VectorF::Zero(h);
  }
  if (rbm.gaussian()) {
    state.log_var_velocity = f.find(sp + "visible_log_var_velocity")
                                 ? VectorF(Eigen::Map<const VectorF>(read_tensor(f, path, sp + "visible_log_var_velocity", {v}).data(), v))
                                 : VectorF(VectorF::Zero(v));
  }
  if (sp.empty()) return has_state;
  if (const TensorInfo* c = f.find(sp + "chains")) {
    ONSAGER_CHECK(c->shape.size() == 2 && c->shape[1] == h, "{}: tensor '{}chains' must be [chains, {}]", path, sp, h);
    state.chains = Eigen::Map<const MatrixF>(read_tensor(f, path, sp + "chains", c->shape).data(), c->shape[0], h);
  }
  if (const TensorInfo* t = f.find(sp + "tap_m_v")) {
    ONSAGER_CHECK(t->shape.size() == 2 && t->shape[0] > 0 && t->shape[1] == v, "{}: tensor '{}tap_m_v' must be [rows, {}]",
                  path, sp, v);
    const std::int64_t rows = t->shape[0];
    state.tap_m_v = Eigen::Map<const MatrixF>(read_tensor(f, path, sp + "tap_m_v", {rows, v}).data(), rows, v);
    state.tap_m_h = Eigen::Map<const MatrixF>(read_tensor(f, path, sp + "tap_m_h", {rows, h}).data(), rows, h);
    ONSAGER_CHECK((state.tap_m_v.array() >= 0 && state.tap_m_v.array() <= 1).all() &&
                      (state.tap_m_h.array() >= 0 && state.tap_m_h.array() <= 1).all(),
                  "{}: the stored TAP magnetisations are not all in [0, 1]", path);
  }
  return has_state;
}

}  // namespace detail

void save_rbm_model(const std::string& path, const TrainState& state, const TrainConfig& config,
                    const nlohmann::json& data_info) {
  std::vector<TensorToWrite> tensors;
  detail::add_rbm_tensors(state, "", "train_state.", tensors);
  nlohmann::json history = nlohmann::json::array();
  for (const auto& e : state.history) history.push_back(to_json(e));
  std::map<std::string, std::string> meta{
      {"format", kRbmFormat},
      {"visible", state.rbm.visible_type()},
      {"settings", to_json(config).dump()},
      {"epochs_done", std::to_string(state.epochs_done)},
      {"history", history.dump()},
      {"data", data_info.dump()},
  };
  write_safetensors(path, tensors, meta);
}

RbmModel load_rbm_model(const std::string& path) {
  SafetensorsFile f(path);
  RbmModel m;
  m.has_train_state = detail::read_rbm_tensors(f, path, "", "train_state.", m.state);
  const auto& meta = f.metadata();
  auto parse = [&](const char* key) -> nlohmann::json {
    const auto it = meta.find(key);
    if (it == meta.end()) return nullptr;
    try {
      return nlohmann::json::parse(it->second);
    } catch (const nlohmann::json::exception&) {
      ONSAGER_FAIL("{}: metadata entry '{}' is not valid JSON", path, key);
    }
  };
  if (const auto s = parse("settings"); !s.is_null()) m.config = train_config_from_json(s);
  // The visible type: the visible_log_var tensor says it; the metadata and the settings, when there, must agree.
  const char* type = m.state.rbm.visible_type();
  if (const auto it = meta.find("visible"); it != meta.end())
    ONSAGER_CHECK(it->second == type, "{}: the metadata says '{}' visible units, the tensors {} (visible_log_var {})", path,
                  it->second, type, m.state.rbm.gaussian() ? "present" : "absent");
  if (m.config)
    ONSAGER_CHECK(to_string(m.config->visible) == type, "{}: the settings say '{}' visible units, the tensors {}", path,
                  to_string(m.config->visible), type);
  if (const auto hist = parse("history"); hist.is_array())
    for (const auto& e : hist) m.state.history.push_back(epoch_stats_from_json(e));
  m.data_info = parse("data");
  if (const auto it = meta.find("epochs_done"); it != meta.end()) {
    try {
      m.state.epochs_done = std::stoi(it->second);
    } catch (const std::exception&) {
      ONSAGER_FAIL("{}: metadata entry 'epochs_done' is not a number ('{}')", path, it->second);
    }
  }
  return m;
}

void write_epoch_log(const std::string& path, const std::vector<EpochStats>& history) {
  std::string text;
  for (const EpochStats& e : history) text += to_json(e).dump() + '\n';
  write_file_atomic(path, text);
}

}  // namespace onsager
