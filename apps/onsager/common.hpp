#pragma once
// Shared pieces of the subcommands: the `--json [FILE]` convention and the registration hooks.

#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "onsager/core/output.hpp"

namespace onsager::cli {

/// `--json [FILE]`: JSON to FILE, or to stdout when no file is given.
struct JsonOutput {
  CLI::Option* option = nullptr;
  std::string path;
  bool enabled() const { return option != nullptr && option->count() > 0; }
  /// True when the JSON goes to stdout, which then carries nothing else.
  bool to_stdout() const { return enabled() && (path.empty() || path == "-"); }
};

void add_json_option(CLI::App* cmd, JsonOutput& out);
/// `--data`'s value as a path to protect: "" for a named data set (its files live in the data directory).
std::string data_file(const std::string& data);

/// The file `--json FILE` writes, or "" when JSON goes to stdout or is off.
inline std::string json_file(const JsonOutput& out) { return out.enabled() && !out.to_stdout() ? out.path : ""; }

/// Checks that no output is an input or another output (core/output.hpp) and locks every output for the
/// life of the returned locks; empty paths are skipped. Call it before reading or writing anything large.
std::vector<OutputLock> guard_outputs(const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs);
/// Writes `j` as the option asks (atomically to a file, or to stdout); does nothing when not enabled.
void emit_json(const JsonOutput& out, const nlohmann::json& j);

/// A library message with the fields a command sets from flags renamed to those flags
/// ("log_partition_ais: options.runs must ..." -> "log_partition_ais: --ais-runs must ..."); flag_names.cpp.
std::string to_cli_message(std::string_view library_message);

void register_data_commands(CLI::App& app);
void register_rbm_commands(CLI::App& app);
void register_analyze_command(CLI::App& app);
void register_inspect_command(CLI::App& app);
void register_convert_command(CLI::App& app);
void register_mlp_commands(CLI::App& app);
void register_lab_commands(CLI::App& app);
void register_dbn_commands(CLI::App& app);

}  // namespace onsager::cli
