#pragma once
#include <cstdio>

#include <CLI/CLI.hpp>

#include "onsager/data/dataset.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/rbm/model_file.hpp"
#include "onsager/rbm/train.hpp"

namespace onsager::cli {
void register_rbm_train(CLI::App& rbm);
void register_rbm_info(CLI::App& rbm);
void register_rbm_pictures(CLI::App& rbm);
void register_rbm_eval(CLI::App& rbm);
void register_rbm_features(CLI::App& rbm);
/// The data a command measures a model on: `--data` (else the data set the model records) binarized by
/// `--binarize` (else the model's own binarization, else threshold:0.5).
struct ModelData {
  std::string source;
  std::string data_dir;  ///< --data-dir, else default_data_dir()
  Binarization binarization;
  /// The split, binarized; throws naming `where` when its column count differs from the model's visible units.
  Dataset load(const std::string& split, const Rbm& rbm, const char* where) const;
};
/// Throws naming `where` when neither --data nor the model names the data.
ModelData model_data(const RbmModel& m, const std::string& data, const std::string& binarize, const std::string& data_dir,
                     const char* where);

/// One human-readable line of an epoch's monitors.
void print_epoch_line(std::FILE* out, const EpochStats& s, int total_epochs);
}  // namespace onsager::cli
