// onsager rbm ...: the Boltzmann-machine commands.

#include "common.hpp"
#include "rbm_commands.hpp"

namespace onsager::cli {

void register_rbm_commands(CLI::App& app) {
  auto* rbm = app.add_subcommand("rbm", "Restricted Boltzmann machines: train, evaluate, inspect, sample, draw, extract features");
  rbm->require_subcommand(1);
  register_rbm_train(*rbm);
  register_rbm_info(*rbm);
  register_rbm_pictures(*rbm);
  register_rbm_eval(*rbm);
  register_rbm_features(*rbm);
}

}  // namespace onsager::cli
