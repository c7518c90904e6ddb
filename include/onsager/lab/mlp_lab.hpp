#pragma once
// The lab's MLP experiments (DESIGN.md §8), each a set of runs of the MLP trainer (nn/mlp.hpp) under one
// varied knob, summarised per setting and layer:
//   - batch size (Martin & Mahoney, "Implicit self-regularization in deep neural networks", JMLR 2021, §7):
//     smaller batches drive the layers' spectra away from Marchenko–Pastur toward heavy tails;
//   - random labels (Zhang et al., "Understanding deep learning requires rethinking generalization", ICLR 2017):
//     a network fits any fraction of randomised labels, so the test accuracy falls to chance while the
//     training accuracy does not.
// Every run is seeded; the same options give the same report for any thread count.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "onsager/nn/mlp.hpp"
#include "onsager/nn/mlp_file.hpp"
#include "onsager/spectral/analyze.hpp"

namespace onsager {

/// The training settings shared by the runs of an experiment (the knob varied is set per run).
struct LabTraining {
  std::vector<int> arch = {784, 300, 100, 10};
  Activation activation = Activation::relu;
  MlpLoss loss = MlpLoss::cross_entropy;
  int batch_size = 32;
  double lr = 0.01, momentum = 0.9, lr_decay = 0.95;
  int epochs = 20;              ///< the cap
  int early_stop = 3;           ///< patience on the training loss (0: off)
  double early_stop_min_delta = 1e-3;
  double stop_accuracy = 0;     ///< > 0: stop once the training accuracy reaches it
};

/// One trained network: its knob values, how training ended, its scores and each layer's spectrum.
struct LabRun {
  int batch = 0;
  double fraction = 0;      ///< random labels: the fraction of training labels randomised
  std::string arch;         ///< "784-300-100-10"
  std::uint64_t seed = 0;
  int epochs = 0;
  std::string outcome;      ///< finished, early-stopped, fitted, diverged
  double train_loss = 0, train_accuracy = 0, test_loss = 0, test_accuracy = 0;
  double seconds = 0;       ///< training time (monitors excluded)
  std::vector<LayerSpectrum> layers;
  LayerResult first_layer;  ///< the first layer's whole analysis, its eigenvalues kept (for the pictures)
  std::vector<MlpEpochStats> history;
};

/// Mean and sample standard deviation over seeds (sd 0 for one seed; NaN values are left out).
struct MeanSd {
  double mean = 0, sd = 0;
  std::size_t n = 0;
};

/// One setting (a batch size, or a label fraction and architecture) and layer, over its seeds.
struct LabSummary {
  int batch = 0;
  double fraction = 0;
  std::string arch, layer;
  MeanSd alpha, mp_softrank, num_spikes, stable_rank, lambda_max, train_accuracy, test_accuracy, epochs;
  std::string phase;  ///< the most common phase among the seeds (ties: the earliest in the 5+1 order)
};

/// Spearman's rank correlation (ties get their mean rank) between the knob and a metric over all runs.
struct LabCorrelation {
  std::string arch, layer, metric;  ///< layer "" for the run's scores (train_accuracy, test_accuracy, gap)
  double rho = 0;
  std::size_t n = 0;
};

/// Spearman's ρ of x and y (NaN pairs dropped; NaN when fewer than 3 pairs remain or one side is constant).
double spearman_rho(const std::vector<double>& x, const std::vector<double>& y);

struct LabReport {
  std::string experiment;  ///< "batch-size" or "random-labels"
  MlpDataSpec data;
  std::size_t train_rows = 0, test_rows = 0;
  LabTraining training;
  std::vector<LabRun> runs;
  std::vector<LabSummary> summary;
  std::vector<LabCorrelation> correlations;  ///< batch size (or fraction) vs each layer's metrics
  int threads = 0;
  double seconds = 0;
};

nlohmann::json to_json(const LabReport& r);
/// `runs` as CSV, one row per (run, layer): knobs, scores, and the layer's metrics.
std::string lab_runs_csv(const LabReport& r);

/// Called before each run (index, total, what it is) and after it; progress lines.
using LabProgress = std::function<void(std::size_t done, std::size_t total, const LabRun* finished)>;

struct BatchSizeOptions {
  MlpDataSpec data{.source = "fashion-mnist"};
  LabTraining training;
  std::vector<int> batches = {2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
  int seeds = 3;
  std::uint64_t seed = 0;  ///< run s uses seed + s; the subset (data.subset) is drawn from `seed`
  void validate() const;
};

/// Trains arch on data at each batch size for each seed (SGD, lr, momentum, lr decay of `training`, to its early
/// stopping rule or epoch cap). Throws onsager::Error on bad options or data.
LabReport run_batch_size(const BatchSizeOptions& options, const LabProgress& progress = {});

struct RandomLabelsOptions {
  MlpDataSpec data{.source = "fashion-mnist", .subset = 10000};
  LabTraining training{.arch = {}, .batch_size = 128, .lr = 0.01, .momentum = 0.9, .lr_decay = 1.0, .epochs = 100,
                       .early_stop = 0, .early_stop_min_delta = 0, .stop_accuracy = 0.99};
  std::vector<std::vector<int>> archs = {{784, 512, 10}, {784, 512, 512, 512, 10}};
  std::vector<double> fractions = {0, 0.2, 0.4, 0.6, 0.8, 1.0};
  int seeds = 1;
  std::uint64_t seed = 0;
  void validate() const;
};

/// Trains each architecture on the data with each fraction of labels randomised (no explicit regularisation)
/// until the training accuracy reaches training.stop_accuracy or the epoch cap.
LabReport run_random_labels(const RandomLabelsOptions& options, const LabProgress& progress = {});

/// The batch-size figures, written into `dir` (which must exist): alpha.png, spikes.png, mp_softrank.png (each
/// layer's mean ± sd over seeds against the batch size), accuracy.png (train and test), esd_first_layer.png (the
/// first layer's ESD and MP fit at four batch sizes, first seed) and phases.png (the most common phase of each
/// layer and batch size). Returns the files written. Throws onsager::Error when gnuplot is missing or fails.
std::vector<std::string> write_batch_size_figures(const LabReport& report, const std::string& dir);

/// The random-labels figures in `dir`: accuracy.png (train and test against the fraction, per architecture),
/// epochs.png (epochs to fit), alpha.png (each layer's alpha) and phases.png.
std::vector<std::string> write_random_labels_figures(const LabReport& report, const std::string& dir);

}  // namespace onsager
