#pragma once
// RBM model files: safetensors with tensors `weight` [H, V], `visible_bias` [V], `hidden_bias` [H]
// (what PyTorch users expect), `visible_log_var` [V] (Rbm::log_var) for Gaussian visible units (and `visible` "gaussian" in the metadata), the optimiser state and PCD chains under `train_state.*` (so a run can
// be resumed exactly), and in `__metadata__` the format tag, the training settings, the data used and
// the per-epoch history, each a JSON string.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onsager/rbm/train.hpp"

namespace onsager {

inline constexpr const char* kRbmFormat = "onsager.rbm.v1";

struct RbmModel {
  TrainState state;                   ///< the model, and the optimiser state when the file has one
  std::optional<TrainConfig> config;  ///< the training settings, when the file records them
  nlohmann::json data_info;           ///< what the model was trained on (null when unknown)
  bool has_train_state = false;       ///< true when velocities (and PCD chains) were stored
};

/// Writes the model atomically. `data_info` is stored as the `data` metadata entry.
void save_rbm_model(const std::string& path, const TrainState& state, const TrainConfig& config,
                    const nlohmann::json& data_info);

/// Reads a model written by save_rbm_model, or any safetensors file with `weight`, `visible_bias` and
/// `hidden_bias` of consistent shapes. Throws onsager::Error naming the file and the problem.
RbmModel load_rbm_model(const std::string& path);

/// Writes the per-epoch log of a run (one JSON line per epoch, as `rbm train --log` appends them) from the
/// history a model file keeps, atomically. A resumed run starts its log with it, so the log holds exactly
/// the model's epochs whatever a kill left behind (a line of an epoch whose save never finished, or the line
/// of a saved epoch that a kill cut off). Throws onsager::Error when the file cannot be written.
void write_epoch_log(const std::string& path, const std::vector<EpochStats>& history);

}  // namespace onsager
