#pragma once
// MLP model files and the data an MLP run trains on. A model file is safetensors with PyTorch's names and
// layout: `layers.0.weight` [out, in], `layers.0.bias` [out], ... (float32), so that
//   model.load_state_dict({k: v for k, v in safetensors.torch.load_file(path).items() if k.startswith("layers.")})
// fills a module with `self.layers = nn.ModuleList(nn.Linear(...) ...)`, and `onsager analyze` reads it like any
// other model. The optimiser's buffers are stored as `train_state.layers.0.weight_m` ... (analyze skips them);
// the settings, the data record, the history and the early-stopping record go in `__metadata__`.

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "onsager/data/dataset.hpp"
#include "onsager/nn/mlp.hpp"

namespace onsager {

/// The `format` metadata entry of an MLP model file.
inline constexpr const char* kMlpFormat = "onsager-mlp";

/// Where an MLP run's rows come from, recorded in the model file so a resumed run reads the same rows.
struct MlpDataSpec {
  std::string source;             ///< a named data set or a data file with labels
  std::string split = "train";    ///< the rows trained on
  std::string test_split = "test";  ///< named data sets: the rows scored each epoch, or "none"
  std::string data_dir;           ///< where named data sets live (empty: default_data_dir())
  std::size_t subset = 0;         ///< > 0: train on this many rows of the split, drawn at random (seeded)
  double label_noise = 0;         ///< this fraction of the training labels replaced by random ones (seeded)
};

nlohmann::json to_json(const MlpDataSpec& d);  ///< without data_dir (a machine's path, not provenance)
MlpDataSpec mlp_data_spec_from_json(const nlohmann::json& j);

/// The rows of a run: the training rows (subset and label noise applied) and the test rows (empty when none).
struct MlpData {
  Dataset train, test;
  std::size_t noisy_labels = 0;  ///< training labels that differ from the true ones after label_noise
};

/// Loads `spec` for a model with `inputs` inputs and `classes` outputs; the subset and the noisy labels are
/// drawn from `seed`. Throws onsager::Error for a missing data set, rows without labels, a width or a label
/// that does not fit the model, a bad split, subset or label_noise.
MlpData load_mlp_data(const MlpDataSpec& spec, int inputs, int classes, std::uint64_t seed);

/// An MLP model file's contents. `state.model` is always set; the optimiser buffers only when the file has a
/// training state (has_train_state).
struct MlpModelFile {
  MlpConfig config;
  MlpState state;
  std::optional<MlpDataSpec> data;
  bool has_train_state = false;
  std::string outcome;  ///< how the run that wrote it ended ("finished", "early-stopped", ...; "" when running)
};

/// Writes `state` atomically to `path` (safetensors, see above). Throws onsager::Error on failure.
void save_mlp_model(const std::string& path, const MlpState& state, const MlpConfig& config, const MlpDataSpec& data,
                    std::string_view outcome = "");

/// Reads an MLP model file. Throws onsager::Error naming the file for anything else (an RBM file, missing or
/// mis-shaped layers, a malformed settings entry).
MlpModelFile load_mlp_model(const std::string& path);

}  // namespace onsager
