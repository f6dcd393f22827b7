// The `lstm` command, run as a separate process (LSTM_TOOL_PATH): exit codes, one-line errors
// that name the file at fault, and `lstm run` giving exactly what Sequential::predict gives.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "lstm/lstm.h"
#include "tool_test.h"

namespace {

namespace fs = std::filesystem;
using lstm::testing::contains;
using lstm::testing::fails_with;
using lstm::testing::quoted;
using lstm::testing::read_text;
using lstm::testing::ToolResult;

class Cli : public lstm::testing::ToolTest {
 protected:
  // A small model (LSTM 3 → 5, Dense 5 → 2) saved as model.safetensors.
  lstm::Sequential save_model() const {
    lstm::Sequential model;
    model.add(lstm::LSTM({.input_size = 3, .hidden_size = 5}));
    model.add(lstm::Dense({.in_features = 5, .out_features = 2}));
    model.save(path("model.safetensors"));
    return model;
  }

  // x: (2, 4, 3) saved as x.npy.
  lstm::Tensor save_input(lstm::Shape shape = {2, 4, 3}) const {
    lstm::Tensor x(shape);
    lstm::Rng rng(5);
    for (float& v : x) v = rng.uniform(-1.0f, 1.0f);
    lstm::write_npy(path("x.npy"), x);
    return x;
  }

  void save_lengths(const std::vector<int64_t>& lengths) const {
    lstm::write_npy_array(path("lengths.npy"),
                          {.dtype = lstm::DType::i64,
                           .shape = {static_cast<int64_t>(lengths.size())},
                           .values = std::vector<double>(lengths.begin(), lengths.end())});
  }

  // "run --model <dir>/model.safetensors --input <dir>/x.npy --output <dir>/y.npy"
  std::string run_args() const {
    return "run --model " + quoted(path("model.safetensors")) + " --input " +
           quoted(path("x.npy")) + " --output " + quoted(path("y.npy"));
  }
};

TEST_F(Cli, RunGivesExactlyWhatPredictGives) {
  lstm::Sequential model = save_model();
  const lstm::Tensor x = save_input();
  const std::vector<int64_t> lengths{4, 2};
  save_lengths(lengths);

  const ToolResult with_lengths = lstm(run_args() + " --lengths " + quoted(path("lengths.npy")));
  ASSERT_EQ(with_lengths.exit_code, 0) << with_lengths.err;
  EXPECT_EQ(with_lengths.err, "");
  const lstm::Tensor y = lstm::read_npy(path("y.npy"));
  const lstm::Tensor expected = model.predict(x, &lengths);
  ASSERT_EQ(y.shape(), (lstm::Shape{2, 4, 2}));
  EXPECT_TRUE(std::equal(y.begin(), y.end(), expected.begin())) << "not bit-exact";

  // Without lengths, and with x as float64 (converted to float32 exactly).
  std::vector<double> x64(x.begin(), x.end());
  lstm::write_npy_array(path("x.npy"),
                        {.dtype = lstm::DType::f64, .shape = x.shape(), .values = x64});
  const ToolResult full = lstm(run_args());
  ASSERT_EQ(full.exit_code, 0) << full.err;
  const lstm::Tensor y_full = lstm::read_npy(path("y.npy"));
  const lstm::Tensor expected_full = model.predict(x);
  ASSERT_EQ(y_full.shape(), expected_full.shape());
  EXPECT_TRUE(std::equal(y_full.begin(), y_full.end(), expected_full.begin())) << "not bit-exact";
  EXPECT_FALSE(std::equal(y_full.begin(), y_full.end(), y.begin()))
      << "the lengths made no difference";
}

TEST_F(Cli, MissingModelFile) {
  save_input();
  const ToolResult result = lstm("run --model " + quoted(path("absent.safetensors")) + " --input " +
                                 quoted(path("x.npy")) + " --output " + quoted(path("y.npy")));
  EXPECT_TRUE(fails_with(result, 1, {"absent.safetensors"}));
  EXPECT_FALSE(fs::exists(path("y.npy")));
}

TEST_F(Cli, MalformedModelFile) {
  save_input();
  std::ofstream(path("model.safetensors"), std::ios::binary) << "\x13\x37 not a safetensors file";
  EXPECT_TRUE(fails_with(lstm(run_args()), 1, {"model.safetensors"}));
  EXPECT_TRUE(fails_with(lstm("info --model " + quoted(path("model.safetensors"))), 1,
                         {"model.safetensors"}));
}

TEST_F(Cli, MissingInputFile) {
  save_model();
  EXPECT_TRUE(fails_with(lstm(run_args()), 1, {"x.npy"}));
}

TEST_F(Cli, InputWithTheWrongFeatureCount) {
  save_model();
  save_input({2, 5, 4});
  EXPECT_TRUE(
      fails_with(lstm(run_args()), 1, {"x.npy", "(batch, time, 3)", "input_size 3", "(2, 5, 4)"}));
  EXPECT_FALSE(fs::exists(path("y.npy")));
  save_input({2, 5});
  EXPECT_TRUE(fails_with(lstm(run_args()), 1, {"x.npy", "(2, 5)"}));
}

TEST_F(Cli, LengthsOutOfRange) {
  save_model();
  save_input();  // time = 4
  const std::string args = run_args() + " --lengths " + quoted(path("lengths.npy"));
  save_lengths({4, 9});
  EXPECT_TRUE(fails_with(lstm(args), 1, {"lengths.npy", "sample 1", "9", "[1, 4]"}));
  save_lengths({0, 3});
  EXPECT_TRUE(fails_with(lstm(args), 1, {"lengths.npy", "sample 0", "[1, 4]"}));
  EXPECT_FALSE(fs::exists(path("y.npy")));
}

TEST_F(Cli, LengthsOfTheWrongCount) {
  save_model();
  save_input();  // batch = 2
  save_lengths({4, 4, 4});
  EXPECT_TRUE(fails_with(lstm(run_args() + " --lengths " + quoted(path("lengths.npy"))), 1,
                         {"lengths.npy", "(2,)", "(3,)"}));
}

TEST_F(Cli, UsageErrorsExitWithTwo) {
  save_model();
  save_input();
  EXPECT_TRUE(fails_with(lstm(run_args() + " --bogus"), 2, {"--bogus", "lstm run --help"}));
  EXPECT_TRUE(fails_with(lstm("run --model " + quoted(path("model.safetensors")) + " --input " +
                              quoted(path("x.npy"))),
                         2, {"--output"}));
  EXPECT_TRUE(fails_with(lstm("info"), 2, {"--model"}));
  EXPECT_TRUE(fails_with(lstm(""), 2, {"a command is required", "the commands are train, evaluate, "}));
  EXPECT_TRUE(fails_with(lstm("frobnicate"), 2, {"unknown command 'frobnicate'"}));
}

TEST_F(Cli, InfoListsLayersTensorsAndParameterCount) {
  lstm::Sequential model = save_model();
  const ToolResult result = lstm("info --model " + quoted(path("model.safetensors")));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_TRUE(contains(result.out, model.layer(0).describe())) << result.out;
  EXPECT_TRUE(contains(result.out, model.layer(1).describe())) << result.out;
  for (const lstm::ParameterRef& p : model.parameters()) {
    const std::regex line("\\n +" + p.name + " +" +
                          std::regex_replace(p.value->shape_string(), std::regex("[(),]"), "\\$&") +
                          "\\n");
    EXPECT_TRUE(std::regex_search(result.out, line)) << p.name << " in:\n" << result.out;
  }
  EXPECT_TRUE(contains(result.out, std::to_string(model.parameter_count()))) << result.out;
}

// The flags `lstm CMD --help` lists, e.g. {"--model", "--input"}.
std::set<std::string> flags_in(const std::string& help) {
  std::set<std::string> flags;
  const std::regex flag("--[a-z][a-z-]*");
  for (auto it = std::sregex_iterator(help.begin(), help.end(), flag); it != std::sregex_iterator();
       ++it)
    flags.insert(it->str());
  return flags;
}

TEST_F(Cli, HelpAndDocsAgree) {
  const std::string docs = read_text(fs::path(LSTM_SOURCE_DIR) / "docs" / "cli.md");
  ASSERT_FALSE(docs.empty()) << "docs/cli.md is missing";
  const ToolResult top = lstm("--help");
  ASSERT_EQ(top.exit_code, 0);
  for (const std::string command : {"train", "evaluate", "forecast", "generate", "predict", "run", "fit", "info"}) {
    EXPECT_TRUE(contains(top.out, command)) << top.out;
    EXPECT_TRUE(contains(docs, "## lstm " + command))
        << "docs/cli.md lacks `lstm " << command << "`";
    const ToolResult help = lstm(command + " --help");
    ASSERT_EQ(help.exit_code, 0) << help.err;
    const std::set<std::string> flags = flags_in(help.out);
    EXPECT_TRUE(flags.count("--model")) << help.out;
    // Every flag of the command is documented in its section of docs/cli.md.
    const std::size_t start = docs.find("## lstm " + command);
    const std::string section = docs.substr(start, docs.find("\n## ", start + 1) - start);
    for (const std::string& f : flags)
      EXPECT_TRUE(contains(section, "`" + f)) << "docs/cli.md, lstm " << command << ": " << f;
  }
}

TEST_F(Cli, VersionIsTheProjectVersion) {
  const std::string cmake = read_text(fs::path(LSTM_SOURCE_DIR) / "CMakeLists.txt");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(cmake, match, std::regex("project\\([^)]*VERSION ([0-9.]+)")));
  const ToolResult result = lstm("--version");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "lstm " + match[1].str() + "\n");
}

}  // namespace
