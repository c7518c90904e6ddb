// The library's messages name functions and fields ("log_partition_ais: options.runs must be at least 1");
// a command-line user typed a flag. This table maps each field a command sets from a flag back to that flag,
// and to_cli_message rewrites the field's name, and nothing else, in the one line the user sees.

#include <array>
#include <cctype>
#include <string>
#include <string_view>

#include "common.hpp"

namespace onsager::cli {
namespace {

struct FieldFlag {
  std::string_view function;  ///< the message's first word, with its colon: "log_partition_ais:"
  std::string_view field;     ///< as the library writes it
  std::string_view flag;
};

constexpr std::array kFieldFlags{
    FieldFlag{"TrainConfig::validate:", "config.hidden", "--hidden"},
    FieldFlag{"TrainConfig::validate:", "config.k", "--k"},
    FieldFlag{"TrainConfig::validate:", "config.epochs", "--epochs"},
    FieldFlag{"TrainConfig::validate:", "config.batch_size", "--batch"},
    FieldFlag{"TrainConfig::validate:", "config.lr", "--lr"},
    FieldFlag{"TrainConfig::validate:", "config.lr_final", "--lr-final"},
    FieldFlag{"TrainConfig::validate:", "config.lr_decay", "--lr-decay"},
    FieldFlag{"TrainConfig::validate:", "config.momentum", "--momentum"},
    FieldFlag{"TrainConfig::validate:", "config.l1", "--l1"},
    FieldFlag{"TrainConfig::validate:", "config.l2", "--l2"},
    FieldFlag{"TrainConfig::validate:", "config.max_norm", "--max-norm"},
    FieldFlag{"TrainConfig::validate:", "config.chains", "--chains"},
    FieldFlag{"TrainConfig::validate:", "config.init_std", "--init-std"},
    FieldFlag{"TrainConfig::validate:", "config.monitor_samples", "--monitor-samples"},
    FieldFlag{"TrainConfig::validate:", "config.tap_iters", "--tap-iters"},
    FieldFlag{"TrainConfig::validate:", "config.tap_damping", "--tap-damping"},
    FieldFlag{"TrainConfig::validate:", "config.tap_tol", "--tap-tol"},
    FieldFlag{"TrainConfig::validate:", "config.tap_persist_from", "--tap-persist-from"},
    FieldFlag{"TrainConfig::validate:", "config.tap_restart_fraction", "--tap-restart-fraction"},
    FieldFlag{"TrainConfig::validate:", "config.min_variance", "--min-variance"},
    FieldFlag{"TrainConfig::validate:", "config.variance_lr_scale", "--variance-lr-scale"},
    FieldFlag{"TrainConfig::validate:", "config.method", "--method"},
    FieldFlag{"TrainingRun::start:", "data.source", "--data"},
    FieldFlag{"TrainingRun::resume:", "data.source", "--data"},
    FieldFlag{"TrainingRun::resume:", "options.source", "--data"},
    FieldFlag{"TrainingRun::resume:", "options.split", "--split"},
    FieldFlag{"TrainingRun::resume:", "options.valid_split", "--valid-split"},
    FieldFlag{"TrainingRun::resume:", "options.epochs", "--epochs"},
    FieldFlag{"TrainingRun::run:", "config.lr", "--lr"},
    FieldFlag{"TrainingRun::run:", "config.max_norm", "--max-norm"},
    FieldFlag{"parse_train_method:", "method", "--method"},
    FieldFlag{"parse_lr_schedule:", "schedule", "--lr-schedule"},
    FieldFlag{"parse_tap_reseed:", "reseed", "--tap-reseed"},
    FieldFlag{"MlpConfig::validate:", "config.arch", "--arch"},
    FieldFlag{"MlpConfig::validate:", "config.batch_size", "--batch"},
    FieldFlag{"MlpConfig::validate:", "config.epochs", "--epochs"},
    FieldFlag{"MlpConfig::validate:", "config.lr", "--lr"},
    FieldFlag{"MlpConfig::validate:", "config.lr_decay", "--lr-decay"},
    FieldFlag{"MlpConfig::validate:", "config.momentum", "--momentum"},
    FieldFlag{"MlpConfig::validate:", "config.l2", "--l2"},
    FieldFlag{"MlpConfig::validate:", "config.dropout", "--dropout"},
    FieldFlag{"MlpConfig::validate:", "config.early_stop", "--early-stop"},
    FieldFlag{"MlpConfig::validate:", "config.early_stop_min_delta", "--min-delta"},
    FieldFlag{"MlpConfig::validate:", "config.stop_accuracy", "--stop-accuracy"},
    FieldFlag{"parse_arch:", "arch", "--arch"},
    FieldFlag{"parse_activation:", "activation", "--activation"},
    FieldFlag{"parse_mlp_loss:", "loss", "--loss"},
    FieldFlag{"parse_mlp_optimizer:", "optimizer", "--optimizer"},
    FieldFlag{"load_mlp_data:", "spec.source", "--data"},
    FieldFlag{"load_mlp_data:", "spec.subset", "--subset"},
    FieldFlag{"load_mlp_data:", "spec.label_noise", "--label-noise"},
    FieldFlag{"load_mlp_data:", "spec.split", "--split"},
    FieldFlag{"load_mlp_data:", "spec.test_split", "--test-split"},
    FieldFlag{"run_batch_size:", "options.batches", "--batch"},
    FieldFlag{"run_batch_size:", "options.seeds", "--seeds"},
    FieldFlag{"run_batch_size:", "options.training.lr", "--lr"},
    FieldFlag{"run_batch_size:", "options.training.epochs", "--epochs"},
    FieldFlag{"run_batch_size:", "options.training.momentum", "--momentum"},
    FieldFlag{"run_batch_size:", "options.training.lr_decay", "--lr-decay"},
    FieldFlag{"run_batch_size:", "options.training.early_stop", "--early-stop"},
    FieldFlag{"run_batch_size:", "options.training.arch", "--arch"},
    FieldFlag{"run_random_labels:", "options.archs", "--arch"},
    FieldFlag{"run_random_labels:", "options.fractions", "--fractions"},
    FieldFlag{"run_random_labels:", "options.seeds", "--seeds"},
    FieldFlag{"run_random_labels:", "options.training.lr", "--lr"},
    FieldFlag{"run_random_labels:", "options.training.epochs", "--epochs"},
    FieldFlag{"run_random_labels:", "options.training.momentum", "--momentum"},
    FieldFlag{"run_random_labels:", "options.training.lr_decay", "--lr-decay"},
    FieldFlag{"run_random_labels:", "options.training.early_stop", "--early-stop"},
    FieldFlag{"run_random_labels:", "options.training.batch_size", "--batch"},
    FieldFlag{"run_rbm_temperature:", "options.l2", "--l2"},
    FieldFlag{"run_rbm_temperature:", "options.max_norm", "--max-norm"},
    FieldFlag{"run_rbm_temperature:", "options.held_out", "--held-out"},
    FieldFlag{"run_rbm_temperature:", "data.valid_split", "--valid-split"},
    FieldFlag{"sample_ising_wolff:", "options.L", "--L"},
    FieldFlag{"sample_ising_wolff:", "options.temperature", "--T"},
    FieldFlag{"sample_ising_wolff:", "options.samples", "--samples"},
    FieldFlag{"sample_ising_wolff:", "options.sweeps_between", "--sweeps-between"},
    FieldFlag{"sample_ising_wolff:", "options.burn_in", "--burn-in"},
    FieldFlag{"sample_ising_wolff:", "options.chains", "--chains"},
    FieldFlag{"DbnConfig::validate:", "config.hidden", "--layers"},
    FieldFlag{"DbnConfig::validate:", "config.epochs", "--epochs"},
    FieldFlag{"DbnConfig::validate:", "config.lr", "--lr"},
    FieldFlag{"DbnConfig::validate:", "config.batch_size", "--batch"},
    FieldFlag{"DbnConfig::validate:", "config.k", "--k"},
    FieldFlag{"DbnConfig::validate:", "config.momentum", "--momentum"},
    FieldFlag{"DbnConfig::validate:", "config.l1", "--l1"},
    FieldFlag{"DbnConfig::validate:", "config.l2", "--l2"},
    FieldFlag{"DbnConfig::validate:", "config.max_norm", "--max-norm"},
    FieldFlag{"DbnConfig::validate:", "config.chains", "--chains"},
    FieldFlag{"DbnConfig::validate:", "config.init_std", "--init-std"},
    FieldFlag{"parse_dbn_propagation:", "propagation", "--propagate"},
    FieldFlag{"run_ising_rg:", "options.L", "--L"},
    FieldFlag{"run_ising_rg:", "options.temperatures", "--temperatures"},
    FieldFlag{"run_ising_rg:", "options.samples", "--samples"},
    FieldFlag{"run_ising_rg:", "options.held_out", "--held-out"},
    FieldFlag{"run_ising_rg:", "options.layers", "--layers"},
    FieldFlag{"run_ising_rg:", "options.windows", "--windows"},
    FieldFlag{"run_ising_rg:", "options.generated", "--generated"},
    FieldFlag{"run_ising_rg:", "options.gibbs_steps", "--gibbs-steps"},
    FieldFlag{"log_partition_ais:", "options.runs", "--ais-runs"},
    FieldFlag{"log_partition_ais:", "options.layer", "--ais-layer"},
    FieldFlag{"log_partition_ais:", "options.base", "--ais-base"},
    FieldFlag{"evaluate_rbm:", "options.tap", "--tap"},
    FieldFlag{"ais_schedule:", "betas", "--ais-betas"},
    FieldFlag{"log_partition_bar:", "options.ladders", "--bar-ladders"},
    FieldFlag{"log_partition_bar:", "options.temperatures", "--bar-temperatures"},
    FieldFlag{"log_partition_bar:", "options.sweeps", "--bar-sweeps"},
    FieldFlag{"log_partition_bar:", "options.burn_in", "--bar-burn-in"},
    FieldFlag{"log_partition_exact:", "options.max_log2_states", "--exact-limit"},
    FieldFlag{"log_partition_tap:", "options.max_iters", "--tap-iters"},
    FieldFlag{"log_partition_tap:", "options.damping", "--tap-damping"},
    FieldFlag{"log_partition_tap:", "options.tol", "--tap-tol"},
    FieldFlag{"naive:", "options.tap_options", "--tap-iters, --tap-damping"},
    FieldFlag{"tap2:", "options.tap_options", "--tap-iters, --tap-damping"},
    FieldFlag{"tap3:", "options.tap_options", "--tap-iters, --tap-damping"},
    FieldFlag{"evaluate_rbm:", "options.tap_starts", "--tap-starts"},
    FieldFlag{"evaluate_rbm:", "options.bracket", "--bracket"},
    FieldFlag{"bracket:", "options.bracket_options.max_nodes", "--bracket-nodes"},
    FieldFlag{"bracket:", "options.bracket_options.abandon_width", "rbm eval's default; --bracket runs it to the end"},
    FieldFlag{"log_partition_bracket:", "options.tolerance", "--bracket-tol"},
    FieldFlag{"log_partition_bracket:", "options.max_nodes", "--bracket-nodes"},
    FieldFlag{"load_dataset:", "split", "--split"},
    FieldFlag{"parse_split:", "split", "--split"},
    FieldFlag{"parse_binarization:", "spec", "--binarize"},
    FieldFlag{"analyze:", "options.selection.regex", "--layers"},
    FieldFlag{"analyze:", "options.selection.min_evals", "--min-evals"},
    FieldFlag{"analyze:", "options.powerlaw.min_tail", "--min-tail"},
    FieldFlag{"analyze:", "options.powerlaw.xmax", "--xmax"},
    FieldFlag{"parse_conv_layout:", "layout", "--conv-layout"},
    FieldFlag{"plan_layers:", "selection.regex", "--layers"},
    FieldFlag{"image_shape_for:", "hint", "--shape"},
    FieldFlag{"sample_rbm:", "options.n", "--n"},
    FieldFlag{"sample_rbm:", "options.steps", "--steps"},
    FieldFlag{"filter_tiles:", "n", "--n"},
    FieldFlag{"parse_filter_order:", "order", "--order"},
    FieldFlag{"set_num_threads:", "n", "--threads"},
};

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; }

// Replaces every whole-word occurrence of `field` after the first `from` characters.
void replace_words(std::string& s, std::size_t from, std::string_view field, std::string_view flag) {
  std::size_t pos = from;
  while ((pos = s.find(field, pos)) != std::string::npos) {
    const std::size_t end = pos + field.size();
    // A trailing '.' ends a sentence, not the word.
    const bool left = pos == 0 || !word_char(s[pos - 1]);
    const bool right = end == s.size() || !word_char(s[end]) || (s[end] == '.' && (end + 1 == s.size() || s[end + 1] == ' '));
    if (left && right) {
      s.replace(pos, field.size(), flag);
      pos += flag.size();
    } else {
      pos = end;
    }
  }
}

}  // namespace

std::string to_cli_message(std::string_view library_message) {
  std::string s(library_message);
  for (const FieldFlag& f : kFieldFlags)
    if (s.size() > f.function.size() && s.compare(0, f.function.size(), f.function) == 0 && s[f.function.size()] == ' ')
      replace_words(s, f.function.size(), f.field, f.flag);
  return s;
}

}  // namespace onsager::cli
