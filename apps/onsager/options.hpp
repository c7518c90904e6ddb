#pragma once
// The one registry of the flags that several commands share: each is declared here, once, with its help text
// (CLI11 turns these into --help), and commands call these instead of declaring their own. What a command
// alone has, it declares itself. tests/cli/test_docs.sh checks every command's --help against its docs page.

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace onsager::cli {

/// The comma-separated entries of a list flag's value ("2,4,8" -> {"2", "4", "8"}; "" -> {""}), empty ones kept.
std::vector<std::string> split_commas(const std::string& s);

/// --threads N: onsager's threads (0: all cores; at most 4x the hardware threads).
void add_threads_option(CLI::App* cmd, int& threads);
/// --quiet/-q: no progress (bars, epoch lines) on stderr.
void add_quiet_flag(CLI::App* cmd, bool& quiet);
/// --data-dir DIR: where the named data sets live.
void add_data_dir_option(CLI::App* cmd, std::string& data_dir);

/// --data, --split, --binarize, --data-dir. `model_default` is true for commands that measure a model (their
/// --data and --binarize default to what the model records); `split_help` says what the split is for.
void add_data_flags(CLI::App* cmd, std::string& data, std::string& split, std::string& binarize, std::string& data_dir,
                    bool model_default, const std::string& split_help);

/// --tap-iters, --tap-damping, --tap-tol: the damped TAP fixed-point iteration (docs/tap.md). `per_update` is
/// true for training, whose --tap-iters caps the sweeps of each update (the reference method's 3), false for
/// rbm eval, which iterates a fixed point to convergence (1000 sweeps at most).
template <class Damping>
void add_tap_options(CLI::App* cmd, int& iters, Damping& damping, double& tol, bool per_update) {
  cmd->add_option("--tap-iters", iters,
                  per_update ? "TAP methods: fixed-point sweeps per update, at most"
                             : "TAP: fixed-point sweeps at most (each start)")
      ->capture_default_str();
  cmd->add_option("--tap-damping", damping, "TAP: damping d of m <- (1-d) m_new + d m")->capture_default_str();
  cmd->add_option("--tap-tol", tol, "TAP: a row stops iterating once max |dm| in a sweep is below this")
      ->capture_default_str();
}

}  // namespace onsager::cli
