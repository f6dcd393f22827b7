// Time-series preparation: the chronological split, the standard scaler, windows, the default
// window, the baselines and the forecast metrics.
#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "lstm/data.h"
#include "lstm/loss.h"

namespace lstm {

SplitPoints split_points(int64_t rows, const SplitFractions& fractions) {
  const double sum = fractions.train + fractions.validation + fractions.test;
  if (!(fractions.train > 0) || !(fractions.validation >= 0) || !(fractions.test >= 0) || std::abs(sum - 1) > 1e-6)
    throw Error("split fractions: expected train > 0, validation >= 0 and test >= 0 summing to 1, got " +
                std::to_string(fractions.train) + ", " + std::to_string(fractions.validation) + ", " +
                std::to_string(fractions.test));
  if (rows < 0) throw Error("split: expected a row count >= 0, got " + std::to_string(rows));
  const auto rounded = [](double x) { return static_cast<int64_t>(std::llround(x)); };
  SplitPoints points;
  points.rows = rows;
  // train_end = round(rows·train), validation_end = round(rows·(train + validation)).
  points.train_end = rounded(static_cast<double>(rows) * fractions.train);
  points.validation_end = std::min(rows, rounded(static_cast<double>(rows) * (fractions.train + fractions.validation)));
  return points;
}

StandardScaler StandardScaler::fit(const TimeSeries& series, int64_t end_row) {
  if (end_row < 1 || end_row > series.rows())
    throw Error("scaler: expected 1 to " + std::to_string(series.rows()) + " training rows, got " + std::to_string(end_row));
  StandardScaler scaler;
  scaler.columns = series.columns;
  for (int64_t c = 0; c < series.num_columns(); ++c) {
    // mean = Σx / n, scale = √(Σ(x − mean)² / n), or 1 when that is 0.
    double sum = 0;
    for (int64_t r = 0; r < end_row; ++r) sum += series.at(r, c);
    const double mean = sum / static_cast<double>(end_row);
    double squares = 0;
    for (int64_t r = 0; r < end_row; ++r) squares += (series.at(r, c) - mean) * (series.at(r, c) - mean);
    const double deviation = std::sqrt(squares / static_cast<double>(end_row));
    scaler.mean.push_back(mean);
    scaler.scale.push_back(deviation > 0 ? deviation : 1.0);
  }
  return scaler;
}

std::string StandardScaler::to_json() const {
  return nlohmann::json{{"type", "standard"}, {"columns", columns}, {"mean", mean}, {"scale", scale}}.dump();
}

StandardScaler StandardScaler::from_json(const std::string& json) {
  const auto fail = [](const std::string& problem) { return Error("scaler JSON: " + problem); };
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("not valid JSON: ") + e.what());
  }
  if (!object.is_object() || object.value("type", "") != "standard")
    throw fail("expected an object with \"type\": \"standard\"");
  StandardScaler scaler;
  try {
    scaler.columns = object.at("columns").get<std::vector<std::string>>();
    scaler.mean = object.at("mean").get<std::vector<double>>();
    scaler.scale = object.at("scale").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("expected \"columns\" (strings), \"mean\" and \"scale\" (numbers): ") + e.what());
  }
  if (scaler.mean.size() != scaler.columns.size() || scaler.scale.size() != scaler.columns.size())
    throw fail("expected as many means and scales as columns (" + std::to_string(scaler.columns.size()) + "), got " +
               std::to_string(scaler.mean.size()) + " and " + std::to_string(scaler.scale.size()));
  for (std::size_t c = 0; c < scaler.columns.size(); ++c)
    if (!std::isfinite(scaler.mean[c]) || !(scaler.scale[c] > 0) || !std::isfinite(scaler.scale[c]))
      throw fail("expected a finite mean and a positive scale for column '" + scaler.columns[c] + "'");
  return scaler;
}

void StandardScaler::transform(std::vector<double>& values) const {
  const std::size_t width = columns.size();
  if (width == 0 || values.size() % width != 0)
    throw Error("scaler: expected rows of " + std::to_string(width) + " values, got " + std::to_string(values.size()) +
                " values");
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = transform(values[i], static_cast<int64_t>(i % width));
}

Tensor StandardScaler::inverse_target(const Tensor& scaled) const {
  if (columns.empty()) throw Error("scaler: not fitted (no columns)");
  Tensor out(scaled.shape());
  for (int64_t i = 0; i < scaled.numel(); ++i) out[i] = static_cast<float>(inverse(scaled[i], 0));
  return out;
}

Windows make_windows(const std::vector<double>& values, int64_t columns, int64_t window, int64_t horizon,
                     int64_t target_begin, int64_t target_end) {
  if (columns < 1 || values.size() % columns != 0)
    throw Error("windows: expected rows of " + std::to_string(columns) + " values, got " + std::to_string(values.size()) +
                " values");
  if (window < 1 || horizon < 1)
    throw Error("windows: expected window >= 1 and horizon >= 1, got window " + std::to_string(window) + " and horizon " +
                std::to_string(horizon));
  const int64_t rows = static_cast<int64_t>(values.size()) / columns;
  if (target_begin < 0 || target_end > rows || target_begin > target_end)
    throw Error("windows: expected target rows within [0, " + std::to_string(rows) + "), got [" +
                std::to_string(target_begin) + ", " + std::to_string(target_end) + ")");
  // Sample starts t with window ≤ t, target_begin ≤ t and t + horizon ≤ target_end.
  const int64_t first_start = std::max(target_begin, window);
  const int64_t samples = target_end - horizon - first_start + 1;
  if (target_end - target_begin < horizon)
    throw Error("windows: a horizon of " + std::to_string(horizon) + " needs " + std::to_string(horizon) +
                " target rows, but the part has " + std::to_string(target_end - target_begin) +
                "; use a shorter horizon or a larger part");
  if (samples < 1)
    throw Error("windows: a window of " + std::to_string(window) + " and a horizon of " + std::to_string(horizon) +
                " need " + std::to_string(window + horizon) + " rows, but the series has " + std::to_string(target_end) +
                " up to the end of the part; use a shorter window or horizon");
  Windows out;
  out.inputs = Tensor({samples, window, columns});       // (samples, window, columns)
  out.targets = Tensor({samples, horizon});              // (samples, horizon)
  for (int64_t s = 0; s < samples; ++s) {
    const int64_t t = first_start + s;
    out.target_start.push_back(t);
    for (int64_t w = 0; w < window; ++w)
      for (int64_t c = 0; c < columns; ++c)
        out.inputs[(s * window + w) * columns + c] = static_cast<float>(values[(t - window + w) * columns + c]);
    for (int64_t h = 0; h < horizon; ++h) out.targets[s * horizon + h] = static_cast<float>(values[(t + h) * columns]);
  }
  return out;
}

int64_t default_window(int64_t season_period, int64_t training_rows) {
  constexpr int64_t shortest = 16, longest = 256;
  const int64_t two_seasons = 2 * std::max<int64_t>(season_period, 1);
  return std::max<int64_t>(1, std::min({std::max(two_seasons, shortest), longest, training_rows / 4}));
}

ForecastData prepare_forecast(const TimeSeries& series, const ForecastSetup& setup) {
  ForecastData data;
  data.split = split_points(series.rows(), setup.fractions);
  if (data.split.train_end < 2)
    throw Error(series.source + ": expected at least 2 training rows, got " + std::to_string(data.split.train_end) +
                " of " + std::to_string(series.rows()));
  data.scaler = StandardScaler::fit(series, data.split.train_end);
  if (setup.season > 0) {
    data.season.period = setup.season;
    data.season.calendar_period = series.calendar_period;
    data.season.description = "season " + std::to_string(setup.season) + " (given)";
  } else {
    std::vector<double> training_target = series.column(0);
    training_target.resize(static_cast<std::size_t>(data.split.train_end));
    data.season = detect_season(training_target, series.calendar_period);
  }
  data.window = setup.window > 0 ? setup.window : default_window(data.season.period, data.split.train_end);
  data.horizon = setup.horizon;

  std::vector<double> scaled = series.values;
  data.scaler.transform(scaled);
  const auto windows_of = [&](const std::string& part, int64_t begin, int64_t end) {
    if (begin == end) return Windows{};
    try {
      return make_windows(scaled, series.num_columns(), data.window, data.horizon, begin, end);
    } catch (const Error& e) {
      throw Error(series.source + ": " + part + " part (rows " + std::to_string(begin + 1) + " to " +
                  std::to_string(end) + " of " + std::to_string(series.rows()) + "): " + e.what());
    }
  };
  data.train = windows_of("training", 0, data.split.train_end);
  data.validation = windows_of("validation", data.split.train_end, data.split.validation_end);
  data.test = windows_of("test", data.split.validation_end, data.split.rows);
  return data;
}

Tensor seasonal_naive_forecast(const std::vector<double>& target, const std::vector<int64_t>& target_start,
                               int64_t horizon, int64_t season) {
  if (season < 1 || horizon < 1)
    throw Error("seasonal naive: expected season >= 1 and horizon >= 1, got season " + std::to_string(season) +
                " and horizon " + std::to_string(horizon));
  const int64_t samples = static_cast<int64_t>(target_start.size());
  Tensor forecast({samples, horizon});  // (samples, horizon)
  for (int64_t s = 0; s < samples; ++s) {
    const int64_t t = target_start[s];
    if (t < season || t > static_cast<int64_t>(target.size()))
      throw Error("seasonal naive: a forecast from row " + std::to_string(t) + " needs the " + std::to_string(season) +
                  " rows before it, within the " + std::to_string(target.size()) + " rows of the series");
    for (int64_t h = 0; h < horizon; ++h) {
      // ŷ[t + h] = y[t + h − m·⌈(h + 1)/m⌉]
      const int64_t seasons_back = (h + 1 + season - 1) / season;
      forecast[s * horizon + h] = static_cast<float>(target[t + h - season * seasons_back]);
    }
  }
  return forecast;
}

ForecastMetrics forecast_metrics(const Tensor& forecast, const Tensor& actual) {
  if (forecast.shape() != actual.shape())
    throw Error("forecast metrics: expected the forecast and the actual values of one shape, got " +
                forecast.shape_string() + " and " + actual.shape_string());
  ForecastMetrics metrics;
  metrics.count = actual.numel();
  metrics.rmse = rmse(forecast, actual);
  metrics.mae = mae(forecast, actual);
  double percentage_errors = 0, symmetric_errors = 0;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double y = actual[i], y_hat = forecast[i], error = std::abs(y - y_hat);
    // MAPE term |y − ŷ| / |y|, where y ≠ 0.
    if (y != 0) {
      percentage_errors += error / std::abs(y);
      ++metrics.mape_count;
    }
    // sMAPE term 2|y − ŷ| / (|y| + |ŷ|), 0 where y = ŷ = 0.
    const double magnitude = std::abs(y) + std::abs(y_hat);
    if (magnitude > 0) symmetric_errors += 2 * error / magnitude;
  }
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  metrics.mape = metrics.mape_count > 0 ? 100 * percentage_errors / static_cast<double>(metrics.mape_count) : nan;
  metrics.smape = metrics.count > 0 ? 100 * symmetric_errors / static_cast<double>(metrics.count) : nan;
  return metrics;
}

}  // namespace lstm
