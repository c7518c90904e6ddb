// onsager rbm features MODEL: the hidden means p(h=1|v) of a split as features (optionally written as .npy), and
// with --classify a multinomial logistic regression trained on the training split's features and scored on the
// evaluated split: the downstream measure of feature quality.

#include <chrono>

#include <fmt/format.h>

#include "common.hpp"
#include "options.hpp"
#include "onsager/core/error.hpp"
#include "onsager/core/parallel.hpp"
#include "onsager/data/dataset.hpp"
#include "onsager/data/readers.hpp"
#include "onsager/data/transforms.hpp"
#include "onsager/nn/softmax_regression.hpp"
#include "onsager/rbm/model_file.hpp"
#include "rbm_commands.hpp"

namespace onsager::cli {
namespace {

struct FeaturesArgs {
  std::string model, data, split = "test", train_split = "train", binarize, data_dir, out, labels_out;
  bool classify = false, baseline = false, quiet = false;
  int threads = 0;
  SoftmaxRegressionOptions lr;
  JsonOutput json;
};

struct Scores {
  double train_accuracy = 0, test_accuracy = 0, seconds = 0;
  SoftmaxRegression fit;
};

Scores classify(const MatrixF& x_train, const std::vector<int>& y_train, const MatrixF& x_test,
                const std::vector<int>& y_test, int classes, const SoftmaxRegressionOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  Scores s;
  s.fit = fit_softmax_regression(x_train, y_train, classes, o);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.train_accuracy = s.fit.accuracy(x_train, y_train);
  s.test_accuracy = s.fit.accuracy(x_test, y_test);
  return s;
}

nlohmann::json to_json(const Scores& s) {
  return {{"train_accuracy", s.train_accuracy}, {"test_accuracy", s.test_accuracy}, {"iterations", s.fit.iterations},
          {"loss", s.fit.loss},                 {"status", s.fit.status},          {"seconds", s.seconds}};
}

void run_features(FeaturesArgs& a) {
  set_num_threads(a.threads);
  const RbmModel m = load_rbm_model(a.model);
  const Rbm& rbm = m.state.rbm;
  const ModelData md = model_data(m, a.data, a.binarize, a.data_dir, "rbm features");
  // The data is --data, else what the model records: either is protected.
  const auto locks = guard_outputs({{a.out, "--out"}, {a.labels_out, "--labels-out"}, {json_file(a.json), "--json"}},
                                   {{a.model, "the model"}, {data_file(md.source), a.data.empty() ? "the data file" : "--data"}});
  const std::string& source = md.source;
  const Binarization& binarization = md.binarization;
  const auto load = [&](const std::string& split) { return md.load(split, rbm, "rbm features"); };
  const Dataset test = load(a.split);
  const MatrixF f_test = rbm.hidden_probs(test.x);

  nlohmann::json j = {{"model", a.model},
                      {"data", source},
                      {"split", a.split},
                      {"binarize", to_string(binarization)},
                      {"n_samples", test.x.rows()},
                      {"features", rbm.num_hidden()},
                      {"out", a.out.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.out)},
                      {"classify", nullptr},
                      {"baseline", nullptr}};
  if (a.classify || a.baseline) {
    const Dataset train = load(a.train_split);
    ONSAGER_CHECK(!train.labels.empty() && !test.labels.empty(), "rbm features: --classify needs labels, and {} has none",
                  source);
    const int classes = 1 + std::max(*std::max_element(train.labels.begin(), train.labels.end()),
                                     *std::max_element(test.labels.begin(), test.labels.end()));
    if (a.classify) {
      if (!a.quiet) fmt::print(stderr, "fitting logistic regression on {} hidden features ...\n", rbm.num_hidden());
      const Scores s = classify(rbm.hidden_probs(train.x), train.labels, f_test, test.labels, classes, a.lr);
      j["classify"] = to_json(s);
    }
    if (a.baseline) {
      if (!a.quiet) fmt::print(stderr, "fitting logistic regression on {} raw pixels ...\n", rbm.num_visible());
      const Scores s = classify(train.x, train.labels, test.x, test.labels, classes, a.lr);
      j["baseline"] = to_json(s);
    }
    j["train_split"] = a.train_split;
    j["n_train"] = train.x.rows();
    j["l2"] = a.lr.l2;
  }
  if (!a.labels_out.empty()) {
    ONSAGER_CHECK(!test.labels.empty(), "rbm features: --labels-out: {} has no labels", source);
    MatrixF y(test.x.rows(), 1);
    for (Eigen::Index r = 0; r < y.rows(); ++r) y(r, 0) = static_cast<float>(test.labels[static_cast<std::size_t>(r)]);
    write_npy(a.labels_out, y);
  }
  if (!a.out.empty()) write_npy(a.out, f_test);  // last, so that a failed run leaves no file
  if (a.json.to_stdout()) {
    emit_json(a.json, j);
    return;
  }
  fmt::print("model            {} ({} visible x {} hidden)\n", a.model, rbm.num_visible(), rbm.num_hidden());
  fmt::print("data             {} {} ({} samples, binarize {})\n", source, a.split, test.x.rows(),
             to_string(binarization));
  if (!a.out.empty()) fmt::print("features         {} ({} x {}, p(h=1|v))\n", a.out, f_test.rows(), f_test.cols());
  const auto show = [&](const char* what, const nlohmann::json& s) {
    if (s.is_null()) return;
    fmt::print("{:<16} test accuracy {:.2f}%  (train {:.2f}%; L-BFGS {} iterations, {}, {:.1f} s)\n", what,
               100 * s["test_accuracy"].get<double>(), 100 * s["train_accuracy"].get<double>(),
               s["iterations"].get<int>(), s["status"].get<std::string>(), s["seconds"].get<double>());
  };
  show("hidden features", j["classify"]);
  show("raw pixels", j["baseline"]);
  emit_json(a.json, j);
}

}  // namespace

void register_rbm_features(CLI::App& rbm) {
  auto a = std::make_shared<FeaturesArgs>();
  auto* cmd = rbm.add_subcommand(
      "features",
      "Hidden means p(h=1|v) of a split as features, and how well a linear classifier does on them.\n"
      "--classify trains an L2-regularised multinomial logistic regression (L-BFGS) on the training split's\n"
      "features and reports its accuracy on --split; --baseline does the same on the raw pixels.\n"
      "Example: onsager rbm features rbm.safetensors --data mnist --classify --baseline");
  cmd->add_option("model", a->model, "Model file (.safetensors)")->required()->type_name("MODEL");
  add_data_flags(cmd, a->data, a->split, a->binarize, a->data_dir, true, "Split whose features are written and scored");
  cmd->add_option("--train-split", a->train_split, "Split the classifier is trained on")->capture_default_str();
  cmd->add_option("--out", a->out, "Write the features of --split as a float32 .npy file")->type_name("FILE.npy");
  cmd->add_option("--labels-out", a->labels_out, "Write the labels of --split as an N x 1 float32 .npy file")
      ->type_name("FILE.npy");
  cmd->add_flag("--classify", a->classify, "Train a logistic regression on the hidden features; report accuracy");
  cmd->add_flag("--baseline", a->baseline, "The same classifier on the raw pixels, for comparison");
  cmd->add_option("--l2", a->lr.l2, "Weight decay of the logistic regression (scikit-learn's C = 1 / (l2 N))")
      ->capture_default_str();
  cmd->add_option("--max-iters", a->lr.max_iters, "L-BFGS iterations at most")->capture_default_str();
  add_threads_option(cmd, a->threads);
  add_quiet_flag(cmd, a->quiet);
  add_json_option(cmd, a->json);
  cmd->callback([a] { run_features(*a); });
}

}  // namespace onsager::cli
