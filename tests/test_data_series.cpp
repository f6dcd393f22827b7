// Time series: time columns, numbers and missing values, the split, the scaler, windows, season
// detection, baselines and forecast metrics, checked against values computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "lstm/data.h"
#include "test_util.h"

namespace {

using lstm::MissingValues;
using lstm::SeriesOptions;
using lstm::testing::error_of;

const std::string data_dir = std::string(LSTM_SOURCE_DIR) + "/data/timeseries/";
const std::string cut_dir = std::string(LSTM_SOURCE_DIR) + "/tests/data/";

lstm::TimeSeries series_of(const std::string& csv, const SeriesOptions& options = {}) {
  return lstm::make_time_series(lstm::parse_table(csv, "t.csv", lstm::Delimiter::comma), options);
}

std::string series_error(const std::string& csv, const SeriesOptions& options = {}) {
  return error_of([&] { series_of(csv, options); });
}

std::vector<float> values_of(const lstm::Tensor& t) { return {t.begin(), t.end()}; }

TEST(DataSeries, MonthlyFileWithTimeColumns) {
  const lstm::TimeSeries series = lstm::read_time_series(data_dir + "AirPassengers.csv", {});
  EXPECT_EQ(series.time_columns, (std::vector<std::string>{"year", "month"}));
  EXPECT_EQ(series.columns, (std::vector<std::string>{"AirPassengers"}));
  ASSERT_EQ(series.rows(), 144);
  EXPECT_EQ(series.at(0, 0), 112);
  EXPECT_EQ(series.at(143, 0), 432);
  EXPECT_EQ(series.time_labels[0], "1949-1");
  EXPECT_EQ(series.lines[0], 2);
  EXPECT_EQ(series.calendar_period, 12);
}

TEST(DataSeries, CutOfALongMonthlyFile) {
  const lstm::TimeSeries series = lstm::read_time_series(cut_dir + "sunspot_1749_1768.csv", {});
  EXPECT_EQ(series.columns, (std::vector<std::string>{"sunspot.month"}));
  ASSERT_EQ(series.rows(), 240);
  EXPECT_DOUBLE_EQ(series.at(1, 0), 62.6);
  EXPECT_EQ(series.time_labels.back(), "1768-12");
  EXPECT_EQ(series.lines.back(), 241);
  EXPECT_EQ(series.calendar_period, 12);
}

TEST(DataSeries, MultivariateTargetAndFeatures) {
  const lstm::TimeSeries series =
      lstm::read_time_series(cut_dir + "eustock_first300.csv", {.target = "DAX", .features = {"SMI", "CAC"}});
  EXPECT_EQ(series.time_columns, (std::vector<std::string>{"time"}));
  EXPECT_EQ(series.columns, (std::vector<std::string>{"DAX", "SMI", "CAC"}));
  ASSERT_EQ(series.rows(), 300);
  EXPECT_DOUBLE_EQ(series.at(0, 0), 1628.75);
  EXPECT_DOUBLE_EQ(series.at(0, 1), 1678.1);
  EXPECT_DOUBLE_EQ(series.at(1, 2), 1750.5);
  EXPECT_EQ(series.column(1)[1], 1688.5);
  EXPECT_EQ(series.calendar_period, 0);  // business days in decimal years: the calendar does not say
}

TEST(DataSeries, TimeColumnsByNameAndByIsoDates) {
  EXPECT_TRUE(lstm::is_time_column_name("Date"));
  EXPECT_TRUE(lstm::is_time_column_name("TIMESTAMP"));
  EXPECT_FALSE(lstm::is_time_column_name("sales"));
  const lstm::TimeSeries monthly = series_of("ds,y\n2020-01-01,1\n2020-02-01,2\n2020-03-01,3\n");
  EXPECT_EQ(monthly.time_columns, (std::vector<std::string>{"ds"}));
  EXPECT_EQ(monthly.calendar_period, 12);
  EXPECT_EQ(series_of("ds,y\n2020-01-30,1\n2020-01-31,2\n2020-02-01,3\n").calendar_period, 7);
  EXPECT_EQ(series_of("ds,y\n2020-01-01T23:00,1\n2020-01-02 00:00:00Z,2\n2020-01-02T01:00:00.5,3\n").calendar_period, 24);
  EXPECT_EQ(series_of("ds,y\n2020-01-01,1\n2020-04-01,2\n2020-07-01,3\n").calendar_period, 4);
  EXPECT_EQ(series_of("year,quarter,y\n2020,1,1\n2020,2,2\n").calendar_period, 4);
  EXPECT_EQ(series_of("time,y\n1990.0,1\n1990.0833333,2\n1990.1666667,3\n").calendar_period, 12);
  // Not all ISO dates: an ordinary (non-numeric) column.
  EXPECT_EQ(series_error("d,y\n2020-01-01,1\n2020-13-01,2\n", {.target = "y", .features = {"d"}}),
            "t.csv:2:1: expected a number in column 'd', found '2020-01-01'");
}

TEST(DataSeries, TargetErrors) {
  const std::string csv = "year,month,a,b\n2000,1,1,2\n";
  EXPECT_EQ(series_error(csv), "t.csv: expected one column to forecast, found 2 (a, b); name the target column");
  EXPECT_EQ(series_error("year,month\n2000,1\n"),
            "t.csv: expected one column to forecast, found none besides the time columns (year, month); name the target column");
  EXPECT_EQ(series_error(csv, {.target = "c"}), "t.csv: no column 'c'; the columns are: year, month, a, b");
  EXPECT_EQ(series_error(csv, {.target = "a", .features = {"B"}}), "t.csv: no column 'B'; the columns are: year, month, a, b");
  EXPECT_EQ(series_error(csv, {.target = "month"}),
            "t.csv: column 'month' is a time column, not a value; the value columns are: a, b");
  EXPECT_EQ(series_error(csv, {.target = "a", .features = {"b", "a"}}),
            "t.csv: column 'a' is named twice among the target and the features");
}

TEST(DataSeries, NonNumericCell) {
  EXPECT_EQ(series_error("year,month,co2\n1959,1,315.42\n1959,2,31x6\n"),
            "t.csv:3:8: expected a number in column 'co2', found '31x6'");
  EXPECT_EQ(series_error("v\n1\ninf\n"), "t.csv:3:1: expected a number in column 'v', found 'inf'");
  EXPECT_EQ(series_of("v\n 1.5 \n-2e3\n").at(1, 0), -2000);
}

const std::string gappy = "month,value\n1,10\n2,NA\n3,\n4,16\n5,20\n";

TEST(DataSeries, MissingValueIsAnErrorByDefault) {
  EXPECT_EQ(series_error(gappy),
            "t.csv:3:3: expected a number in column 'value', found a missing value 'NA'; choose a missing-value "
            "policy (ffill, interpolate or drop) to fill it");
  EXPECT_EQ(series_error("month,value\n1,1\n2,nan\n"),
            "t.csv:3:3: expected a number in column 'value', found a missing value 'nan'; choose a missing-value "
            "policy (ffill, interpolate or drop) to fill it");
}

TEST(DataSeries, MissingValuePolicies) {
  const lstm::TimeSeries filled = series_of(gappy, {.missing = MissingValues::forward_fill});
  EXPECT_EQ(filled.values, (std::vector<double>{10, 10, 10, 16, 20}));
  EXPECT_EQ(filled.filled, 2);
  // 10 + (16 − 10)·1/3 = 12, 10 + (16 − 10)·2/3 = 14
  const lstm::TimeSeries interpolated = series_of(gappy, {.missing = MissingValues::interpolate});
  EXPECT_EQ(interpolated.values, (std::vector<double>{10, 12, 14, 16, 20}));
  EXPECT_EQ(interpolated.filled, 2);
  const lstm::TimeSeries dropped = series_of(gappy, {.missing = MissingValues::drop});
  EXPECT_EQ(dropped.values, (std::vector<double>{10, 16, 20}));
  EXPECT_EQ(dropped.lines, (std::vector<int64_t>{2, 5, 6}));
  EXPECT_EQ(dropped.time_labels, (std::vector<std::string>{"1", "4", "5"}));
  EXPECT_EQ(dropped.dropped, 2);
}

TEST(DataSeries, MissingValueAtTheEnds) {
  EXPECT_EQ(series_error("v\nNA\n1\n", {.missing = MissingValues::forward_fill}),
            "t.csv:2:1: expected a value before the missing value in column 'v' to fill it from, found the start of "
            "the series; use drop");
  EXPECT_EQ(series_error("v\n1\n2\nN/A\n", {.missing = MissingValues::interpolate}),
            "t.csv:4:1: expected a value after the missing value in column 'v' to interpolate to, found the end of the "
            "series; use ffill or drop");
  EXPECT_EQ(series_error("v,w\nNA,1\n", {.target = "v", .missing = MissingValues::drop}),
            "t.csv: expected rows without missing values, found none (every row was dropped)");
  EXPECT_EQ(lstm::missing_values_from_name("interpolate"), MissingValues::interpolate);
  EXPECT_EQ(error_of([] { lstm::missing_values_from_name("mean"); }),
            "unknown missing-value policy 'mean'; expected one of: error, ffill, interpolate, drop");
}

TEST(DataSeries, ChronologicalSplit) {
  // round(144·0.7) = round(100.8) = 101; round(144·0.85) = round(122.4) = 122.
  const lstm::SplitPoints points = lstm::split_points(144, {});
  EXPECT_EQ(points.train_end, 101);
  EXPECT_EQ(points.validation_end, 122);
  EXPECT_EQ(points.rows, 144);
  const lstm::SplitPoints no_test = lstm::split_points(10, {.train = 0.8, .validation = 0.2, .test = 0});
  EXPECT_EQ(no_test.train_end, 8);
  EXPECT_EQ(no_test.validation_end, 10);
  EXPECT_EQ(error_of([] { lstm::split_points(10, {.train = 0.8, .validation = 0.3, .test = 0.1}); }),
            "split fractions: expected train > 0, validation >= 0 and test >= 0 summing to 1, got 0.800000, "
            "0.300000, 0.100000");
}

TEST(DataSeries, ScalerFittedOnTheTrainingRowsOnly) {
  const lstm::TimeSeries series = series_of("a,b\n1,5\n2,5\n3,5\n100,7\n", {.target = "a", .features = {"b"}});
  const lstm::StandardScaler scaler = lstm::StandardScaler::fit(series, 3);
  // a: mean 2, scale √((1 + 0 + 1)/3) = √(2/3); b: constant, scale 1.
  EXPECT_EQ(scaler.columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_DOUBLE_EQ(scaler.mean[0], 2);
  EXPECT_DOUBLE_EQ(scaler.scale[0], std::sqrt(2.0 / 3.0));
  EXPECT_DOUBLE_EQ(scaler.mean[1], 5);
  EXPECT_DOUBLE_EQ(scaler.scale[1], 1);
  std::vector<double> values = series.values;
  scaler.transform(values);
  EXPECT_DOUBLE_EQ(values[0], -1 / std::sqrt(2.0 / 3.0));
  EXPECT_DOUBLE_EQ(values[6], 98 / std::sqrt(2.0 / 3.0));
  EXPECT_DOUBLE_EQ(values[7], 2);
  EXPECT_DOUBLE_EQ(scaler.inverse(values[6], 0), 100);

  const lstm::StandardScaler back = lstm::StandardScaler::from_json(scaler.to_json());
  EXPECT_EQ(back.columns, scaler.columns);
  EXPECT_EQ(back.mean, scaler.mean);    // bit-exact
  EXPECT_EQ(back.scale, scaler.scale);
}

TEST(DataSeries, ScalerJsonIsChecked) {
  EXPECT_EQ(error_of([] { lstm::StandardScaler::from_json("{\"type\": \"minmax\"}"); }),
            "scaler JSON: expected an object with \"type\": \"standard\"");
  EXPECT_EQ(error_of([] {
              lstm::StandardScaler::from_json(R"({"type": "standard", "columns": ["a"], "mean": [1, 2], "scale": [1]})");
            }),
            "scaler JSON: expected as many means and scales as columns (1), got 2 and 1");
  EXPECT_EQ(error_of([] {
              lstm::StandardScaler::from_json(R"({"type": "standard", "columns": ["a"], "mean": [1], "scale": [0]})");
            }),
            "scaler JSON: expected a finite mean and a positive scale for column 'a'");
  EXPECT_NE(error_of([] { lstm::StandardScaler::from_json("{"); }).find("scaler JSON: not valid JSON"), std::string::npos);
}

TEST(DataSeries, Windows) {
  // Rows r = 0 … 9 of (r, 10r).
  std::vector<double> values;
  for (int r = 0; r < 10; ++r) values.insert(values.end(), {double(r), 10.0 * r});
  // Training part [0, 7): samples start at t = 3, 4, 5 (t ≥ window, t + horizon ≤ 7).
  const lstm::Windows train = lstm::make_windows(values, 2, 3, 2, 0, 7);
  EXPECT_EQ(train.inputs.shape(), (lstm::Shape{3, 3, 2}));
  EXPECT_EQ(train.targets.shape(), (lstm::Shape{3, 2}));
  EXPECT_EQ(train.target_start, (std::vector<int64_t>{3, 4, 5}));
  EXPECT_EQ(values_of(train.inputs).size(), 18u);
  EXPECT_EQ(std::vector<float>(train.inputs.begin(), train.inputs.begin() + 6), (std::vector<float>{0, 0, 1, 10, 2, 20}));
  EXPECT_EQ(values_of(train.targets), (std::vector<float>{3, 4, 4, 5, 5, 6}));
  // Validation part [7, 10): its inputs reach back into the training part.
  const lstm::Windows validation = lstm::make_windows(values, 2, 3, 2, 7, 10);
  EXPECT_EQ(validation.target_start, (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(std::vector<float>(validation.inputs.begin(), validation.inputs.begin() + 6),
            (std::vector<float>{4, 40, 5, 50, 6, 60}));
  EXPECT_EQ(values_of(validation.targets), (std::vector<float>{7, 8, 8, 9}));
}

TEST(DataSeries, WindowLongerThanTheSeries) {
  const std::vector<double> values(7, 1.0);
  EXPECT_EQ(error_of([&] { lstm::make_windows(values, 1, 6, 2, 0, 7); }),
            "windows: a window of 6 and a horizon of 2 need 8 rows, but the series has 7 up to the end of the part; use a "
            "shorter window or horizon");
  EXPECT_EQ(error_of([&] { lstm::make_windows(values, 1, 2, 4, 4, 7); }),
            "windows: a horizon of 4 needs 4 target rows, but the part has 3; use a shorter horizon or a larger part");
  EXPECT_EQ(error_of([&] { lstm::make_windows(values, 1, 0, 1, 0, 7); }),
            "windows: expected window >= 1 and horizon >= 1, got window 0 and horizon 1");
}

TEST(DataSeries, SeasonalNaiveAndNaiveForecasts) {
  const std::vector<double> y = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  // m = 4, from t = 6: ŷ[6] = y[2], ŷ[7] = y[3], ŷ[8] = y[4], ŷ[9] = y[5], ŷ[10] = y[10 − 8] = y[2].
  const lstm::Tensor seasonal = lstm::seasonal_naive_forecast(y, {6}, 5, 4);
  EXPECT_EQ(seasonal.shape(), (lstm::Shape{1, 5}));
  EXPECT_EQ(values_of(seasonal), (std::vector<float>{3, 4, 5, 6, 3}));
  // m = 1 is the naive forecast: the last value before t, at every step.
  EXPECT_EQ(values_of(lstm::seasonal_naive_forecast(y, {6, 9}, 2, 1)), (std::vector<float>{6, 6, 9, 9}));
  EXPECT_EQ(error_of([&] { lstm::seasonal_naive_forecast(y, {3}, 1, 4); }),
            "seasonal naive: a forecast from row 3 needs the 4 rows before it, within the 11 rows of the series");
}

TEST(DataSeries, ForecastMetrics) {
  // errors 1, 0, 2: RMSE √(5/3); MAE 1; MAPE over y ≠ 0: 100·(1/1 + 2/5)/2 = 70;
  // sMAPE 100·(2·1/3 + 0 + 2·2/8)/3 (the y = ŷ = 0 term is 0).
  const lstm::ForecastMetrics m = lstm::forecast_metrics(lstm::Tensor({3}, {2, 0, 3}), lstm::Tensor({3}, {1, 0, 5}));
  EXPECT_NEAR(m.rmse, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_NEAR(m.mae, 1.0, 1e-12);
  EXPECT_NEAR(m.mape, 70.0, 1e-12);
  EXPECT_NEAR(m.smape, 100 * (2.0 / 3.0 + 0.5) / 3, 1e-12);
  EXPECT_EQ(m.count, 3);
  EXPECT_EQ(m.mape_count, 2);
  EXPECT_TRUE(std::isnan(lstm::forecast_metrics(lstm::Tensor({2}, {1, 2}), lstm::Tensor({2}, {0, 0})).mape));
  EXPECT_EQ(lstm::forecast_metrics(lstm::Tensor({2}, {0, 0}), lstm::Tensor({2}, {0, 0})).smape, 0);
  EXPECT_EQ(error_of([] { lstm::forecast_metrics(lstm::Tensor({2}), lstm::Tensor({3})); }),
            "forecast metrics: expected the forecast and the actual values of one shape, got (2,) and (3,)");
}

lstm::Season season_of_training_part(const std::string& file, const std::string& target = "") {
  const lstm::TimeSeries series = lstm::read_time_series(file, {.target = target});
  const lstm::SplitPoints split = lstm::split_points(series.rows(), {});
  std::vector<double> target_values = series.column(0);
  target_values.resize(static_cast<std::size_t>(split.train_end));
  return lstm::detect_season(target_values, series.calendar_period);
}

TEST(DataSeries, SeasonOfMonthlySeries) {
  const lstm::Season air = season_of_training_part(data_dir + "AirPassengers.csv");
  EXPECT_EQ(air.period, 12) << air.description;
  EXPECT_EQ(air.calendar_period, 12);
  EXPECT_GT(air.autocorrelation, air.threshold);
  EXPECT_EQ(air.description.rfind("season 12: autocorrelation peak r = 0.76", 0), 0u) << air.description;
  const lstm::Season co2 = season_of_training_part(data_dir + "co2.csv");
  EXPECT_EQ(co2.period, 12) << co2.description;
  // Without the calendar's hint the autocorrelation alone finds 12 too.
  const lstm::TimeSeries series = lstm::read_time_series(data_dir + "AirPassengers.csv", {});
  const std::vector<double> air_values = series.column(0);
  EXPECT_EQ(lstm::detect_season({air_values.begin(), air_values.begin() + 101}).period, 12);
}

TEST(DataSeries, NoSeasonInSunspotsOrDailyPrices) {
  // Monthly, but the 11-year cycle is not a 12-month season, and the differenced series has no peak
  // strong enough; the calendar's 12 is not confirmed.
  const lstm::Season sunspots = season_of_training_part(data_dir + "sunspot.month.csv");
  EXPECT_EQ(sunspots.period, 1) << sunspots.description;
  EXPECT_NE(sunspots.description.find("the calendar's 12 has r = "), std::string::npos) << sunspots.description;
  // Daily stock prices: their day-to-day changes are uncorrelated.
  const lstm::Season dax = season_of_training_part(data_dir + "EuStockMarkets.csv", "DAX");
  EXPECT_EQ(dax.period, 1) << dax.description;
  EXPECT_EQ(dax.calendar_period, 0);
}

TEST(DataSeries, SeasonOfASyntheticWeeklyPattern) {
  // A trend plus a 7-step pattern plus a little deterministic "noise".
  std::vector<double> x;
  for (int t = 0; t < 300; ++t)
    x.push_back(0.5 * t + 3 * std::sin(2 * std::numbers::pi * t / 7) + 0.3 * std::sin(1.7 * t * t));
  EXPECT_EQ(lstm::detect_season(x).period, 7);
  EXPECT_EQ(lstm::detect_season({1, 2, 3, 4}).period, 1);
  EXPECT_EQ(lstm::detect_season({1, 2, 3, 4}).description, "no season: the training part (4 rows) is too short to look for one");
}

TEST(DataSeries, PrepareForecastOnAirPassengers) {
  const lstm::TimeSeries series = lstm::read_time_series(data_dir + "AirPassengers.csv", {});
  const lstm::ForecastData data = lstm::prepare_forecast(series, {.horizon = 2});
  EXPECT_EQ(data.split.train_end, 101);
  EXPECT_EQ(data.split.validation_end, 122);
  EXPECT_EQ(data.season.period, 12);
  EXPECT_EQ(data.window, 24);
  // Samples: train t = 24 … 99 (76), validation t = 101 … 120 (20), test t = 122 … 142 (21).
  EXPECT_EQ(data.train.inputs.shape(), (lstm::Shape{76, 24, 1}));
  EXPECT_EQ(data.validation.targets.shape(), (lstm::Shape{20, 2}));
  EXPECT_EQ(data.test.target_start.front(), 122);
  EXPECT_EQ(data.test.target_start.back(), 142);
  // Scaled with the training rows' mean and spread; back in passengers with inverse_target.
  const double y24 = series.at(24, 0), y0 = series.at(0, 0);
  EXPECT_NEAR(data.train.targets[0], (y24 - data.scaler.mean[0]) / data.scaler.scale[0], 1e-5);
  EXPECT_NEAR(data.train.inputs[0], (y0 - data.scaler.mean[0]) / data.scaler.scale[0], 1e-5);
  const lstm::Tensor test_actual = data.scaler.inverse_target(data.test.targets);
  EXPECT_NEAR(test_actual[0], series.at(122, 0), 1e-3);
  EXPECT_NEAR(test_actual[1], series.at(123, 0), 1e-3);

  const lstm::ForecastData given = lstm::prepare_forecast(series, {.window = 6, .season = 4});
  EXPECT_EQ(given.window, 6);
  EXPECT_EQ(given.season.description, "season 4 (given)");
  EXPECT_EQ(error_of([&] { lstm::prepare_forecast(series, {.window = 101}); }),
            data_dir + "AirPassengers.csv: training part (rows 1 to 101 of 144): windows: a window of 101 and a horizon "
                       "of 1 need 102 rows, but the series has 101 up to the end of the part; use a shorter window or "
                       "horizon");
  const lstm::ForecastData no_validation =
      lstm::prepare_forecast(series, {.fractions = {.train = 0.8, .validation = 0, .test = 0.2}});
  EXPECT_TRUE(no_validation.validation.target_start.empty());
}

TEST(DataSeries, DefaultWindow) {
  EXPECT_EQ(lstm::default_window(12, 101), 24);    // two seasons
  EXPECT_EQ(lstm::default_window(1, 1000), 16);    // the minimum
  EXPECT_EQ(lstm::default_window(200, 10000), 256);  // the maximum
  EXPECT_EQ(lstm::default_window(12, 40), 10);     // a quarter of the training rows
  EXPECT_EQ(lstm::default_window(12, 2), 1);
}

}  // namespace
