#pragma once
#include <cstdio>

#include <CLI/CLI.hpp>

#include "onsager/rbm/train.hpp"

namespace onsager::cli {
void register_rbm_train(CLI::App& rbm);
void register_rbm_info(CLI::App& rbm);
void register_rbm_pictures(CLI::App& rbm);
void register_rbm_eval(CLI::App& rbm);
void register_rbm_features(CLI::App& rbm);
/// One human-readable line of an epoch's monitors.
void print_epoch_line(std::FILE* out, const EpochStats& s, int total_epochs);
}  // namespace onsager::cli
