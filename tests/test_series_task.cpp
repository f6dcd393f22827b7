// `lstm train` / `evaluate` / `forecast` on series (tools/lstm/task_series.cpp), run as a user
// runs them: the usual path on bundled data and small cuts of it, the held-out part, and bad
// input, each a clear error with its line and column where there is one.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "lstm/lstm.h"
#include "tool_test.h"

namespace {

namespace fs = std::filesystem;
using lstm::testing::contains;
using lstm::testing::fails_with;
using lstm::testing::quoted;
using lstm::testing::read_text;

const std::string kAir = std::string(LSTM_SOURCE_DIR) + "/data/timeseries/AirPassengers.csv";
const std::string kSunspotCut = std::string(LSTM_SOURCE_DIR) + "/tests/data/sunspot_1749_1768.csv";
const std::string kEuStockCut = std::string(LSTM_SOURCE_DIR) + "/tests/data/eustock_first300.csv";

class SeriesTask : public lstm::testing::ToolTest {
 protected:
  // Writes `text` to a file in the test's directory and returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name)) << text;
    return path(name);
  }
  // A quick training run (few epochs) of `data` into model.safetensors.
  lstm::testing::ToolResult train(const std::string& data, const std::string& more = "") const {
    return lstm("train --data " + quoted(data) + " --model " + quoted(path("model.safetensors")) +
                " --epochs 15 --verbose 0 " + more);
  }
};

TEST_F(SeriesTask, TrainEvaluateForecastOnAirPassengers) {
  const auto trained = lstm("train --data " + quoted(kAir) + " --model " +
                            quoted(path("model.safetensors")) + " --epochs 15 --report " +
                            quoted(path("train.html")));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  // What the user sees: the data, the windows, the season, and the test part's scores.
  EXPECT_TRUE(contains(trained.err, "AirPassengers (144 rows)")) << trained.err;
  EXPECT_TRUE(contains(trained.err, "windows of 24 steps")) << trained.err;  // two seasons of 12
  EXPECT_TRUE(contains(trained.err, "test part (rows 123-144, never seen in training)"));
  EXPECT_TRUE(contains(read_text(path("train.html")), "<svg"));

  const auto evaluated = lstm("evaluate --json --model " + quoted(path("model.safetensors")) +
                              " --data " + quoted(kAir) + " --report " + quoted(path("eval.html")));
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  const auto scores = nlohmann::json::parse(evaluated.out);
  // The file trained on: only its test part (rows 123-144 hold 22 one-step targets).
  EXPECT_EQ(scores.at("part"), "test");
  EXPECT_EQ(scores.at("samples"), 22);
  EXPECT_EQ(scores.at("season"), 12);
  for (const char* key : {"rmse", "mae", "mape", "smape"}) EXPECT_GT(scores.at(key).get<double>(), 0.0);
  for (const char* baseline : {"naive", "seasonal_naive"})
    for (const char* key : {"rmse", "mae"})
      EXPECT_GT(scores.at("baselines").at(baseline).at(key).get<double>(), 0.0);
  // The naive forecast's test RMSE on AirPassengers' last 22 months, computed by hand from the
  // file: √(mean (y_t − y_{t−1})²) = 53.725.
  EXPECT_NEAR(scores.at("baselines").at("naive").at("rmse").get<double>(), 53.725, 0.001);
  EXPECT_TRUE(contains(read_text(path("eval.html")), "<svg"));

  // Any other file (here the same rows with a changed header line ending): all of it is scored.
  std::string copy = read_text(kAir);
  copy.insert(copy.find('\n'), "\r");
  const auto all = lstm("evaluate --json --model " + quoted(path("model.safetensors")) + " --data " +
                        quoted(write("copy.csv", copy)));
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(nlohmann::json::parse(all.out).at("part"), "all");
  EXPECT_EQ(nlohmann::json::parse(all.out).at("samples"), 144 - 24);

  const auto table = lstm("evaluate --model " + quoted(path("model.safetensors")) + " --data " + quoted(kAir));
  EXPECT_TRUE(std::regex_search(table.out, std::regex("naive +[0-9.]+ +[0-9.]+"))) << table.out;

  const auto forecast = lstm("forecast --model " + quoted(path("model.safetensors")) + " --data " +
                             quoted(kAir) + " --steps 14");
  ASSERT_EQ(forecast.exit_code, 0) << forecast.err;
  std::istringstream lines(forecast.out);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "step,AirPassengers");
  int steps = 0;
  while (std::getline(lines, line)) {
    ++steps;
    std::smatch match;
    ASSERT_TRUE(std::regex_match(line, match, std::regex(std::to_string(steps) + ",([0-9.e+]+)")))
        << line;
    // Passengers in the hundreds, as in 1960 (390–622).
    EXPECT_GT(std::stod(match[1]), 250.0);
    EXPECT_LT(std::stod(match[1]), 900.0);
  }
  EXPECT_EQ(steps, 14);
}

// Reads `lstm forecast`'s CSV (step,value lines after a header) into its values.
std::vector<double> forecast_values(const std::string& csv) {
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  std::vector<double> values;
  while (std::getline(lines, line)) values.push_back(std::stod(line.substr(line.find(',') + 1)));
  return values;
}

// Each window is divided by its own scale, so a model applied to a series four times larger (as
// a price index is after years of growth) forecasts four times larger values: exactly what
// the same model forecasts for the original series, ×4. With one scale fixed at training, the
// inputs would be four times what the model was trained on.
TEST_F(SeriesTask, ForecastsScaleWithTheSeries) {
  ASSERT_EQ(train(kAir).exit_code, 0);
  std::istringstream rows(read_text(kAir));
  std::string line, scaled;
  std::getline(rows, line);
  scaled += line + "\n";
  while (std::getline(rows, line)) {
    const auto last_comma = line.rfind(',');
    scaled += line.substr(0, last_comma + 1) + std::to_string(4 * std::stoi(line.substr(last_comma + 1))) + "\n";
  }
  const auto forecast = [&](const std::string& data) {
    const auto run = lstm("forecast --model " + quoted(path("model.safetensors")) + " --data " +
                          quoted(data) + " --steps 6");
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return forecast_values(run.out);
  };
  const std::vector<double> original = forecast(kAir);
  const std::vector<double> fourfold = forecast(write("fourfold.csv", scaled));
  ASSERT_EQ(original.size(), 6u);
  ASSERT_EQ(fourfold.size(), 6u);
  for (std::size_t i = 0; i < original.size(); ++i)
    EXPECT_NEAR(fourfold[i], 4 * original[i], 1e-4 * 4 * original[i]) << "step " << i + 1;
}

TEST_F(SeriesTask, MultivariateWithAHorizon) {
  const auto trained = train(kEuStockCut, "--target DAX --features SMI,CAC --horizon 3 --window 10");
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const auto evaluated = lstm("evaluate --json --model " + quoted(path("model.safetensors")) +
                              " --data " + quoted(kEuStockCut));
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  EXPECT_EQ(nlohmann::json::parse(evaluated.out).at("horizon"), 3);
  // The features' future is unknown: at most the horizon.
  EXPECT_TRUE(fails_with(lstm("forecast --model " + quoted(path("model.safetensors")) + " --data " +
                              quoted(kEuStockCut) + " --steps 4"),
                         1, {"--steps 4", "at most its horizon, 3 steps"}));
  EXPECT_EQ(lstm("forecast --model " + quoted(path("model.safetensors")) + " --data " +
                 quoted(kEuStockCut) + " --steps 3")
                .exit_code,
            0);
}

TEST_F(SeriesTask, BadInputIsAClearError) {
  // A missing column: the columns are listed.
  EXPECT_TRUE(fails_with(train(kEuStockCut, "--target DOW"), 1, {"DOW", "DAX, SMI, CAC, FTSE"}));
  // Several candidates for the target.
  EXPECT_TRUE(fails_with(train(kEuStockCut), 1, {"found 4 (DAX, SMI, CAC, FTSE)"}));
  // A non-numeric cell, with its line and column.
  EXPECT_TRUE(fails_with(train(write("bad.csv", "year,month,v\n1949,1,112\n1949,2,1x8\n")), 1,
                         {"bad.csv:3:8", "expected a number in column 'v', found '1x8'"}));
  // A missing value, with its line, unless a policy fills it.
  std::string gappy = "year,month,v\n";
  for (int i = 0; i < 120; ++i)
    gappy += std::to_string(1949 + i / 12) + "," + std::to_string(i % 12 + 1) + "," +
             (i == 50 ? std::string("NA") : std::to_string(100 + i % 12)) + "\n";
  EXPECT_TRUE(fails_with(train(write("gappy.csv", gappy)), 1, {"gappy.csv:52"}));
  EXPECT_EQ(train(path("gappy.csv"), "--missing interpolate").exit_code, 0);
  // An empty file.
  EXPECT_TRUE(fails_with(train(write("empty.csv", "")), 1, {"empty.csv"}));
  // A window longer than the series.
  EXPECT_TRUE(fails_with(train(kSunspotCut, "--window 500"), 1,
                         {"a window of 500", "training part (rows 1 to 168 of 240)", "use a shorter window"}));
  // Usage errors exit with 2.
  EXPECT_TRUE(fails_with(train(kAir, "--bogus 3"), 2, {"--bogus"}));
  EXPECT_TRUE(fails_with(train(kAir, "--missing guess"), 2, {"--missing"}));
  // A flag of another task.
  EXPECT_TRUE(fails_with(train(kAir, "--seq-length 5"), 1, {"--seq-length applies to --task text"}));
  EXPECT_TRUE(fails_with(train(kAir, "--unidirectional"), 1,
                         {"--bidirectional / --unidirectional applies to --task classify"}));
  // forecast and evaluate need a model made by `lstm train`.
  lstm::Sequential plain;
  plain.add(lstm::LSTM({.input_size = 1, .hidden_size = 2}));
  plain.save(path("plain.safetensors"));
  EXPECT_TRUE(fails_with(lstm("evaluate --model " + quoted(path("plain.safetensors")) + " --data " +
                              quoted(kAir)),
                         1, {"not a model trained by `lstm train`"}));
}

}  // namespace
