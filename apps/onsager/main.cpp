// onsager: the statistical mechanics of learning, from the command line.
// Each subcommand parses its flags, calls the library and prints; errors become exit status 1 and one line.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common.hpp"
#include "mpi.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/file.hpp"
#include "onsager/data/dataset.hpp"

namespace onsager::cli {

void add_json_option(CLI::App* cmd, JsonOutput& out) {
  out.option = cmd->add_option("--json", out.path, "Write the results as JSON to FILE, or to stdout without FILE")
                   ->expected(0, 1)
                   ->type_name("[FILE]");
}

std::string data_file(const std::string& data) { return is_dataset_name(data) ? std::string() : data; }

std::vector<OutputLock> guard_outputs(const std::vector<NamedPath>& outputs, const std::vector<NamedPath>& inputs) {
  check_outputs(outputs, inputs);
  std::vector<OutputLock> locks;
  for (const NamedPath& o : outputs)
    if (!o.path.empty()) locks.emplace_back(o.path);
  return locks;
}

void emit_json(const JsonOutput& out, const nlohmann::json& j) {
  if (!out.enabled()) return;
  const std::string text = j.dump(2) + "\n";
  if (out.to_stdout()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  } else {
    write_file_atomic(out.path, text);
  }
}

}  // namespace onsager::cli

namespace {

// OpenMP threads that wait at a barrier spin by default (libgomp: 300,000 turns before sleeping). On a shared
// machine a spinning thread takes the core that the thread it waits for needs, and a PCD epoch on 2 cores
// with one other busy process slows about 3x instead of the 2x that sharing the cores costs. Sleeping at once
// (OMP_WAIT_POLICY=passive) fixes that but costs 11-18% on a quiet machine, a system call per wake-up at
// every barrier; a short spin of 1,000 turns keeps a loaded run within 2x and costs about half that quiet
// (docs/performance.md, bench/bench_contention.cpp). libgomp reads the setting when it is loaded, before
// main, so the command sets GOMP_SPINCOUNT and runs itself again (once, about a millisecond). A user's own
// OMP_WAIT_POLICY or GOMP_SPINCOUNT is kept.
constexpr const char* kSpinCount = "1000";

void wait_briefly(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (::setenv("GOMP_SPINCOUNT", kSpinCount, 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // exec failed (no /proc): carry on with libgomp's default.
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// "; did you mean --hidden?" for a misspelt flag of the command being parsed, or "".
std::string suggestion(const CLI::App& app, const std::string& message) {
  const CLI::App* cmd = &app;
  while (!cmd->get_subcommands().empty()) cmd = cmd->get_subcommands().front();
  std::string best;
  std::size_t best_distance = 3;  // at most 2 edits
  for (std::size_t pos = message.find("--"); pos != std::string::npos; pos = message.find("--", pos + 2)) {
    std::size_t end = message.find_first_of(" ,=", pos);
    const std::string typed = message.substr(pos + 2, end == std::string::npos ? std::string::npos : end - pos - 2);
    if (typed.empty()) continue;
    bool known = false;
    for (const CLI::Option* o : cmd->get_options())
      for (const std::string& name : o->get_lnames()) known = known || name == typed;
    if (known) continue;
    for (const CLI::Option* o : cmd->get_options())
      for (const std::string& name : o->get_lnames()) {
        const std::size_t d = edit_distance(typed, name);
        if (d > 0 && d < best_distance) best_distance = d, best = name;
      }
  }
  return best.empty() ? std::string() : "; did you mean --" + best + "?";
}

}  // namespace

int main(int argc, char** argv) {
  wait_briefly(argv);
  CLI::App app{
      "onsager: Boltzmann machines, their likelihoods and the spectra of trained networks.\n"
      "Run 'onsager COMMAND --help' for a command's options; docs/ has one page per command."};
  app.name("onsager");
  app.require_subcommand(1);
  // The MPI line tells whether `mpirun -n R onsager analyze` shares the work (docs/analyze.md, "Many machines").
  app.set_version_flag("--version", "onsager 0.1.0\nMPI: " + onsager::cli::mpi_library());
  onsager::install_cleanup_handlers();
  onsager::cli::register_data_commands(app);
  onsager::cli::register_rbm_commands(app);
  onsager::cli::register_dbn_commands(app);
  onsager::cli::register_mlp_commands(app);
  onsager::cli::register_lab_commands(app);
  onsager::cli::register_analyze_command(app);
  onsager::cli::register_inspect_command(app);
  onsager::cli::register_convert_command(app);
  // Under an MPI launcher only analyze shares its work; every other command would run once per process, each
  // writing the same outputs. Rank 0 says so; the others exit 0 so that the launcher lets it finish printing.
  const int processes = onsager::cli::launched_processes();
  if (processes > 1 && argc > 1 && argv[1][0] != '-' && std::string(argv[1]) != "analyze") {
    if (onsager::cli::launched_rank() != 0) return 0;
    fmt::print(stderr,
               "onsager: error: only 'onsager analyze' shares its work among MPI processes; run 'onsager {}' "
               "without mpirun (started as {} processes)\n",
               argv[1], processes);
    return 1;
  }
  // The ranks of a launch parse the same flags: rank 0 alone reports a mistake in them.
  const bool report = processes <= 1 || onsager::cli::launched_rank() == 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ExtrasError& e) {  // unknown flags: suggest the nearest one the command has
    const std::string what = e.what();
    if (report) fmt::print(stderr, "onsager: error: {}{} (see --help)\n", what, suggestion(app, what));
    return report ? 1 : 0;
  } catch (const CLI::ParseError& e) {
    if (report) fmt::print(stderr, "onsager: error: {} (see --help)\n", e.what());
    return report ? 1 : 0;
  } catch (const onsager::Error& e) {
    fmt::print(stderr, "onsager: error: {}\n", onsager::cli::to_cli_message(e.what()));
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "onsager: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "onsager: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
