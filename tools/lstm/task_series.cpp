// --task series: forecasting a column of a CSV (docs/data.md has the data conventions).
//
// The model sees each window relative to its last step, in units of the window's own scale.
// With z the standardised series (mean and deviation of the training rows), s_c the deviation
// of z_c's one-step changes over the training rows, and, for the window of rows t − W … t − 1,
//     σ_c = max( sqrt( 1/(W−1) · Σ_{r=t−W+1}^{t−1} (z[r, c] − z[r − 1, c])² ),  0.1 · s_c )
// (its local scale: the RMS of its changes), a sample starting at t has inputs
//     x[k, c] = (z[t − W + k, c] − z[t − 1, c]) / σ_c          k = 0 … W − 1
// and targets
//     y[h] = (z[t + h, 0] − z[t − 1, 0]) / σ_0                  h = 0 … H − 1,
// so the forecast is ẑ[t + h] = z[t − 1] + σ_0 · ŷ[h]. A series that trends beyond the range it
// was trained on, or whose swings grow (a price index whose daily moves are four times larger
// at the end than in the training part), then looks like what the model has seen, and an output
// of zero is the naive forecast: the network learns what to add to it. (This is instance
// normalisation, as in RevIN, Kim et al. 2022, with the naive forecast as the reference.)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tasks.h"

namespace lstm::cli {

namespace {

using json = nlohmann::json;

// Defaults, for series of a few hundred to a few thousand rows on a small machine: one LSTM
// layer of 64 units learns a season's shape from a hundred windows without overfitting much;
// Adam at 2e-3 in batches of 32; early stopping after 30 epochs without a better validation loss
// (keeping the best weights) decides when to stop, 500 epochs and 90 s being only bounds, so
// that train + evaluate stays within two minutes.
constexpr int64_t kDefaultLayers = 1;
constexpr int64_t kDefaultHidden = 64;
constexpr int64_t kDefaultEpochs = 500;
constexpr int64_t kDefaultBatch = 32;
constexpr double kDefaultLr = 2e-3;
constexpr int64_t kDefaultPatience = 30;
constexpr double kDefaultMaxSeconds = 90.0;
constexpr double kLocalScaleFloor = 0.1;

// Everything needed to use a trained series model again; stored as its task_config.
struct SeriesConfig {
  std::string target;
  std::vector<std::string> features;
  std::string missing;
  StandardScaler scaler;
  std::vector<double> change_scale;  // s_c per column
  int64_t window = 0, horizon = 1, season = 1;
  std::string season_description;
  SplitFractions fractions;
  SplitPoints split;
  std::string data_fingerprint;
  std::map<std::string, std::vector<double>> history;

  json to_json() const {
    return {{"target", target},
            {"features", features},
            {"missing", missing},
            {"scaler", json::parse(scaler.to_json())},
            {"change_scale", change_scale},
            {"window", window},
            {"horizon", horizon},
            {"season", season},
            {"season_description", season_description},
            {"split",
             {{"fractions", {fractions.train, fractions.validation, fractions.test}},
              {"train_end", split.train_end},
              {"validation_end", split.validation_end},
              {"rows", split.rows}}},
            {"data", data_fingerprint},
            {"history", history}};
  }

  static SeriesConfig from_json(const std::string& text, const std::string& path) {
    try {
      const json j = json::parse(text);
      SeriesConfig c;
      c.target = j.at("target");
      c.features = j.at("features").get<std::vector<std::string>>();
      c.missing = j.at("missing");
      c.scaler = StandardScaler::from_json(j.at("scaler").dump());
      c.change_scale = j.at("change_scale").get<std::vector<double>>();
      c.window = j.at("window");
      c.horizon = j.at("horizon");
      c.season = j.at("season");
      c.season_description = j.at("season_description");
      const auto fractions = j.at("split").at("fractions").get<std::vector<double>>();
      c.fractions = {fractions.at(0), fractions.at(1), fractions.at(2)};
      c.split = {j.at("split").at("train_end"), j.at("split").at("validation_end"),
                 j.at("split").at("rows")};
      c.data_fingerprint = j.at("data");
      c.history = j.at("history").get<std::map<std::string, std::vector<double>>>();
      return c;
    } catch (const json::exception& e) {
      throw Error(path + ": the series model's task_config is malformed: " + e.what());
    }
  }

  SeriesOptions series_options() const {
    return {.target = target, .features = features, .missing = missing_values_from_name(missing)};
  }
};

// z: the series standardised, (rows, columns) row-major.
std::vector<double> standardised(const TimeSeries& series, const StandardScaler& scaler) {
  std::vector<double> z = series.values;
  scaler.transform(z);
  return z;
}

// s_c: the population deviation of z_c's one-step changes over rows [0, end_row); 1 where the
// column does not change, so that a constant input stays harmless.
std::vector<double> change_scales(const std::vector<double>& z, int64_t columns, int64_t end_row) {
  std::vector<double> scales;
  for (int64_t c = 0; c < columns; ++c) {
    double sum = 0.0, sum_squares = 0.0;
    const int64_t n = end_row - 1;
    for (int64_t r = 1; r < end_row; ++r) {
      const double d = z[r * columns + c] - z[(r - 1) * columns + c];
      sum += d;
      sum_squares += d * d;
    }
    const double variance = n > 0 ? sum_squares / double(n) - std::pow(sum / double(n), 2) : 0.0;
    scales.push_back(variance > 1e-12 ? std::sqrt(variance) : 1.0);
  }
  return scales;
}

// σ_c at a window whose last row is t − 1: the root mean square of z_c's one-step changes within
// the window, floored at kLocalScaleFloor · s_c so that a flat window does not blow up; s_c
// itself when the window is too short to have changes (the equations at the top).
double local_scale(const std::vector<double>& z, const SeriesConfig& config, int64_t last_row,
                   int64_t column) {
  const auto columns = static_cast<int64_t>(config.change_scale.size());
  const int64_t changes = config.window - 1;
  if (changes < 1) return config.change_scale[column];
  double sum_squares = 0.0;
  for (int64_t r = last_row - changes + 1; r <= last_row; ++r) {
    const double d = z[r * columns + column] - z[(r - 1) * columns + column];
    sum_squares += d * d;
  }
  return std::max(std::sqrt(sum_squares / double(changes)),
                  kLocalScaleFloor * config.change_scale[column]);
}

// Standardised windows made relative to each window's last step and scaled by its local scale,
// in place (the equations at the top).
void make_relative(Windows& w, const std::vector<double>& z, const SeriesConfig& config) {
  const auto columns = static_cast<int64_t>(config.change_scale.size());
  const int64_t samples = w.inputs.empty() ? 0 : w.inputs.dim(0);
  const int64_t window = config.window, horizon = config.horizon;
  std::vector<double> scale(columns);  // σ_c of this window
  for (int64_t s = 0; s < samples; ++s) {
    const int64_t last_row = w.target_start[s] - 1;
    for (int64_t c = 0; c < columns; ++c) scale[c] = local_scale(z, config, last_row, c);
    for (int64_t k = 0; k < window; ++k)
      for (int64_t c = 0; c < columns; ++c) {
        float& x = w.inputs[(s * window + k) * columns + c];
        x = static_cast<float>((x - z[last_row * columns + c]) / scale[c]);
      }
    for (int64_t h = 0; h < horizon; ++h) {
      float& y = w.targets[s * horizon + h];
      y = static_cast<float>((y - z[last_row * columns]) / scale[0]);
    }
  }
}

// The relative windows of the rows whose targets lie in [target_begin, target_end).
Windows relative_windows(const std::vector<double>& z, const SeriesConfig& config,
                         int64_t target_begin, int64_t target_end) {
  Windows w = make_windows(z, static_cast<int64_t>(config.change_scale.size()), config.window,
                           config.horizon, target_begin, target_end);
  make_relative(w, z, config);
  return w;
}

// The model's forecasts in the series' units, (samples, horizon): ẑ = z[t − 1] + s_0 · ŷ, then
// undo the standardisation.
Tensor forecasts(Sequential& model, const Windows& w, const std::vector<double>& z,
                 const SeriesConfig& config) {
  const Tensor y = model.predict(w.inputs);  // (samples, horizon)
  const auto columns = static_cast<int64_t>(config.change_scale.size());
  Tensor out(y.shape());
  for (int64_t s = 0; s < y.dim(0); ++s) {
    const int64_t last_row = w.target_start[s] - 1;
    const double last = z[last_row * columns], scale = local_scale(z, config, last_row, 0);
    for (int64_t h = 0; h < config.horizon; ++h)
      out[s * config.horizon + h] =
          static_cast<float>(config.scaler.inverse(last + scale * y[s * config.horizon + h], 0));
  }
  return out;
}

// The scores of the model and the baselines on the samples whose targets lie in a part of the
// series.
struct SeriesScores {
  std::string part;         // "test" or "all"
  int64_t first_row = 0;    // of the targets scored
  int64_t samples = 0;
  int64_t season = 1;
  ForecastMetrics model{}, naive{}, seasonal_naive{};
  Tensor forecast{}, actual{};  // (samples, horizon)
  std::vector<int64_t> target_start{};
};

SeriesScores score(Sequential& model, const SeriesConfig& config, const TimeSeries& series,
                   const std::string& part, int64_t part_begin, int64_t season) {
  const std::vector<double> z = standardised(series, config.scaler);
  // Every forecaster is scored on the same samples: those the seasonal-naive forecast can make
  // too (starting at least one season in).
  const int64_t begin = std::max(part_begin, season);
  const Windows w = relative_windows(z, config, begin, series.rows());
  SeriesScores scores{.part = part, .first_row = std::max(begin, config.window),
                      .samples = w.inputs.dim(0), .season = season};
  scores.forecast = forecasts(model, w, z, config);
  scores.target_start = w.target_start;
  const std::vector<double> target = series.column(0);
  scores.actual = Tensor(scores.forecast.shape());
  for (int64_t s = 0; s < scores.samples; ++s)
    for (int64_t h = 0; h < config.horizon; ++h)
      scores.actual[s * config.horizon + h] = static_cast<float>(target[w.target_start[s] + h]);
  scores.model = forecast_metrics(scores.forecast, scores.actual);
  scores.naive = forecast_metrics(seasonal_naive_forecast(target, w.target_start, config.horizon, 1),
                                  scores.actual);
  scores.seasonal_naive = forecast_metrics(
      seasonal_naive_forecast(target, w.target_start, config.horizon, season), scores.actual);
  return scores;
}

json metrics_json(const ForecastMetrics& m) {
  const auto number = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  return {{"rmse", number(m.rmse)}, {"mae", number(m.mae)}, {"mape", number(m.mape)},
          {"smape", number(m.smape)}};
}

std::string fixed(double value, int decimals = 3) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// The scores as rows of a table: forecaster, RMSE, MAE, MAPE, sMAPE.
std::vector<std::vector<std::string>> score_rows(const SeriesScores& s) {
  const auto row = [](const std::string& name, const ForecastMetrics& m) {
    return std::vector<std::string>{name, fixed(m.rmse), fixed(m.mae), fixed(m.mape, 2) + "%",
                                    fixed(m.smape, 2) + "%"};
  };
  return {row("lstm", s.model), row("naive", s.naive),
          row("seasonal naive (" + std::to_string(s.season) + ")", s.seasonal_naive)};
}

void print_scores(std::ostream& out, const SeriesScores& s) {
  out << std::left;
  out << "forecaster              RMSE        MAE         MAPE      sMAPE\n";
  for (const auto& row : score_rows(s)) {
    char line[160];
    std::snprintf(line, sizeof line, "%-22s %-11s %-11s %-9s %-9s\n", row[0].c_str(),
                  row[1].c_str(), row[2].c_str(), row[3].c_str(), row[4].c_str());
    out << line;
  }
}

// A report's charts: forecast against actual (the first step of each sample) and the table.
void add_scores_to_report(Report& report, const SeriesScores& s, const SeriesConfig& config) {
  std::vector<double> x, forecast, actual;
  for (int64_t i = 0; i < s.samples; ++i) {
    x.push_back(static_cast<double>(s.target_start[i]));
    forecast.push_back(s.forecast[i * config.horizon]);
    actual.push_back(s.actual[i * config.horizon]);
  }
  report.add_line_chart({.title = "Forecast against actual, " + s.part + " part" +
                                  (config.horizon > 1 ? " (first step of each forecast)" : ""),
                         .x_label = "row",
                         .y_label = config.target,
                         .series = {{.name = "actual", .x = x, .y = actual},
                                    {.name = "lstm", .x = x, .y = forecast}}});
  report.add_table("Scores on the " + s.part + " part: " + std::to_string(s.samples) +
                       " forecasts of " + std::to_string(config.horizon) + " step(s)",
                   {"forecaster", "RMSE", "MAE", "MAPE", "sMAPE"}, score_rows(s));
}

void add_history_to_report(Report& report, const SeriesConfig& config) {
  const auto& loss = config.history.at("loss");
  std::vector<double> epochs;
  for (std::size_t e = 1; e <= loss.size(); ++e) epochs.push_back(static_cast<double>(e));
  report.add_line_chart({.title = "Training", .x_label = "epoch", .y_label = "loss (Huber, standardised changes)",
                         .series = {{.name = "loss", .x = epochs, .y = loss},
                                    {.name = "val_loss", .x = epochs,
                                     .y = config.history.at("val_loss")}}});
}

// Shrinks the model's output toward the naive forecast (an output of zero) by the factor that
// serves the validation part best: per step h, α_h = ⟨ŷ_h, y_h⟩ / ⟨ŷ_h, ŷ_h⟩ over the validation
// samples (least squares), kept in [0, 1]. With α_h the validation error is at most the raw
// model's and at most the naive forecast's, so a series that is close to a random walk (a stock
// index) gets forecasts close to naive instead of noise the network fitted. α_h scales row h of
// the final Dense layer, weight and bias, so the model file stays an ordinary one. Returns α.
std::vector<double> shrink_toward_naive(Sequential& model, const Windows& validation,
                                        int64_t horizon) {
  const Tensor predicted = model.predict(validation.inputs);  // (samples, horizon)
  auto& dense = dynamic_cast<Dense&>(model.layer(model.size() - 1));
  const int64_t in = dense.options().in_features;
  std::vector<double> alphas;
  for (int64_t h = 0; h < horizon; ++h) {
    double cross = 0.0, square = 0.0;
    for (int64_t s = 0; s < predicted.dim(0); ++s) {
      cross += double(predicted[s * horizon + h]) * validation.targets[s * horizon + h];
      square += double(predicted[s * horizon + h]) * predicted[s * horizon + h];
    }
    const double alpha = square > 0.0 ? std::clamp(cross / square, 0.0, 1.0) : 0.0;
    for (int64_t j = 0; j < in; ++j) dense.weight[h * in + j] *= static_cast<float>(alpha);
    dense.bias[h] *= static_cast<float>(alpha);
    alphas.push_back(alpha);
  }
  return alphas;
}

TimeSeries read_series(const std::string& path, const SeriesOptions& options) {
  TimeSeries series = read_time_series(path, options);
  if (series.rows() < 2) throw Error(path + ": a series needs at least 2 rows, got " +
                                     std::to_string(series.rows()));
  return series;
}

}  // namespace

void train_series(const TrainCommandOptions& o) {
  if (o.split.size() == 3 && std::abs(o.split[0] + o.split[1] + o.split[2] - 1.0) > 1e-6)
    throw Error("--split: the three fractions must add up to 1");
  SeriesConfig config;
  const SeriesOptions series_options{.target = o.target, .features = o.features,
                                     .missing = missing_values_from_name(o.missing)};
  const TimeSeries series = read_series(o.data, series_options);
  config.target = series.columns.front();
  config.features.assign(series.columns.begin() + 1, series.columns.end());
  config.missing = o.missing;
  config.data_fingerprint = file_fingerprint(o.data);
  if (o.split.size() == 3) config.fractions = {o.split[0], o.split[1], o.split[2]};
  ForecastData data = prepare_forecast(series, {.fractions = config.fractions, .window = o.window,
                                                .horizon = o.horizon, .season = o.season});
  config.split = data.split;
  config.scaler = data.scaler;
  config.season = data.season.period;
  config.season_description = data.season.description;
  config.window = data.window;
  config.horizon = data.horizon;
  if (data.validation.inputs.empty())
    throw Error(o.data + ": the validation part is empty; give it a fraction in --split");
  const std::vector<double> z = standardised(series, config.scaler);
  config.change_scale = change_scales(z, series.num_columns(), config.split.train_end);
  Windows& train = data.train;
  Windows& validation = data.validation;
  make_relative(train, z, config);
  make_relative(validation, z, config);

  const int64_t hidden = o.hidden > 0 ? o.hidden : kDefaultHidden;
  Sequential model;
  model.add(LSTM({.input_size = series.num_columns(),
                  .hidden_size = hidden,
                  .num_layers = o.layers > 0 ? o.layers : kDefaultLayers,
                  .dropout = o.dropout >= 0 ? static_cast<float>(o.dropout) : 0.0f,
                  .return_sequences = false}));
  model.add(Dense({.in_features = hidden, .out_features = config.horizon}));
  model.initialize(Initializer::pytorch, o.seed);
  model.compile(Loss::huber, *make_task_optimizer(o, kDefaultLr));

  if (o.verbose > 0)
    std::cerr << "lstm train: " << config.target << " (" << series.rows() << " rows"
              << (config.features.empty() ? "" : ", " + std::to_string(config.features.size()) +
                                                     " feature columns")
              << "): " << train.inputs.dim(0) << " training and " << validation.inputs.dim(0)
              << " validation windows of " << config.window << " steps, horizon "
              << config.horizon << "; season: " << config.season_description << "\n";
  const auto stopping = std::make_shared<callbacks::EarlyStopping>(callbacks::EarlyStoppingOptions{
      .patience = o.patience > 0 ? o.patience : kDefaultPatience, .restore_best_weights = true});
  const History history = model.fit(
      train.inputs, train.targets,
      {.epochs = o.epochs > 0 ? o.epochs : kDefaultEpochs,
       .batch_size = o.batch_size > 0 ? o.batch_size : kDefaultBatch,
       .seed = o.seed,
       .validation_data = Dataset{validation.inputs, validation.targets, {}},
       .callbacks = {stopping},
       .verbose = o.verbose,
       .max_seconds = o.max_time > 0 ? o.max_time : kDefaultMaxSeconds});
  config.history = {{"loss", history["loss"]}, {"val_loss", history["val_loss"]}};
  const std::vector<double> alphas = shrink_toward_naive(model, validation, config.horizon);
  save_task_model(model, o.model, "series", config.to_json().dump());

  // The held-out test part, scored for the user's information only: nothing above saw it.
  const SeriesScores test = score(model, config, series, "test", config.split.validation_end,
                                  config.season);
  if (o.verbose > 0) {
    std::cerr << "lstm train: " << history.epochs.size() << " epochs; kept epoch " << stopping->best_epoch() + 1 << " (val_loss "
              << fixed(stopping->best(), 5) << "); output scaled toward the naive forecast by "
              << fixed(*std::min_element(alphas.begin(), alphas.end()), 3)
              << (config.horizon > 1 ? " or more" : "") << "; wrote " << o.model << "\n"
              << "test part (rows " << test.first_row + 1 << "-" << series.rows()
              << ", never seen in training):\n";
    print_scores(std::cerr, test);
  }
  if (!o.report.empty()) {
    Report report(config.target + ": training");
    report.add_paragraph("Trained on " + o.data + ": " + std::to_string(series.rows()) +
                         " rows, window " + std::to_string(config.window) + ", horizon " +
                         std::to_string(config.horizon) + ", season " +
                         std::to_string(config.season) + " (" + config.season_description + ").");
    add_history_to_report(report, config);
    add_scores_to_report(report, test, config);
    report.write(o.report);
  }
}

void evaluate_series(const EvaluateCommandOptions& o, TaskModel& task) {
  const SeriesConfig config = SeriesConfig::from_json(task.config, o.model);
  const TimeSeries series = read_series(o.data, config.series_options());
  // The file trained on: its test part, which training never saw; any other file: all of it.
  const bool same_data = file_fingerprint(o.data) == config.data_fingerprint;
  const SeriesScores scores =
      score(task.model, config, series, same_data ? "test" : "all",
            same_data ? config.split.validation_end : 0, o.season > 0 ? o.season : config.season);
  if (o.json) {
    json out = metrics_json(scores.model);
    out["task"] = "series";
    out["part"] = scores.part;
    out["first_row"] = scores.first_row + 1;
    out["samples"] = scores.samples;
    out["horizon"] = config.horizon;
    out["season"] = scores.season;
    out["baselines"] = {{"naive", metrics_json(scores.naive)},
                        {"seasonal_naive", metrics_json(scores.seasonal_naive)}};
    std::cout << out.dump() << '\n';
  } else {
    std::cout << config.target << ": " << (same_data ? "the test part" : "all") << " of " << o.data
              << " (rows " << scores.first_row + 1 << "-" << series.rows() << "), "
              << scores.samples << " forecasts of " << config.horizon << " step(s)\n";
    print_scores(std::cout, scores);
  }
  if (!o.report.empty()) {
    Report report(config.target + ": evaluation");
    report.add_paragraph("Scored on " + o.data + " (" + (same_data ? "the test part" : "all rows") +
                         ") with the model " + o.model + ".");
    add_history_to_report(report, config);
    add_scores_to_report(report, scores, config);
    report.write(o.report);
  }
}

void forecast_series(const std::string& model_path, const std::string& data, int64_t steps) {
  TaskModel task = load_task_model(model_path, "series");
  const SeriesConfig config = SeriesConfig::from_json(task.config, model_path);
  if (!config.features.empty() && steps > config.horizon)
    throw Error("--steps " + std::to_string(steps) + ": a model with feature columns forecasts at "
                "most its horizon, " + std::to_string(config.horizon) +
                " steps (the features' future is unknown)");
  TimeSeries series = read_series(data, config.series_options());
  if (series.rows() < config.window)
    throw Error(data + ": the model looks at " + std::to_string(config.window) +
                " rows before a forecast, the file has " + std::to_string(series.rows()));
  // Univariate beyond the horizon: each forecast is appended to the series and the next made
  // from it.
  std::vector<double> forecast;
  // The rows to forecast are appended as placeholders (only the past reaches the model).
  const int64_t columns = series.num_columns();
  while (static_cast<int64_t>(forecast.size()) < steps) {
    const int64_t start = series.rows();
    series.values.resize(static_cast<std::size_t>((start + config.horizon) * columns), 0.0);
    series.lines.resize(static_cast<std::size_t>(start + config.horizon), 0);
    const std::vector<double> z = standardised(series, config.scaler);
    const Windows w = relative_windows(z, config, start, series.rows());
    const Tensor next = forecasts(task.model, w, z, config);
    for (int64_t h = 0; h < config.horizon; ++h) {
      series.values[static_cast<std::size_t>((start + h) * columns)] = next[h];
      forecast.push_back(next[h]);
    }
  }
  std::cout << "step," << config.target << '\n';
  for (int64_t i = 0; i < steps; ++i) {
    char value[64];
    std::snprintf(value, sizeof value, "%.6g", forecast[static_cast<std::size_t>(i)]);
    std::cout << i + 1 << ',' << value << '\n';
  }
}

}  // namespace lstm::cli
