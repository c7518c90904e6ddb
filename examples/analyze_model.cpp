// Analyse a model file as `onsager analyze` does: each layer's power-law exponent alpha and phase of training.
//   analyze_model [MODEL]   any file onsager reads (safetensors, .npz, ONNX, PyTorch, TF.js, Keras);
//                           without one, it writes and analyses a two-layer model: a Gaussian (random-like)
//                           layer and a heavy-tailed one (Student-t entries, 1.5 degrees of freedom: infinite variance).
#include <onsager/onsager.hpp>

#include <cmath>
#include <random>
#include <vector>

#include <fmt/format.h>

int main(int argc, char** argv) {
  using namespace onsager;
  std::string path = argc > 1 ? argv[1] : "";
  std::vector<float> gaussian(512 * 256), heavy(512 * 256);
  if (path.empty()) {
    std::mt19937_64 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::student_t_distribution<float> student(1.5f);
    for (float& x : gaussian) x = normal(rng) / std::sqrt(512.0f);
    for (float& x : heavy) x = student(rng) / std::sqrt(512.0f);
    path = "analyze_model_example.safetensors";
    write_safetensors(path, {{"layers.0.weight", {512, 256}, gaussian, {}}, {"layers.1.weight", {512, 256}, heavy, {}}});
  }
  const auto source = open_tensor_source(path);
  const AnalyzeReport report = analyze(*source, path, AnalyzeOptions{});
  fmt::print("{} ({})\n", path, report.format);
  for (const LayerResult& l : report.layers)
    fmt::print("  {:<20} {:>5} x {:<5} alpha {:6.3f}  {}\n", l.spec.name, l.N, l.M, l.powerlaw.alpha,
               to_string(l.phase.phase));
  return 0;
}
