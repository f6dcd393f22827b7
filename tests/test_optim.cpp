// Optimizers, learning-rate schedules and gradient clipping against PyTorch: the fixtures that
// scripts/gen_optim_reference.py writes under tests/fixtures/optim/ (see the script for what each
// file holds) replayed through lstm.cpp. Parameters after every step within 1e-5 relative to
// their largest magnitude (PyTorch's own float32 runs are within 2e-7 of float64 on these), the
// change that the steps made within 1e-3 of its size (issue 3's criterion), the optimizer's
// state within 1e-5; learning rates within 1e-6 relative. Resuming from an exported state gives
// bit-identical results to never stopping.
//
// Set LSTM_PARITY_VERBOSE=1 to print every compared error.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "lstm/io.h"
#include "lstm/optim.h"
#include "optim_fixture.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using lstm::Tensor;
using nlohmann::json;

constexpr double kTolerance = 1e-5;        // parameters, state, clipped gradients
constexpr double kChangeTolerance = 1e-3;  // the change training made, relative to its size
constexpr double kLrTolerance = 1e-6;      // learning rates, relative

fs::path optim_dir() { return fs::path(LSTM_FIXTURE_DIR) / "optim"; }

bool verbose() {
  const char* v = std::getenv("LSTM_PARITY_VERBOSE");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

// Largest error seen per kind of comparison, printed at the end of the run.
std::map<std::string, double>& max_errors() {
  static std::map<std::string, double> errors;
  return errors;
}

class ErrorReport : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const auto& [kind, err] : max_errors())
      std::printf("[ optim ] largest relative error against PyTorch, %-22s %.3g\n", kind.c_str(),
                  err);
  }
};
[[maybe_unused]] ::testing::Environment* const kErrorReport =
    ::testing::AddGlobalTestEnvironment(new ErrorReport);

::testing::AssertionResult compare(const std::string& kind, const std::string& what,
                                   const Tensor& actual, const Tensor& expected, double tolerance) {
  if (actual.shape() == expected.shape()) {
    const double err =
        lstm::testing::relative_error(actual.data(), expected.data(), actual.numel());
    max_errors()[kind] = std::max(max_errors()[kind], err);
    if (verbose()) std::printf("  %-50s %.3g\n", what.c_str(), err);
  }
  return lstm::testing::tensors_close(actual, expected, tolerance, what);
}

using Fixture = lstm::testing::OptimFixture;

// Reads options from the JSON that the fixture gave to PyTorch; absent keys keep lstm.cpp's
// defaults, which must then be PyTorch's. Every key must be read.
class OptionReader {
 public:
  explicit OptionReader(const json& options) : options_(options) {}
  template <class T>
  void read(const char* key, T& field) {
    if (!options_.contains(key)) return;
    field = options_.at(key).get<T>();
    used_.insert(key);
  }
  void read(const char* key, std::array<double, 2>& pair) {
    if (!options_.contains(key)) return;
    pair = {options_.at(key).at(0).get<double>(), options_.at(key).at(1).get<double>()};
    used_.insert(key);
  }
  ~OptionReader() { EXPECT_EQ(used_.size(), options_.size()) << "unread options in " << options_; }

 private:
  const json& options_;
  std::set<std::string> used_;
};

std::unique_ptr<lstm::Optimizer> make_optimizer(const json& config) {
  const std::string kind = config.at("optimizer");
  OptionReader o(config.at("options"));
  if (kind == "sgd") {
    lstm::SGDOptions s;
    o.read("lr", s.lr);
    o.read("momentum", s.momentum);
    o.read("dampening", s.dampening);
    o.read("weight_decay", s.weight_decay);
    o.read("nesterov", s.nesterov);
    return std::make_unique<lstm::SGD>(s);
  }
  if (kind == "adam") {
    lstm::AdamOptions s;
    o.read("lr", s.lr);
    o.read("betas", s.betas);
    o.read("eps", s.eps);
    o.read("weight_decay", s.weight_decay);
    o.read("amsgrad", s.amsgrad);
    return std::make_unique<lstm::Adam>(s);
  }
  if (kind == "adamw") {
    lstm::AdamWOptions s;
    o.read("lr", s.lr);
    o.read("betas", s.betas);
    o.read("eps", s.eps);
    o.read("weight_decay", s.weight_decay);
    o.read("amsgrad", s.amsgrad);
    return std::make_unique<lstm::AdamW>(s);
  }
  if (kind == "rmsprop") {
    lstm::RMSpropOptions s;
    o.read("lr", s.lr);
    o.read("alpha", s.alpha);
    o.read("eps", s.eps);
    o.read("weight_decay", s.weight_decay);
    o.read("momentum", s.momentum);
    o.read("centered", s.centered);
    return std::make_unique<lstm::RMSprop>(s);
  }
  if (kind == "adagrad") {
    lstm::AdagradOptions s;
    o.read("lr", s.lr);
    o.read("lr_decay", s.lr_decay);
    o.read("weight_decay", s.weight_decay);
    o.read("initial_accumulator_value", s.initial_accumulator_value);
    o.read("eps", s.eps);
    return std::make_unique<lstm::Adagrad>(s);
  }
  throw std::runtime_error("unknown optimizer " + kind);
}

const std::vector<std::string> kParameterNames = {"0.weight", "0.bias", "1.weight"};

// The fixture's parameters with their gradients, as a model would hold them.
struct Parameters {
  std::vector<Tensor> values, grads;

  explicit Parameters(const Fixture& f) {
    for (const std::string& name : kParameterNames) {
      values.push_back(f.get("param." + name));
      grads.emplace_back(values.back().shape());
    }
  }
  std::vector<lstm::ParameterRef> refs() {
    std::vector<lstm::ParameterRef> refs;
    for (std::size_t i = 0; i < values.size(); ++i)
      refs.push_back({kParameterNames[i], &values[i], &grads[i]});
    return refs;
  }
  // Sets the gradients to those the fixture gave at step k.
  void set_grads(const Fixture& f, int k) {
    for (std::size_t i = 0; i < grads.size(); ++i)
      grads[i] = f.get("grad." + std::to_string(k) + "." + kParameterNames[i]);
  }
};

// Sets the learning rate the fixture gave for step k, if it changes them.
void set_lr_of_step(lstm::Optimizer& optimizer, const Fixture& f, int k) {
  if (f.config.contains("lrs")) optimizer.set_lr(f.config.at("lrs").at(k).get<double>());
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(float)) == 0;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

// ---------------------------------------------------------------------------------------------
// Optimizers

class OptimParity : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimParity, StepsMatchPyTorch) {
  const Fixture f("optimizer_" + GetParam());
  const int steps = f.config.at("steps");
  auto optimizer = make_optimizer(f.config);
  EXPECT_EQ(optimizer->name(), f.config.at("optimizer").get<std::string>());
  Parameters p(f);
  const std::vector<Tensor> initial = p.values;
  for (int k = 0; k < steps; ++k) {
    p.set_grads(f, k);
    set_lr_of_step(*optimizer, f, k);
    optimizer->step(p.refs());
    for (std::size_t i = 0; i < kParameterNames.size(); ++i) {
      const std::string after = "after." + std::to_string(k) + "." + kParameterNames[i];
      EXPECT_TRUE(
          compare("parameters", f.name + " " + after, p.values[i], f.get(after), kTolerance));
    }
  }
  EXPECT_EQ(optimizer->step_count(), steps);

  // The change that training made, relative to its own size.
  for (std::size_t i = 0; i < kParameterNames.size(); ++i) {
    const Tensor& expected_end =
        f.get("after." + std::to_string(steps - 1) + "." + kParameterNames[i]);
    Tensor change(initial[i].shape()), expected_change(initial[i].shape());
    for (int64_t j = 0; j < change.numel(); ++j) {
      change[j] = p.values[i][j] - initial[i][j];
      expected_change[j] = expected_end[j] - initial[i][j];
    }
    EXPECT_TRUE(compare("change", f.name + " change of " + kParameterNames[i], change,
                        expected_change, kChangeTolerance));
  }

  // The state, under PyTorch's names: "state.<buffer>.<parameter>" there,
  // "<optimizer>.<buffer>.<parameter>" here.
  const lstm::OptimizerState state = optimizer->state();
  std::set<std::string> expected_names, actual_names;
  for (const auto& t : f.file.tensors)
    if (t.name.starts_with("state.")) expected_names.insert(optimizer->name() + t.name.substr(5));
  for (const auto& t : state.tensors) {
    actual_names.insert(t.name);
    const std::string torch_name = "state" + t.name.substr(optimizer->name().size());
    if (f.file.find(torch_name) != nullptr) {
      EXPECT_TRUE(compare("state", f.name + " " + t.name, t.tensor, f.get(torch_name), kTolerance));
    }
  }
  EXPECT_EQ(actual_names, expected_names);
  EXPECT_EQ(state.step, steps);
}

// Stopping after `stop` steps, moving the state into a fresh optimizer and continuing ends with
// the same bits as never stopping.
TEST_P(OptimParity, ResumingFromStateIsBitIdentical) {
  const Fixture f("optimizer_" + GetParam());
  const int steps = f.config.at("steps");
  auto straight = make_optimizer(f.config);
  Parameters straight_p(f);
  for (int k = 0; k < steps; ++k) {
    straight_p.set_grads(f, k);
    set_lr_of_step(*straight, f, k);
    straight->step(straight_p.refs());
  }
  for (int stop = 0; stop <= steps; ++stop) {
    SCOPED_TRACE("stopped after step " + std::to_string(stop));
    Parameters p(f);
    auto first = make_optimizer(f.config);
    for (int k = 0; k < stop; ++k) {
      p.set_grads(f, k);
      set_lr_of_step(*first, f, k);
      first->step(p.refs());
    }
    auto resumed = make_optimizer(f.config);
    resumed->load_state(first->state());
    first.reset();
    EXPECT_EQ(resumed->step_count(), stop);
    for (int k = stop; k < steps; ++k) {
      p.set_grads(f, k);
      set_lr_of_step(*resumed, f, k);
      resumed->step(p.refs());
    }
    for (std::size_t i = 0; i < p.values.size(); ++i)
      EXPECT_TRUE(bit_identical(p.values[i], straight_p.values[i])) << kParameterNames[i];
    EXPECT_EQ(resumed->lr(), straight->lr());
  }
}

INSTANTIATE_TEST_SUITE_P(OptimTorch, OptimParity,
                         ::testing::Values("sgd_plain", "sgd_default_lr", "sgd_momentum",
                                           "sgd_dampening_weight_decay", "sgd_nesterov",
                                           "adam_default", "adam_weight_decay", "adam_amsgrad",
                                           "adam_lr_changes", "adamw_default", "adamw_amsgrad",
                                           "rmsprop_default", "rmsprop_centered",
                                           "rmsprop_momentum", "rmsprop_centered_momentum",
                                           "adagrad_default", "adagrad_decay"),
                         param_name);

// The state saved as a checkpoint file would hold it, read back, and continued.
TEST(OptimState, RoundTripsThroughSafetensors) {
  const Fixture f("optimizer_adam_amsgrad");
  auto straight = make_optimizer(f.config);
  auto first = make_optimizer(f.config);
  Parameters straight_p(f), p(f);
  for (int k = 0; k < 5; ++k) {
    straight_p.set_grads(f, k);
    straight->step(straight_p.refs());
  }
  for (int k = 0; k < 2; ++k) {
    p.set_grads(f, k);
    first->step(p.refs());
  }
  const fs::path path = fs::temp_directory_path() / "lstm_test_optim_state.safetensors";
  const lstm::OptimizerState saved = first->state();
  lstm::write_safetensors(path.string(), saved.tensors);
  lstm::SafetensorsFile file = lstm::read_safetensors(path.string());
  fs::remove(path);
  auto resumed = make_optimizer(f.config);
  resumed->load_state({.step = saved.step, .lr = saved.lr, .tensors = file.tensors});
  for (int k = 2; k < 5; ++k) {
    p.set_grads(f, k);
    resumed->step(p.refs());
  }
  for (std::size_t i = 0; i < p.values.size(); ++i)
    EXPECT_TRUE(bit_identical(p.values[i], straight_p.values[i])) << kParameterNames[i];
}

TEST(OptimState, CloneCarriesTheState) {
  const Fixture f("optimizer_rmsprop_centered_momentum");
  auto optimizer = make_optimizer(f.config);
  Parameters p(f);
  p.set_grads(f, 0);
  optimizer->step(p.refs());
  const auto copy = optimizer->clone();
  EXPECT_EQ(copy->name(), "rmsprop");
  EXPECT_EQ(copy->step_count(), 1);
  const lstm::OptimizerState a = optimizer->state(), b = copy->state();
  ASSERT_EQ(a.tensors.size(), 9u);  // square_avg, momentum_buffer, grad_avg of 3 parameters
  ASSERT_EQ(b.tensors.size(), a.tensors.size());
  for (std::size_t i = 0; i < a.tensors.size(); ++i) {
    EXPECT_EQ(b.tensors[i].name, a.tensors[i].name);
    EXPECT_TRUE(bit_identical(b.tensors[i].tensor, a.tensors[i].tensor));
  }
}

TEST(OptimState, RejectsForeignOrIncompleteState) {
  lstm::Adam adam;
  lstm::OptimizerState state{.step = 1, .lr = 1e-3, .tensors = {}};
  state.tensors = {{"sgd.momentum_buffer.w", Tensor({2})}};
  EXPECT_THROW(adam.load_state(state), lstm::Error);
  state.tensors = {{"adam.exp_avg.w", Tensor({2})},
                   {"adam.max_exp_avg_sq.w", Tensor({2})},
                   {"adam.exp_avg_sq.w", Tensor({2})}};
  EXPECT_THROW(adam.load_state(state), lstm::Error);  // amsgrad is off
  state.tensors = {{"adam.exp_avg.w", Tensor({2})}};
  EXPECT_THROW(adam.load_state(state), lstm::Error);  // exp_avg_sq missing
  state.tensors = {{"adam.exp_avg", Tensor({2})}};
  EXPECT_THROW(adam.load_state(state), lstm::Error);  // no parameter name
  state.tensors = {{"adam.exp_avg.a.b", Tensor({2})}, {"adam.exp_avg_sq.a.b", Tensor({2})}};
  adam.load_state(state);  // parameter names may hold dots
  EXPECT_EQ(adam.state().tensors.size(), 2u);
  EXPECT_EQ(adam.state().tensors[0].name, "adam.exp_avg.a.b");
}

// A buffer whose shape is not its parameter's is refused before anything changes.
TEST(OptimState, BufferShapeMismatchThrowsAndChangesNothing) {
  lstm::Adam adam({.lr = 0.1});
  adam.load_state(
      {.step = 3,
       .lr = 0.1,
       .tensors = {{"adam.exp_avg.w", Tensor({3})}, {"adam.exp_avg_sq.w", Tensor({3})}}});
  Tensor a({2}, {1.0f, 2.0f}), a_grad({2}, {1.0f, 1.0f});
  Tensor w({2}, {3.0f, 4.0f}), w_grad({2}, {1.0f, 1.0f});
  try {
    adam.step({{"a", &a, &a_grad}, {"w", &w, &w_grad}});
    FAIL() << "no error";
  } catch (const lstm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("(3,)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(2,)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(a[0], 1.0f);
  EXPECT_EQ(adam.step_count(), 3);
}

TEST(OptimChecks, GradientShapeAndNames) {
  lstm::SGD sgd({.lr = 0.1});
  Tensor w({2, 3}), g({3, 2}), g2({2, 3});
  try {
    sgd.step({{"w", &w, &g}});
    FAIL() << "no error";
  } catch (const lstm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("(3, 2)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(2, 3)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sgd.step({{"w", &w, &g2}, {"w", &w, &g2}}), lstm::Error);
  EXPECT_THROW(sgd.step({{"w", &w, nullptr}}), lstm::Error);
}

TEST(OptimChecks, InvalidOptionsThrowAsInPyTorch) {
  EXPECT_THROW(lstm::SGD({.lr = -1.0}), lstm::Error);
  EXPECT_THROW(lstm::SGD({.lr = 0.1, .nesterov = true}), lstm::Error);
  EXPECT_THROW(lstm::SGD({.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}),
               lstm::Error);
  EXPECT_THROW(lstm::Adam({.betas = {1.0, 0.999}}), lstm::Error);
  EXPECT_THROW(lstm::AdamW({.betas = {0.9, -0.1}}), lstm::Error);
  EXPECT_THROW(lstm::Adam({.eps = -1.0}), lstm::Error);
  EXPECT_THROW(lstm::RMSprop({.alpha = -0.5}), lstm::Error);
  EXPECT_THROW(lstm::Adagrad({.lr_decay = -0.1}), lstm::Error);
  EXPECT_THROW(lstm::Adagrad({.initial_accumulator_value = -1.0}), lstm::Error);
  lstm::Adam adam;
  EXPECT_THROW(adam.set_lr(-0.1), lstm::Error);
}

TEST(OptimChecks, ZeroGradClearsEveryGradient) {
  Tensor w({2}), g({2}, {1.0f, -2.0f}), b({1}), gb({1}, {3.0f});
  lstm::zero_grad({{"w", &w, &g}, {"b", &b, &gb}});
  EXPECT_EQ(g[0], 0.0f);
  EXPECT_EQ(g[1], 0.0f);
  EXPECT_EQ(gb[0], 0.0f);
}

// ---------------------------------------------------------------------------------------------
// Schedules

json schedule_case(const std::string& name) {
  std::ifstream in(optim_dir() / "schedules.json");
  if (!in) throw std::runtime_error("cannot read schedules.json");
  for (const json& c : json::parse(in))
    if (c.at("name") == name) return c;
  throw std::runtime_error("schedules.json: no case " + name);
}

// The epoch-by-epoch driver of one fixture case: a fixed schedule or ReduceLROnPlateau.
struct ScheduleRun {
  json config;
  std::unique_ptr<lstm::LRSchedule> schedule;
  std::unique_ptr<lstm::ReduceLROnPlateau> plateau;

  explicit ScheduleRun(const json& c) : config(c) {
    const std::string kind = c.at("schedule");
    OptionReader o(c.at("options"));
    if (kind == "step") {
      lstm::StepLROptions s;
      o.read("step_size", s.step_size);
      o.read("gamma", s.gamma);
      schedule = std::make_unique<lstm::StepLR>(s);
    } else if (kind == "exponential") {
      lstm::ExponentialLROptions s;
      o.read("gamma", s.gamma);
      schedule = std::make_unique<lstm::ExponentialLR>(s);
    } else if (kind == "cosine") {
      lstm::CosineAnnealingLROptions s;
      o.read("T_max", s.T_max);
      o.read("eta_min", s.eta_min);
      schedule = std::make_unique<lstm::CosineAnnealingLR>(s);
    } else {
      lstm::ReduceLROnPlateauOptions s;
      std::string mode = "min", threshold_mode = "rel";
      o.read("mode", mode);
      o.read("threshold_mode", threshold_mode);
      s.mode = mode == "max" ? lstm::PlateauMode::max : lstm::PlateauMode::min;
      s.threshold_mode =
          threshold_mode == "abs" ? lstm::ThresholdMode::abs : lstm::ThresholdMode::rel;
      o.read("factor", s.factor);
      o.read("patience", s.patience);
      o.read("threshold", s.threshold);
      o.read("cooldown", s.cooldown);
      o.read("min_lr", s.min_lr);
      plateau = std::make_unique<lstm::ReduceLROnPlateau>(s);
    }
  }
  // Ends epoch e.
  void step(lstm::Optimizer& optimizer, int e) {
    if (plateau) {
      plateau->step(optimizer, config.at("metrics").at(e).get<double>());
    } else {
      schedule->step(optimizer);
    }
  }
  std::map<std::string, double> state() const {
    return plateau ? plateau->state() : schedule->state();
  }
  void load_state(const std::map<std::string, double>& state) {
    if (plateau) {
      plateau->load_state(state);
    } else {
      schedule->load_state(state);
    }
  }
};

// |actual − expected| / |expected|, or |actual| where PyTorch gives 0.
double lr_error(double actual, double expected) {
  return expected == 0.0 ? std::abs(actual) : std::abs(actual - expected) / std::abs(expected);
}

class ScheduleParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ScheduleParity, LearningRatesMatchPyTorch) {
  const json c = schedule_case(GetParam());
  const std::vector<double> lrs = c.at("lrs");
  ScheduleRun run(c);
  lstm::SGD sgd({.lr = c.at("base_lr").get<double>()});
  ASSERT_EQ(lrs.size(), 21u);
  EXPECT_EQ(sgd.lr(), lrs[0]);
  for (std::size_t e = 0; e + 1 < lrs.size(); ++e) {
    run.step(sgd, static_cast<int>(e));
    const double err = lr_error(sgd.lr(), lrs[e + 1]);
    max_errors()["learning rate"] = std::max(max_errors()["learning rate"], err);
    EXPECT_LE(err, kLrTolerance) << "epoch " << e + 1 << ": " << sgd.lr() << ", PyTorch "
                                 << lrs[e + 1];
  }
}

// Stopping after any epoch, moving optimizer and schedule state into fresh ones and continuing
// gives the same learning rates, bit for bit.
TEST_P(ScheduleParity, ResumingFromStateIsBitIdentical) {
  const json c = schedule_case(GetParam());
  const double base_lr = c.at("base_lr");
  const int epochs = static_cast<int>(c.at("lrs").size()) - 1;
  std::vector<double> straight_lrs;
  {
    ScheduleRun run(c);
    lstm::SGD sgd({.lr = base_lr});
    for (int e = 0; e < epochs; ++e) {
      run.step(sgd, e);
      straight_lrs.push_back(sgd.lr());
    }
  }
  for (int stop = 0; stop <= epochs; ++stop) {
    ScheduleRun first(c);
    lstm::SGD first_sgd({.lr = base_lr});
    for (int e = 0; e < stop; ++e) first.step(first_sgd, e);
    ScheduleRun resumed(c);
    lstm::SGD sgd({.lr = 1.0});
    resumed.load_state(first.state());
    sgd.load_state(first_sgd.state());
    for (int e = stop; e < epochs; ++e) {
      resumed.step(sgd, e);
      EXPECT_EQ(sgd.lr(), straight_lrs[e]) << "stopped after " << stop << ", epoch " << e + 1;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ScheduleTorch, ScheduleParity,
                         ::testing::Values("step", "step_default_gamma", "exponential", "cosine",
                                           "cosine_zero_min", "plateau_default", "plateau_cooldown",
                                           "plateau_max_abs"),
                         param_name);

TEST(ScheduleChecks, RequiredOptionsAndBadStates) {
  EXPECT_THROW(lstm::StepLR({}), lstm::Error);
  EXPECT_THROW(lstm::ExponentialLR({}), lstm::Error);
  EXPECT_THROW(lstm::CosineAnnealingLR({}), lstm::Error);
  EXPECT_THROW(lstm::ReduceLROnPlateau({.factor = 1.0}), lstm::Error);
  lstm::StepLR step({.step_size = 2});
  EXPECT_THROW(step.load_state({{"epoch", 1.5}, {"base_lr", 0.1}}), lstm::Error);
  EXPECT_THROW(step.load_state({{"epoch", 1.0}}), lstm::Error);
  lstm::ReduceLROnPlateau plateau;
  EXPECT_THROW(plateau.load_state({{"epoch", 1.0}, {"best", 0.5}}), lstm::Error);
}

// ---------------------------------------------------------------------------------------------
// Clipping

class ClipParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ClipParity, MatchesPyTorch) {
  const Fixture f("clip_" + GetParam());
  std::vector<Tensor> values, grads;
  std::vector<lstm::ParameterRef> refs;
  for (const std::string& name : kParameterNames) {
    grads.push_back(f.get("grad." + name));
    values.emplace_back(grads.back().shape());
  }
  for (std::size_t i = 0; i < grads.size(); ++i)
    refs.push_back({kParameterNames[i], &values[i], &grads[i]});
  if (f.config.at("function") == "norm") {
    const double total = lstm::clip_grad_norm(refs, f.config.at("max_norm").get<double>());
    EXPECT_TRUE(compare("clip total norm", f.name + " total_norm",
                        Tensor({1}, {static_cast<float>(total)}), f.get("total_norm"), kTolerance));
  } else {
    lstm::clip_grad_value(refs, f.config.at("clip_value").get<double>());
  }
  for (std::size_t i = 0; i < grads.size(); ++i)
    EXPECT_TRUE(compare("clipped gradients", f.name + " " + kParameterNames[i], grads[i],
                        f.get("clipped." + kParameterNames[i]), kTolerance));
}

INSTANTIATE_TEST_SUITE_P(ClipTorch, ClipParity,
                         ::testing::Values("norm_clips", "norm_within", "norm_large", "norm_tiny",
                                           "value"),
                         param_name);

// PyTorch multiplies by max_norm / (NaN + 1e-6) clamped to at most 1, which is NaN.
TEST(ClipChecks, NonFiniteNormSpreadsNaN) {
  Tensor w({2}), g({2}, {NAN, 1.0f});
  const double total = lstm::clip_grad_norm({{"w", &w, &g}}, 1.0);
  EXPECT_TRUE(std::isnan(total));
  EXPECT_TRUE(std::isnan(g[1]));
  EXPECT_THROW(lstm::clip_grad_norm({{"w", &w, &g}}, -1.0), lstm::Error);
  EXPECT_THROW(lstm::clip_grad_value({{"w", &w, &g}}, -1.0), lstm::Error);
}

}  // namespace
