// Classification metrics: the confusion matrix and what follows from it.
#include <limits>
#include <string>

#include "lstm/data.h"

namespace lstm {

ClassificationMetrics classification_metrics(const std::vector<int32_t>& predicted, const std::vector<int32_t>& actual,
                                             const std::vector<std::string>& labels) {
  if (predicted.size() != actual.size())
    throw Error("classification metrics: expected as many predictions as actual labels, got " +
                std::to_string(predicted.size()) + " and " + std::to_string(actual.size()));
  const auto classes = static_cast<int32_t>(labels.size());
  ClassificationMetrics metrics;
  metrics.labels = labels;
  metrics.confusion.assign(labels.size(), std::vector<int64_t>(labels.size(), 0));
  int64_t correct = 0;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    if (actual[i] < 0 || actual[i] >= classes || predicted[i] < 0 || predicted[i] >= classes)
      throw Error("classification metrics: expected class indices in [0, " + std::to_string(classes) + "), got actual " +
                  std::to_string(actual[i]) + " and predicted " + std::to_string(predicted[i]) + " at " + std::to_string(i));
    ++metrics.confusion[actual[i]][predicted[i]];
    correct += actual[i] == predicted[i];
  }
  double f1_sum = 0;
  for (int32_t c = 0; c < classes; ++c) {
    // TP = confusion[c][c], TP + FP = Σ_a confusion[a][c] (predicted c), TP + FN = Σ_p confusion[c][p] (actually c).
    const auto true_positives = static_cast<double>(metrics.confusion[c][c]);
    int64_t predicted_as_c = 0, actually_c = 0;
    for (int32_t other = 0; other < classes; ++other) {
      predicted_as_c += metrics.confusion[other][c];
      actually_c += metrics.confusion[c][other];
    }
    const double precision = predicted_as_c > 0 ? true_positives / static_cast<double>(predicted_as_c) : 0.0;
    const double recall = actually_c > 0 ? true_positives / static_cast<double>(actually_c) : 0.0;
    // F1 = 2PR / (P + R)
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    metrics.precision.push_back(precision);
    metrics.recall.push_back(recall);
    metrics.f1.push_back(f1);
    metrics.support.push_back(actually_c);
    f1_sum += f1;
  }
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  metrics.accuracy = actual.empty() ? nan : static_cast<double>(correct) / static_cast<double>(actual.size());
  metrics.macro_f1 = classes > 0 ? f1_sum / classes : nan;
  return metrics;
}

}  // namespace lstm
