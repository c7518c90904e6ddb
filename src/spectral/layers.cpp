#include "onsager/spectral/layers.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

#include <fmt/format.h>

#include "onsager/core/error.hpp"

namespace onsager {
namespace {

bool contains_embed(const std::string& name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find("embed") != std::string::npos || lower.find("wte") != std::string::npos ||
         lower.find("wpe") != std::string::npos;
}

}  // namespace

ConvLayout parse_conv_layout(std::string_view layout) {
  if (layout == "oihw") return ConvLayout::oihw;
  if (layout == "hwio") return ConvLayout::hwio;
  ONSAGER_FAIL("parse_conv_layout: layout must be 'oihw' (PyTorch) or 'hwio' (Keras) (got '{}')", layout);
}

LayerPlan plan_layers(const std::vector<TensorEntry>& tensors, const LayerSelection& sel) {
  std::regex re;
  if (!sel.regex.empty()) {
    try {
      re = std::regex(sel.regex, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      ONSAGER_FAIL("plan_layers: selection.regex '{}' is not a valid regular expression ({})", sel.regex, e.what());
    }
  }
  LayerPlan plan;
  for (const TensorEntry& t : tensors) {
    if (!sel.regex.empty() && !std::regex_search(t.name, re)) continue;
    const std::size_t rank = t.shape.size();
    if (t.name.starts_with("train_state.")) {
      plan.skipped.push_back({t.name, "onsager training state (optimizer buffers), not a layer"});
      continue;
    }
    if (rank < 2) {
      plan.skipped.push_back({t.name, rank == 0 ? std::string("scalar") : std::string("1-D (bias or norm)")});
      continue;
    }
    if (rank > 4) {
      plan.skipped.push_back({t.name, fmt::format("{}-D tensors are not layers", rank)});
      continue;
    }
    if (!t.floating) {
      plan.skipped.push_back({t.name, fmt::format("dtype {} is not floating point", t.dtype)});
      continue;
    }
    LayerSpec l;
    l.tensor = t.index;
    l.shape = t.shape;
    l.layout = t.canonical ? ConvLayout::oihw : sel.conv_layout;
    if (t.dequantized) l.dequantized = t.dequantized->op + ", " + t.dequantized->describe();
    const auto d = [&](std::size_t i) { return static_cast<std::size_t>(t.shape[i]); };
    std::size_t num_slices = 1;
    if (rank == 2) {
      l.kind = contains_embed(t.name) ? "embedding" : "dense";
      l.rows = d(0), l.cols = d(1);
    } else if (l.layout == ConvLayout::oihw) {
      // An ONNX LSTM/GRU/RNN weight arrives as (gates * hidden, input, directions): one matrix per direction.
      const bool recurrent = rank == 3 && (t.op == "LSTM" || t.op == "GRU" || t.op == "RNN");
      l.kind = recurrent ? "recurrent" : rank == 3 ? "conv1d" : "conv2d";
      l.rows = d(0), l.cols = d(1);
      num_slices = rank == 3 ? d(2) : d(2) * d(3);
    } else {
      l.kind = rank == 3 ? "conv1d" : "conv2d";
      l.rows = d(rank - 2), l.cols = d(rank - 1);
      num_slices = rank == 3 ? d(0) : d(0) * d(1);
    }
    if (l.rows == 0 || l.cols == 0 || num_slices == 0) {
      plan.skipped.push_back({t.name, "empty tensor"});
      continue;
    }
    if (l.m() * (sel.per_slice ? 1 : num_slices) < sel.min_evals) {
      plan.skipped.push_back({t.name, fmt::format("{} eigenvalues < min_evals {}", l.m() * (sel.per_slice ? 1 : num_slices),
                                                  sel.min_evals)});
      continue;
    }
    if (sel.per_slice && num_slices > 1) {
      for (std::size_t s = 0; s < num_slices; ++s) {
        LayerSpec one = l;
        one.slices = {s};
        if (rank == 3) one.name = fmt::format("{}[{}]", t.name, s);
        else {
          const std::size_t inner = l.layout == ConvLayout::oihw ? d(3) : d(1);
          one.name = fmt::format("{}[{},{}]", t.name, s / inner, s % inner);
        }
        plan.layers.push_back(std::move(one));
      }
    } else {
      l.name = t.name;
      for (std::size_t s = 0; s < num_slices; ++s) l.slices.push_back(s);
      plan.layers.push_back(std::move(l));
    }
  }
  return plan;
}

std::vector<double> layer_matrix(std::span<const double> values, const LayerSpec& layer, std::size_t slice) {
  const std::size_t rows = layer.rows, cols = layer.cols;
  const std::size_t num_slices = values.size() / (rows * cols);
  ONSAGER_CHECK(values.size() == rows * cols * num_slices && slice < num_slices,
                "layer {}: {} values do not hold slice {} of {} x {} matrices", layer.name, values.size(), slice, rows,
                cols);
  std::vector<double> w(rows * cols);
  if (layer.shape.size() == 2) {
    std::copy(values.begin(), values.end(), w.begin());
  } else if (layer.layout == ConvLayout::oihw) {
    // element (o, i, s) of the (out, in, slices) view lies at (o * in + i) * slices + s
    for (std::size_t o = 0; o < rows; ++o)
      for (std::size_t i = 0; i < cols; ++i) w[o * cols + i] = values[(o * cols + i) * num_slices + slice];
  } else {
    const auto first = values.begin() + static_cast<std::ptrdiff_t>(slice * rows * cols);
    std::copy(first, first + static_cast<std::ptrdiff_t>(rows * cols), w.begin());
  }
  return w;
}

}  // namespace onsager
