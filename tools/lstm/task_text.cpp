// --task text: a character-level language model of a UTF-8 text file. `lstm train` fits it,
// `lstm evaluate` scores it in bits per character, `lstm generate` samples text from it.
//
// The network: character ids → Embedding → LSTM (stacked) → Dense, one logit per character of
// the vocabulary at every step. Training is truncated backpropagation through time: the training
// part of the text is cut into contiguous sequences of L + 1 characters overlapping by one
// (sequence k is characters kL … kL + L), the first L the input and the last L the target, so
// every character but the first is a target exactly once; each sequence starts from a zero state
// and the loss is the cross-entropy at every step. An epoch is one pass over all sequences,
// shuffled. The held-out tail of the text (--holdout) validates.
//
// The vocabulary is the characters of the training part, with <pad> and <unk> reserved (ids 0
// and 1). A character of the held-out tail, or of another file being scored, that the training
// part never had maps to <unk>: the model never saw it as a target, so it gives it a low
// probability and such a character costs many bits — counted, not hidden. Sampling never draws
// <pad> or <unk>; a prompt character outside the vocabulary is an error.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "lstm/data.h"
#include "lstm/report.h"
#include "tasks.h"

namespace lstm::cli {

namespace {

using json = nlohmann::json;

// Defaults. The time limit, not the epoch count, ends training on a text of a few MB, so the
// defaults aim at the lowest loss a CPU reaches in minutes:
// - hidden 256, 1 layer (~0.36M parameters at ~90 characters): for a compute budget C a model of
//   N parameters sees D = C / 6N characters, and the loss is lowest near D ≈ 20 N (Hoffmann et
//   al.'s compute-optimal ratio), N ≈ √(C / 120). Two cores doing ~15 GFLOP/s of LSTM training
//   for 10 minutes give C ≈ 10¹³ FLOPs, N ≈ 0.3M: one layer of 256 units. A 512-unit layer or a
//   2 × 256 stack (char-rnn's sizes, better when trained for hours) cost twice as much per
//   character and would see half the text in the same time.
// - embedding 64: vocabularies of a script are ~100 characters; 64 dimensions are plenty.
// - seq_length 128: gradients reach back 128 characters, a sentence or two, enough to learn to
//   close quotes and to agree words across a clause; the cost per character does not depend on it.
// - batch 32: 32 × 128 = 4,096 characters per step, a stable gradient, and still many steps in a
//   time-limited run (early on, the number of Adam steps is what lowers the loss).
// - Adam, lr 2e-3 (char-rnn's rate), gradient norm clipped to 5: the rare exploding step of a
//   recurrent net is cut, ordinary steps (norm ~1) are left alone.
// - dropout 0: in minutes the model sees the text a few times at most and does not overfit it;
//   early stopping on the held-out tail (patience 3 epochs, best weights kept) covers small texts
//   seen many times.
// - max time 600 s, epochs 100: ten minutes is the most a command should run unasked; the epoch
//   cap only matters for tiny texts.
constexpr int64_t kEmbedding = 64;
constexpr int64_t kHidden = 256;
constexpr int64_t kLayers = 1;
constexpr int64_t kSeqLength = 128;
constexpr int64_t kBatchSize = 32;
constexpr double kLearningRate = 2e-3;
constexpr double kClipNorm = 5.0;
constexpr double kDropout = 0.0;
constexpr int64_t kPatience = 3;
constexpr int64_t kEpochs = 100;
constexpr double kMaxSeconds = 600;
// The validation loss after each epoch is taken on at most this many held-out sequences, evenly
// spaced over the tail and the same every epoch: 512 × 128 characters give the mean loss to
// about ±0.01 bits, for ~2% of an epoch's cost on a few MB of text.
constexpr int64_t kValidationSequences = 512;
// lstm evaluate runs the scored text as contiguous streams side by side (one batch): at most 32,
// each at least 2,048 characters long, so that the few characters at a stream's start, predicted
// with little context, weigh little.
constexpr int64_t kEvaluationStreams = 32;
constexpr int64_t kMinStreamLength = 2048;

// Bits = nats / ln 2.
double bits(double nats) { return nats / std::log(2.0); }

// The characters of a vocabulary, <pad> and <unk> left out.
int64_t character_count(const Vocabulary& vocabulary) { return vocabulary.size() - 2; }

// "1 epoch", "2 epochs".
std::string count_of(std::size_t count, const std::string& noun) {
  return std::to_string(count) + " " + noun + (count == 1 ? "" : "s");
}

// `value` with `digits` decimals.
std::string fixed(double value, int digits) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(digits);
  out << value;
  return out.str();
}

// A UTF-8 file: its bytes, its characters and the byte offset where each begins (one more entry:
// the file's size). Errors: unreadable, empty, invalid UTF-8 (with its byte offset).
struct CharacterText {
  std::string bytes;
  std::vector<std::string> characters;
  std::vector<int64_t> offsets;
};

CharacterText read_characters(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(path + ": cannot open");
  std::ostringstream buffer;
  buffer << file.rdbuf();
  CharacterText text{buffer.str(), {}, {}};
  if (text.bytes.empty()) throw Error(path + ": the file is empty; a text model needs text");
  text.characters = split_characters(text.bytes, path);
  text.offsets.reserve(text.characters.size() + 1);
  int64_t offset = 0;
  for (const std::string& c : text.characters) {
    text.offsets.push_back(offset);
    offset += static_cast<int64_t>(c.size());
  }
  text.offsets.push_back(offset);
  return text;
}

// The index of the character that starts at byte `offset` (a code point boundary).
int64_t character_at_byte(const CharacterText& text, int64_t offset) {
  return std::lower_bound(text.offsets.begin(), text.offsets.end(), offset) - text.offsets.begin();
}

// Sequences of L + 1 ids (L = `length`) cut from ids[begin, end), overlapping by one: sequence k
// is ids[begin + kL … begin + kL + L]; its first L ids are the input, its last L the target.
struct Sequences {
  Tensor inputs, targets;  // (count, L) each
};

// How many sequences fit in ids[begin, end): ⌊(end − begin − 1) / L⌋.
int64_t sequence_count(int64_t begin, int64_t end, int64_t length) { return (end - begin - 1) / length; }

// The sequences whose k are `picked`.

Sequences make_sequences(const std::vector<int32_t>& ids, int64_t begin, int64_t length,
                         const std::vector<int64_t>& picked) {
  const auto count = static_cast<int64_t>(picked.size());
  Sequences out{Tensor({count, length}), Tensor({count, length})};
  for (int64_t row = 0; row < count; ++row)
    for (int64_t t = 0; t < length; ++t) {
      const int64_t at = begin + picked[row] * length + t;
      out.inputs[row * length + t] = static_cast<float>(ids[at]);
      out.targets[row * length + t] = static_cast<float>(ids[at + 1]);
    }
  return out;
}

// The model's layers run with the LSTM's state carried from one call to the next, so that a long
// text can be fed in pieces (or one character at a time) as if it were one sequence. The LSTM's
// weights are frozen meanwhile (Recurrent::freeze_weights): packed once, not at every call,
// which at one character a call is most of the work.
class StatefulModel {
 public:
  explicit StatefulModel(Sequential& model)
      : embedding_(model.layer(0)),
        lstm_(dynamic_cast<Recurrent&>(model.layer(1))),
        dense_(model.layer(2)),
        was_frozen_(lstm_.weights_frozen()) {
    if (!was_frozen_) lstm_.freeze_weights();
  }
  ~StatefulModel() {
    if (!was_frozen_) lstm_.unfreeze_weights();
  }
  StatefulModel(const StatefulModel&) = delete;
  StatefulModel& operator=(const StatefulModel&) = delete;

  // Forgets the state: the next call starts from zeros.
  void reset() { h_ = c_ = Tensor(); }

  // ids (batch, time) → logits (batch, time, vocabulary).
  Tensor forward(const Tensor& ids) {
    RecurrentResult result = lstm_.forward_sequence(embedding_.forward(ids, {}), h_.empty() ? nullptr : &h_,
                                                    c_.empty() ? nullptr : &c_);
    h_ = std::move(result.h_n);
    c_ = std::move(result.c_n);
    return dense_.forward(result.output, {});
  }

 private:
  Layer& embedding_;
  Recurrent& lstm_;
  Layer& dense_;
  const bool was_frozen_;
  Tensor h_, c_;
};

// What a text model's task_config holds.
struct TextConfig {
  Vocabulary vocabulary;
  double holdout = 0;
  int64_t holdout_offset = 0;     // the byte where the held-out tail begins
  std::string data_fingerprint;   // file_fingerprint of the training file
  int64_t seq_length = 0;
  std::vector<double> loss{}, val_loss{};  // per epoch, nats per character
};

std::string config_json(const TextConfig& config) {
  return json{{"vocabulary", json::parse(config.vocabulary.to_json())},
              {"holdout", config.holdout},
              {"holdout_offset", config.holdout_offset},
              {"data_fingerprint", config.data_fingerprint},
              {"seq_length", config.seq_length},
              {"history", {{"loss", config.loss}, {"val_loss", config.val_loss}}}}
      .dump();
}

TextConfig parse_config(const TaskModel& model, const std::string& path) {
  TextConfig config;
  try {
    const json object = json::parse(model.config);
    config.vocabulary = Vocabulary::from_json(object.at("vocabulary").dump());
    config.holdout = object.at("holdout").get<double>();
    config.holdout_offset = object.at("holdout_offset").get<int64_t>();
    config.data_fingerprint = object.at("data_fingerprint").get<std::string>();
    config.seq_length = object.at("seq_length").get<int64_t>();
    config.loss = object.at("history").at("loss").get<std::vector<double>>();
    config.val_loss = object.at("history").at("val_loss").get<std::vector<double>>();
  } catch (const json::exception& e) {
    throw Error(path + ": the text model's task_config is malformed: " + e.what());
  }
  const Sequential& net = model.model;
  const auto* dense = net.size() == 3 ? dynamic_cast<const Dense*>(&net.layer(2)) : nullptr;
  if (!dense || net.layer(0).kind() != "embedding" || net.layer(1).kind() != "lstm" ||
      !config.vocabulary.has_special() || dense->options().out_features != config.vocabulary.size() ||
      config.seq_length < 1)
    throw Error(path + ": not a text model as `lstm train --task text` writes one (embedding, lstm, "
                       "dense over its vocabulary)");
  return config;
}

// The loss per epoch, and the validation loss, in bits per character.
LineChart loss_chart(const TextConfig& config) {
  auto in_bits = [](std::vector<double> values) {
    for (double& v : values) v = bits(v);
    return values;
  };
  std::vector<double> epochs(config.loss.size());
  std::iota(epochs.begin(), epochs.end(), 1.0);
  return {.title = "Loss per epoch",
          .x_label = "epoch",
          .y_label = "bits per character",
          .series = {{.name = "loss (training)", .x = epochs, .y = in_bits(config.loss)},
                     {.name = "val_loss (held-out tail)", .x = epochs, .y = in_bits(config.val_loss)}}};
}

// The id of each character of a prompt; one outside the vocabulary is an error naming it.
std::vector<int32_t> prompt_ids(const Vocabulary& vocabulary, const std::string& prompt) {
  const std::vector<std::string> characters = split_characters(prompt, "--prompt");
  std::vector<int32_t> ids;
  for (std::size_t i = 0; i < characters.size(); ++i) {
    const std::optional<int32_t> id = vocabulary.find(characters[i]);
    if (!id || *id == Vocabulary::padding_id || *id == Vocabulary::unknown_id)
      throw Error("--prompt: character " + std::to_string(i + 1) + " '" + characters[i] +
                  "' is not in the model's vocabulary (the characters of its training text)");
    ids.push_back(*id);
  }
  return ids;
}

// One id drawn from the logits of the last step, z (vocabulary,): among the characters (never
// <pad> or <unk>) whose logits are the top_k largest (0: all; ties go to the lower id),
// p_i = exp((z_i − max z) / T) / Σ_j exp((z_j − max z) / T).
int32_t sample_id(const float* z, int64_t size, double temperature, int64_t top_k, Rng& rng) {
  std::vector<int32_t> candidates;
  for (auto id = static_cast<int32_t>(Vocabulary::unknown_id + 1); id < size; ++id) candidates.push_back(id);
  const auto by_logit = [z](int32_t a, int32_t b) { return z[a] > z[b] || (z[a] == z[b] && a < b); };
  if (top_k > 0 && top_k < static_cast<int64_t>(candidates.size())) {
    std::partial_sort(candidates.begin(), candidates.begin() + top_k, candidates.end(), by_logit);
    candidates.resize(static_cast<std::size_t>(top_k));
  }
  double max_z = -INFINITY;
  for (const int32_t id : candidates) max_z = std::max(max_z, static_cast<double>(z[id]));
  std::vector<double> weights;
  double total = 0;
  for (const int32_t id : candidates) {
    weights.push_back(std::exp((z[id] - max_z) / temperature));
    total += weights.back();
  }
  // u uniform in [0, total), from 53 random bits; the first id whose running sum exceeds it.
  double u = static_cast<double>(rng.next_u64() >> 11) * 0x1p-53 * total;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (u < weights[i]) return candidates[i];
    u -= weights[i];
  }
  return candidates.back();  // u within rounding of total
}

// `length` characters sampled one at a time after the prompt (or, with none, after a line
// break, or the most frequent character when the text had no line break), the state carried.
std::string sample_text(Sequential& model, const Vocabulary& vocabulary, const std::string& prompt,
                        int64_t length, double temperature, int64_t top_k, uint64_t seed) {
  std::vector<int32_t> context = prompt_ids(vocabulary, prompt);
  if (context.empty())
    context.push_back(vocabulary.find("\n").value_or(static_cast<int32_t>(Vocabulary::unknown_id + 1)));
  StatefulModel net(model);
  Tensor ids({1, static_cast<int64_t>(context.size())});
  std::copy(context.begin(), context.end(), ids.begin());
  Tensor logits = net.forward(ids);
  const int64_t size = vocabulary.size();
  Rng rng(seed);
  std::vector<int32_t> generated;
  for (int64_t i = 0; i < length; ++i) {
    const float* last = logits.data() + logits.numel() - size;
    generated.push_back(sample_id(last, size, temperature, top_k, rng));
    if (i + 1 < length) logits = net.forward(Tensor({1, 1}, {static_cast<float>(generated.back())}));
  }
  return vocabulary.decode(generated);
}

// Σ −ln p(target) over `streams` contiguous pieces of ids run side by side: stream s reads the
// inputs ids[first_input + s·steps + t] and predicts ids[first_input + s·steps + t + 1] for
// t in [0, steps), in chunks of `chunk` steps, its state carried from chunk to chunk and starting
// from zeros. −ln p = log Σ_j exp(z_j − max z) − (z_target − max z), in double.
double stream_nats(StatefulModel& net, const std::vector<int32_t>& ids, int64_t first_input,
                   int64_t streams, int64_t steps, int64_t chunk) {
  net.reset();
  double nats = 0;
  for (int64_t start = 0; start < steps; start += chunk) {
    const int64_t time = std::min(chunk, steps - start);
    // Where each stream's piece of this chunk begins in ids.
    const auto piece = [&](int64_t s) { return ids.data() + first_input + s * steps + start; };
    Tensor inputs({streams, time});
    for (int64_t s = 0; s < streams; ++s)
      for (int64_t t = 0; t < time; ++t) inputs[s * time + t] = static_cast<float>(piece(s)[t]);
    const Tensor logits = net.forward(inputs);
    const int64_t size = logits.dim(-1);
    for (int64_t s = 0; s < streams; ++s)
      for (int64_t t = 0; t < time; ++t) {
        const float* z = logits.data() + (s * time + t) * size;
        const double max_z = *std::max_element(z, z + size);
        double sum = 0;
        for (int64_t j = 0; j < size; ++j) sum += std::exp(z[j] - max_z);
        nats += std::log(sum) - (z[piece(s)[t + 1]] - max_z);
      }
  }
  return nats;
}

}  // namespace

void train_text(const TrainCommandOptions& options) {
  const int64_t seq_length = options.seq_length > 0 ? options.seq_length : kSeqLength;
  const int64_t hidden = options.hidden > 0 ? options.hidden : kHidden;
  const int64_t layers = options.layers > 0 ? options.layers : kLayers;
  const double dropout = options.dropout >= 0 ? options.dropout : kDropout;
  const int64_t batch_size = options.batch_size > 0 ? options.batch_size : kBatchSize;
  const int64_t epochs = options.epochs > 0 ? options.epochs : kEpochs;
  const int64_t patience = options.patience > 0 ? options.patience : kPatience;
  const double max_seconds = options.max_time > 0 ? options.max_time : kMaxSeconds;

  // The split: characters [0, tail) train, [tail, end) are the held-out tail.
  const CharacterText text = read_characters(options.data);
  const int64_t holdout_offset = held_out_tail_offset(text.bytes, options.holdout);
  const int64_t tail = character_at_byte(text, holdout_offset);
  const auto end = static_cast<int64_t>(text.characters.size());
  if (tail < seq_length + 1 || end - tail < seq_length + 1)
    throw Error(options.data + ": " + std::to_string(end) + " characters, of which the training part has " +
                std::to_string(tail) + " and the held-out tail " + std::to_string(end - tail) +
                "; each needs at least seq_length + 1 = " + std::to_string(seq_length + 1) +
                " (a longer text, a smaller --seq-length or another --holdout)");

  std::unordered_map<std::string, int64_t> counts;
  for (int64_t i = 0; i < tail; ++i) ++counts[text.characters[static_cast<std::size_t>(i)]];
  TextConfig config{.vocabulary = Vocabulary::from_counts(counts, {.reserve_special = true}),
                    .holdout = options.holdout,
                    .holdout_offset = holdout_offset,
                    .data_fingerprint = file_fingerprint(options.data),
                    .seq_length = seq_length};
  const Vocabulary& vocabulary = config.vocabulary;
  const std::vector<int32_t> ids = vocabulary.encode(text.characters);

  // Every training sequence; validation: at most kValidationSequences of the tail's, evenly spaced.
  const int64_t train_count = sequence_count(0, tail, seq_length);
  std::vector<int64_t> all(static_cast<std::size_t>(train_count));
  std::iota(all.begin(), all.end(), 0);
  const Sequences train = make_sequences(ids, 0, seq_length, all);
  const int64_t tail_count = sequence_count(tail, end, seq_length);
  const int64_t validation_count = std::min(tail_count, kValidationSequences);
  std::vector<int64_t> spaced;
  for (int64_t i = 0; i < validation_count; ++i) spaced.push_back(i * tail_count / validation_count);
  const Sequences validation = make_sequences(ids, tail, seq_length, spaced);

  Sequential model;
  model.add(Embedding({.num_embeddings = vocabulary.size(), .embedding_dim = kEmbedding}));
  model.add(LSTM({.input_size = kEmbedding,
                  .hidden_size = hidden,
                  .num_layers = layers,
                  .dropout = static_cast<float>(dropout)}));
  model.add(Dense({.in_features = hidden, .out_features = vocabulary.size()}));
  model.initialize(Initializer::pytorch, options.seed);
  model.compile(Loss::cross_entropy, *make_task_optimizer(options, kLearningRate), {},
                {.clip_norm = kClipNorm});
  if (options.verbose > 0)
    std::cerr << options.data << ": " << end << " characters, vocabulary " << character_count(vocabulary)
              << " characters; training on " << train_count << " sequences of " << seq_length
              << ", validating on " << validation_count << " of the held-out tail's " << end - tail
              << " characters; LSTM " << layers << " x " << hidden << ", " << model.parameter_count()
              << " parameters; at most " << epochs << " epochs or " << max_seconds << " s\n";

  const auto started = std::chrono::steady_clock::now();
  auto early_stopping = std::make_shared<callbacks::EarlyStopping>(
      callbacks::EarlyStoppingOptions{.patience = patience, .restore_best_weights = true});
  const History history = model.fit(train.inputs, train.targets,
                                    {.epochs = epochs,
                                     .batch_size = batch_size,
                                     .seed = options.seed,
                                     .validation_data = Dataset{validation.inputs, validation.targets},
                                     .callbacks = {early_stopping},
                                     .verbose = options.verbose,
                                     .max_seconds = max_seconds});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  config.loss = history["loss"];
  config.val_loss = history["val_loss"];
  save_task_model(model, options.model, "text", config_json(config));

  const double best = bits(early_stopping->best());
  std::cout << "wrote " << options.model << ": " << count_of(history.epochs.size(), "epoch") << " in "
            << std::lround(seconds) << " s, best validation " << fixed(best, 4) << " bits per character (epoch "
            << early_stopping->best_epoch() + 1 << ")"
            << (history.stop_reason.empty() ? "" : "; stopped: " + history.stop_reason) << "\n";

  if (!options.report.empty()) {
    Report report("Text model of " + options.data);
    report.add_paragraph(
        std::to_string(end) + " characters, " + std::to_string(character_count(vocabulary)) +
        " distinct in the training part; the last " + std::to_string(end - tail) +
        " characters held out. An LSTM of " + std::to_string(layers) + " x " + std::to_string(hidden) +
        " units (" + std::to_string(model.parameter_count()) + " parameters), trained for " +
        count_of(history.epochs.size(), "epoch") + " in " + std::to_string(std::lround(seconds)) +
        " s on sequences of " + std::to_string(seq_length) + " characters" +
        (history.stop_reason.empty() ? "" : "; stopped: " + history.stop_reason) +
        ". The weights kept are those of the epoch with the lowest validation loss.");
    report.add_line_chart(loss_chart(config));
    report.add_table("Best epoch", {"epoch", "loss (bits/char)", "val_loss (bits/char)"},
                     {{std::to_string(early_stopping->best_epoch() + 1),
                       fixed(bits(config.loss[static_cast<std::size_t>(early_stopping->best_epoch())]), 4),
                       fixed(best, 4)}});
    for (const double temperature : {0.5, 1.0})
      report.add_text_sample("Sampled at temperature " + fixed(temperature, 1) +
                                 " (seed " + std::to_string(options.seed) + ")",
                             sample_text(model, vocabulary, "", 400, temperature, 0, options.seed));
    report.write(options.report);
  }
}

void evaluate_text(const EvaluateCommandOptions& options, TaskModel& model) {
  const TextConfig config = parse_config(model, options.model);
  const CharacterText text = read_characters(options.data);
  const std::vector<int32_t> ids = config.vocabulary.encode(text.characters);
  // The training file: its held-out tail, each character predicted from all before it. Another
  // file: every character after the first.
  const bool held_out = file_fingerprint(options.data) == config.data_fingerprint;
  const int64_t first_target = held_out ? character_at_byte(text, config.holdout_offset) : 1;
  const int64_t scored = static_cast<int64_t>(ids.size()) - first_target;
  if (scored < 1) throw Error(options.data + ": one character; scoring needs at least two");
  const int64_t unknown = std::count(ids.begin() + first_target, ids.end(), Vocabulary::unknown_id);

  // Equal streams (a batch), then the few characters left over as one more.
  StatefulModel net(model.model);
  const int64_t streams = std::clamp<int64_t>(scored / kMinStreamLength, 1, kEvaluationStreams);
  const int64_t steps = scored / streams, left = scored - streams * steps;
  double nats = stream_nats(net, ids, first_target - 1, streams, steps, config.seq_length);
  if (left > 0)
    nats += stream_nats(net, ids, first_target - 1 + streams * steps, 1, left, config.seq_length);
  const double bits_per_char = bits(nats / static_cast<double>(scored));
  const std::string part = held_out ? "held-out tail" : "whole file";

  if (options.json) {
    std::cout << json{{"bits_per_char", bits_per_char},
                      {"nats_per_char", nats / static_cast<double>(scored)},
                      {"characters", scored},
                      {"unknown_characters", unknown},
                      {"part", held_out ? "held_out_tail" : "all"},
                      {"vocabulary_size", character_count(config.vocabulary)}}
                     .dump()
              << "\n";
  } else {
    std::cout << "scored              " << part << " of " << options.data << "\n"
              << "characters          " << scored << "\n"
              << "unknown characters  " << unknown << "\n"
              << "bits per character  " << fixed(bits_per_char, 4) << "\n";
  }
  if (!options.report.empty()) {
    Report report("Text model " + options.model + " on " + options.data);
    report.add_table("Score (" + part + ")", {"bits per character", "characters", "unknown characters"},
                     {{fixed(bits_per_char, 4), std::to_string(scored), std::to_string(unknown)}});
    report.add_paragraph("Each character is predicted from all the characters before it in its stream (" +
                         std::to_string(streams) + " contiguous streams, the state carried through each).");
    report.add_heading("Training");
    report.add_line_chart(loss_chart(config));
    report.write(options.report);
  }
}

void generate_text(const std::string& model_path, const std::string& prompt, int64_t length,
                   double temperature, int64_t top_k, uint64_t seed) {
  TaskModel model = load_task_model(model_path, "text");
  const TextConfig config = parse_config(model, model_path);
  std::cout << prompt << sample_text(model.model, config.vocabulary, prompt, length, temperature, top_k, seed)
            << "\n";
}

}  // namespace lstm::cli
