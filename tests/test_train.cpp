// Sequential::compile / fit / evaluate and the callbacks: fit computes what the plain loop
// (forward, loss, backward, clip, step) computes; the same seed gives the same weights bit for
// bit, whatever the thread count; a resumed run ends where an unbroken one does; NaN stops or
// skips; progress, logs and initialisers.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "lstm/lstm.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using lstm::Tensor;

Tensor random_tensor(lstm::Shape shape, uint64_t seed) {
  Tensor t(std::move(shape));
  lstm::Rng rng(seed);
  for (float& v : t) v = rng.uniform(-1.0f, 1.0f);
  return t;
}

// LSTM 3 → 6 (two layers, dropout between them), Dense 6 → 2, at every step.
lstm::Sequential small_model(float dropout = 0.0f) {
  lstm::Sequential model;
  model.add(lstm::LSTM({.input_size = 3, .hidden_size = 6, .num_layers = 2, .dropout = dropout}));
  model.add(lstm::Dense({.in_features = 6, .out_features = 2}));
  model.initialize(lstm::Initializer::pytorch, 11);
  return model;
}

struct Data {
  Tensor x = random_tensor({23, 5, 3}, 1);  // 23 samples: the last batch of 8 is partial
  Tensor y = random_tensor({23, 5, 2}, 2);
};

std::vector<Tensor> weights(lstm::Sequential& model) {
  std::vector<Tensor> out;
  for (const auto& p : model.parameters()) out.push_back(*p.value);
  return out;
}

bool bit_identical(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].shape() != b[i].shape() ||
        std::memcmp(a[i].data(), b[i].data(), sizeof(float) * a[i].numel()) != 0)
      return false;
  return true;
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("lstm_train_") + test->test_suite_name() + "_" + test->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// ---------------------------------------------------------------------------------------------

TEST(Fit, ComputesWhatThePlainLoopComputes) {
  Data data;
  lstm::Sequential by_fit = small_model(), by_hand = small_model();
  by_fit.compile(lstm::Loss::huber, lstm::Adam({.lr = 0.01}), {}, {.clip_norm = 0.5});
  by_fit.fit(data.x, data.y, {.epochs = 3, .batch_size = 8, .shuffle = false, .verbose = 0});

  // Batches in order, mean loss per batch, clip, one step each: a PyTorch loop's arithmetic.
  lstm::Adam adam({.lr = 0.01});
  const auto params = by_hand.parameters();
  for (int epoch = 0; epoch < 3; ++epoch)
    for (int64_t begin = 0; begin < 23; begin += 8) {
      const int64_t rows = std::min<int64_t>(8, 23 - begin);
      Tensor xb({rows, 5, 3}), yb({rows, 5, 2});
      std::copy_n(data.x.data() + begin * 15, rows * 15, xb.data());
      std::copy_n(data.y.data() + begin * 10, rows * 10, yb.data());
      by_hand.zero_grad();
      const auto loss = lstm::compute_loss(lstm::Loss::huber, by_hand.forward(xb, {.training = true}), yb);
      by_hand.backward(loss.grad);
      lstm::clip_grad_norm(params, 0.5);
      adam.step(params);
    }
  EXPECT_TRUE(bit_identical(weights(by_fit), weights(by_hand)));
  EXPECT_EQ(by_fit.optimizer().step_count(), 9);
}

TEST(Fit, SameSeedSameWeightsBitForBit) {
  Data data;
  auto train = [&](uint64_t seed) {
    lstm::Sequential model = small_model(0.3f);  // shuffling and dropout both draw
    model.compile(lstm::Loss::mse, lstm::RMSprop({.lr = 0.005}));
    model.fit(data.x, data.y, {.epochs = 3, .batch_size = 4, .seed = seed, .verbose = 0});
    return weights(model);
  };
  EXPECT_TRUE(bit_identical(train(7), train(7)));
  EXPECT_FALSE(bit_identical(train(7), train(8)));
}

TEST(Fit, SameWeightsWhateverTheThreadCount) {
  Data data;
  const int threads_before = lstm::num_threads();
  auto train = [&](int threads) {
    lstm::set_num_threads(threads);
    lstm::Sequential model;
    model.add(lstm::LSTM({.input_size = 3, .hidden_size = 96, .num_layers = 2, .dropout = 0.2f,
                          .bidirectional = true}));
    model.add(lstm::Dense({.in_features = 192, .out_features = 2}));
    model.initialize(lstm::Initializer::keras, 5);
    model.compile(lstm::Loss::huber, lstm::AdamW({.lr = 0.01}));
    model.fit(data.x, data.y, {.epochs = 2, .batch_size = 6, .seed = 2, .verbose = 0});
    return weights(model);
  };
  const auto one = train(1);
  EXPECT_TRUE(bit_identical(one, train(2)));
  EXPECT_TRUE(bit_identical(one, train(3)));
  lstm::set_num_threads(threads_before);
}

TEST(Fit, HistoryHasEveryNumberOfEveryEpoch) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::SGD({.lr = 0.1}), {lstm::Metric::rmse, lstm::Metric::mae});
  const lstm::History history =
      model.fit(data.x, data.y, {.epochs = 4, .batch_size = 5, .validation_split = 0.25, .verbose = 0});
  EXPECT_EQ(history.epochs, (std::vector<int64_t>{0, 1, 2, 3}));
  for (const char* name : {"loss", "rmse", "mae", "val_loss", "val_rmse", "val_mae", "lr"})
    EXPECT_EQ(history[name].size(), 4u) << name;
  EXPECT_TRUE(history.stop_reason.empty());
  EXPECT_DOUBLE_EQ(history["lr"][3], 0.1);
  // MSE over the epoch's samples and RMSE from the same running totals: RMSE² = MSE here, as every
  // sample has as many elements.
  EXPECT_NEAR(history["rmse"][3] * history["rmse"][3], history["loss"][3], 1e-6);
  EXPECT_THROW(history["accuracy"], lstm::Error);
}

TEST(Fit, ValidationSplitIsTheLastSamplesBeforeShuffling) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam({.lr = 0.01}));
  // 23 · (1 − 0.3) = 16.1: the first 16 samples train, the last 7 validate.
  const lstm::History history =
      model.fit(data.x, data.y, {.epochs = 2, .batch_size = 4, .validation_split = 0.3, .verbose = 0});
  Tensor x_val({7, 5, 3}), y_val({7, 5, 2});
  std::copy_n(data.x.data() + 16 * 15, 7 * 15, x_val.data());
  std::copy_n(data.y.data() + 16 * 10, 7 * 10, y_val.data());
  EXPECT_DOUBLE_EQ(history["val_loss"].back(), model.evaluate(x_val, y_val, 4).at("loss"));
}

TEST(Fit, EvaluateWeighsBatchesBySize) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam(), {lstm::Metric::mae});
  const auto whole = lstm::mse_loss(model.predict(data.x), data.y).value;
  const auto scores = model.evaluate(data.x, data.y, 5);  // batches of 5, 5, 5, 5, 3
  EXPECT_NEAR(scores.at("loss"), whole, 1e-6 * whole);
  EXPECT_NEAR(scores.at("mae"), lstm::mae(model.predict(data.x), data.y), 1e-6);
}

TEST(Fit, BadArgumentsAreClearErrors) {
  Data data;
  lstm::Sequential model = small_model();
  EXPECT_NE(lstm::testing::error_of([&] { model.fit(data.x, data.y); }).find("compile"),
            std::string::npos);
  model.compile(lstm::Loss::mse, lstm::Adam());
  EXPECT_NE(lstm::testing::error_of([&] {
              model.fit(data.x, random_tensor({22, 5, 2}, 3), {.verbose = 0});
            }).find("y has 22 samples"),
            std::string::npos);
  EXPECT_NE(lstm::testing::error_of([&] {
              model.fit(data.x, data.y, {.validation_split = 0.99, .verbose = 0});
            }).find("both need at least one"),
            std::string::npos);
  EXPECT_NE(lstm::testing::error_of([&] {
              model.fit(data.x, data.y,
                        {.callbacks = {lstm::callbacks::EarlyStopping()}, .verbose = 0});
            }).find("monitors \"val_loss\""),
            std::string::npos);
}

TEST(Fit, LengthsReachTheRecurrentLayers) {
  Data data;
  std::vector<int64_t> lengths(23, 5);
  lengths[0] = 2;
  lengths[9] = 1;
  lstm::Sequential with = small_model(), without = small_model();
  with.compile(lstm::Loss::mse, lstm::SGD({.lr = 0.1}));
  without.compile(lstm::Loss::mse, lstm::SGD({.lr = 0.1}));
  with.fit(data.x, data.y, {.epochs = 1, .batch_size = 8, .lengths = lengths, .verbose = 0});
  without.fit(data.x, data.y, {.epochs = 1, .batch_size = 8, .verbose = 0});
  EXPECT_FALSE(bit_identical(weights(with), weights(without)));
  lengths[3] = 6;
  EXPECT_NE(lstm::testing::error_of([&] {
              with.fit(data.x, data.y, {.lengths = lengths, .verbose = 0});
            }).find("length 6 of sample 3"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Callbacks

// Drives a callback with a sequence of val_loss values, returns the epoch after which it
// stopped training (or −1).
int64_t stopping_epoch(lstm::callbacks::EarlyStopping& stopping, const std::vector<double>& values) {
  lstm::Sequential model = small_model();
  lstm::SGD sgd;
  lstm::TrainingState state{model, sgd};
  state.logged_names = {"loss", "val_loss", "lr"};
  stopping.on_train_begin(state);
  for (std::size_t e = 0; e < values.size(); ++e) {
    state.epoch = static_cast<int64_t>(e);
    state.logs = {{"val_loss", values[e]}};
    stopping.on_epoch_end(state);
    if (state.stop_training) return state.epoch;
  }
  return -1;
}

TEST(Callbacks, EarlyStoppingCountsPatienceAsKerasDoes) {
  {
    lstm::callbacks::EarlyStopping stopping({.patience = 2});
    // best at epoch 1; epochs 2 and 3 do not improve: stop after epoch 3.
    EXPECT_EQ(stopping_epoch(stopping, {1.0, 0.5, 0.6, 0.7, 0.1}), 3);
    EXPECT_EQ(stopping.best_epoch(), 1);
  }
  {
    lstm::callbacks::EarlyStopping stopping({.min_delta = 0.1, .patience = 1});
    // 0.95 is not better than 1.0 by more than 0.1.
    EXPECT_EQ(stopping_epoch(stopping, {1.0, 0.95, 0.5}), 1);
  }
  {
    lstm::callbacks::EarlyStopping stopping({.patience = 0});
    EXPECT_EQ(stopping_epoch(stopping, {1.0, 0.9, 0.8, 0.8}), 3);
  }
}

TEST(Callbacks, EarlyStoppingRestoresTheBestWeights) {
  Data data;
  auto stopping = std::make_shared<lstm::callbacks::EarlyStopping>(
      lstm::callbacks::EarlyStoppingOptions{.monitor = "loss", .patience = 2,
                                             .restore_best_weights = true});
  lstm::Sequential model = small_model();
  // A learning rate far too high makes the loss rise after a while.
  model.compile(lstm::Loss::mse, lstm::SGD({.lr = 40.0}));
  std::vector<std::vector<Tensor>> per_epoch;
  struct Recorder : lstm::Callback {
    std::vector<std::vector<Tensor>>* out;
    std::string name() const override { return "recorder"; }
    void on_epoch_end(lstm::TrainingState& s) override { out->push_back(weights(s.model)); }
  } recorder;
  recorder.out = &per_epoch;
  const auto history = model.fit(data.x, data.y,
                                 {.epochs = 30, .batch_size = 23, .shuffle = false,
                                  .callbacks = {recorder, stopping}, .verbose = 0});
  ASSERT_FALSE(history.stop_reason.empty()) << "the loss never rose; pick a larger lr";
  EXPECT_NE(history.stop_reason.find("early stopping"), std::string::npos);
  const auto best = static_cast<std::size_t>(stopping->best_epoch());
  EXPECT_LT(best + 1, history.epochs.size());
  EXPECT_TRUE(bit_identical(weights(model), per_epoch[best]));
}

TEST(Callbacks, ReduceLROnPlateauAndSchedulesSetTheRate) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::SGD({.lr = 0.1}));
  auto history = model.fit(
      data.x, data.y,
      {.epochs = 4, .callbacks = {lstm::callbacks::LRScheduler(lstm::StepLR({.step_size = 2}))},
       .verbose = 0});
  EXPECT_EQ(history["lr"], (std::vector<double>{0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1}));

  lstm::Sequential plateau = small_model();
  plateau.compile(lstm::Loss::mse, lstm::SGD({.lr = 1e-4}));  // too small to improve by 50%
  history = plateau.fit(
      data.x, data.y,
      {.epochs = 5,
       .callbacks = {lstm::callbacks::ReduceLROnPlateau({.factor = 0.5, .patience = 1,
                                                         .threshold = 0.5}, "loss")},
       .verbose = 0});
  // Epoch 0 sets the best; epochs 1 and 2 are bad (more than patience 1 after epoch 2):
  // halved after epoch 2, then cooldown 0, bad again after 2 more.
  EXPECT_EQ(history["lr"], (std::vector<double>{1e-4, 1e-4, 1e-4, 5e-5, 5e-5}));
}

TEST_F(TempDir, EpochLoggersWriteARowPerEpoch) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam(), {lstm::Metric::mae});
  model.fit(data.x, data.y,
            {.epochs = 3, .validation_split = 0.2,
             .callbacks = {lstm::callbacks::EpochLogger(path("log.csv")),
                           lstm::callbacks::EpochLogger(path("log.jsonl"), lstm::callbacks::LogFormat::json_lines)},
             .verbose = 0});
  std::istringstream csv(read_text(path("log.csv")));
  std::string line;
  std::getline(csv, line);
  EXPECT_EQ(line, "epoch,loss,mae,val_loss,val_mae,lr");
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_TRUE(std::regex_match(line, std::regex(std::to_string(rows) + "(,[-0-9.e+]+){5}"))) << line;
  }
  EXPECT_EQ(rows, 3);
  std::istringstream jsonl(read_text(path("log.jsonl")));
  rows = 0;
  while (std::getline(jsonl, line)) {
    const auto row = nlohmann::json::parse(line);
    EXPECT_EQ(row.at("epoch"), ++rows);
    EXPECT_TRUE(row.at("val_loss").is_number());
  }
  EXPECT_EQ(rows, 3);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

// Adam, shuffling, dropout, a plateau schedule and early stopping with best weights: every
// piece of state a checkpoint must carry.
lstm::FitOptions resumable_options(int64_t epochs, const std::string& checkpoint) {
  return {.epochs = epochs,
          .batch_size = 4,
          .seed = 3,
          .validation_split = 0.2,
          .callbacks = {lstm::callbacks::ReduceLROnPlateau({.factor = 0.5, .patience = 0}),
                        lstm::callbacks::EarlyStopping({.patience = 100, .restore_best_weights = true}),
                        lstm::callbacks::ModelCheckpoint({.path = checkpoint})},
          .verbose = 0};
}

TEST_F(TempDir, ResumingEndsWithTheWeightsOfAnUnbrokenRun) {
  Data data;
  lstm::Sequential unbroken = small_model(0.25f);
  unbroken.compile(lstm::Loss::mse, lstm::Adam({.lr = 0.02}), {lstm::Metric::rmse});
  const auto full = unbroken.fit(data.x, data.y, resumable_options(6, path("unbroken.safetensors")));

  lstm::Sequential first = small_model(0.25f);
  first.compile(lstm::Loss::mse, lstm::Adam({.lr = 0.02}), {lstm::Metric::rmse});
  first.fit(data.x, data.y, resumable_options(3, path("ckpt.safetensors")));

  // A fresh process would start from a new model: different weights, a fresh optimizer.
  lstm::Sequential resumed = small_model(0.25f);
  resumed.initialize(lstm::Initializer::keras, 99);
  resumed.compile(lstm::Loss::mse, lstm::Adam({.lr = 0.02}), {lstm::Metric::rmse});
  auto options = resumable_options(6, path("ckpt.safetensors"));
  options.resume_from = path("ckpt.safetensors");
  const auto rest = resumed.fit(data.x, data.y, options);

  EXPECT_TRUE(bit_identical(weights(resumed), weights(unbroken)));
  EXPECT_EQ(rest.epochs, full.epochs);
  EXPECT_EQ(rest.values, full.values);
  EXPECT_EQ(resumed.optimizer().step_count(), unbroken.optimizer().step_count());
  // And the final checkpoints hold the same state.
  EXPECT_EQ(read_text(path("ckpt.safetensors")), read_text(path("unbroken.safetensors")));
}

TEST_F(TempDir, ACheckpointIsAModelFile) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam());
  model.fit(data.x, data.y,
            {.epochs = 2, .callbacks = {lstm::callbacks::ModelCheckpoint({.path = path("c.safetensors")})},
             .verbose = 0});
  lstm::Sequential loaded = lstm::Sequential::load(path("c.safetensors"));
  EXPECT_TRUE(bit_identical(weights(loaded), weights(model)));
}

TEST_F(TempDir, ResumingAnIncompatibleFitIsRefused) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam());
  model.fit(data.x, data.y,
            {.epochs = 1, .callbacks = {lstm::callbacks::ModelCheckpoint({.path = path("c.safetensors")})},
             .verbose = 0});
  lstm::Sequential other = small_model();
  other.compile(lstm::Loss::mse, lstm::SGD());
  EXPECT_NE(lstm::testing::error_of([&] {
              other.fit(data.x, data.y, {.epochs = 2, .resume_from = path("c.safetensors")});
            }).find("the checkpoint's optimizer is adam"),
            std::string::npos);
  model.save(path("plain.safetensors"));
  EXPECT_NE(lstm::testing::error_of([&] {
              model.fit(data.x, data.y, {.epochs = 2, .resume_from = path("plain.safetensors")});
            }).find("not a training checkpoint"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// NaN and infinity

TEST(Fit, ANonFiniteLossStopsTrainingNamingEpochAndBatch) {
  Data data;
  data.y[13 * 10 + 4] = NAN;  // sample 13: batch 2 (of 3, batches of 6), every epoch
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam());
  const auto before = weights(model);
  try {
    model.fit(data.x, data.y, {.epochs = 2, .batch_size = 6, .shuffle = false, .verbose = 0});
    FAIL() << "no error";
  } catch (const lstm::NonFiniteError& e) {
    EXPECT_EQ(e.epoch, 0);
    EXPECT_EQ(e.batch, 2);
    EXPECT_NE(std::string(e.what()).find("epoch 1/2, batch 3/4: the loss is nan"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(model.optimizer().step_count(), 2);  // batches 1 and 2 only
  EXPECT_FALSE(bit_identical(weights(model), before));
  for (const auto& w : weights(model))
    for (const float v : w) ASSERT_TRUE(std::isfinite(v));
}

TEST(Fit, NonFiniteBatchesCanBeSkipped) {
  Data data;
  data.y[13 * 10 + 4] = INFINITY;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam());
  std::ostringstream progress;
  const auto history =
      model.fit(data.x, data.y,
                {.epochs = 2, .batch_size = 6, .shuffle = false, .verbose = 2,
                 .progress_stream = &progress, .on_nonfinite = lstm::NonFinitePolicy::skip_batch});
  EXPECT_EQ(model.optimizer().step_count(), 6);  // 4 batches a epoch, one skipped
  EXPECT_TRUE(std::isfinite(history["loss"][1]));
  EXPECT_NE(progress.str().find("warning: epoch 2/2, batch 3/4: the loss is inf; batch skipped"),
            std::string::npos)
      << progress.str();
}

// ---------------------------------------------------------------------------------------------
// Progress and time limit

TEST(Progress, OneLinePerEpochWhenNotATerminal) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam(), {lstm::Metric::rmse});
  std::ostringstream out;
  model.fit(data.x, data.y, {.epochs = 3, .batch_size = 8, .validation_split = 0.2, .verbose = 1,
                             .progress_stream = &out, .progress_is_terminal = false});
  const std::regex line(
      R"(Epoch [1-3]/3 - 3/3 - \d+(ms|s) \d+(ms|s)/step - loss: [-0-9.e]+ - rmse: [-0-9.e]+ - val_loss: [-0-9.e]+ - val_rmse: [-0-9.e]+)");
  std::istringstream lines(out.str());
  std::string text;
  int count = 0;
  while (std::getline(lines, text)) {
    ++count;
    EXPECT_TRUE(std::regex_match(text, line)) << text;
  }
  EXPECT_EQ(count, 3);
}

TEST(Progress, ABarRedrawnInPlaceOnATerminal) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam());
  std::ostringstream out;
  model.fit(data.x, data.y, {.epochs = 2, .batch_size = 8, .verbose = 1, .progress_stream = &out,
                             .progress_is_terminal = true});
  const std::string text = out.str();
  EXPECT_NE(text.find("Epoch 1/2\n"), std::string::npos);
  EXPECT_NE(text.find("\r\x1b[K3/3 [==============================] - "), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);  // "Epoch i/2" and the final bar
}

TEST(Progress, SilentAtVerboseZero) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam());
  std::ostringstream out;
  model.fit(data.x, data.y, {.epochs = 2, .verbose = 0, .progress_stream = &out});
  EXPECT_TRUE(out.str().empty());
}

TEST(Fit, TheTimeLimitEndsTraining) {
  Data data;
  lstm::Sequential model = small_model();
  model.compile(lstm::Loss::mse, lstm::Adam());
  const auto history = model.fit(data.x, data.y, {.epochs = 1000000, .batch_size = 1, .verbose = 0,
                                                  .max_seconds = 0.2});
  EXPECT_LT(history.epochs.size(), 1000000u);
  EXPECT_NE(history.stop_reason.find("time limit"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Initialisers and residual connections

TEST(Initialize, KerasDefaultsInPyTorchLayout) {
  lstm::Sequential model;
  model.add(lstm::LSTM({.input_size = 5, .hidden_size = 8, .num_layers = 2, .bidirectional = true}));
  model.add(lstm::Dense({.in_features = 16, .out_features = 3}));
  model.initialize(lstm::Initializer::keras, 4);
  auto& lstm_layer = dynamic_cast<lstm::Recurrent&>(model.layer(0));
  for (const char* name : {"weight_hh_l0", "weight_hh_l1_reverse"}) {
    // (32, 8) with orthonormal columns: WᵀW = I.
    const Tensor& w = lstm_layer.parameter(name);
    for (int64_t i = 0; i < 8; ++i)
      for (int64_t j = 0; j < 8; ++j) {
        double dot = 0.0;
        for (int64_t r = 0; r < 32; ++r) dot += double(w[r * 8 + i]) * w[r * 8 + j];
        EXPECT_NEAR(dot, i == j ? 1.0 : 0.0, 1e-5) << name << " " << i << "," << j;
      }
  }
  // Glorot: |w| ≤ √(6 / (fan_in + fan_out)), and the draw fills that range.
  const Tensor& w_ih = lstm_layer.parameter("weight_ih_l1");  // (32, 16)
  const double limit = std::sqrt(6.0 / (16 + 32));
  const float largest = *std::max_element(w_ih.begin(), w_ih.end());
  EXPECT_LE(largest, limit);
  EXPECT_GT(largest, 0.9 * limit);
  const Tensor& b_ih = lstm_layer.parameter("bias_ih_l0"), &b_hh = lstm_layer.parameter("bias_hh_l0");
  for (int64_t row = 0; row < 32; ++row) {
    EXPECT_EQ(b_ih[row], row >= 8 && row < 16 ? 1.0f : 0.0f) << row;
    EXPECT_EQ(b_hh[row], 0.0f);
  }
  // The same seed, the same weights; PyTorch's initialiser gives others.
  lstm::Sequential again = small_model(), other = small_model();
  again.initialize(lstm::Initializer::keras, 4);
  other.initialize(lstm::Initializer::keras, 4);
  EXPECT_TRUE(bit_identical(weights(again), weights(other)));
  other.initialize(lstm::Initializer::pytorch, 4);
  EXPECT_FALSE(bit_identical(weights(again), weights(other)));
}

TEST_F(TempDir, ResidualAddsTheInputAndSavesAndLoads) {
  lstm::Sequential model;
  model.add(lstm::LSTM({.input_size = 3, .hidden_size = 6}));
  model.add(lstm::Residual(lstm::LSTM({.input_size = 6, .hidden_size = 6})));
  model.add(lstm::Dense({.in_features = 6, .out_features = 1}));
  model.initialize(lstm::Initializer::pytorch, 2);
  const Tensor x = random_tensor({4, 7, 3}, 3);

  // y = x + f(x) for the wrapped layer, f run alone with the same weights.
  auto& residual = dynamic_cast<lstm::Residual&>(model.layer(1));
  const Tensor h = model.layer(0).forward(x, {});
  const Tensor f = residual.inner().forward(h, {});
  const Tensor y = residual.forward(h, {});
  for (int64_t i = 0; i < y.numel(); ++i) ASSERT_EQ(y[i], h[i] + f[i]);

  // Its backward: dL/dx = dL/dy + f'ᵀ dL/dy.
  const Tensor d_y = random_tensor(y.shape(), 4);
  residual.forward(h, {.training = true});
  const Tensor d_x = residual.backward(d_y);
  residual.inner().forward(h, {.training = true});
  const Tensor d_inner = residual.inner().backward(d_y);
  for (int64_t i = 0; i < d_x.numel(); ++i) ASSERT_EQ(d_x[i], d_inner[i] + d_y[i]);

  model.save(path("m.safetensors"));
  lstm::Sequential loaded = lstm::Sequential::load(path("m.safetensors"));
  EXPECT_EQ(loaded.layer(1).describe(), "Residual(" + residual.inner().describe() + ")");
  const Tensor a = model.predict(x), b = loaded.predict(x);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(float) * a.numel()), 0);

  lstm::Residual mismatched(lstm::LSTM({.input_size = 3, .hidden_size = 6}));
  EXPECT_NE(lstm::testing::error_of([&] { mismatched.forward(x, {}); }).find("same shape"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Learning a real series: the C++ example (examples/cpp/forecast.cpp) trains on AirPassengers
// and its one-month-ahead forecasts of the last 12 months must be clearly better than the naive
// forecast's.

TEST_F(TempDir, TheForecastExampleBeatsTheNaiveForecastOnAirPassengers) {
  const std::string command = "cd '" + dir_.string() + "' && '" LSTM_FORECAST_EXAMPLE_PATH "' '" +
                              LSTM_SOURCE_DIR "/data/timeseries/AirPassengers.csv' > out.txt 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read_text(path("out.txt"));
  const std::string out = read_text(path("out.txt"));
  std::smatch match;
  ASSERT_TRUE(std::regex_search(out, match, std::regex(R"(test RMSE: lstm ([0-9.]+), naive ([0-9.]+))")))
      << out;
  const double model_rmse = std::stod(match[1]), naive_rmse = std::stod(match[2]);
  EXPECT_LT(model_rmse, 0.7 * naive_rmse) << out;
  EXPECT_TRUE(fs::exists(path("forecaster.safetensors")));
}

}  // namespace
