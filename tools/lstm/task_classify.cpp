// --task classify: labelling texts (issue 4, part 3). A text is cut into characters or words, the
// tokens become ids of a vocabulary built from the training part, and the network reads them:
//
//     Embedding(V, E, padding_idx 0) → LSTM (H units, optionally bidirectional, the state at each
//     text's last token) → Dense(C logits)
//
// trained with cross-entropy and Adam, stopped early on the validation loss with the best
// weights kept. The rows are split per label (stratified) into training, validation and test
// parts; the test rows are stored in the model, so that `lstm evaluate` on the training file
// scores only them. docs/classify.md explains the defaults.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "lstm/data.h"
#include "lstm/report.h"
#include "tasks.h"

namespace lstm::cli {

namespace {

using nlohmann::json;

constexpr SplitFractions kSplit{.train = 0.7, .validation = 0.15, .test = 0.15};

// The defaults, per token level (docs/classify.md gives the reasons).
struct LevelDefaults {
  int64_t max_length;       // tokens kept from the start of each text
  int64_t embedding_dim;
  int64_t vocabulary_cap;   // 0: no cap
};
LevelDefaults level_defaults(TokenLevel level) {
  if (level == TokenLevel::character) return {.max_length = 500, .embedding_dim = 32, .vocabulary_cap = 0};
  return {.max_length = 200, .embedding_dim = 64, .vocabulary_cap = 20000};
}
constexpr int64_t kMinTokenCount = 2;  // a token seen once in training gets the unknown id
constexpr int64_t kHidden = 64;
constexpr int64_t kLayers = 1;
constexpr double kDropout = 0.2;       // between recurrent layers, when there are several
constexpr int64_t kEpochs = 30;
constexpr int64_t kBatchSize = 32;
constexpr double kLearningRate = 2e-3;
constexpr double kClipNorm = 1.0;
constexpr int64_t kPatience = 3;
constexpr double kMaxSeconds = 1200;
constexpr int64_t kPredictBatch = 64;  // texts per forward pass when predicting

// "subject,body" → {"subject", "body"}.
std::vector<std::string> split_column_list(const std::string& list) {
  std::vector<std::string> columns;
  std::istringstream in(list);
  for (std::string column; std::getline(in, column, ',');) columns.push_back(column);
  if (list.empty() || list.back() == ',') columns.emplace_back();  // "a," names an empty column
  return columns;
}

// Per row, the cells of `columns` joined by a space (a missing column is an error listing the
// table's columns).
std::vector<std::string> row_texts(const Table& table, const std::vector<std::string>& columns) {
  std::vector<int64_t> indices;
  for (const std::string& column : columns) indices.push_back(table.column_index(column));
  std::vector<std::string> texts;
  texts.reserve(table.rows.size());
  for (const std::vector<Cell>& row : table.rows) {
    std::string text;
    for (std::size_t i = 0; i < indices.size(); ++i) text += (i > 0 ? " " : "") + row[indices[i]].text;
    texts.push_back(std::move(text));
  }
  return texts;
}

// Each text's first `max_length` tokens, and how many texts were longer.
struct Tokens {
  std::vector<std::vector<std::string>> texts;
  int64_t cut = 0;
};
Tokens tokenize_all(const std::vector<std::string>& texts, TokenLevel level, int64_t max_length) {
  Tokens tokens;
  tokens.texts.reserve(texts.size());
  for (const std::string& text : texts) {
    std::vector<std::string> t = tokenize(text, level);
    if (static_cast<int64_t>(t.size()) > max_length) {
      t.resize(static_cast<std::size_t>(max_length));
      ++tokens.cut;
    }
    tokens.texts.push_back(std::move(t));
  }
  return tokens;
}

// What a trained classifier needs besides its weights: the model file's task_config. The
// training file's name, the seed and the history are kept for the record; from_json reads what
// evaluate and predict use.
struct ClassifierConfig {
  Vocabulary vocabulary;
  TokenLevel level = TokenLevel::character;
  int64_t max_length = 0;
  std::vector<std::string> text_columns;
  std::string label_column;
  std::vector<std::string> labels;
  std::string data;               // the training file, as given
  std::string data_fingerprint;   // file_fingerprint of it
  uint64_t seed = 0;
  std::vector<int64_t> test_rows; // data rows (from 0, under the header) held out for testing
  json history;                   // per logged name, its value per epoch

  std::string to_json() const {
    return json{{"vocabulary", json::parse(vocabulary.to_json())},
                {"level", token_level_name(level)},
                {"max_length", max_length},
                {"text_columns", text_columns},
                {"label_column", label_column},
                {"labels", labels},
                {"data", data},
                {"data_fingerprint", data_fingerprint},
                {"split", {{"method", "stratified by label, shuffled with the seed"},
                           {"seed", seed},
                           {"fractions", {kSplit.train, kSplit.validation, kSplit.test}},
                           {"test_rows", test_rows}}},
                {"history", history}}
        .dump();
  }

  static ClassifierConfig from_json(const std::string& text, const std::string& path) {
    try {
      const json object = json::parse(text);
      ClassifierConfig config;
      config.vocabulary = Vocabulary::from_json(object.at("vocabulary").dump());
      config.level = token_level_from_name(object.at("level").get<std::string>());
      config.max_length = object.at("max_length").get<int64_t>();
      config.text_columns = object.at("text_columns").get<std::vector<std::string>>();
      config.label_column = object.at("label_column").get<std::string>();
      config.labels = object.at("labels").get<std::vector<std::string>>();
      config.data_fingerprint = object.at("data_fingerprint").get<std::string>();
      config.test_rows = object.at("split").at("test_rows").get<std::vector<int64_t>>();
      if (!config.vocabulary.has_special() || config.labels.size() < 2 || config.max_length < 1)
        throw Error("a vocabulary without <pad> and <unk>, fewer than 2 labels or max_length < 1");
      return config;
    } catch (const std::exception& e) {
      throw Error(path + ": the classifier's task_config is malformed: " + e.what());
    }
  }
};

// Ids of each token list (unknown tokens → <unk>).
std::vector<std::vector<int32_t>> encode_all(const Vocabulary& vocabulary, const Tokens& tokens) {
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(tokens.texts.size());
  for (const std::vector<std::string>& t : tokens.texts) ids.push_back(vocabulary.encode(t));
  return ids;
}

template <class T>
std::vector<T> pick(const std::vector<T>& items, const std::vector<int64_t>& rows) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (const int64_t row : rows) out.push_back(items[static_cast<std::size_t>(row)]);
  return out;
}

// Class indices as floats (N,), the targets cross_entropy takes.
Tensor class_targets(const std::vector<int32_t>& labels) {
  return Tensor({static_cast<int64_t>(labels.size())}, std::vector<float>(labels.begin(), labels.end()));
}

struct Split {
  std::vector<int64_t> train, validation, test;  // row indices, ascending
};

// Per label, its rows in an order shuffled with `seed` (Fisher–Yates with lstm::Rng), cut by
// split_points into training, validation and test; so every part has each label in about the
// proportion of the whole file. Each part must end up non-empty.
Split stratified_split(const LabeledTexts& data, uint64_t seed, const std::string& source) {
  Rng rng(seed);
  Split split;
  for (int32_t label = 0; label < static_cast<int32_t>(data.label_names.size()); ++label) {
    std::vector<int64_t> rows;
    for (std::size_t i = 0; i < data.labels.size(); ++i)
      if (data.labels[i] == label) rows.push_back(static_cast<int64_t>(i));
    for (std::size_t i = rows.size(); i-- > 1;) std::swap(rows[i], rows[rng.next_u64() % (i + 1)]);
    const SplitPoints points = split_points(static_cast<int64_t>(rows.size()), kSplit);
    split.train.insert(split.train.end(), rows.begin(), rows.begin() + points.train_end);
    split.validation.insert(split.validation.end(), rows.begin() + points.train_end,
                            rows.begin() + points.validation_end);
    split.test.insert(split.test.end(), rows.begin() + points.validation_end, rows.end());
  }
  for (std::vector<int64_t>* part : {&split.train, &split.validation, &split.test}) {
    if (part->empty())
      throw Error(source + ": " + std::to_string(data.labels.size()) +
                  " rows are too few to split into training, validation and test parts (70/15/15% "
                  "of each label); give at least 7 rows of a label");
    std::sort(part->begin(), part->end());
  }
  return split;
}

// The model's class probabilities for each text, (texts, classes) row-major. Texts go through in
// batches of similar length (sorted by length), each padded to its own longest text only.
std::vector<std::vector<double>> class_probabilities(Sequential& model,
                                                     const std::vector<std::vector<int32_t>>& ids,
                                                     int64_t max_length) {
  std::vector<int64_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return ids[a].size() < ids[b].size(); });
  std::vector<std::vector<double>> probabilities(ids.size());
  for (std::size_t start = 0; start < order.size(); start += kPredictBatch) {
    const std::vector<int64_t> rows(order.begin() + static_cast<std::ptrdiff_t>(start),
                                    order.begin() + static_cast<std::ptrdiff_t>(
                                                        std::min(order.size(), start + kPredictBatch)));
    const PaddedBatch batch = pad_sequences(pick(ids, rows), max_length);
    const Tensor logits = model.predict(batch.ids, &batch.lengths);  // (batch, classes)
    const int64_t classes = logits.dim(1);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      // softmax: p_k = exp(z_k − max z) / Σ_j exp(z_j − max z)
      const float* z = logits.data() + static_cast<int64_t>(r) * classes;
      const double top = *std::max_element(z, z + classes);
      std::vector<double> p(static_cast<std::size_t>(classes));
      double sum = 0;
      for (int64_t k = 0; k < classes; ++k) sum += p[k] = std::exp(z[k] - top);
      for (double& value : p) value /= sum;
      probabilities[rows[r]] = std::move(p);
    }
  }
  return probabilities;
}

// The most probable class of each text (the first on a tie).
std::vector<int32_t> most_probable(const std::vector<std::vector<double>>& probabilities) {
  std::vector<int32_t> classes;
  for (const std::vector<double>& p : probabilities)
    classes.push_back(static_cast<int32_t>(std::max_element(p.begin(), p.end()) - p.begin()));
  return classes;
}

std::string decimal(double value, int digits = 4) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

// Per class: precision, recall, F1 and support, as table rows.
std::vector<std::vector<std::string>> score_rows(const ClassificationMetrics& m) {
  std::vector<std::vector<std::string>> rows;
  for (std::size_t k = 0; k < m.labels.size(); ++k)
    rows.push_back({m.labels[k], decimal(m.precision[k]), decimal(m.recall[k]), decimal(m.f1[k]),
                    std::to_string(m.support[k])});
  return rows;
}
const std::vector<std::string> kScoreHeader{"class", "precision", "recall", "F1", "support"};

// Columns padded to their widest cell, the first left-aligned, the others right-aligned.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (widths.size() <= c) widths.push_back(0);
      widths[c] = std::max(widths[c], row[c].size());
    }
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c)
      out << (c == 0 ? std::left : std::right) << std::setw(static_cast<int>(widths[c])) << row[c]
          << (c + 1 < row.size() ? "  " : "\n");
  }
}

void print_metrics(std::ostream& out, const ClassificationMetrics& m) {
  out << "accuracy " << decimal(m.accuracy) << ", macro F1 " << decimal(m.macro_f1) << "\n\n";
  std::vector<std::vector<std::string>> scores{kScoreHeader};
  for (auto& row : score_rows(m)) scores.push_back(std::move(row));
  print_table(out, scores);
  out << "\nconfusion matrix (rows: actual, columns: predicted)\n";
  std::vector<std::vector<std::string>> confusion{{""}};
  for (const std::string& label : m.labels) confusion[0].push_back(label);
  for (std::size_t k = 0; k < m.labels.size(); ++k) {
    confusion.push_back({m.labels[k]});
    for (const int64_t count : m.confusion[k]) confusion.back().push_back(std::to_string(count));
  }
  print_table(out, confusion);
}

void add_metrics(Report& report, const std::string& part, const ClassificationMetrics& m) {
  report.add_table(part + ": accuracy " + decimal(m.accuracy) + ", macro F1 " + decimal(m.macro_f1),
                   kScoreHeader, score_rows(m));
  report.add_confusion_matrix(part + ": confusion matrix (rows: actual, columns: predicted)",
                              m.labels, m.confusion);
}

json metrics_json(const ClassificationMetrics& m) {
  json classes = json::object();
  for (std::size_t k = 0; k < m.labels.size(); ++k)
    classes[m.labels[k]] = {{"precision", m.precision[k]}, {"recall", m.recall[k]},
                            {"f1", m.f1[k]}, {"support", m.support[k]}};
  return {{"accuracy", m.accuracy}, {"macro_f1", m.macro_f1}, {"classes", classes},
          {"labels", m.labels}, {"confusion", m.confusion}};
}

// The loss and accuracy curves of a training history.
void add_history_charts(Report& report, const History& history) {
  std::vector<double> epochs;
  for (const int64_t e : history.epochs) epochs.push_back(static_cast<double>(e + 1));
  report.add_line_chart({.title = "Loss per epoch", .x_label = "epoch", .y_label = "cross-entropy",
                         .series = {{.name = "loss", .x = epochs, .y = history["loss"]},
                                    {.name = "val_loss", .x = epochs, .y = history["val_loss"]}}});
  report.add_line_chart({.title = "Accuracy per epoch", .x_label = "epoch", .y_label = "accuracy",
                         .series = {{.name = "accuracy", .x = epochs, .y = history["accuracy"]},
                                    {.name = "val_accuracy", .x = epochs, .y = history["val_accuracy"]}}});
}

// The model: Embedding → LSTM (last valid step) → Dense.
Sequential build_classifier(const TrainCommandOptions& options, int64_t vocabulary_size,
                            int64_t embedding_dim, int64_t classes) {
  const int64_t hidden = options.hidden > 0 ? options.hidden : kHidden;
  const int64_t layers = options.layers > 0 ? options.layers : kLayers;
  const double dropout = options.dropout >= 0 ? options.dropout : kDropout;
  Sequential model;
  model.add(Embedding({.num_embeddings = vocabulary_size, .embedding_dim = embedding_dim,
                       .padding_idx = Vocabulary::padding_id}));
  model.add(LSTM({.input_size = embedding_dim, .hidden_size = hidden, .num_layers = layers,
                  .dropout = static_cast<float>(layers > 1 ? dropout : 0.0),
                  .bidirectional = options.bidirectional, .return_sequences = false}));
  const int64_t directions = options.bidirectional ? 2 : 1;
  model.add(Dense({.in_features = directions * hidden, .out_features = classes}));
  return model;
}

}  // namespace

void train_classifier(const TrainCommandOptions& options) {
  const Table table = read_table(options.data);
  if (options.text_column.empty() || options.label_column.empty()) {
    std::string names;
    for (const std::string& column : table.columns) names += (names.empty() ? "" : ", ") + column;
    throw Error("--task classify needs --text-column and --label-column; the columns of " +
                options.data + " are: " + names);
  }
  const bool talk = options.verbose > 0;
  const TokenLevel level = token_level_from_name(options.level);
  const LevelDefaults defaults = level_defaults(level);

  ClassifierConfig config;
  config.level = level;
  config.max_length = options.max_length > 0 ? options.max_length : defaults.max_length;
  config.text_columns = split_column_list(options.text_column);
  config.label_column = options.label_column;
  config.data = options.data;
  config.data_fingerprint = file_fingerprint(options.data);
  config.seed = options.seed;

  const LabeledTexts data = labeled_texts(table, config.text_columns.front(), options.label_column);
  if (data.label_names.size() < 2)
    throw Error(options.data + ": column '" + options.label_column + "' holds one label only ('" +
                data.label_names.front() + "'); a classifier needs at least two");
  config.labels = data.label_names;
  const Tokens tokens = tokenize_all(row_texts(table, config.text_columns), level, config.max_length);
  const Split split = stratified_split(data, options.seed, options.data);
  config.test_rows = split.test;

  // The vocabulary from the training part only: <pad> 0, <unk> 1, then the tokens seen at least
  // kMinTokenCount times, the most frequent first, at most vocabulary_cap in all.
  std::unordered_map<std::string, int64_t> counts;
  for (const int64_t row : split.train)
    for (const std::string& token : tokens.texts[static_cast<std::size_t>(row)]) ++counts[token];
  config.vocabulary = Vocabulary::from_counts(
      counts, {.max_size = defaults.vocabulary_cap, .min_count = kMinTokenCount, .reserve_special = true});
  const std::vector<std::vector<int32_t>> ids = encode_all(config.vocabulary, tokens);

  const PaddedBatch train = pad_sequences(pick(ids, split.train), config.max_length);
  const PaddedBatch validation = pad_sequences(pick(ids, split.validation), config.max_length);
  const std::vector<int32_t> validation_labels = pick(data.labels, split.validation);
  if (talk)
    std::cerr << "lstm train: " << data.labels.size() << " texts, " << config.labels.size()
              << " labels; " << split.train.size() << " for training, " << split.validation.size()
              << " for validation, " << split.test.size() << " held out for testing\n"
              << "lstm train: " << token_level_name(level) << " vocabulary of "
              << config.vocabulary.size() << " tokens; texts cut to " << config.max_length
              << " tokens (" << tokens.cut << " were longer)\n";

  Sequential model = build_classifier(options, config.vocabulary.size(), defaults.embedding_dim,
                                      static_cast<int64_t>(config.labels.size()));
  model.initialize(Initializer::keras, options.seed);
  model.compile(Loss::cross_entropy, *make_task_optimizer(options, kLearningRate), {Metric::accuracy},
                {.clip_norm = kClipNorm});
  auto early_stopping = std::make_shared<callbacks::EarlyStopping>(callbacks::EarlyStoppingOptions{
      .patience = options.patience > 0 ? options.patience : kPatience, .restore_best_weights = true});
  const History history = model.fit(
      train.ids, class_targets(pick(data.labels, split.train)),
      {.epochs = options.epochs > 0 ? options.epochs : kEpochs,
       .batch_size = options.batch_size > 0 ? options.batch_size : kBatchSize,
       .seed = options.seed,
       .lengths = train.lengths,
       .validation_data = Dataset{validation.ids, class_targets(validation_labels), validation.lengths},
       .callbacks = {early_stopping},
       .verbose = options.verbose,
       .max_seconds = options.max_time > 0 ? options.max_time : kMaxSeconds});
  config.history = history.values;
  save_task_model(model, options.model, "classify", config.to_json());

  const ClassificationMetrics validation_metrics = classification_metrics(
      most_probable(class_probabilities(model, pick(ids, split.validation), config.max_length)),
      validation_labels, config.labels);
  if (talk) {
    const auto best = static_cast<std::size_t>(std::max<int64_t>(0, early_stopping->best_epoch()));
    std::cerr << "lstm train: " << history.epochs.size() << " epoch(s); kept epoch " << best + 1
              << ": val_loss " << decimal(history["val_loss"][best]) << ", validation accuracy " << decimal(validation_metrics.accuracy) << "\n"
              << "lstm train: wrote " << options.model << "\n";
  }
  if (!options.report.empty()) {
    Report report("Classifier trained on " + options.data);
    report.add_paragraph(std::to_string(split.train.size()) + " texts for training, " +
                         std::to_string(split.validation.size()) + " for validation, " +
                         std::to_string(split.test.size()) + " held out for testing; " +
                         token_level_name(level) + " tokens, the first " +
                         std::to_string(config.max_length) + " of each text.");
    add_history_charts(report, history);
    add_metrics(report, "Validation part", validation_metrics);
    report.write(options.report);
  }
}

void evaluate_classifier(const EvaluateCommandOptions& options, TaskModel& model) {
  const ClassifierConfig config = ClassifierConfig::from_json(model.config, options.model);
  const Table table = read_table(options.data);
  const LabeledTexts data = labeled_texts(table, config.text_columns.front(), config.label_column, &config.labels);
  const std::vector<std::vector<int32_t>> ids = encode_all(
      config.vocabulary, tokenize_all(row_texts(table, config.text_columns), config.level, config.max_length));

  // The training file: its held-out test rows; any other file: every row.
  const bool training_file = file_fingerprint(options.data) == config.data_fingerprint;
  std::vector<int64_t> rows = config.test_rows;
  if (!training_file) {
    rows.resize(data.labels.size());
    std::iota(rows.begin(), rows.end(), 0);
  } else if (!rows.empty() && rows.back() >= static_cast<int64_t>(data.labels.size())) {
    throw Error(options.model + ": its test rows reach past the rows of " + options.data);
  }
  const std::string part = training_file ? "the test part held out at training" : "all rows";
  const ClassificationMetrics metrics = classification_metrics(
      most_probable(class_probabilities(model.model, pick(ids, rows), config.max_length)),
      pick(data.labels, rows), config.labels);

  if (options.json) {
    json out = metrics_json(metrics);
    out["texts"] = rows.size();
    out["part"] = training_file ? "test" : "all";
    std::cout << out.dump() << '\n';
  } else {
    std::cout << options.data << ": " << rows.size() << " texts (" << part << ")\n";
    print_metrics(std::cout, metrics);
  }
  if (!options.report.empty()) {
    Report report("Classifier " + options.model + " on " + options.data);
    report.add_paragraph(std::to_string(rows.size()) + " texts: " + part + ".");
    add_metrics(report, training_file ? "Test part" : "All rows", metrics);
    report.write(options.report);
  }
}

void predict_classifier(const std::string& model_path, const std::string& data_path,
                        const std::string& text_column, const std::string& output_path) {
  TaskModel model = load_task_model(model_path, "classify");
  const ClassifierConfig config = ClassifierConfig::from_json(model.config, model_path);
  const Table table = read_table(data_path);
  const std::vector<std::string> columns =
      text_column.empty() ? config.text_columns : split_column_list(text_column);
  const std::vector<std::vector<double>> probabilities = class_probabilities(
      model.model,
      encode_all(config.vocabulary, tokenize_all(row_texts(table, columns), config.level, config.max_length)),
      config.max_length);
  const std::vector<int32_t> predicted = most_probable(probabilities);

  // CSV: a field holding a comma, a quote or a line break is quoted, its quotes doubled.
  const auto csv_field = [](const std::string& field) {
    if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
    std::string quoted = "\"";
    for (const char c : field) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  };
  std::ostringstream csv;
  csv << "line,label,probability\n";
  for (std::size_t i = 0; i < predicted.size(); ++i)
    csv << table.rows[i].front().line << ',' << csv_field(config.labels[predicted[i]]) << ','
        << decimal(probabilities[i][predicted[i]], 6) << '\n';
  if (output_path.empty()) {
    std::cout << csv.str();
    return;
  }
  std::ofstream out(output_path, std::ios::binary);
  if (!(out << csv.str()) || !out.flush()) throw Error(output_path + ": cannot write");
}

}  // namespace lstm::cli
