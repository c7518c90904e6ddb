// onsager rbm ...: the Boltzmann-machine commands.

#include "common.hpp"
#include "onsager/core/error.hpp"
#include "rbm_commands.hpp"

namespace onsager::cli {

ModelData model_data(const RbmModel& m, const std::string& data, const std::string& binarize, const std::string& data_dir,
                     const char* where) {
  ModelData out;
  out.data_dir = data_dir.empty() ? default_data_dir() : data_dir;
  out.source = data;
  if (out.source.empty() && m.data_info.is_object()) out.source = m.data_info.value("source", "");
  ONSAGER_CHECK(!out.source.empty(), "{}: --data NAME|PATH is required (the model does not record its data)", where);
  std::string bin = binarize;
  if (bin.empty()) bin = m.data_info.is_object() ? m.data_info.value("binarize", "threshold:0.5") : "threshold:0.5";
  out.binarization = parse_binarization(bin);
  return out;
}

Dataset ModelData::load(const std::string& split, const Rbm& rbm, const char* where) const {
  Dataset d = load_dataset(source, parse_split(split), data_dir);
  ONSAGER_CHECK(d.x.cols() == rbm.num_visible(), "{}: {} has {} features, the model {} visible units", where, source,
                d.x.cols(), rbm.num_visible());
  onsager::binarize(d.x, binarization);
  return d;
}

void register_rbm_commands(CLI::App& app) {
  auto* rbm = app.add_subcommand("rbm", "Restricted Boltzmann machines: train, evaluate, inspect, sample, draw, extract features");
  rbm->require_subcommand(1);
  register_rbm_train(*rbm);
  register_rbm_info(*rbm);
  register_rbm_pictures(*rbm);
  register_rbm_eval(*rbm);
  register_rbm_features(*rbm);
}

}  // namespace onsager::cli
