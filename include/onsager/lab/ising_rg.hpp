#pragma once
// The lab's renormalization-group experiment (Mehta & Schwab, "An exact mapping between the variational
// renormalization group and deep learning", 2014): a DBN of decreasing widths trained on 2-D Ising configurations
// (physics/ising.hpp) at the critical temperature, and at one temperature below and one above to contrast. What the
// RG picture predicts, and what is measured:
//   - the first layer's units have local receptive fields: the fraction of each unit's weight mass |W_j| inside its
//     best k x k window (periodic), for k = 2, 4, 8, against the same for the unit's weights with the pixels
//     shuffled (a non-local filter of the same values);
//   - samples generated from each layer (Gibbs in that layer's RBM, then down through the layers below) look like
//     Ising configurations: their energy per spin, |magnetisation| and spin-spin correlation
//     G(r) = <s_i s_{i+r}> (over sites and both axes) against the training data's.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "onsager/physics/ising.hpp"
#include "onsager/rbm/dbn.hpp"

namespace onsager {

struct IsingRgOptions {
  int L = 40;
  std::vector<double> temperatures = {2.0, 2.269185314213022, 3.0};
  std::size_t samples = 2000;     ///< training configurations per temperature
  std::size_t held_out = 500;     ///< configurations the generated ones are compared with
  int sweeps_between = 5;
  std::vector<int> layers = {400, 100, 25};
  TrainConfig training;           ///< shared by the layers (hidden set per layer; l1 is the locality prior)
  std::vector<int> windows = {2, 4, 8};
  int generated = 500;            ///< samples drawn from each layer
  int gibbs_steps = 1000;         ///< block-Gibbs sweeps in the layer's RBM before the down pass
  std::uint64_t seed = 0;
  /// Throws onsager::Error naming the field.
  void validate() const;
};

/// Statistics of a set of configurations (rows of L² spins as {0, 1}).
struct SpinStats {
  double energy = 0, abs_magnetization = 0;  ///< per spin, means over the rows
  std::vector<double> correlation;           ///< G(r) for r = 1 .. L/2
};
SpinStats spin_stats(const ConstMatrixFRef& spins, int L);

/// The mean over units (rows of `w`, each an L x L filter) of the largest fraction of |w| inside a k x k window
/// (periodic boundaries).
double window_mass_fraction(const ConstMatrixFRef& w, int L, int k);

struct IsingRgLayer {
  int index = 0, visible = 0, hidden = 0;
  SpinStats generated;  ///< samples drawn from this layer's RBM and propagated down to the spins
};

struct IsingRgTemperature {
  double temperature = 0;
  double exact_energy = 0, exact_magnetization = 0;
  SpinStats data;                       ///< the held-out configurations
  std::vector<double> locality, locality_shuffled;  ///< per window size: trained filters vs shuffled pixels
  std::vector<IsingRgLayer> layers;
  Dbn dbn;                              ///< the trained network (for the pictures)
  MatrixF data_examples;                ///< a few held-out configurations
  std::vector<MatrixF> generated_examples;  ///< per layer, a few generated configurations
  double seconds = 0;
};

struct IsingRgReport {
  IsingRgOptions options;
  std::vector<IsingRgTemperature> temperatures;
  double seconds = 0;
};

nlohmann::json to_json(const IsingRgReport& r);

/// Runs the experiment at every temperature. `progress(line)` gets one line per step.
IsingRgReport run_ising_rg(const IsingRgOptions& options, const std::function<void(const std::string&)>& progress = {});

/// The figures in `dir`: filters_T.png (the first layer's strongest filters), samples_T.png (data, then samples
/// from each layer), correlation.png (G(r) of data and layers, a panel per temperature) and locality.png. Returns
/// the files. Throws onsager::Error when gnuplot or the PNG writer fails.
std::vector<std::string> write_ising_rg_figures(const IsingRgReport& r, const std::string& dir);

}  // namespace onsager
