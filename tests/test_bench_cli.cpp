// `lstm bench` (tools/lstm/cmd_bench.cpp) on tiny configurations, run as a separate process
// (LSTM_TOOL_PATH): --json prints one valid JSON object per configuration and mode with the
// documented keys and consistent values, and a malformed suite file is an error naming its line.
// Each run times for 10 ms only, so the whole test takes well under a second.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct BenchRun {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("lstm_bench_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  BenchRun bench(const std::string& args) const {
    const fs::path out = dir_ / "out.txt", err = dir_ / "err.txt";
    const std::string command = "'" + std::string(LSTM_TOOL_PATH) + "' bench " + args + " >'" +
                                out.string() + "' 2>'" + err.string() + "'";
    const int status = std::system(command.c_str());
    BenchRun run;
    if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
    run.out = slurp(out);
    run.err = slurp(err);
    return run;
  }

  static std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      EXPECT_TRUE(nlohmann::json::accept(line)) << "not JSON: " << line;
      if (nlohmann::json::accept(line)) lines.push_back(nlohmann::json::parse(line));
    }
    return lines;
  }

  fs::path dir_;
};

constexpr const char* kFast = " --min-time 0.01 --min-repeats 1";

TEST_F(BenchCli, JsonHasTheDocumentedKeysForBothModes) {
  const BenchRun run = bench("--input 3 --hidden 4 --batch 2 --steps 5 --layers 2 --cell gru "
                        "--threads 2 --mode both --json" + std::string(kFast));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<nlohmann::json> lines = json_lines(run.out);
  ASSERT_EQ(lines.size(), 2u) << run.out;
  for (const char* key : {"name", "cell", "mode", "input", "hidden", "batch", "steps", "layers",
                          "threads", "threads_used", "isa", "bf16", "frozen", "ms", "ms_min", "ms_max", "repeats",
                          "page_faults_per_run", "gflop", "gflops", "peak_rss_mb",
                          "activations_mb"})
    for (const nlohmann::json& j : lines) EXPECT_TRUE(j.contains(key)) << key << " in " << j;
  EXPECT_EQ(lines[0]["mode"], "infer");
  EXPECT_EQ(lines[1]["mode"], "train");
  EXPECT_TRUE(lines[1].contains("forward_ms") && lines[1].contains("backward_ms"));
  for (const nlohmann::json& j : lines) {
    EXPECT_EQ(j["cell"], "gru");
    EXPECT_EQ(j["input"], 3);
    EXPECT_EQ(j["hidden"], 4);
    EXPECT_EQ(j["batch"], 2);
    EXPECT_EQ(j["steps"], 5);
    EXPECT_EQ(j["layers"], 2);
    EXPECT_EQ(j["threads"], 2);
    EXPECT_GT(j["ms"].get<double>(), 0.0);
    EXPECT_GE(j["repeats"].get<int>(), 1);
    EXPECT_GT(j["peak_rss_mb"].get<double>(), 0.0);
  }
  // GRU: 6·T·B·H·(I_l + H) per layer, I_l = I then H; three times that in train mode.
  const double forward = 6.0 * 5 * 2 * 4 * (3 + 4) + 6.0 * 5 * 2 * 4 * (4 + 4);
  EXPECT_NEAR(lines[0]["gflop"].get<double>(), forward / 1e9, 1e-9);
  EXPECT_NEAR(lines[1]["gflop"].get<double>(), 3 * forward / 1e9, 1e-9);
  const nlohmann::json& infer = lines[0];
  EXPECT_NEAR(infer["gflops"].get<double>(),
              infer["gflop"].get<double>() / (infer["ms"].get<double>() * 1e-3),
              1e-2 * infer["gflops"].get<double>() + 1e-3);
}

// --freeze times inference with the weights frozen (packed before the timing); training, whose
// weights change at every step, is timed as it runs.
TEST_F(BenchCli, FreezeAppliesToInferenceOnly) {
  const BenchRun run = bench("--input 3 --hidden 4 --batch 2 --steps 5 --mode both --freeze --json" +
                             std::string(kFast));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::vector<nlohmann::json> lines = json_lines(run.out);
  ASSERT_EQ(lines.size(), 2u) << run.out;
  EXPECT_EQ(lines[0]["frozen"], true);
  EXPECT_EQ(lines[1]["frozen"], false);
  const BenchRun plain = bench("--input 3 --hidden 4 --batch 2 --steps 5 --json" + std::string(kFast));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(json_lines(plain.out).at(0)["frozen"], false);
}

TEST_F(BenchCli, SuiteRunsEveryLineAndTheTableIsTheDefault) {
  std::ofstream(dir_ / "suite.txt") << "# name input hidden batch steps\n"
                                       "tiny-a  2 3 1 4   # a comment\n"
                                       "\n"
                                       "tiny-b  4 2 3 2\n";
  const std::string suite = "--suite '" + (dir_ / "suite.txt").string() + "'";
  const BenchRun json = bench(suite + " --mode train --json" + kFast);
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const std::vector<nlohmann::json> lines = json_lines(json.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["name"], "tiny-a");
  EXPECT_EQ(lines[1]["name"], "tiny-b");
  EXPECT_EQ(lines[1]["cell"], "lstm");
  EXPECT_EQ(lines[1]["mode"], "train");
  EXPECT_NEAR(lines[0]["gflop"].get<double>(), 3 * 8.0 * 4 * 1 * 3 * (2 + 3) / 1e9, 1e-12);

  const BenchRun table = bench(suite + kFast);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("GFLOP/s"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("tiny-b"), std::string::npos) << table.out;
}

TEST_F(BenchCli, BadSuiteLineAndMissingSizesAreErrors) {
  std::ofstream(dir_ / "bad.txt") << "ok 1 2 3 4\nbroken 1 two 3 4\n";
  const BenchRun bad = bench("--suite '" + (dir_ / "bad.txt").string() + "'" + kFast);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("bad.txt:2"), std::string::npos) << bad.err;

  const BenchRun missing = bench("--input 3 --hidden 4" + std::string(kFast));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("--batch"), std::string::npos) << missing.err;

  const BenchRun both = bench("--suite x.txt --input 3" + std::string(kFast));
  EXPECT_EQ(both.exit_code, 2) << both.err;
}

}  // namespace
