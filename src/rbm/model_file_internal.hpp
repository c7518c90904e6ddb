#pragma once
// The tensors of one RBM within a safetensors file, under a name prefix: shared by RBM model files (prefix "",
// optimiser state "train_state.") and DBN files (prefix "layers.L.", "train_state.layers.L.").

#include <string>
#include <vector>

#include "onsager/io/safetensors.hpp"
#include "onsager/rbm/train.hpp"

namespace onsager::detail {

/// Appends PREFIX{weight, visible_bias, hidden_bias} and, unless state_prefix is empty, the optimiser state
/// STATE_PREFIX{weight_velocity, ..., chains, tap_m_v, tap_m_h}; the tensors borrow `state`'s data.
void add_rbm_tensors(const TrainState& state, const std::string& prefix, const std::string& state_prefix,
                     std::vector<TensorToWrite>& tensors);

/// Reads them back into `state` (velocities zero when absent); returns whether the optimiser state was there.
/// Throws onsager::Error naming the file and tensor.
bool read_rbm_tensors(const SafetensorsFile& f, const std::string& path, const std::string& prefix,
                      const std::string& state_prefix, TrainState& state);

}  // namespace onsager::detail
