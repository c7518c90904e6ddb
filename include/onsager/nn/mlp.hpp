#pragma once
// A small, fast multilayer perceptron trainer for the lab (DESIGN.md §8): dense layers of any widths, hidden
// activations relu / tanh / sigmoid / linear, a linear last layer scored by softmax cross-entropy or by mean
// squared error against one-hot targets, SGD with momentum (PyTorch's form: v ← μ v + g, θ ← θ − lr v) or Adam,
// a per-epoch learning-rate factor, Glorot-normal initial weights, optional L2 decay (on weights, not biases),
// dropout on the hidden layers, and early stopping on the training loss (patience, min-delta) as Keras's
// EarlyStopping(monitor="loss") does.
//
// Built for the small batches (1-32) of Martin & Mahoney's experiments, where a framework's per-step overhead
// dominates: each step is a few SGEMMs (core/blas.hpp) and fused element-wise loops over buffers allocated
// once per run. Determinism: the epoch's shuffle and the dropout masks come from streams keyed by
// (seed, epoch, step), and the GEMMs never split their reduction, so the same seed gives the same model for
// any thread count, and a run resumed from its saved state continues exactly as the uninterrupted run.
//
// Layer l maps its input a (B x in) to a Wₗᵀ + bₗ, Wₗ stored out x in (PyTorch's nn.Linear), rows are samples
// (core/matrix.hpp). Losses are means over the rows (MSE: over rows and outputs, as torch.nn.MSELoss).

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "onsager/core/matrix.hpp"


namespace onsager {

struct LayerResult;  // spectral/analyze.hpp

enum class Activation { relu, tanh, sigmoid, linear };
enum class MlpLoss { cross_entropy, mse };
enum class MlpOptimizer { sgd, adam };

std::string_view to_string(Activation a);
/// "relu", "tanh", "sigmoid" or "linear"; throws onsager::Error naming the allowed values.
Activation parse_activation(std::string_view s);
/// "ce" or "mse" (the names the model file records).
std::string_view to_string(MlpLoss l);
/// "ce" (also "cross-entropy"), "mse"; throws onsager::Error otherwise.
MlpLoss parse_mlp_loss(std::string_view s);
std::string_view to_string(MlpOptimizer o);
/// "sgd" or "adam"; throws onsager::Error otherwise.
MlpOptimizer parse_mlp_optimizer(std::string_view s);
/// "784-300-100-10" (or with commas) -> {784, 300, 100, 10}: at least two widths, each in 1..1e6. Throws
/// onsager::Error naming the bad entry.
std::vector<int> parse_arch(std::string_view s);
/// {784, 300, 100, 10} -> "784-300-100-10".
std::string arch_string(const std::vector<int>& arch);

/// The network: weights[l] is out x in, biases[l] has out entries. Hidden layers apply `activation`; the last
/// layer is linear.
struct Mlp {
  std::vector<MatrixF> weights;
  std::vector<VectorF> biases;
  Activation activation = Activation::relu;

  int num_layers() const { return static_cast<int>(weights.size()); }
  int inputs() const { return weights.empty() ? 0 : static_cast<int>(weights.front().cols()); }
  int outputs() const { return weights.empty() ? 0 : static_cast<int>(weights.back().rows()); }
  /// {inputs, widths of each layer}.
  std::vector<int> arch() const;
  /// The last layer's outputs (N x outputs: logits for cross-entropy) of the rows of x (N x inputs). Throws
  /// onsager::Error on a column-count mismatch.
  MatrixF forward(const ConstMatrixFRef& x) const;
  /// The largest output of each row.
  std::vector<int> predict(const ConstMatrixFRef& x) const;
};

/// Mean loss and accuracy of a model on rows x with labels (in 0..outputs-1).
struct MlpScore {
  double loss = std::numeric_limits<double>::quiet_NaN();
  double accuracy = std::numeric_limits<double>::quiet_NaN();
};
/// Scores `model` on x (forward passes in chunks). Throws onsager::Error on a size mismatch or a bad label.
MlpScore score_mlp(const Mlp& model, MlpLoss loss, const ConstMatrixFRef& x, const std::vector<int>& labels);

/// The mean loss over the rows of x (no dropout, no L2) and, when the pointers are given, its gradient with
/// respect to every weight and bias (resized to their shapes), computed in double by the chain rule: the
/// reference the tests hold the float training step and finite differences against.
double mlp_loss_gradient(const Mlp& model, MlpLoss loss, const ConstMatrixFRef& x, const std::vector<int>& labels,
                         std::vector<MatrixD>* weight_grad = nullptr, std::vector<VectorD>* bias_grad = nullptr);

struct MlpConfig {
  std::vector<int> arch = {784, 300, 100, 10};  ///< inputs, then each layer's width (the last: the classes)
  Activation activation = Activation::relu;
  MlpLoss loss = MlpLoss::cross_entropy;
  MlpOptimizer optimizer = MlpOptimizer::sgd;
  int batch_size = 32;          ///< 1 to the whole training set (a larger value means the whole set)
  int epochs = 20;              ///< at most
  double lr = 0.01;             ///< learning rate of epoch 0
  double lr_decay = 1.0;        ///< lr is multiplied by this after every epoch (Martin & Mahoney: 0.95)
  double momentum = 0.9;        ///< SGD momentum μ in [0, 1)
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;  ///< Adam
  double l2 = 0.0;              ///< L2 weight decay: g ← g + l2·W (weights only)
  double dropout = 0.0;         ///< probability of zeroing a hidden unit in training, in [0, 1)
  int early_stop = 0;           ///< patience: stop after this many epochs without a training-loss improvement
                                ///< of more than early_stop_min_delta (0: off)
  double early_stop_min_delta = 0.0;
  double stop_accuracy = 0.0;   ///< > 0: stop once the training accuracy reaches this (the memorisation runs)
  std::uint64_t seed = 0;
  bool spectra = true;          ///< per-epoch spectral metrics of every weight matrix

  /// Throws onsager::Error naming the field ("MlpConfig::validate: config.lr must be > 0 (got 0)").
  void validate() const;
  /// The learning rate of epoch e (0-based): lr · lr_decay^e.
  double lr_at(int epoch) const;
};

nlohmann::json to_json(const MlpConfig& c);
MlpConfig mlp_config_from_json(const nlohmann::json& j);

/// A weight matrix's spectral metrics (spectral/analyze.hpp, WeightWatcher's conventions).
struct LayerSpectrum {
  std::string name;      ///< "layers.0.weight"
  double alpha = std::numeric_limits<double>::quiet_NaN();  ///< power-law exponent (NaN when the fit failed)
  std::string phase;     ///< the 5+1 phase ("random-like", "bulk+spikes", ...)
  double mp_softrank = 0;     ///< λ₊ / λ_max
  std::size_t num_spikes = 0; ///< eigenvalues beyond the MP bulk edge + √Δ_TW
  double stable_rank = 0;     ///< Σλ / λ_max
  double lambda_max = 0;      ///< the largest eigenvalue of WᵀW (the spectral norm squared)
  double spectral_norm = 0;   ///< σ_max(W) = √λ_max
};
/// The spectral metrics of layer `index` of `model`, as `onsager analyze --precision double` reports them for
/// the saved file; with `layer`, also the whole analysis (its eigenvalues kept, for pictures).
LayerSpectrum layer_spectrum(const Mlp& model, int index, LayerResult* layer = nullptr);

struct MlpEpochStats {
  static constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  int epoch = 0;  ///< 1-based
  double lr = 0;
  double train_loss = nan, train_accuracy = nan;  ///< the whole training set, after the epoch, no dropout
  double test_loss = nan, test_accuracy = nan;    ///< NaN without test data
  std::vector<LayerSpectrum> layers;              ///< empty when config.spectra is off
  double seconds = 0;          ///< training time of the epoch (monitors excluded)
  double monitor_seconds = 0;  ///< scoring and spectra
};

nlohmann::json to_json(const MlpEpochStats& s);
MlpEpochStats mlp_epoch_stats_from_json(const nlohmann::json& j);

/// Everything a run needs to continue: the model, the optimiser's buffers (SGD: the velocities in weight_m /
/// bias_m; Adam: first and second moments), the step count and the early-stopping record.
struct MlpState {
  Mlp model;
  std::vector<MatrixF> weight_m, weight_v;
  std::vector<VectorF> bias_m, bias_v;
  std::int64_t steps = 0;
  int epochs_done = 0;
  double best_loss = std::numeric_limits<double>::infinity();  ///< the lowest training loss so far
  int epochs_without_improvement = 0;
  std::vector<MlpEpochStats> history;
};

/// A fresh run: weights ~ N(0, 2 / (in + out)) (Glorot normal), biases 0, optimiser buffers 0. Throws
/// onsager::Error on an invalid config.
MlpState init_mlp(const MlpConfig& config);

/// Why train_mlp returned: all epochs done, early stopping, the stop_accuracy reached, the callback said stop,
/// or the loss became NaN/Inf (the state is then the last finished epoch's).
enum class MlpOutcome { finished, early_stopped, fitted, stopped, diverged };
std::string_view to_string(MlpOutcome o);

/// Called after each epoch; return false to stop.
using MlpEpochCallback = std::function<bool(const MlpState&, const MlpEpochStats&)>;

/// Labelled rows: x (N x inputs, finite) and one label per row in 0..classes-1.
struct LabelledRows {
  ConstMatrixFRef x;
  const std::vector<int>& labels;
};

/// Trains from `state` to config.epochs (or an earlier stop). `test` may be null. Throws onsager::Error on
/// data that does not match the model (width, labels) or non-finite inputs.
MlpOutcome train_mlp(MlpState& state, const MlpConfig& config, const LabelledRows& train, const LabelledRows* test,
                     const MlpEpochCallback& on_epoch = {});

/// Zhang et al.'s corruption: round(fraction · n) rows, chosen at random, get a label drawn uniformly from
/// 0..classes-1 (it may equal the true one). Returns the new labels; `fraction` in [0, 1].
std::vector<int> randomize_labels(const std::vector<int>& labels, double fraction, int classes, std::uint64_t seed);

/// `count` distinct row indices of 0..n-1 drawn at random, ascending (all of them when count >= n).
std::vector<std::size_t> random_subset(std::size_t n, std::size_t count, std::uint64_t seed);

}  // namespace onsager
