#include "onsager/spectral/inspect.hpp"

#include <map>

#include <fmt/format.h>

namespace onsager {

std::string InspectedTensor::becomes() const {
  std::string out;
  if (layers.empty()) {
    out = "skipped: " + (skipped.empty() ? std::string("not a layer") : skipped);
  } else {
    const LayerSpec& l = layers.front();
    const std::string matrix = fmt::format("{}x{}", l.n(), l.m());
    std::size_t evals = 0;
    for (const auto& x : layers) evals += x.num_evals();
    if (layers.size() > 1)
      out = fmt::format("{}: {} layers of one {} slice each ({} eigenvalues)", l.kind, layers.size(), matrix, evals);
    else if (l.slices.size() > 1)
      out = fmt::format("{}: {} slices of {} pooled ({} eigenvalues)", l.kind, l.slices.size(), matrix, evals);
    else
      out = fmt::format("{} layer {} (Q {:.2f}, {} eigenvalues)", l.kind, matrix,
                        static_cast<double>(l.n()) / static_cast<double>(l.m()), evals);
  }
  std::string use = tensor.op.empty() ? std::string() : tensor.op + " weight";
  if (const auto& d = tensor.dequantized) {
    const std::string how = (d->op == tensor.op ? "dequantised " : "dequantised by " + d->op + ", ") + d->describe();
    use = use.empty() ? how : use + ", " + how;
  }
  return use.empty() ? out : use + "; " + out;
}

InspectReport inspect_tensors(const TensorSource& source, const LayerSelection& selection) {
  const LayerPlan plan = plan_layers(source.tensors(), selection);
  std::map<std::string, std::string> skipped;
  for (const auto& s : plan.skipped) skipped[s.name] = s.reason;
  InspectReport r;
  r.format = source.format();
  for (const TensorEntry& t : source.tensors()) {
    InspectedTensor it{t, {}, {}};
    for (const auto& l : plan.layers)
      if (l.tensor == t.index) it.layers.push_back(l);
    if (it.layers.empty()) {
      const auto s = skipped.find(t.name);
      it.skipped = s == skipped.end() ? "not a layer" : s->second;
    }
    r.num_layers += it.layers.size();
    r.tensors.push_back(std::move(it));
  }
  return r;
}

nlohmann::json to_json(const Dequantization& d) {
  const auto name = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  return {{"op", d.op},
          {"scheme", d.per_channel() ? "per-channel" : "per-tensor"},
          {"axis", d.per_channel() ? nlohmann::json(d.axis) : nlohmann::json(nullptr)},
          {"scale", name(d.scale)},
          {"scale_known", d.scale_known()},
          {"zero_point", name(d.zero_point)}};
}

nlohmann::json to_json(const InspectReport& r) {
  nlohmann::json tensors = nlohmann::json::array();
  for (const InspectedTensor& it : r.tensors) {
    const TensorEntry& t = it.tensor;
    nlohmann::json jl = nlohmann::json::array();
    for (const auto& l : it.layers)
      jl.push_back({{"name", l.name}, {"kind", l.kind}, {"N", l.n()}, {"M", l.m()}, {"slices", l.slices.size()},
                    {"num_evals", l.num_evals()}});
    nlohmann::json jt = {{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}, {"layers", jl},
                         {"skipped", it.layers.empty() ? nlohmann::json(it.skipped) : nlohmann::json(nullptr)}};
    jt["op"] = t.op.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.op);
    jt["stored_shape"] = t.stored_shape.empty() ? t.shape : t.stored_shape;
    jt["stored_layout"] = t.stored_layout.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.stored_layout);
    jt["dequantized"] = t.dequantized ? to_json(*t.dequantized) : nlohmann::json(nullptr);
    tensors.push_back(std::move(jt));
  }
  return {{"format", r.format}, {"num_tensors", r.tensors.size()}, {"num_layers", r.num_layers}, {"tensors", tensors}};
}

}  // namespace onsager
