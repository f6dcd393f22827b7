// Text: characters and words, vocabularies and their JSON, the held-out tail, labeled texts,
// padding, and the classification metrics.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "lstm/data.h"
#include "test_util.h"

namespace {

using lstm::Vocabulary;
using lstm::testing::error_of;

const std::string cut_dir = std::string(LSTM_SOURCE_DIR) + "/tests/data/";

std::string file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(DataText, CharactersAreCodePoints) {
  EXPECT_EQ(lstm::split_characters("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80!"),
            (std::vector<std::string>{"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "!"}));
  EXPECT_EQ(error_of([] { lstm::split_characters("ab\xC3", "x.txt"); }),
            "x.txt: expected UTF-8 text, found the invalid byte '\\xc3' at byte offset 2");
  EXPECT_EQ(error_of([] { lstm::split_characters("\xC0\xAF"); }),  // overlong '/'
            "text: expected UTF-8 text, found the invalid byte '\\xc0' at byte offset 0");
  EXPECT_EQ(error_of([] { lstm::split_characters("\xED\xA0\x80"); }),  // a surrogate
            "text: expected UTF-8 text, found the invalid byte '\\xed' at byte offset 0");
}

TEST(DataText, Words) {
  EXPECT_EQ(lstm::split_words("Don't  STOP,now!\n caf\xC3\xA9 2nd"),
            (std::vector<std::string>{"don't", "stop", ",", "now", "!", "caf\xC3\xA9", "2nd"}));
  EXPECT_EQ(lstm::tokenize("ab", lstm::TokenLevel::character), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(lstm::token_level_from_name("word"), lstm::TokenLevel::word);
  EXPECT_EQ(error_of([] { lstm::token_level_from_name("byte"); }), "unknown token level 'byte'; expected one of: char, word");
}

TEST(DataText, CharacterVocabularyRoundTrip) {
  const std::string text = file_text(cut_dir + "austen_first_lines.txt");
  const std::vector<std::string> characters = lstm::split_characters(text);
  const Vocabulary vocabulary = Vocabulary::from_tokens(characters);
  EXPECT_FALSE(vocabulary.has_special());
  EXPECT_EQ(vocabulary.token(0), " ");  // the most frequent character
  const std::vector<int32_t> ids = vocabulary.encode(characters);
  EXPECT_EQ(ids.size(), text.size());  // ASCII
  EXPECT_EQ(vocabulary.decode(ids), text);

  const Vocabulary back = Vocabulary::from_json(vocabulary.to_json());
  EXPECT_EQ(back.tokens(), vocabulary.tokens());
  EXPECT_EQ(back.encode(characters), ids);
  EXPECT_EQ(error_of([&] { vocabulary.encode({"a", "\xC3\xA9"}); }),
            "vocabulary: token '\\xc3\\xa9' at position 1 is not in the vocabulary (" +
                std::to_string(vocabulary.size()) + " tokens from the training text)");
}

TEST(DataText, VocabularyOrderCapAndReservedTokens) {
  // counts: b 3, a 2, c 2, d 1 → by falling count, ties in byte order: b, a, c, d.
  const std::vector<std::string> tokens = {"a", "b", "c", "b", "a", "d", "b", "c"};
  EXPECT_EQ(Vocabulary::from_tokens(tokens).tokens(), (std::vector<std::string>{"b", "a", "c", "d"}));
  EXPECT_EQ(Vocabulary::from_tokens(tokens, {.min_count = 2}).tokens(), (std::vector<std::string>{"b", "a", "c"}));
  const Vocabulary capped = Vocabulary::from_tokens(tokens, {.max_size = 4, .reserve_special = true});
  EXPECT_EQ(capped.tokens(), (std::vector<std::string>{"<pad>", "<unk>", "b", "a"}));
  EXPECT_EQ(capped.encode({"a", "zzz", "b"}), (std::vector<int32_t>{3, Vocabulary::unknown_id, 2}));
  EXPECT_EQ(Vocabulary::from_json(capped.to_json()).tokens(), capped.tokens());
  EXPECT_EQ(error_of([&] { Vocabulary::from_tokens(tokens, {.max_size = 2, .reserve_special = true}); }),
            "vocabulary: expected max_size 0 (no cap) or more than the 2 reserved tokens, got 2");
  EXPECT_EQ(error_of([] { Vocabulary::from_json(R"({"tokens": ["a", "a"], "reserve_special": false})"); }),
            "vocabulary JSON: token 'a' appears twice");
  EXPECT_EQ(error_of([] { Vocabulary::from_json(R"({"tokens": ["a"], "reserve_special": true})"); }),
            "vocabulary JSON: expected \"<pad>\" and \"<unk>\" first when reserve_special is true");
  EXPECT_EQ(error_of([&] { capped.token(4); }), "vocabulary: expected an id in [0, 4), got 4");
}

TEST(DataText, HeldOutTail) {
  EXPECT_EQ(lstm::held_out_tail_offset("0123456789", 0.1), 9);   // ⌊10·0.9⌋
  EXPECT_EQ(lstm::held_out_tail_offset("0123456789", 0.0), 10);
  // ⌊6·0.5⌋ = 3 is inside "é" (bytes 2–3): moved to 4.
  EXPECT_EQ(lstm::held_out_tail_offset("ab\xC3\xA9xy", 0.5), 4);
  EXPECT_EQ(error_of([] { lstm::held_out_tail_offset("abc", 1.0); }), "held-out tail: expected a fraction in [0, 1), got 1.000000");
}

TEST(DataText, LabeledTexts) {
  const lstm::Table table = lstm::read_table(cut_dir + "spam_shortest30.tsv");
  const lstm::LabeledTexts data = lstm::labeled_texts(table, "body", "label");
  EXPECT_EQ(data.label_names, (std::vector<std::string>{"ham", "spam"}));
  ASSERT_EQ(data.texts.size(), 30u);
  EXPECT_EQ(data.labels[0], 0);
  EXPECT_EQ(data.texts[0], "use this address instead, please. prerogatively, geege");
  EXPECT_EQ(data.lines[0], 2);
  EXPECT_EQ(std::count(data.labels.begin(), data.labels.end(), 1), 15);

  const std::vector<std::string> known = {"ham", "spam"};
  const lstm::Table other = lstm::parse_table("text,label\nhello,ham\nbuy now,eggs\n", "t.csv", lstm::Delimiter::comma);
  EXPECT_EQ(error_of([&] { lstm::labeled_texts(other, "text", "label", &known); }),
            "t.csv:3:9: expected one of the model's labels (ham, spam), found 'eggs'");
  const lstm::Table unlabeled = lstm::parse_table("text,label\nhello,\n", "t.csv", lstm::Delimiter::comma);
  EXPECT_EQ(error_of([&] { lstm::labeled_texts(unlabeled, "text", "label"); }),
            "t.csv:2:7: expected a label in column 'label', found an empty field");
  EXPECT_EQ(error_of([&] { lstm::labeled_texts(other, "body", "label"); }),
            "t.csv: no column 'body'; the columns are: text, label");
}

TEST(DataText, PaddedBatch) {
  const lstm::PaddedBatch batch = lstm::pad_sequences({{5, 6, 7}, {8}, {}});
  EXPECT_EQ(batch.ids.shape(), (lstm::Shape{3, 3}));
  EXPECT_EQ(std::vector<float>(batch.ids.begin(), batch.ids.end()), (std::vector<float>{5, 6, 7, 8, 0, 0, 0, 0, 0}));
  EXPECT_EQ(batch.lengths, (std::vector<int64_t>{3, 1, 1}));
  const lstm::PaddedBatch cut = lstm::pad_sequences({{5, 6, 7}, {8}}, 2, 9);
  EXPECT_EQ(std::vector<float>(cut.ids.begin(), cut.ids.end()), (std::vector<float>{5, 6, 8, 9}));
  EXPECT_EQ(cut.lengths, (std::vector<int64_t>{2, 1}));
}

TEST(DataText, ClassificationMetrics) {
  // actual:    0 0 0 1 1 2
  // predicted: 0 0 1 1 2 2
  // confusion [actual][predicted] = [[2,1,0],[0,1,1],[0,0,1]]
  // precision: 2/2, 1/2, 1/2; recall: 2/3, 1/2, 1/1; F1: 0.8, 0.5, 2/3.
  const lstm::ClassificationMetrics m =
      lstm::classification_metrics({0, 0, 1, 1, 2, 2}, {0, 0, 0, 1, 1, 2}, {"a", "b", "c"});
  EXPECT_EQ(m.confusion, (std::vector<std::vector<int64_t>>{{2, 1, 0}, {0, 1, 1}, {0, 0, 1}}));
  EXPECT_DOUBLE_EQ(m.precision[0], 1.0);
  EXPECT_DOUBLE_EQ(m.precision[1], 0.5);
  EXPECT_DOUBLE_EQ(m.recall[0], 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.recall[2], 1.0);
  EXPECT_DOUBLE_EQ(m.f1[0], 0.8);
  EXPECT_DOUBLE_EQ(m.f1[1], 0.5);
  EXPECT_DOUBLE_EQ(m.f1[2], 2.0 / 3.0);
  EXPECT_EQ(m.support, (std::vector<int64_t>{3, 2, 1}));
  EXPECT_DOUBLE_EQ(m.accuracy, 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(m.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3);
  // A class never predicted and never present: precision, recall and F1 are 0.
  const lstm::ClassificationMetrics absent = lstm::classification_metrics({0}, {0}, {"a", "b"});
  EXPECT_EQ(absent.precision[1], 0);
  EXPECT_EQ(absent.recall[1], 0);
  EXPECT_EQ(absent.f1[1], 0);
  EXPECT_TRUE(std::isnan(lstm::classification_metrics({}, {}, {"a"}).accuracy));
  EXPECT_EQ(error_of([] { lstm::classification_metrics({0, 3}, {0, 1}, {"a", "b"}); }),
            "classification metrics: expected class indices in [0, 2), got actual 1 and predicted 3 at 1");
}

}  // namespace
