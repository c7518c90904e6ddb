// How onsager behaves on a shared machine: a PCD epoch (mnist, 784 x 500, batch 100) and an AIS estimate
// (784 x 500, 100 runs), each timed through the `onsager` command on a quiet machine and with one competing
// CPU-bound process that this program starts itself, for each OpenMP wait policy: the command's own default
// ("onsager"), libgomp's default when nothing is set (spin 300,000 times, then sleep), OMP_WAIT_POLICY=active
// (spin at every barrier), passive (sleep at once), and spin counts between (--spin-counts). Prints medians,
// the loaded/quiet ratio of each, and each policy's quiet time against libgomp's default.
//   bench_contention [--onsager build/onsager] [--repeats 3] [--epochs 3] [--spin-counts 30000,3000,300]
//                    [--only onsager,passive]

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_common.hpp"

namespace {

using onsager::bench::median;
using onsager::bench::run_capture;

// A busy loop in a child process: the "other job" on a 2-core machine.
pid_t start_load() {
  const pid_t pid = fork();
  if (pid == 0) {
    volatile unsigned long x = 0;
    for (;;) x = x * 6364136223846793005UL + 1;
  }
  return pid;
}

void stop_load(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

struct Timing {
  double epoch = 0, ais = 0;
};

// One PCD run of `epochs` epochs (median epoch time) and one AIS run, through the command.
Timing run_once(const std::string& onsager, const std::string& policy_env, const std::string& dir, int epochs) {
  const std::string model = dir + "/contention.safetensors";
  run_capture(fmt::format("{} {} rbm train --data mnist --hidden 500 --epochs {} --batch 100 --lr 0.05 --seed 1 "
                          "--monitor-samples 0 --quiet --out {} --log {}/contention.jsonl",
                          policy_env, onsager, epochs, model, dir));
  std::vector<double> epoch_seconds;
  std::ifstream log(dir + "/contention.jsonl");
  for (std::string line; std::getline(log, line);)
    if (!line.empty()) epoch_seconds.push_back(nlohmann::json::parse(line)["seconds"].get<double>());
  ONSAGER_CHECK(!epoch_seconds.empty(), "bench_contention: the training wrote no epochs (is mnist installed?)");
  const std::string eval = run_capture(fmt::format("{} {} rbm eval {} --ais-runs 100 --ais-betas 3000 --no-ais-check --quiet --json",
                                                   policy_env, onsager, model));
  const nlohmann::json j = nlohmann::json::parse(eval);
  return {median(epoch_seconds), j["details"]["ais"]["seconds"].get<double>()};
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"onsager under load: PCD epoch and AIS, quiet and with one competing process, per OpenMP wait policy"};
  std::string onsager = ONSAGER_CLI_PATH;
  int repeats = 3, epochs = 3;
  app.add_option("--onsager", onsager, "The onsager command to time")->capture_default_str();
  app.add_option("--repeats", repeats, "Runs per setting (medians are reported)")->capture_default_str();
  app.add_option("--epochs", epochs, "PCD epochs per run")->capture_default_str();
  std::vector<long> spin_counts = {30000, 3000, 300};
  app.add_option("--spin-counts", spin_counts, "GOMP_SPINCOUNT values to time besides the named policies")
      ->delimiter(',')
      ->capture_default_str();
  std::vector<std::string> only;
  app.add_option("--only", only, "Time only these policies (onsager, active, passive, 'spin N'); libgomp's default, the "
                                 "baseline, always runs")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/onsager-contention-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::vector<std::pair<std::string, std::string>> policies = {
      {"onsager", "env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT"},
      {"libgomp", "env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=300000"},
      {"active", "env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=active"},
      {"passive", "env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive"}};
  for (const long spins : spin_counts)
    policies.push_back({fmt::format("spin {}", spins), fmt::format("env -u OMP_WAIT_POLICY GOMP_SPINCOUNT={}", spins)});
  if (!only.empty())
    std::erase_if(policies, [&](const auto& p) {
      return p.first != "libgomp" && std::find(only.begin(), only.end(), p.first) == only.end();
    });
  // libgomp's default first: the other rows' quiet cost is measured against it.
  std::stable_partition(policies.begin(), policies.end(), [](const auto& p) { return p.first == "libgomp"; });
  fmt::print("onsager under load ({} hardware threads, {} runs each, medians; load = one busy process)\n",
             sysconf(_SC_NPROCESSORS_ONLN), repeats);
  fmt::print("{:<10} {:>12} {:>12} {:>7}   {:>10} {:>10} {:>7}   {:>15}\n", "policy", "epoch quiet", "epoch load",
             "ratio", "AIS quiet", "AIS load", "ratio", "quiet vs libgomp");
  // Repeats outermost: every policy is timed once per round, so a machine that drifts (other tenants, clocks)
  // shifts all policies alike instead of whichever ran last.
  struct Samples {
    std::vector<double> eq, el, aq, al;
  };
  std::vector<Samples> samples(policies.size());
  for (int r = 0; r < repeats; ++r)
    for (std::size_t p = 0; p < policies.size(); ++p) {
      const std::string& env = policies[p].second;
      const Timing quiet = run_once(onsager, env, dir, epochs);
      const pid_t load = start_load();
      const Timing loaded = run_once(onsager, env, dir, epochs);
      stop_load(load);
      samples[p].eq.push_back(quiet.epoch);
      samples[p].el.push_back(loaded.epoch);
      samples[p].aq.push_back(quiet.ais);
      samples[p].al.push_back(loaded.ais);
    }
  nlohmann::json out = nlohmann::json::array();
  // The quiet machine's cost of each policy, against libgomp's default (the first row).
  const double base_epoch = median(samples[0].eq), base_ais = median(samples[0].aq);
  for (std::size_t p = 0; p < policies.size(); ++p) {
    const double a = median(samples[p].eq), b = median(samples[p].el), c = median(samples[p].aq),
                 d = median(samples[p].al);
    fmt::print("{:<10} {:>11.3f}s {:>11.3f}s {:>6.2f}x   {:>9.2f}s {:>9.2f}s {:>6.2f}x   {:>+6.1f}% {:>+6.1f}%\n",
               policies[p].first, a, b, b / a, c, d, d / c, 100 * (a / base_epoch - 1), 100 * (c / base_ais - 1));
    out.push_back({{"policy", policies[p].first}, {"epoch_quiet", a}, {"epoch_loaded", b}, {"ais_quiet", c},
                   {"ais_loaded", d}});
  }
  fmt::print("{}\n", out.dump());
  std::system(fmt::format("rm -rf {}", dir).c_str());
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "bench_contention: {}\n", e.what());
  return 1;
}
