// Losses and metrics against PyTorch: the loss_* fixtures that scripts/gen_optim_reference.py
// writes under tests/fixtures/optim/ (see the script). The loss value and its gradient within
// 1e-5 relative of PyTorch's float32 results; RMSE, MAE and accuracy within 1e-12 of the same
// numbers computed in float64, whether given in one batch or accumulated over two.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "lstm/io.h"
#include "lstm/loss.h"
#include "optim_fixture.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using lstm::Tensor;
using nlohmann::json;

constexpr double kTolerance = 1e-5;
constexpr double kMetricTolerance = 1e-12;

using Fixture = lstm::testing::OptimFixture;

// Rows [begin, end) of t along its first axis.
Tensor rows(const Tensor& t, int64_t begin, int64_t end) {
  lstm::Shape shape = t.shape();
  const int64_t row_size = t.numel() / shape[0];
  shape[0] = end - begin;
  Tensor out(shape);
  std::copy(t.data() + begin * row_size, t.data() + end * row_size, out.data());
  return out;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

class LossParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LossParity, ValueAndGradientMatchPyTorch) {
  const Fixture f("loss_" + GetParam());
  const Tensor& prediction = f.get("prediction");
  const Tensor& target = f.get("target");
  lstm::LossOptions options;
  options.huber_delta = f.config.value("delta", options.huber_delta);
  options.ignore_index = f.config.value("ignore_index", options.ignore_index);
  const lstm::Loss loss = lstm::loss_from_name(f.config.at("loss"));
  const lstm::LossResult result = lstm::compute_loss(loss, prediction, target, options);

  const float expected = f.get("value")[0];
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(result.value)) << result.value;
  } else {
    EXPECT_TRUE(lstm::testing::tensors_close(Tensor({1}, {static_cast<float>(result.value)}),
                                             f.get("value"), kTolerance, f.name + " value"));
  }
  EXPECT_TRUE(
      lstm::testing::tensors_close(result.grad, f.get("grad"), kTolerance, f.name + " grad"));

  const int64_t half = prediction.dim(0) / 2;
  for (const auto& [name, value] : f.config.at("metrics").items()) {
    const double expected_metric = value.get<double>();
    lstm::MetricAccumulator batches(lstm::metric_from_name(name), options.ignore_index);
    batches.add(rows(prediction, 0, half), rows(target, 0, half));
    batches.add(rows(prediction, half, prediction.dim(0)), rows(target, half, target.dim(0)));
    const double whole = name == "rmse"  ? lstm::rmse(prediction, target)
                         : name == "mae" ? lstm::mae(prediction, target)
                                         : lstm::accuracy(prediction, target, options.ignore_index);
    EXPECT_NEAR(whole, expected_metric, kMetricTolerance * std::abs(expected_metric)) << name;
    EXPECT_NEAR(batches.value(), expected_metric, kMetricTolerance * std::abs(expected_metric))
        << name << " over two batches";
  }
}

INSTANTIATE_TEST_SUITE_P(LossTorch, LossParity,
                         ::testing::Values("mse", "mae_ties", "huber_default", "huber_delta",
                                           "cross_entropy_2d", "cross_entropy_steps_padded",
                                           "cross_entropy_ignore_class",
                                           "cross_entropy_large_logits",
                                           "cross_entropy_all_ignored", "bce_soft",
                                           "bce_extreme_logits"),
                         param_name);

// The error names the expected and the actual shape.
void expect_shapes_named(const std::function<void()>& call, const std::string& a,
                         const std::string& b) {
  try {
    call();
    ADD_FAILURE() << "no error";
  } catch (const lstm::Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(a), std::string::npos) << message;
    EXPECT_NE(message.find(b), std::string::npos) << message;
  }
}

TEST(LossChecks, ShapeMismatchNamesBothShapes) {
  const Tensor p({2, 3}), y({3, 2}), labels({3}), labels_bt({2, 4});
  expect_shapes_named([&] { lstm::mse_loss(p, y); }, "(2, 3)", "(3, 2)");
  expect_shapes_named([&] { lstm::mae_loss(p, y); }, "(2, 3)", "(3, 2)");
  expect_shapes_named([&] { lstm::huber_loss(p, y); }, "(2, 3)", "(3, 2)");
  expect_shapes_named([&] { lstm::bce_with_logits_loss(p, y); }, "(2, 3)", "(3, 2)");
  expect_shapes_named([&] { lstm::cross_entropy_loss(p, labels); }, "(2, 3)", "(3,)");
  expect_shapes_named(
      [&] {
        lstm::cross_entropy_loss(Tensor({2, 5, 4}), labels_bt);
      },
      "(2, 5, 4)", "(2, 4)");
  expect_shapes_named([&] { lstm::rmse(p, y); }, "(2, 3)", "(3, 2)");
  expect_shapes_named([&] { lstm::accuracy(p, labels); }, "(2, 3)", "(3,)");
}

TEST(LossChecks, CrossEntropyRejectsTargetsThatAreNoClass) {
  const Tensor logits({2, 3});
  EXPECT_THROW(lstm::cross_entropy_loss(logits, Tensor({2}, {0.0f, 1.5f})), lstm::Error);
  EXPECT_THROW(lstm::cross_entropy_loss(logits, Tensor({2}, {0.0f, 3.0f})), lstm::Error);
  EXPECT_THROW(lstm::cross_entropy_loss(logits, Tensor({2}, {-1.0f, 0.0f})), lstm::Error);
  EXPECT_NO_THROW(lstm::cross_entropy_loss(logits, Tensor({2}, {-1.0f, 0.0f}), -1));
  EXPECT_THROW(lstm::huber_loss(logits, logits, 0.0), lstm::Error);
}

TEST(LossChecks, NamesRoundTrip) {
  for (lstm::Loss loss : {lstm::Loss::mse, lstm::Loss::mae, lstm::Loss::huber,
                          lstm::Loss::cross_entropy, lstm::Loss::bce})
    EXPECT_EQ(lstm::loss_from_name(lstm::loss_name(loss)), loss);
  for (lstm::Metric metric : {lstm::Metric::rmse, lstm::Metric::mae, lstm::Metric::accuracy})
    EXPECT_EQ(lstm::metric_from_name(lstm::metric_name(metric)), metric);
  EXPECT_THROW(lstm::loss_from_name("l2"), lstm::Error);
  EXPECT_THROW(lstm::metric_from_name("f1"), lstm::Error);
}

TEST(LossChecks, MetricIsNaNUntilSomethingIsCounted) {
  lstm::MetricAccumulator metric(lstm::Metric::accuracy);
  EXPECT_TRUE(std::isnan(metric.value()));
  metric.add(Tensor({1, 2}, {0.0f, 1.0f}), Tensor({1}, {1.0f}));
  EXPECT_EQ(metric.value(), 1.0);
  metric.reset();
  EXPECT_TRUE(std::isnan(metric.value()));
}

}  // namespace
