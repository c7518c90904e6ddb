// onsager convert FILE --out OUT.safetensors: the floating-point tensors of any model file onsager reads,
// written as one safetensors file, in the layout onsager analyses (PyTorch's, where the file says what a
// tensor is). Quantised weights (ONNX) are written dequantised, as `analyze` sees them. No framework needed;
// nothing in the input is executed.

#include <cctype>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "common.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/progress.hpp"
#include "onsager/io/safetensors.hpp"
#include "onsager/io/tensor_source.hpp"
#include "onsager/spectral/inspect.hpp"

namespace onsager::cli {
namespace {

struct ConvertArgs {
  std::string model, out, dtype = "auto";
  bool quiet = false;
  JsonOutput json;
};

// The readers' names for a 64-bit float: safetensors F64, NumPy <f8, ONNX DOUBLE, PyTorch/HDF5 float64.
bool is_double_dtype(std::string d) {
  for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return d == "f64" || d == "<f8" || d == "float64" || d == "double";
}

void run_convert(const ConvertArgs& a) {
  ONSAGER_CHECK(a.dtype == "auto" || a.dtype == "f32" || a.dtype == "f64",
                "convert: --dtype must be auto, f32 or f64 (got '{}')", a.dtype);
  ONSAGER_CHECK(a.out.ends_with(".safetensors"), "convert: --out must name a .safetensors file (got '{}')", a.out);
  const auto locks = guard_outputs({{a.out, "--out"}, {json_file(a.json), "--json"}}, {{a.model, "the input"}});
  const auto source = open_tensor_source(a.model);
  std::vector<std::vector<double>> f64;
  std::vector<std::vector<float>> f32;
  std::vector<TensorToWrite> out;
  std::map<std::string, std::string> metadata{{"converted_from", source->format()}};
  nlohmann::json written = nlohmann::json::array(), skipped = nlohmann::json::array();
  std::size_t floating = 0, dequantized = 0, scale_unknown = 0;
  for (const TensorEntry& t : source->tensors()) floating += t.floating ? 1 : 0;
  f64.reserve(floating), f32.reserve(floating);
  Progress progress("convert", floating, !a.quiet);
  for (const TensorEntry& t : source->tensors()) {
    if (!t.floating) {
      skipped.push_back({{"name", t.name}, {"dtype", t.dtype}});
      continue;
    }
    std::vector<double> v = source->read(t);
    const bool as_f64 = a.dtype == "f64" || (a.dtype == "auto" && is_double_dtype(t.dtype));
    TensorToWrite w{t.name, t.shape, {}, {}};
    if (as_f64) {
      f64.push_back(std::move(v));
      w.f64 = f64.back();
    } else {
      f32.emplace_back(v.begin(), v.end());
      w.f32 = f32.back();
    }
    if (!t.stored_layout.empty()) metadata["layout." + t.name] = t.stored_layout;
    if (t.dequantized) {
      metadata["dequantized." + t.name] = fmt::format("{} {}, {}", t.dtype, t.dequantized->op, t.dequantized->describe());
      ++dequantized, scale_unknown += t.dequantized->scale_known() ? 0 : 1;
    }
    written.push_back({{"name", t.name}, {"dtype", as_f64 ? "F64" : "F32"}, {"shape", t.shape},
                       {"dequantized", t.dequantized ? to_json(*t.dequantized) : nlohmann::json(nullptr)}});
    out.push_back(std::move(w));
    progress.advance();
  }
  progress.finish();
  ONSAGER_CHECK(!out.empty(), "convert: {} holds no floating-point tensors", a.model);
  write_safetensors(a.out, out, metadata);
  if (!a.json.to_stdout()) {
    std::string note;
    if (dequantized > 0)
      note = scale_unknown == 0 ? fmt::format(" ({} dequantised)", dequantized)
                                : fmt::format(" ({} dequantised, {} without a known scale: q - zero_point)", dequantized,
                                              scale_unknown);
    fmt::print("{}: {} tensors{} from {} ({}), {} non-floating skipped\n", a.out, out.size(), note, a.model,
               source->format(), skipped.size());
  }
  emit_json(a.json, {{"file", a.model}, {"format", source->format()}, {"out", a.out}, {"tensors", written},
                     {"skipped", skipped}});
}

}  // namespace

void register_convert_command(CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand(
      "convert",
      "Write the floating-point tensors of a model file as one safetensors file, in the layout 'onsager analyze'\n"
      "uses (PyTorch's: dense out x in, conv (out, in, kh, kw)); quantised weights are written dequantised,\n"
      "other integer tensors are skipped.\n"
      "Example: onsager convert face_recognition_model-weights_manifest.json --out face.safetensors");
  cmd->add_option("model", a->model,
                  "Model file or directory (any format 'onsager inspect' reads)")
      ->required()
      ->type_name("FILE");
  cmd->add_option("--out,-o", a->out, "Output .safetensors file (written atomically)")->required();
  cmd->add_option("--dtype", a->dtype, "auto (F64 for double tensors, F32 otherwise), f32 or f64")
      ->capture_default_str();
  add_quiet_flag(cmd, a->quiet);
  add_json_option(cmd, a->json);
  cmd->callback([a] { run_convert(*a); });
}

}  // namespace onsager::cli
