// `lstm train --task text`, `lstm evaluate` on a text model and `lstm generate`, on the start of
// Sense and Sensibility (tests/data/austen_first_lines.txt): a tiny model trained for a second
// learns something, scores in bits per character, samples reproducibly; bad input is a clear
// error.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "lstm/data.h"
#include "lstm/lstm.h"
#include "tool_test.h"

namespace {

namespace fs = std::filesystem;
using lstm::testing::contains;
using lstm::testing::fails_with;
using lstm::testing::quoted;
using lstm::testing::read_text;

const std::string kText = (fs::path(LSTM_SOURCE_DIR) / "tests" / "data" / "austen_first_lines.txt").string();

// Small and quick: a few thousand characters by 48 units, for a few epochs.
const std::string kSmall = "--seq-length 32 --hidden 48 --batch-size 16 --max-time 20 --verbose 0 --seed 3";

class TextTask : public lstm::testing::ToolTest {
 protected:
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path(name), std::ios::binary) << content;
  }
  // Trains the small model on `data` into model.safetensors; returns the command's result.
  lstm::testing::ToolResult train(const std::string& data, int epochs, const std::string& extra = "") const {
    return lstm("train --task text --data " + quoted(data) + " --model " + quoted(path("model.safetensors")) +
                " " + kSmall + " --epochs " + std::to_string(epochs) + " " + extra);
  }
  nlohmann::json evaluate_json(const std::string& data) const {
    const auto result =
        lstm("evaluate --json --model " + quoted(path("model.safetensors")) + " --data " + quoted(data));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(result.out);
  }
  std::string generate(const std::string& flags) const {
    const auto result = lstm("generate --model " + quoted(path("model.safetensors")) + " " + flags);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
  }
};

TEST_F(TextTask, TrainsScoresTheHeldOutTailAndReports) {
  const auto trained = train(kText, 12, "--report " + quoted(path("train.html")));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_TRUE(contains(trained.out, "bits per character")) << trained.out;

  // The held-out tail of the training file: 10% of its 4983 bytes, all ASCII.
  const nlohmann::json score = evaluate_json(kText);
  EXPECT_EQ(score.at("part"), "held_out_tail");
  EXPECT_EQ(score.at("characters"), 4983 - lstm::held_out_tail_offset(read_text(kText), 0.1));
  const double bits = score.at("bits_per_char");
  const double vocabulary = score.at("vocabulary_size");
  ASSERT_TRUE(std::isfinite(bits));
  // A uniform guess costs log2(V) bits; the model must do clearly better.
  EXPECT_LT(bits, std::log2(vocabulary) - 1.0) << score.dump();

  // Another file (the same text with one more line): every character after the first.
  write("other.txt", read_text(kText) + "Mrs. Dashwood\n");
  const nlohmann::json other = evaluate_json(path("other.txt"));
  EXPECT_EQ(other.at("part"), "all");
  EXPECT_EQ(other.at("characters"), 4983 + 14 - 1);
  EXPECT_EQ(other.at("unknown_characters"), 0);

  const auto table = lstm("evaluate --model " + quoted(path("model.safetensors")) + " --data " +
                          quoted(kText) + " --report " + quoted(path("evaluate.html")));
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_TRUE(contains(table.out, "bits per character")) << table.out;
  const std::string train_report = read_text(path("train.html"));
  EXPECT_TRUE(contains(train_report, "<svg")) << "no chart";
  EXPECT_TRUE(contains(train_report, "Sampled at temperature"));
  EXPECT_TRUE(contains(read_text(path("evaluate.html")), "<svg"));
}

TEST_F(TextTask, AHeldOutCharacterUnseenInTrainingIsCountedAsUnknown) {
  // The last tenth (102 of 1018 bytes) holds "café", whose 'f' and 'é' the rest never has.
  std::string text;
  for (int i = 0; i < 40; ++i) text += "the cat sat on the mat. ";
  write("text.txt", text + "caf\xc3\xa9 cat mat sat the on. the cat sat on the mat. the cat.");
  ASSERT_EQ(train(path("text.txt"), 2, "--holdout 0.1").exit_code, 0);
  const nlohmann::json score = evaluate_json(path("text.txt"));
  EXPECT_EQ(score.at("part"), "held_out_tail");
  EXPECT_EQ(score.at("unknown_characters"), 2);
  EXPECT_TRUE(std::isfinite(score.at("bits_per_char").get<double>()));
}

TEST_F(TextTask, GeneratesReproduciblyFromThePrompt) {
  ASSERT_EQ(train(kText, 2).exit_code, 0);
  const std::string first = generate("--prompt 'Elinor' --length 200 --seed 5");
  EXPECT_EQ(first, generate("--prompt 'Elinor' --length 200 --seed 5"));
  EXPECT_NE(first, generate("--prompt 'Elinor' --length 200 --seed 6"));
  // The prompt, then exactly 200 characters (the text is ASCII), then a line break.
  ASSERT_TRUE(first.starts_with("Elinor")) << first;
  EXPECT_EQ(lstm::split_characters(first).size(), 6u + 200u + 1u) << first;
  EXPECT_EQ(first.back(), '\n');
  // Without a prompt, and greedy (top-k 1) whatever the seed.
  EXPECT_EQ(lstm::split_characters(generate("--length 50")).size(), 51u);
  EXPECT_EQ(generate("--top-k 1 --seed 1 --temperature 2"), generate("--top-k 1 --seed 2"));
}

TEST_F(TextTask, GenerateRejectsBadArguments) {
  ASSERT_EQ(train(kText, 1).exit_code, 0);
  const std::string model = " --model " + quoted(path("model.safetensors"));
  EXPECT_TRUE(fails_with(lstm("generate" + model + " --prompt 'x\xe2\x82\xac'"), 1,
                         {"--prompt", "character 2", "\xe2\x82\xac", "vocabulary"}));
  EXPECT_TRUE(fails_with(lstm("generate" + model + " --temperature 0"), 2, {"--temperature"}));
  EXPECT_TRUE(fails_with(lstm("generate" + model + " --top-k -1"), 2, {"--top-k"}));
  EXPECT_TRUE(fails_with(lstm("generate" + model + " --length 0"), 2, {"--length"}));
  EXPECT_TRUE(fails_with(lstm("generate" + model + " --bogus"), 2, {"--bogus"}));
  EXPECT_TRUE(fails_with(lstm("generate --model " + quoted(path("missing.safetensors"))), 1,
                         {"missing.safetensors"}));

  // A model of another task, and a model made without `lstm train`.
  lstm::Sequential other;
  other.add(lstm::LSTM({.input_size = 1, .hidden_size = 4}));
  other.save(path("series.safetensors"), {{"task", "series"}, {"task_config", "{}"}});
  EXPECT_TRUE(fails_with(lstm("generate --model " + quoted(path("series.safetensors"))), 1,
                         {"series.safetensors", "--task series, not text"}));
  other.save(path("plain.safetensors"));
  EXPECT_TRUE(fails_with(lstm("generate --model " + quoted(path("plain.safetensors"))), 1,
                         {"plain.safetensors", "not a model trained by `lstm train`"}));
}

TEST_F(TextTask, BadTextFilesAreClearErrors) {
  const std::string out = " --model " + quoted(path("model.safetensors")) + " --verbose 0";
  write("empty.txt", "");
  EXPECT_TRUE(fails_with(lstm("train --task text --data " + quoted(path("empty.txt")) + out), 1,
                         {"empty.txt", "empty"}));
  EXPECT_TRUE(fails_with(lstm("train --task text --data " + quoted(path("missing.txt")) + out), 1,
                         {"missing.txt", "cannot open"}));
  write("latin1.txt", "caf\xe9 au lait");
  EXPECT_TRUE(fails_with(lstm("train --task text --data " + quoted(path("latin1.txt")) + out), 1,
                         {"latin1.txt", "UTF-8", "byte offset 3"}));
  write("short.txt", std::string(500, 'a'));
  EXPECT_TRUE(fails_with(lstm("train --task text --data " + quoted(path("short.txt")) + out), 1,
                         {"short.txt", "500 characters", "seq_length + 1 = 129", "--seq-length"}));
  EXPECT_TRUE(fails_with(lstm("train --task text --data " + quoted(kText) + out + " --window 3"), 1,
                         {"--window", "series"}));
  EXPECT_TRUE(fails_with(lstm("train --task text --data " + quoted(kText) + out + " --bogus"), 2,
                         {"--bogus"}));

  ASSERT_EQ(train(kText, 1).exit_code, 0);
  EXPECT_TRUE(fails_with(lstm("evaluate --model " + quoted(path("model.safetensors")) + " --data " +
                              quoted(path("empty.txt"))),
                         1, {"empty.txt", "empty"}));
}

}  // namespace
