// Train an RBM on scikit-learn's 8x8 digits and report its test log-likelihood by AIS, next to the exact
// value (16 hidden units: 2^16 states, enumerated in milliseconds). Needs the data sets of scripts/setup.sh
// ($ONSAGER_DATA, or run from the source tree).
#include <onsager/onsager.hpp>

#include <fmt/format.h>

int main() {
  using namespace onsager;
  // The run loads and binarizes its data (and the free-energy monitor's validation rows) and records where it
  // came from; run({.out = "rbm.safetensors"}) would also checkpoint it after every epoch, for resume().
  const TrainConfig config{.hidden = 16, .epochs = 20, .batch_size = 20, .lr = 0.05, .seed = 1};
  TrainingRun run = TrainingRun::start(config, {.source = "digits", .binarize = "threshold:0.5"});
  run.run({.progress = false});
  const TrainState& state = run.state();
  const Dataset& train_set = run.train_set();
  Dataset test_set = load_dataset("digits", Split::test);
  binarize(test_set.x, parse_binarization(run.data().binarize));

  const AisResult ais = log_partition_ais(state.rbm, pixel_marginals(train_set.x), {.runs = 100, .betas = 5000});
  const double exact = log_partition_exact(state.rbm);
  fmt::print("digits RBM 64 x 16, {} epochs of PCD-1\n", state.epochs_done);
  fmt::print("log Z  AIS {:.3f} in [{:.3f}, {:.3f}]   exact {:.3f}\n", ais.log_z, ais.log_z_lo, ais.log_z_hi, exact);
  fmt::print("test log-likelihood  AIS {:.3f}   exact {:.3f} nats per digit\n",
             average_log_likelihood(state.rbm, test_set.x, ais.log_z),
             average_log_likelihood(state.rbm, test_set.x, exact));
  return 0;
}
