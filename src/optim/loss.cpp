// Losses and metrics with PyTorch's mean reduction. Each sum runs in double and each element's
// gradient is computed in double and rounded once to float. N is the number of elements,
// p the prediction, y the target, d = p − y.
#include "lstm/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "optim/check.h"

namespace lstm {

using optim_detail::number;
using optim_detail::require;

namespace {

void require_same_shape(const char* function, const Tensor& prediction, const Tensor& target) {
  require(prediction.shape() == target.shape(),
          std::string(function) + ": prediction shape " + prediction.shape_string() +
              " and target shape " + target.shape_string() + " differ");
}

// The classes C (last axis of the logits), after checking that target is shaped like the logits
// without it.
int64_t class_count(const char* function, const Tensor& logits, const Tensor& target) {
  const bool ok = logits.rank() >= 2 && target.rank() == logits.rank() - 1 &&
                  std::equal(target.shape().begin(), target.shape().end(), logits.shape().begin());
  require(ok, std::string(function) + ": logits shape " + logits.shape_string() +
                  " needs a target shaped like it without the last axis, got target shape " +
                  target.shape_string());
  return logits.dim(-1);
}

// The class index that target element i holds, or -1 where it is ignore_index.
int64_t class_index(const char* function, const Tensor& target, int64_t i, int64_t classes,
                    int64_t ignore_index) {
  const double value = target[i];
  if (value == static_cast<double>(ignore_index)) return -1;
  require(value >= 0.0 && value < static_cast<double>(classes) && value == std::floor(value),
          std::string(function) + ": target " + number(value) + " at element " + std::to_string(i) +
              " is not a class index in [0, " + std::to_string(classes) + ") nor ignore_index " +
              std::to_string(ignore_index));
  return static_cast<int64_t>(value);
}

// The index of the largest of x[0..n), the first one on a tie.
int64_t argmax(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

}  // namespace

// L = (1/N) Σ d²,   ∂L/∂p = 2d / N
LossResult mse_loss(const Tensor& prediction, const Tensor& target) {
  require_same_shape("mse_loss", prediction, target);
  const double n = static_cast<double>(prediction.numel());
  LossResult result{.value = 0.0, .grad = Tensor(prediction.shape())};
  for (int64_t i = 0; i < prediction.numel(); ++i) {
    const double d = static_cast<double>(prediction[i]) - target[i];
    result.value += d * d;
    result.grad[i] = static_cast<float>(2.0 * d / n);
  }
  result.value /= n;
  return result;
}

// L = (1/N) Σ |d|,   ∂L/∂p = sign(d) / N  (0 at d = 0)
LossResult mae_loss(const Tensor& prediction, const Tensor& target) {
  require_same_shape("mae_loss", prediction, target);
  const double n = static_cast<double>(prediction.numel());
  LossResult result{.value = 0.0, .grad = Tensor(prediction.shape())};
  for (int64_t i = 0; i < prediction.numel(); ++i) {
    const double d = static_cast<double>(prediction[i]) - target[i];
    const double sign = d > 0.0 ? 1.0 : (d < 0.0 ? -1.0 : 0.0);
    result.value += std::abs(d);
    result.grad[i] = static_cast<float>(sign / n);
  }
  result.value /= n;
  return result;
}

// L = (1/N) Σ (½d² where |d| < δ, else δ(|d| − ½δ)),   ∂L/∂p = clamp(d, −δ, δ) / N
LossResult huber_loss(const Tensor& prediction, const Tensor& target, double delta) {
  require_same_shape("huber_loss", prediction, target);
  require(delta > 0.0, "huber_loss: delta must be > 0 (got " + number(delta) + ")");
  const double n = static_cast<double>(prediction.numel());
  LossResult result{.value = 0.0, .grad = Tensor(prediction.shape())};
  for (int64_t i = 0; i < prediction.numel(); ++i) {
    const double d = static_cast<double>(prediction[i]) - target[i];
    result.value += std::abs(d) < delta ? 0.5 * d * d : delta * (std::abs(d) - 0.5 * delta);
    result.grad[i] = static_cast<float>(std::clamp(d, -delta, delta) / n);
  }
  result.value /= n;
  return result;
}

// Over the K elements r (rows of C logits x_r) whose class y_r is not ignore_index:
//   L = (1/K) Σ_r (log Σ_c e^(x_rc) − x_r,y_r)
//   ∂L/∂x_rc = (softmax(x_r)_c − [c = y_r]) / K,  and 0 for the ignored rows
LossResult cross_entropy_loss(const Tensor& logits, const Tensor& target, int64_t ignore_index) {
  const int64_t classes = class_count("cross_entropy_loss", logits, target);
  const int64_t rows = target.numel();
  std::vector<int64_t> labels(static_cast<std::size_t>(rows));
  double counted = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    labels[r] = class_index("cross_entropy_loss", target, r, classes, ignore_index);
    if (labels[r] >= 0) counted += 1.0;
  }
  LossResult result{.value = 0.0, .grad = Tensor(logits.shape())};
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] < 0) continue;
    const float* x = logits.data() + r * classes;
    float* dx = result.grad.data() + r * classes;
    // log Σ e^(x_c) = m + log Σ e^(x_c − m), m = max x_c
    const double m = x[argmax(x, classes)];
    double sum_exp = 0.0;
    for (int64_t c = 0; c < classes; ++c) sum_exp += std::exp(x[c] - m);
    const double log_sum_exp = m + std::log(sum_exp);
    result.value += log_sum_exp - x[labels[r]];
    for (int64_t c = 0; c < classes; ++c) {
      const double softmax = std::exp(x[c] - log_sum_exp);
      dx[c] = static_cast<float>((softmax - (c == labels[r] ? 1.0 : 0.0)) / counted);
    }
  }
  // With every element ignored, 0 / 0: NaN, as PyTorch.
  result.value /= counted;
  return result;
}

// L = (1/N) Σ max(x, 0) − x·y + log(1 + e^(−|x|)),   ∂L/∂x = (σ(x) − y) / N
LossResult bce_with_logits_loss(const Tensor& logits, const Tensor& target) {
  require_same_shape("bce_with_logits_loss", logits, target);
  const double n = static_cast<double>(logits.numel());
  LossResult result{.value = 0.0, .grad = Tensor(logits.shape())};
  for (int64_t i = 0; i < logits.numel(); ++i) {
    const double x = logits[i], y = target[i];
    const double sigmoid = 1.0 / (1.0 + std::exp(-x));
    result.value += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
    result.grad[i] = static_cast<float>((sigmoid - y) / n);
  }
  result.value /= n;
  return result;
}

LossResult compute_loss(Loss loss, const Tensor& prediction, const Tensor& target,
                        const LossOptions& options) {
  switch (loss) {
    case Loss::mse:
      return mse_loss(prediction, target);
    case Loss::mae:
      return mae_loss(prediction, target);
    case Loss::huber:
      return huber_loss(prediction, target, options.huber_delta);
    case Loss::cross_entropy:
      return cross_entropy_loss(prediction, target, options.ignore_index);
    case Loss::bce:
      return bce_with_logits_loss(prediction, target);
  }
  throw Error("compute_loss: unknown loss");
}

std::string loss_name(Loss loss) {
  switch (loss) {
    case Loss::mse:
      return "mse";
    case Loss::mae:
      return "mae";
    case Loss::huber:
      return "huber";
    case Loss::cross_entropy:
      return "cross_entropy";
    case Loss::bce:
      return "bce";
  }
  throw Error("loss_name: unknown loss");
}

Loss loss_from_name(const std::string& name) {
  for (Loss loss : {Loss::mse, Loss::mae, Loss::huber, Loss::cross_entropy, Loss::bce})
    if (loss_name(loss) == name) return loss;
  throw Error("unknown loss '" + name + "' (expected mse, mae, huber, cross_entropy or bce)");
}

// ---------------------------------------------------------------------------------------------
std::string metric_name(Metric metric) {
  switch (metric) {
    case Metric::rmse:
      return "rmse";
    case Metric::mae:
      return "mae";
    case Metric::accuracy:
      return "accuracy";
  }
  throw Error("metric_name: unknown metric");
}

Metric metric_from_name(const std::string& name) {
  for (Metric metric : {Metric::rmse, Metric::mae, Metric::accuracy})
    if (metric_name(metric) == name) return metric;
  throw Error("unknown metric '" + name + "' (expected rmse, mae or accuracy)");
}

MetricAccumulator::MetricAccumulator(Metric metric, int64_t ignore_index)
    : metric_(metric), ignore_index_(ignore_index) {}

// rmse: total = Σ d²;  mae: total = Σ |d|;  accuracy: total = #{r : argmax_c x_rc = y_r}
void MetricAccumulator::add(const Tensor& prediction, const Tensor& target) {
  if (metric_ == Metric::accuracy) {
    const int64_t classes = class_count("accuracy", prediction, target);
    for (int64_t r = 0; r < target.numel(); ++r) {
      const int64_t label = class_index("accuracy", target, r, classes, ignore_index_);
      if (label < 0) continue;
      total_ += argmax(prediction.data() + r * classes, classes) == label ? 1.0 : 0.0;
      count_ += 1.0;
    }
    return;
  }
  require_same_shape(metric_ == Metric::rmse ? "rmse" : "mae", prediction, target);
  for (int64_t i = 0; i < prediction.numel(); ++i) {
    const double d = static_cast<double>(prediction[i]) - target[i];
    total_ += metric_ == Metric::rmse ? d * d : std::abs(d);
  }
  count_ += static_cast<double>(prediction.numel());
}

// rmse: √(total / count);  mae, accuracy: total / count
double MetricAccumulator::value() const {
  if (count_ == 0.0) return std::numeric_limits<double>::quiet_NaN();
  const double mean = total_ / count_;
  return metric_ == Metric::rmse ? std::sqrt(mean) : mean;
}

void MetricAccumulator::reset() {
  total_ = 0.0;
  count_ = 0.0;
}

double rmse(const Tensor& prediction, const Tensor& target) {
  MetricAccumulator metric(Metric::rmse);
  metric.add(prediction, target);
  return metric.value();
}

double mae(const Tensor& prediction, const Tensor& target) {
  MetricAccumulator metric(Metric::mae);
  metric.add(prediction, target);
  return metric.value();
}

double accuracy(const Tensor& logits, const Tensor& target, int64_t ignore_index) {
  MetricAccumulator metric(Metric::accuracy, ignore_index);
  metric.add(logits, target);
  return metric.value();
}

}  // namespace lstm
