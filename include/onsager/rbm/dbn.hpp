#pragma once
// Deep belief networks (Hinton, Osindero & Teh 2006): a stack of Bernoulli RBMs trained greedily, layer l on the
// hidden probabilities (or samples) of layer l - 1 given the data. The generative model is the top RBM over the
// last two layers with directed sigmoid layers below: p(v, h¹, ..., hᴸ) = p(h^{L-1}, hᴸ) Π_{l<L} p(h^{l-1} | h^l),
// h⁰ = v. Salakhutdinov & Murray's (2008) variational bound for two layers, with Q(h|v) the first RBM's factorial
// posterior:
//   log p(v) ≥ E_Q[log p*₂(h) + log p(v|h)] + H(Q) − log Z₂,
// p*₂(h) = exp(b₂·h) Π_k (1 + exp(c₂_k + W₂_k·h)) the top RBM's unnormalised marginal of its visible layer.
//
// Model files: safetensors with `layers.0.weight` [H₀, V], `layers.0.visible_bias`, `layers.0.hidden_bias`, ...,
// (DESIGN.md §3), settings and history per layer in `__metadata__`; the layer in training keeps its optimiser
// state under `train_state.layers.L.*`, so a killed run resumes at its last finished epoch.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "onsager/nn/mlp.hpp"
#include "onsager/rbm/rbm.hpp"
#include "onsager/rbm/train.hpp"

namespace onsager {

inline constexpr const char* kDbnFormat = "onsager.dbn.v1";

/// How a layer's training data come from the one below: its hidden probabilities, or Bernoulli samples of them.
enum class DbnPropagation { probabilities, samples };
std::string_view to_string(DbnPropagation p);
/// "probabilities" or "samples"; throws onsager::Error otherwise.
DbnPropagation parse_dbn_propagation(std::string_view s);

struct Dbn {
  std::vector<Rbm> layers;  ///< layers[l].num_visible() == layers[l-1].num_hidden()
  /// Throws onsager::Error naming `where` unless there is a layer, the shapes chain and every parameter is finite.
  void validate(const char* where) const;
  /// {V, H₀, H₁, ...}.
  std::vector<int> widths() const;
  /// The hidden probabilities of layer `upto` (0-based) given rows x, propagating probabilities.
  MatrixF up(const ConstMatrixFRef& x, int upto) const;
};

struct DbnConfig {
  std::vector<TrainConfig> layers;  ///< one per layer; layers[l].hidden is its width
  DbnPropagation propagation = DbnPropagation::probabilities;
  /// Throws onsager::Error naming the layer and the field.
  void validate() const;
};

/// A run: the finished layers, and the state of the one in training.
struct DbnState {
  Dbn dbn;                          ///< the finished layers
  std::optional<TrainState> current;  ///< the layer in training (index dbn.layers.size()), when one is
  std::vector<std::vector<EpochStats>> history;  ///< per finished layer
};

/// Called after every epoch of every layer (layer index, its state, the epoch's monitors); false stops.
using DbnEpochCallback = std::function<bool(int, const TrainState&, const EpochStats&)>;

/// Trains the layers that are not finished, each to its config's epochs, on the rows `data` (N x V in [0, 1]).
/// Layer l > 0 trains on the hidden probabilities of the layers below (or samples of them, seeded by its own
/// config's seed). Returns the outcome of the last layer trained (TrainOutcome::finished when all are done).
TrainOutcome train_dbn(DbnState& state, const ConstMatrixFRef& data, const DbnConfig& config,
                       const DbnEpochCallback& on_epoch = {});

/// The training rows of layer `layer` for data x: x itself for layer 0, else the propagated hidden layer.
MatrixF dbn_layer_input(const Dbn& dbn, const ConstMatrixFRef& x, int layer, DbnPropagation propagation,
                        std::uint64_t seed);

/// Writes the state atomically (all layers, finished or in training). `data_info` becomes the `data` entry.
void save_dbn_model(const std::string& path, const DbnState& state, const DbnConfig& config,
                    const nlohmann::json& data_info);

struct DbnModel {
  DbnState state;
  std::optional<DbnConfig> config;
  nlohmann::json data_info;
};

/// Reads a DBN file. Throws onsager::Error naming the file for a missing or mis-shaped tensor, shapes that do
/// not chain, or a file that is not a DBN.
DbnModel load_dbn_model(const std::string& path);

/// The two-layer bound per row of v, from `samples` draws of h ~ Q(h|v) per row (seeded), with `log_z2` the top
/// RBM's log partition function: mean over rows and the standard error of that mean (rows and draws).
struct DbnBound {
  double mean = 0, err = 0;
  std::vector<double> per_row;  ///< each row's estimate
};
DbnBound dbn_lower_bound(const Dbn& dbn, const ConstMatrixFRef& v, double log_z2, int samples, std::uint64_t seed);

/// The DBN unrolled into a sigmoid MLP for fine-tuning (Hinton & Salakhutdinov 2006): its layers' weights and
/// hidden biases, then a new output layer to `classes` units drawn as init_mlp draws it. `config.arch` is set to
/// {V, H₀, ..., classes} and `config.activation` to sigmoid; the rest of `config` (loss, optimiser, seed) is the
/// caller's. The MLP's hidden activations are then exactly the DBN's up-pass probabilities.
MlpState unroll_dbn(const Dbn& dbn, int classes, MlpConfig& config);

}  // namespace onsager
