// Trains an LSTM forecaster on a bundled monthly series with the lstm.cpp API and compares its
// one-month-ahead forecasts on the last 12 months (never seen in training) with the naive
// forecast (next month = this month).
//
//     build/examples/forecast data/timeseries/AirPassengers.csv
//
// The model sees the series as month-to-month changes of its logarithm, d_t = log y_t − log y_{t−1},
// standardised with the training part's mean and deviation: growth and seasonality are then a
// pattern that repeats, which an LSTM learns from a year of past changes (window 12).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <lstm/lstm.h>

namespace {

// The last column of a CSV file with a header row, as numbers.
std::vector<double> read_last_column(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw lstm::Error(path + ": cannot open");
  std::vector<double> values;
  std::string line;
  std::getline(file, line);  // header
  for (int line_number = 2; std::getline(file, line); ++line_number) {
    const std::string cell = line.substr(line.rfind(',') + 1);
    try {
      values.push_back(std::stod(cell));
    } catch (const std::exception&) {
      throw lstm::Error(path + ":" + std::to_string(line_number) + ": not a number: '" + cell + "'");
    }
  }
  return values;
}

double rmse(const std::vector<double>& forecast, const std::vector<double>& actual) {
  double sum = 0.0;
  for (std::size_t i = 0; i < actual.size(); ++i) sum += std::pow(forecast[i] - actual[i], 2);
  return std::sqrt(sum / static_cast<double>(actual.size()));
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string path = argc > 1 ? argv[1] : "data/timeseries/AirPassengers.csv";
  const std::vector<double> series = read_last_column(path);
  constexpr int64_t window = 12, test_months = 12;
  const auto n = static_cast<int64_t>(series.size());

  // d_t = log y_t − log y_{t−1} for t = 1..n−1, standardised by the training part (every change
  // before the test months).
  std::vector<double> change(static_cast<std::size_t>(n));
  for (int64_t t = 1; t < n; ++t) change[t] = std::log(series[t]) - std::log(series[t - 1]);
  const int64_t train_end = n - test_months;  // changes 1..train_end−1 are training data
  double mean = 0.0, variance = 0.0;
  for (int64_t t = 1; t < train_end; ++t) mean += change[t] / static_cast<double>(train_end - 1);
  for (int64_t t = 1; t < train_end; ++t)
    variance += std::pow(change[t] - mean, 2) / static_cast<double>(train_end - 1);
  const double deviation = std::sqrt(variance);
  const auto scaled = [&](int64_t t) { return static_cast<float>((change[t] - mean) / deviation); };

  // Sample i: the changes at t−12..t−1 → the change at t. Training targets end before the test.
  const auto windows = [&](int64_t first_target, int64_t end_target) {
    const int64_t count = end_target - first_target;
    lstm::Tensor x({count, window, 1}), y({count, 1});
    for (int64_t i = 0; i < count; ++i) {
      const int64_t t = first_target + i;
      for (int64_t k = 0; k < window; ++k) x[i * window + k] = scaled(t - window + k);
      y[i] = scaled(t);
    }
    return std::pair{x, y};
  };
  auto [x_train, y_train] = windows(1 + window, train_end);
  auto [x_test, y_test] = windows(train_end, n);

  lstm::Sequential model;
  model.add(lstm::LSTM({.input_size = 1, .hidden_size = 32, .return_sequences = false}));
  model.add(lstm::Dense({.in_features = 32, .out_features = 1}));
  model.initialize(lstm::Initializer::pytorch, /*seed=*/1);
  model.compile(lstm::Loss::mse, lstm::Adam({.lr = 1e-2}), {lstm::Metric::mae});
  const lstm::History history = model.fit(
      x_train, y_train,
      {.epochs = 200, .batch_size = 16, .seed = 1, .validation_split = 0.15,
       .callbacks = {lstm::callbacks::EarlyStopping(
           {.patience = 20, .restore_best_weights = true})},
       .verbose = 0});

  // Back to passengers: ŷ_t = y_{t−1} · exp(d̂_t).
  const lstm::Tensor predicted = model.predict(x_test);
  std::vector<double> forecast, naive, actual;
  for (int64_t i = 0; i < test_months; ++i) {
    const int64_t t = train_end + i;
    forecast.push_back(series[t - 1] * std::exp(predicted[i] * deviation + mean));
    naive.push_back(series[t - 1]);
    actual.push_back(series[t]);
  }
  std::printf("trained %zu epochs (%s)\n", history.epochs.size(),
              history.stop_reason.empty() ? "all" : history.stop_reason.c_str());
  std::printf("test RMSE: lstm %.2f, naive %.2f\n", rmse(forecast, actual), rmse(naive, actual));
  model.save("forecaster.safetensors");
  return 0;
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << '\n';
  return 1;
}
