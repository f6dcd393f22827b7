// Running the `lstm` command (LSTM_TOOL_PATH) from tests: its exit code, stdout and stderr, each
// test in a directory of its own.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace lstm::testing {

namespace fs = std::filesystem;

struct ToolResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out;
  std::string err;
};

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline std::string quoted(const std::string& text) { return "'" + text + "'"; }

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Each test in its own directory under the test temp dir, so that tests may run in parallel.
class ToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("lstm_tool_") + test->test_suite_name() + "_" + test->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Runs `lstm <args>`, capturing its exit code, stdout and stderr.
  ToolResult lstm(const std::string& args) const {
    const std::string out = path("stdout.txt"), err = path("stderr.txt");
    const std::string command =
        quoted(LSTM_TOOL_PATH) + " " + args + " >" + quoted(out) + " 2>" + quoted(err);
    const int status = std::system(command.c_str());
    ToolResult result;
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    result.out = read_text(out);
    result.err = read_text(err);
    return result;
  }

  fs::path dir_;
};

// The failure the tool must report: exit `code` and exactly one line on stderr,
// "lstm: error: ...", containing each of `parts`.
inline ::testing::AssertionResult fails_with(const ToolResult& result, int code,
                                      const std::vector<std::string>& parts) {
  auto failure = [&] {
    return ::testing::AssertionFailure()
           << "exit " << result.exit_code << ", stderr: \"" << result.err << "\": ";
  };
  if (result.exit_code != code) return failure() << "expected exit " << code;
  if (std::count(result.err.begin(), result.err.end(), '\n') != 1 || result.err.back() != '\n')
    return failure() << "expected exactly one line";
  if (!result.err.starts_with("lstm: error: ")) return failure() << "expected 'lstm: error: '";
  for (const std::string& part : parts)
    if (!contains(result.err, part)) return failure() << "expected it to name '" << part << "'";
  return ::testing::AssertionSuccess();
}

}  // namespace lstm::testing
