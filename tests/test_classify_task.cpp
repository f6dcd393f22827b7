// lstm train --task classify, lstm evaluate on a classifier and lstm predict: the usual path on a
// cut of the spam e-mails (tests/data/spam_shortest30.tsv), a separable toy set that must be
// learnt perfectly, and bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
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

const std::string kSpam = quoted((fs::path(LSTM_SOURCE_DIR) / "tests" / "data" / "spam_shortest30.tsv").string());

class ClassifyTask : public lstm::testing::ToolTest {
 protected:
  // Writes `text` to a file of the test's directory; returns its path, quoted for the shell.
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return quoted(path(name));
  }

  // A few seconds of training on the spam cut.
  lstm::testing::ToolResult train_spam(const std::string& model, const std::string& extra = "") const {
    return lstm("train --task classify --data " + kSpam + " --text-column subject,body --label-column label"
                " --epochs 3 --verbose 0 --seed 3 --model " + quoted(path(model)) + " " + extra);
  }
};

// The rows of a CSV, the header first.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A set no classifier can miss: label "x" texts are runs of 'x', label "y" texts runs of 'y'.
std::string toy_set(int rows, int offset) {
  std::string tsv = "text\tlabel\n";
  for (int i = 0; i < rows; ++i) {
    const char c = i % 2 == 0 ? 'x' : 'y';
    tsv += std::string(static_cast<std::size_t>(3 + (i + offset) % 7), c) + "\t" + c + "\n";
  }
  return tsv;
}

TEST_F(ClassifyTask, TrainEvaluatePredictOnTheSpamCut) {
  const auto trained = train_spam("spam.safetensors", "--report " + quoted(path("train.html")));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_TRUE(contains(read_text(path("train.html")), "<svg")) << "the report has no chart";
  // The model carries its task, labels, vocabulary and the rows held out for testing.
  const auto metadata = lstm::read_safetensors(path("spam.safetensors")).metadata;
  EXPECT_EQ(metadata.at("task"), "classify");
  const auto config = nlohmann::json::parse(metadata.at("task_config"));
  EXPECT_EQ(config.at("labels"), nlohmann::json({"ham", "spam"}));
  EXPECT_EQ(config.at("split").at("test_rows").size(), 4u);
  EXPECT_EQ(config.at("vocabulary").at("tokens").at(0), "<pad>");

  // The training file: only the test rows held out at training (2 of each label's 15).
  const auto evaluated = lstm("evaluate --json --model " + quoted(path("spam.safetensors")) +
                              " --data " + kSpam + " --report " + quoted(path("evaluate.html")));
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  const auto scores = nlohmann::json::parse(evaluated.out);
  EXPECT_GE(scores.at("accuracy").get<double>(), 0.0);
  EXPECT_LE(scores.at("accuracy").get<double>(), 1.0);
  EXPECT_EQ(scores.at("part"), "test");
  EXPECT_EQ(scores.at("texts"), 4);
  EXPECT_EQ(scores.at("labels"), nlohmann::json({"ham", "spam"}));
  int64_t total = 0;
  for (const auto& row : scores.at("confusion"))
    for (const auto& count : row) total += count.get<int64_t>();
  EXPECT_EQ(total, 4);
  for (const std::string label : {"ham", "spam"})
    EXPECT_EQ(scores.at("classes").at(label).at("support"), 2);
  EXPECT_TRUE(contains(read_text(path("evaluate.html")), "<svg"));

  const auto table = lstm("evaluate --model " + quoted(path("spam.safetensors")) + " --data " + kSpam);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  for (const std::string part : {"accuracy", "precision", "recall", "F1", "support", "confusion matrix"})
    EXPECT_TRUE(contains(table.out, part)) << table.out;

  // A label per row, in file order, the same every time; to a file as to stdout.
  const auto predicted = lstm("predict --model " + quoted(path("spam.safetensors")) + " --data " + kSpam);
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const std::vector<std::string> rows = lines_of(predicted.out);
  ASSERT_EQ(rows.size(), 31u) << predicted.out;
  EXPECT_EQ(rows[0], "line,label,probability");
  const std::regex row("([0-9]+),(ham|spam),(0\\.[5-9][0-9]*|1\\.0+)");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    std::smatch match;
    ASSERT_TRUE(std::regex_match(rows[i], match, row)) << rows[i];
    EXPECT_EQ(match[1].str(), std::to_string(i + 1)) << "each row on a line of its own";
  }
  const auto to_file = lstm("predict --model " + quoted(path("spam.safetensors")) + " --data " + kSpam +
                            " --output " + quoted(path("labels.csv")));
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  EXPECT_EQ(read_text(path("labels.csv")), predicted.out);
  EXPECT_TRUE(to_file.out.empty());
}

TEST_F(ClassifyTask, TheSameSeedGivesTheSameModel) {
  ASSERT_EQ(train_spam("a.safetensors").exit_code, 0);
  ASSERT_EQ(train_spam("b.safetensors").exit_code, 0);
  EXPECT_EQ(read_text(path("a.safetensors")), read_text(path("b.safetensors")));
}

// The LSTM reads both ways by default; --unidirectional keeps the forward direction only.
TEST_F(ClassifyTask, BidirectionalByDefault) {
  ASSERT_EQ(train_spam("both.safetensors").exit_code, 0);
  ASSERT_EQ(train_spam("forward.safetensors", "--unidirectional").exit_code, 0);
  EXPECT_TRUE(contains(read_text(path("both.safetensors")), "weight_hh_l0_reverse"));
  EXPECT_FALSE(contains(read_text(path("forward.safetensors")), "weight_hh_l0_reverse"));
  EXPECT_TRUE(contains(read_text(path("forward.safetensors")), "weight_hh_l0"));
}

TEST_F(ClassifyTask, LearnsASeparableSetPerfectly) {
  const std::string train = write("toy.tsv", toy_set(60, 0));
  const auto trained = lstm("train --task classify --data " + train +
                            " --text-column text --label-column label --epochs 60 --patience 60"
                            " --lr 0.02 --verbose 0 --model " + quoted(path("toy.safetensors")));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  // Another file: every row is scored.
  const std::string other = write("other.tsv", toy_set(24, 3));
  const auto evaluated = lstm("evaluate --json --model " + quoted(path("toy.safetensors")) + " --data " + other);
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  const auto scores = nlohmann::json::parse(evaluated.out);
  EXPECT_EQ(scores.at("part"), "all");
  EXPECT_EQ(scores.at("texts"), 24);
  EXPECT_EQ(scores.at("accuracy").get<double>(), 1.0) << evaluated.out;
  EXPECT_EQ(scores.at("confusion"), nlohmann::json({{12, 0}, {0, 12}}));
}

TEST_F(ClassifyTask, BadInputIsAClearError) {
  // A missing column: named, with the columns there are.
  EXPECT_TRUE(fails_with(lstm("train --task classify --data " + kSpam +
                              " --text-column text --label-column label --model " + quoted(path("m"))),
                         1, {"no column 'text'", "label, group, file, subject, body"}));
  EXPECT_TRUE(fails_with(lstm("train --task classify --data " + kSpam + " --model " + quoted(path("m"))),
                         1, {"--text-column", "label, group, file, subject, body"}));
  // An empty label: its line and column.
  const std::string empty_label = write("empty_label.tsv", "text\tlabel\nhello\tx\nworld\t\n");
  EXPECT_TRUE(fails_with(lstm("train --task classify --data " + empty_label +
                              " --text-column text --label-column label --model " + quoted(path("m"))),
                         1, {"empty_label.tsv:3:7", "empty"}));
  const std::string empty = write("empty.tsv", "");
  EXPECT_TRUE(fails_with(lstm("train --task classify --data " + empty +
                              " --text-column text --label-column label --model " + quoted(path("m"))),
                         1, {"empty.tsv:1:1", "empty file"}));
  // Too few rows to hold out validation and test texts of each label.
  const std::string tiny = write("tiny.tsv", "text\tlabel\na\tx\nb\ty\n");
  EXPECT_TRUE(fails_with(lstm("train --task classify --data " + tiny +
                              " --text-column text --label-column label --model " + quoted(path("m"))),
                         1, {"too few"}));
  // A flag of another task; an unknown flag.
  EXPECT_TRUE(fails_with(lstm("train --task classify --data " + kSpam + " --window 3 --model " + quoted(path("m"))),
                         1, {"--window"}));
  EXPECT_TRUE(fails_with(lstm("predict --model m --data d --bogus"), 2, {"--bogus", "lstm predict --help"}));
}

TEST_F(ClassifyTask, PredictNeedsAClassifier) {
  // A model of another task, and a model not made by `lstm train`.
  lstm::Sequential model;
  model.add(lstm::LSTM({.input_size = 1, .hidden_size = 4}));
  model.save(path("series.safetensors"), {{"task", "series"}, {"task_config", "{}"}});
  model.save(path("plain.safetensors"));
  EXPECT_TRUE(fails_with(lstm("predict --model " + quoted(path("series.safetensors")) + " --data " + kSpam),
                         1, {"series.safetensors", "series, not classify"}));
  EXPECT_TRUE(fails_with(lstm("predict --model " + quoted(path("plain.safetensors")) + " --data " + kSpam),
                         1, {"plain.safetensors", "not a model trained by `lstm train`"}));
  // A file without the model's text column.
  ASSERT_EQ(train_spam("spam.safetensors").exit_code, 0);
  const std::string other = write("other.csv", "message\nhello\n");
  EXPECT_TRUE(fails_with(lstm("predict --model " + quoted(path("spam.safetensors")) + " --data " + other),
                         1, {"no column 'subject'", "message"}));
}

}  // namespace
