#pragma once
// Shared pieces of the subcommands: the `--json [FILE]` convention and the registration hooks.

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

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
/// Writes `j` as the option asks (atomically to a file, or to stdout); does nothing when not enabled.
void emit_json(const JsonOutput& out, const nlohmann::json& j);

void register_data_commands(CLI::App& app);
void register_rbm_commands(CLI::App& app);
void register_analyze_command(CLI::App& app);
void register_inspect_command(CLI::App& app);
void register_convert_command(CLI::App& app);

}  // namespace onsager::cli
