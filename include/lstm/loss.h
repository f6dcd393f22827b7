// Losses and metrics, computed as PyTorch computes them with its default reduction, the mean.
// A loss returns its value and its gradient with respect to the prediction, which is what a
// model's backward starts from. Arguments are checked; a mismatch throws lstm::Error naming both
// shapes.
#pragma once

#include <cstdint>
#include <string>

#include "lstm/tensor.h"

namespace lstm {

struct LossResult {
  double value = 0.0;  // the mean loss
  Tensor grad;         // d value / d prediction, shaped like the prediction
};

// Regression losses: prediction and target of one shape (no broadcasting), d = prediction − target.
// mean(d²), as nn.MSELoss.
LossResult mse_loss(const Tensor& prediction, const Tensor& target);
// mean(|d|), as nn.L1Loss; the gradient at d = 0 is 0.
LossResult mae_loss(const Tensor& prediction, const Tensor& target);
// mean(½d² where |d| < δ, else δ(|d| − ½δ)), as nn.HuberLoss(delta = δ).
LossResult huber_loss(const Tensor& prediction, const Tensor& target, double delta = 1.0);

// Cross-entropy on logits with class indices, as nn.CrossEntropyLoss: logits (..., C) — (N, C),
// or (B, T, C) for a loss at every step — and target (...) — (N,) or (B, T) — holding class
// indices as floats. Elements whose target is ignore_index (padding) count neither in the
// mean nor in the gradient; when every element is ignored the value is NaN, as in PyTorch.
LossResult cross_entropy_loss(const Tensor& logits, const Tensor& target,
                              int64_t ignore_index = -100);
// Binary cross-entropy on logits, as nn.BCEWithLogitsLoss: logits and target (probabilities in
// [0, 1]) of one shape, computed in the form that neither overflows nor loses precision.
LossResult bce_with_logits_loss(const Tensor& logits, const Tensor& target);

// A loss chosen by name, for compile options and the command line.
enum class Loss { mse, mae, huber, cross_entropy, bce };

struct LossOptions {
  double huber_delta = 1.0;
  int64_t ignore_index = -100;  // cross_entropy
};

LossResult compute_loss(Loss loss, const Tensor& prediction, const Tensor& target,
                        const LossOptions& options = {});
// "mse", "mae", "huber", "cross_entropy", "bce".
std::string loss_name(Loss loss);
// The inverse of loss_name; throws lstm::Error listing the known names.
Loss loss_from_name(const std::string& name);

// ---------------------------------------------------------------------------------------------
// Metrics. RMSE and MAE compare a prediction with a target of the same shape; accuracy takes
// logits (..., C) and class indices (...), counts the elements whose largest logit (the first,
// on a tie) is at the target class, and leaves out targets equal to ignore_index.
double rmse(const Tensor& prediction, const Tensor& target);
double mae(const Tensor& prediction, const Tensor& target);
double accuracy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100);

enum class Metric { rmse, mae, accuracy };

// "rmse", "mae", "accuracy".
std::string metric_name(Metric metric);
// The inverse of metric_name; throws lstm::Error listing the known names.
Metric metric_from_name(const std::string& name);

// A metric over many batches, computed from running totals: over an epoch, RMSE is
// √(Σ squared errors / Σ elements), not the mean of the batches' RMSEs. NaN before any element.
class MetricAccumulator {
 public:
  explicit MetricAccumulator(Metric metric, int64_t ignore_index = -100);
  Metric metric() const { return metric_; }
  void add(const Tensor& prediction, const Tensor& target);
  double value() const;
  void reset();

 private:
  Metric metric_;
  int64_t ignore_index_;
  double total_ = 0.0;  // Σ squared errors, Σ absolute errors or the number of correct elements
  double count_ = 0.0;  // elements counted
};

}  // namespace lstm
