// onsager rbm info MODEL: shapes, settings and the last epoch of a model file.

#include <fmt/format.h>

#include "common.hpp"
#include "onsager/rbm/model_file.hpp"
#include "rbm_commands.hpp"

namespace onsager::cli {
namespace {

struct RbmInfoArgs {
  std::string model;
  JsonOutput json;
};

void run_info(const RbmInfoArgs& a) {
  const RbmModel m = load_rbm_model(a.model);
  const Rbm& rbm = m.state.rbm;
  nlohmann::json j = {{"model", a.model},
                      {"visible", rbm.num_visible()},
                      {"hidden", rbm.num_hidden()},
                      {"visible_type", rbm.visible_type()},
                      {"epochs_done", m.state.epochs_done},
                      {"epochs_planned", m.config ? nlohmann::json(m.config->epochs) : nlohmann::json(nullptr)},
                      {"settings", m.config ? to_json(*m.config) : nlohmann::json(nullptr)},
                      {"data", m.data_info},
                      {"resumable", m.has_train_state && m.config.has_value()},
                      {"last_epoch", m.state.history.empty() ? nlohmann::json(nullptr) : to_json(m.state.history.back())}};
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("model      {}\n", a.model);
  fmt::print("units      {} {} visible x {} hidden\n", rbm.num_visible(), rbm.visible_type(), rbm.num_hidden());
  if (m.config)
    fmt::print("training   {}-{}, {} of {} epochs done{}, batch {}, lr {}\n", to_string(m.config->method), m.config->k,
               m.state.epochs_done, m.config->epochs,
               m.state.epochs_done < m.config->epochs ? " (--resume continues it)" : "", m.config->batch_size,
               m.config->lr);
  if (!m.data_info.is_null()) fmt::print("data       {}\n", m.data_info.dump());
  if (!m.state.history.empty()) print_epoch_line(stdout, m.state.history.back(), m.config ? m.config->epochs : m.state.epochs_done);
  emit_json(a.json, j);
}

}  // namespace

void register_rbm_info(CLI::App& rbm) {
  auto args = std::make_shared<RbmInfoArgs>();
  auto* cmd = rbm.add_subcommand("info", "Show a model file's shapes, training settings and last monitors");
  cmd->add_option("model", args->model, "Model file (.safetensors)")->required()->type_name("MODEL");
  add_json_option(cmd, args->json);
  cmd->callback([args] { run_info(*args); });
}

}  // namespace onsager::cli
