// Text: UTF-8 characters, words, vocabularies, the held-out tail, labeled texts, padding.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "data/messages.h"
#include "lstm/data.h"

namespace lstm {

using data_detail::data_error;
using data_detail::joined;
using data_detail::in_quotes;

namespace {

constexpr const char* padding_token = "<pad>";
constexpr const char* unknown_token = "<unk>";

bool is_continuation_byte(unsigned char byte) { return (byte & 0xC0) == 0x80; }

// The length of the valid UTF-8 sequence at text[at], or 0 if it is not one (overlong forms,
// surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[at + i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  unsigned char second_low = 0x80, second_high = 0xBF;
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) length = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) length = 3;
  else if (lead >= 0xF0 && lead <= 0xF4) length = 4;
  else return 0;
  if (lead == 0xE0) second_low = 0xA0;   // overlong
  if (lead == 0xED) second_high = 0x9F;  // surrogates
  if (lead == 0xF0) second_low = 0x90;   // overlong
  if (lead == 0xF4) second_high = 0x8F;  // above U+10FFFF
  if (at + length > text.size() || byte(1) < second_low || byte(1) > second_high) return 0;
  for (std::size_t i = 2; i < length; ++i)
    if (!is_continuation_byte(byte(i))) return 0;
  return length;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_word_byte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'' || byte >= 0x80;
}

}  // namespace

std::vector<std::string> split_characters(std::string_view text, const std::string& source) {
  std::vector<std::string> characters;
  characters.reserve(text.size());  // at most one character per byte
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = utf8_sequence_length(text, at);
    if (length == 0)
      throw Error(source + ": expected UTF-8 text, found the invalid byte " + in_quotes(text.substr(at, 1)) +
                  " at byte offset " + std::to_string(at));
    characters.emplace_back(text.substr(at, length));
    at += length;
  }
  return characters;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  for (std::size_t at = 0; at < text.size();) {
    if (is_space(text[at])) {
      ++at;
    } else if (is_word_byte(text[at])) {
      std::string word;
      for (; at < text.size() && is_word_byte(text[at]); ++at)
        word += text[at] >= 'A' && text[at] <= 'Z' ? static_cast<char>(text[at] - 'A' + 'a') : text[at];
      words.push_back(std::move(word));
    } else {
      words.emplace_back(1, text[at++]);
    }
  }
  return words;
}

std::vector<std::string> tokenize(std::string_view text, TokenLevel level) {
  return level == TokenLevel::character ? split_characters(text) : split_words(text);
}

std::string token_level_name(TokenLevel level) { return level == TokenLevel::character ? "char" : "word"; }

TokenLevel token_level_from_name(const std::string& name) {
  for (const TokenLevel level : {TokenLevel::character, TokenLevel::word})
    if (token_level_name(level) == name) return level;
  throw Error("unknown token level " + in_quotes(name) + "; expected one of: char, word");
}

// ---------------------------------------------------------------------------------------------

Vocabulary Vocabulary::from_counts(const std::unordered_map<std::string, int64_t>& counts,
                                   const VocabularyOptions& options) {
  const int64_t reserved = options.reserve_special ? 2 : 0;
  if (options.max_size != 0 && options.max_size <= reserved)
    throw Error("vocabulary: expected max_size 0 (no cap) or more than the " + std::to_string(reserved) +
                " reserved tokens, got " + std::to_string(options.max_size));
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [token, count] : counts)
    if (count >= options.min_count && !(options.reserve_special && (token == padding_token || token == unknown_token)))
      kept.emplace_back(token, count);
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (options.max_size != 0 && static_cast<int64_t>(kept.size()) > options.max_size - reserved)
    kept.resize(static_cast<std::size_t>(options.max_size - reserved));

  Vocabulary vocabulary;
  vocabulary.reserve_special_ = options.reserve_special;
  if (options.reserve_special) vocabulary.tokens_ = {padding_token, unknown_token};
  for (auto& [token, count] : kept) vocabulary.tokens_.push_back(std::move(token));
  for (std::size_t id = 0; id < vocabulary.tokens_.size(); ++id)
    vocabulary.ids_.emplace(vocabulary.tokens_[id], static_cast<int32_t>(id));
  return vocabulary;
}

Vocabulary Vocabulary::from_tokens(const std::vector<std::string>& tokens, const VocabularyOptions& options) {
  std::unordered_map<std::string, int64_t> counts;
  for (const std::string& token : tokens) ++counts[token];
  return from_counts(counts, options);
}

std::string Vocabulary::to_json() const {
  return nlohmann::json{{"tokens", tokens_}, {"reserve_special", reserve_special_}}.dump();
}

Vocabulary Vocabulary::from_json(const std::string& json) {
  const auto fail = [](const std::string& problem) { return Error("vocabulary JSON: " + problem); };
  Vocabulary vocabulary;
  try {
    const nlohmann::json object = nlohmann::json::parse(json);
    vocabulary.tokens_ = object.at("tokens").get<std::vector<std::string>>();
    vocabulary.reserve_special_ = object.at("reserve_special").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("expected {\"tokens\": [strings], \"reserve_special\": bool}: ") + e.what());
  }
  if (vocabulary.reserve_special_ &&
      (vocabulary.tokens_.size() < 2 || vocabulary.tokens_[0] != padding_token || vocabulary.tokens_[1] != unknown_token))
    throw fail("expected \"<pad>\" and \"<unk>\" first when reserve_special is true");
  for (std::size_t id = 0; id < vocabulary.tokens_.size(); ++id)
    if (!vocabulary.ids_.emplace(vocabulary.tokens_[id], static_cast<int32_t>(id)).second)
      throw fail("token " + in_quotes(vocabulary.tokens_[id]) + " appears twice");
  return vocabulary;
}

const std::string& Vocabulary::token(int32_t id) const {
  if (id < 0 || id >= size())
    throw Error("vocabulary: expected an id in [0, " + std::to_string(size()) + "), got " + std::to_string(id));
  return tokens_[id];
}

std::optional<int32_t> Vocabulary::find(std::string_view token) const {
  const auto found = ids_.find(std::string(token));
  if (found == ids_.end()) return {};
  return found->second;
}

std::vector<int32_t> Vocabulary::encode(const std::vector<std::string>& tokens) const {
  std::vector<int32_t> ids;
  ids.reserve(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::optional<int32_t> id = find(tokens[i]);
    if (!id && !reserve_special_)
      throw Error("vocabulary: token " + in_quotes(tokens[i]) + " at position " + std::to_string(i) +
                  " is not in the vocabulary (" + std::to_string(size()) + " tokens from the training text)");
    ids.push_back(id ? *id : unknown_id);
  }
  return ids;
}

std::string Vocabulary::decode(const std::vector<int32_t>& ids) const {
  std::string text;
  for (const int32_t id : ids) text += token(id);
  return text;
}

int64_t held_out_tail_offset(std::string_view text, double fraction) {
  if (!(fraction >= 0 && fraction < 1))
    throw Error("held-out tail: expected a fraction in [0, 1), got " + std::to_string(fraction));
  // offset = ⌊bytes·(1 − fraction)⌋, then forward past continuation bytes.
  auto offset = static_cast<std::size_t>(static_cast<double>(text.size()) * (1 - fraction));
  while (offset < text.size() && is_continuation_byte(static_cast<unsigned char>(text[offset]))) ++offset;
  return static_cast<int64_t>(offset);
}

LabeledTexts labeled_texts(const Table& table, const std::string& text_column, const std::string& label_column,
                           const std::vector<std::string>* known_labels) {
  const int64_t text_index = table.column_index(text_column), label_index = table.column_index(label_column);
  LabeledTexts out;
  if (known_labels) {
    out.label_names = *known_labels;
  } else {
    for (const std::vector<Cell>& row : table.rows) out.label_names.push_back(row[label_index].text);
    std::sort(out.label_names.begin(), out.label_names.end());
    out.label_names.erase(std::unique(out.label_names.begin(), out.label_names.end()), out.label_names.end());
  }
  for (const std::vector<Cell>& row : table.rows) {
    const Cell& label = row[label_index];
    if (label.text.empty())
      throw data_error(table.source, label.line, label.column,
                       "expected a label in column " + in_quotes(label_column) + ", found an empty field");
    const auto found = std::find(out.label_names.begin(), out.label_names.end(), label.text);
    if (found == out.label_names.end())
      throw data_error(table.source, label.line, label.column,
                       "expected one of the model's labels (" + joined(out.label_names) + "), found " + in_quotes(label.text));
    out.texts.push_back(row[text_index].text);
    out.labels.push_back(static_cast<int32_t>(found - out.label_names.begin()));
    out.lines.push_back(row[0].line);
  }
  return out;
}

PaddedBatch pad_sequences(const std::vector<std::vector<int32_t>>& sequences, int64_t max_length,
                          int32_t padding_id) {
  if (max_length < 0) throw Error("padding: expected max_length >= 0, got " + std::to_string(max_length));
  PaddedBatch batch;
  int64_t time = 1;
  for (const std::vector<int32_t>& sequence : sequences) {
    const auto length = static_cast<int64_t>(sequence.size());
    batch.lengths.push_back(std::max<int64_t>(1, max_length == 0 ? length : std::min(length, max_length)));
    time = std::max(time, batch.lengths.back());
  }
  const auto batch_size = static_cast<int64_t>(sequences.size());
  batch.ids = Tensor({batch_size, time}, static_cast<float>(padding_id));  // (batch, time)
  for (int64_t b = 0; b < batch_size; ++b)
    for (int64_t t = 0; t < std::min<int64_t>(batch.lengths[b], static_cast<int64_t>(sequences[b].size())); ++t)
      batch.ids[b * time + t] = static_cast<float>(sequences[b][t]);
  return batch;
}

}  // namespace lstm
