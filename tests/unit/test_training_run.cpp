// TrainingRun: checkpoints, the log, the resume policy and the data record, in-process, against an uninterrupted
// run and the model file's own contents.

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "brute_force.hpp"
#include "onsager/core/error.hpp"
#include "onsager/data/readers.hpp"
#include "onsager/rbm/model_file.hpp"
#include "onsager/rbm/training_run.hpp"
#include "test_files.hpp"

namespace onsager {
namespace {

using testing::random_binary;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<int> log_epochs(const std::string& path) {
  std::vector<int> epochs;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) epochs.push_back(nlohmann::json::parse(line).at("epoch").get<int>());
  return epochs;
}

struct TrainingRunFile : ::testing::Test {
  std::string dir, data;
  TrainConfig cfg{.method = TrainMethod::pcd, .hidden = 12, .epochs = 4, .batch_size = 25, .lr = 0.05,
                  .chains = 20, .seed = 5, .monitor_samples = 100};
  void SetUp() override {
    dir = onsager::testing::test_dir("training_run");
    data = dir + "/x.npy";
    write_npy(data, random_binary(300, 20, 9));
  }
};

TEST_F(TrainingRunFile, ResumedRunEqualsTheUninterruptedOneAndItsLogHoldsTheModelsEpochs) {
  TrainingRun full = TrainingRun::start(cfg, {.source = data});
  ASSERT_EQ(full.run({.out = dir + "/full.safetensors", .progress = false}), TrainOutcome::finished);
  EXPECT_EQ(full.saved_epoch(), 4);

  TrainConfig half = cfg;
  half.epochs = 2;
  const std::string part = dir + "/part.safetensors", log = dir + "/part.jsonl";
  TrainingRun first = TrainingRun::start(half, {.source = data});
  ASSERT_EQ(first.run({.out = part, .log = log, .progress = false}), TrainOutcome::finished);
  EXPECT_EQ(log_epochs(log), (std::vector<int>{1, 2}));
  // A kill after a log line whose model never landed: the resumed log is cut back to the model's epochs.
  std::ofstream(log, std::ios::app) << R"({"epoch": 3})" << '\n' << R"({"epo)";

  TrainingRun rest = TrainingRun::resume(part, {.epochs = 4});
  EXPECT_EQ(rest.resumed_from(), 2);
  EXPECT_EQ(rest.data().source, data);
  ASSERT_EQ(rest.run({.out = part, .log = log, .progress = false}), TrainOutcome::finished);
  EXPECT_EQ(log_epochs(log), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_TRUE(rest.state().rbm.weight == full.state().rbm.weight);
  EXPECT_TRUE(rest.state().chains == full.state().chains);
  const RbmModel saved = load_rbm_model(part);
  EXPECT_EQ(saved.state.epochs_done, 4);
  EXPECT_TRUE(saved.state.rbm.weight == full.state().rbm.weight);
  EXPECT_EQ(saved.data_info, full.data_record());
}

TEST_F(TrainingRunFile, DataRecordDescribesWhatWasRead) {
  TrainingRun run = TrainingRun::start(cfg, {.source = data, .binarize = "threshold:0.3"});
  const nlohmann::json& r = run.data_record();
  EXPECT_EQ(r.at("source"), data);
  EXPECT_EQ(r.at("samples"), 300);
  EXPECT_EQ(r.at("features"), 20);
  EXPECT_EQ(r.at("valid_split"), "none");  // a file has no monitor split
  EXPECT_EQ(r.at("binarize"), "threshold:0.3");
  EXPECT_EQ(run.valid_set(), nullptr);
  EXPECT_TRUE(run.warnings().empty());
}

TEST_F(TrainingRunFile, ResumePolicyRefusesWhatWouldChangeTheRunOrItsProvenance) {
  TrainConfig half = cfg;
  half.epochs = 2;
  const std::string part = dir + "/part.safetensors";
  ASSERT_EQ(TrainingRun::start(half, {.source = data}).run({.out = part, .progress = false}), TrainOutcome::finished);
  EXPECT_NE(error_of([&] { (void)TrainingRun::resume(part, {.source = data}); })
                .find("TrainingRun::resume: options.source cannot be set when resuming"),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)TrainingRun::resume(part, {.split = "all"}); }).find("options.split cannot be set"),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)TrainingRun::resume(part, {.epochs = 1}); })
                .find("options.epochs 1 is fewer than the 2 epochs"),
            std::string::npos);

  // A model that records no data must be given its data, of its width.
  RbmModel m = load_rbm_model(part);
  const std::string bare = dir + "/bare.safetensors", narrow = dir + "/narrow.npy";
  save_rbm_model(bare, m.state, *m.config, nullptr);
  EXPECT_NE(error_of([&] { (void)TrainingRun::resume(bare, {}); }).find("data.source is required"), std::string::npos);
  write_npy(narrow, random_binary(50, 19, 1));
  EXPECT_NE(error_of([&] { (void)TrainingRun::resume(bare, {.source = narrow}); })
                .find("has 19 features but the model " + bare + " has 20 visible units"),
            std::string::npos);
  TrainingRun given = TrainingRun::resume(bare, {.epochs = 3, .source = data});
  EXPECT_EQ(given.run({.progress = false}), TrainOutcome::finished);
  EXPECT_EQ(given.state().epochs_done, 3);

  // A file without training state (only the weights) cannot be resumed.
  TrainState weights_only;
  weights_only.rbm = m.state.rbm;
  save_rbm_model(bare, weights_only, *m.config, nullptr);
  EXPECT_NE(error_of([&] { (void)TrainingRun::resume(bare, {.source = data}); }).find("has no training state"),
            std::string::npos);
}

TEST_F(TrainingRunFile, SaturationKeepsTheLastCheckpointAndSaysSo) {
  // A linear schedule from 0.05 to 1e6 over 3 epochs: epoch 1 is healthy, epoch 2 (lr 5e5) saturates the weights.
  TrainConfig hot = cfg;
  hot.method = TrainMethod::cd;
  hot.epochs = 3;
  hot.lr_schedule = LrSchedule::linear;
  hot.lr_final = 1e6;
  const std::string out = dir + "/m.safetensors";
  TrainingRun run = TrainingRun::start(hot, {.source = data});
  EXPECT_EQ(run.failure_message(), "");
  EXPECT_EQ(run.run({.out = out, .progress = false}), TrainOutcome::saturated);
  EXPECT_EQ(run.saved_epoch(), 1);
  EXPECT_EQ(run.state().epochs_done, 1);
  EXPECT_EQ(run.failure_message(),
            "TrainingRun::run: the weights blew up in epoch 2 (their RMS grew to more than 100 times that of the epoch "
            "before, or than 100x0.01); " + out + " keeps the model of epoch 1; try a smaller config.lr or a "
            "config.max_norm");
  const RbmModel kept = load_rbm_model(out);
  EXPECT_EQ(kept.state.epochs_done, 1);
  EXPECT_TRUE(kept.state.rbm.weight == run.state().rbm.weight);

  // Saturated in its first epoch: nothing is written.
  hot.lr = 1e6;
  TrainingRun at_once = TrainingRun::start(hot, {.source = data});
  const std::string out2 = dir + "/m2.safetensors";
  EXPECT_EQ(at_once.run({.out = out2, .progress = false}), TrainOutcome::saturated);
  EXPECT_EQ(at_once.saved_epoch(), -1);
  EXPECT_NE(at_once.failure_message().find("no model written"), std::string::npos) << at_once.failure_message();
  EXPECT_FALSE(std::filesystem::exists(out2));
}

TEST_F(TrainingRunFile, CallbackStopsTheRunAfterItsCheckpoint) {
  TrainingRun run = TrainingRun::start(cfg, {.source = data});
  const std::string out = dir + "/m.safetensors";
  int calls = 0;
  EXPECT_EQ(run.run({.out = out, .progress = false,
                     .on_epoch = [&](const TrainState& s, const EpochStats&) { return ++calls < 2 && s.epochs_done < 4; }}),
            TrainOutcome::stopped);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(load_rbm_model(out).state.epochs_done, 2);  // the checkpoint came before the callback said stop
  EXPECT_EQ(run.failure_message(), "");
  EXPECT_EQ(run.report().at("epochs_done"), 2);
  EXPECT_EQ(run.report().at("model"), out);
}

TEST(TrainingRunDigits, WarnsWhenTheTrainingRowsContainTheMonitorsRows) {
  if (!std::filesystem::exists(default_data_dir() + "/digits")) ONSAGER_MISSING("no digits data set");
  TrainConfig cfg{.hidden = 8, .epochs = 0};
  const TrainingRun all = TrainingRun::start(cfg, {.source = "digits", .split = "all"});
  ASSERT_EQ(all.warnings().size(), 1u);
  EXPECT_NE(all.warnings()[0].find("contains the rows of the monitor's split 'validation'"), std::string::npos);
  ASSERT_NE(all.valid_set(), nullptr);
  EXPECT_TRUE(TrainingRun::start(cfg, {.source = "digits"}).warnings().empty());
  EXPECT_EQ(TrainingRun::start(cfg, {.source = "digits", .valid_split = "none"}).valid_set(), nullptr);
}

}  // namespace
}  // namespace onsager
