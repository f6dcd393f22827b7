// Data for training and evaluation: strict CSV/TSV tables, time series (time columns, missing
// values), chronological splits, standardisation, windows, season detection, baselines and
// forecast metrics; text (vocabularies, tokens, padding) and classification metrics.
// docs/data.md describes the conventions. Every error is an lstm::Error; one about a place in a
// file reads "FILE:LINE:COLUMN: what was expected, what was found" (lines and columns from 1,
// columns counted in bytes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lstm/tensor.h"

namespace lstm {

// =============================================================================================
// Tables: CSV (RFC 4180: comma-separated, fields may be quoted with ", a quote inside a quoted
// field doubled) and TSV (tab-separated, no quoting: a field holds no tab and no line break, and
// a " is an ordinary character). The first row is the header; every row has as many fields as
// the header; CRLF and LF line ends; a UTF-8 byte order mark at the start is skipped; blank lines
// at the end of the file are ignored.

struct Cell {
  std::string text;
  int64_t line = 0;    // where the field starts
  int64_t column = 0;
};

struct Table {
  std::string source;                 // the file name, used in messages
  std::vector<std::string> columns;   // the header
  std::vector<std::vector<Cell>> rows;

  // The index of the column called `name` (exact match). Throws "FILE: no column 'x'; the
  // columns are: a, b, c" when there is none.
  int64_t column_index(const std::string& name) const;
};

enum class Delimiter { comma, tab };

// .tsv and .tab files are tab-separated; anything else is comma-separated.
Delimiter delimiter_for_path(const std::string& path);
Table read_table(const std::string& path);
// Parses `text` as a table; `source` names it in messages.
Table parse_table(std::string_view text, const std::string& source, Delimiter delimiter);

// =============================================================================================
// Time series. Columns named date, datetime, time, timestamp, year, quarter, month, week, day,
// hour, minute or second (any case), and columns whose every cell is an ISO 8601 date
// (YYYY-MM-DD, optionally followed by a time), are time columns: labels of the rows, never
// inputs. Every other column used must hold numbers.

// What to do with a missing value (an empty cell, NA, N/A or NaN in any case) in a used column.
enum class MissingValues {
  error,         // stop with an error naming the line and column
  forward_fill,  // repeat the last value before it (an error at the start of the series)
  interpolate,   // straight line between the values around it (an error at either end)
  drop,          // leave out the rows that have one
};
// "error", "ffill", "interpolate", "drop".
std::string missing_values_name(MissingValues policy);
// The inverse of missing_values_name; throws lstm::Error listing the names.
MissingValues missing_values_from_name(const std::string& name);

struct SeriesOptions {
  // The column to forecast. Empty: the only column that is not a time column (an error naming
  // the candidates when there are several).
  std::string target;
  // Further input columns, besides the target (which is always an input). Empty: univariate.
  std::vector<std::string> features;
  MissingValues missing = MissingValues::error;
};

struct TimeSeries {
  std::string source;
  std::vector<std::string> time_columns;  // the recognised time columns, in file order
  std::vector<std::string> columns;       // the target first, then the features
  std::vector<double> values;             // (rows, columns), row-major
  std::vector<std::string> time_labels;   // per row: its time cells joined by '-' ("1949-1"),
                                          // empty when there is no time column
  std::vector<int64_t> lines;             // per row: its line in the file
  // The calendar's season of the sampling, from the time columns: 24 for hourly rows, 7 daily,
  // 52 weekly, 12 monthly, 4 quarterly (the finest of hour, day, week, month, quarter columns;
  // or the usual spacing of ISO dates; or a decimal-year 'time' column 1/12 or 1/4 apart);
  // 0 when they do not say.
  int64_t calendar_period = 0;
  int64_t filled = 0;                     // missing values filled (forward_fill, interpolate)
  int64_t dropped = 0;                    // rows left out (drop)

  int64_t rows() const { return static_cast<int64_t>(lines.size()); }
  int64_t num_columns() const { return static_cast<int64_t>(columns.size()); }
  double at(int64_t row, int64_t column) const { return values[row * num_columns() + column]; }
  // One column's values, in row order (column 0 is the target).
  std::vector<double> column(int64_t column) const;
};

// True for the names above (date, year, month, ...), case-insensitive.
bool is_time_column_name(std::string_view name);
TimeSeries make_time_series(const Table& table, const SeriesOptions& options);
TimeSeries read_time_series(const std::string& path, const SeriesOptions& options);

// =============================================================================================
// Chronological split: the first `train` part of the rows, then `validation`, then `test`.
// The test part is never used for fitting or model selection.
struct SplitFractions {
  double train = 0.7;
  double validation = 0.15;
  double test = 0.15;
};

// Row ranges [0, train_end), [train_end, validation_end), [validation_end, rows).
struct SplitPoints {
  int64_t train_end = 0;
  int64_t validation_end = 0;
  int64_t rows = 0;
};

// train_end = round(rows·train), validation_end = round(rows·(train + validation)). Fractions
// must be ≥ 0 with train > 0 and sum to 1 (within 1e-6); throws lstm::Error otherwise.
SplitPoints split_points(int64_t rows, const SplitFractions& fractions);

// Standardisation per column, z = (x − mean) / scale, with the mean and the population standard
// deviation (divisor n) of the training rows; a constant column gets scale 1.
struct StandardScaler {
  std::vector<std::string> columns;
  std::vector<double> mean;
  std::vector<double> scale;

  // Fitted on rows [0, end_row) of `series` (the training part).
  static StandardScaler fit(const TimeSeries& series, int64_t end_row);
  // {"type": "standard", "columns": [...], "mean": [...], "scale": [...]}; from_json checks it
  // and throws lstm::Error naming what is wrong.
  std::string to_json() const;
  static StandardScaler from_json(const std::string& json);

  // Every value of a (rows, columns) row-major buffer, in place.
  void transform(std::vector<double>& values) const;
  double transform(double value, int64_t column) const { return (value - mean[column]) / scale[column]; }
  double inverse(double z, int64_t column) const { return z * scale[column] + mean[column]; }
  // Scaled target values (any shape, e.g. a model's (samples, horizon) output) back in the
  // target's (column 0's) units.
  Tensor inverse_target(const Tensor& scaled) const;
};

// Supervised samples cut from a series. Sample s predicts the target (column 0) at rows
// t_s … t_s + horizon − 1 from all columns at rows t_s − window … t_s − 1.
struct Windows {
  Tensor inputs;                      // (samples, window, columns)
  Tensor targets;                     // (samples, horizon)
  std::vector<int64_t> target_start;  // t_s, per sample
};

// Every sample (stride 1) whose target rows lie in [target_begin, target_end); its inputs may
// reach back before target_begin (a validation or test sample sees the history before its
// part, as a forecast would). `values` is (rows, columns) row-major. Throws lstm::Error when no
// sample fits, saying how many rows the window and horizon need and how many there are.
Windows make_windows(const std::vector<double>& values, int64_t columns, int64_t window,
                     int64_t horizon, int64_t target_begin, int64_t target_end);

// =============================================================================================
// Season detection on the training part of the target, and the default window from it.
struct Season {
  int64_t period = 1;           // 1: no season found
  double autocorrelation = 0;   // r(period) of the differenced series (0 when period is 1)
  double threshold = 0;         // the significance bound r had to exceed
  int64_t calendar_period = 0;  // the calendar's suggestion, 0 if none
  std::string description;      // one line for the user: what was found and why
};

// Differences the series once (d_t = x_t − x_{t−1}, which removes a trend), takes its
// autocorrelation r(k) for lags 2 … min(len(d)/3, 1000), and keeps the lags where r is a local
// maximum above the bound of a white-noise series, z/√len(d) with z the two-sided 5% point
// corrected for the number of lags tried (Bonferroni), and above 0.1. The calendar period wins
// when it is among them; otherwise the lag with the largest r; none: period 1.
Season detect_season(const std::vector<double>& training_target, int64_t calendar_period = 0);

// The default input window: two seasons, so the network sees the current phase of the season
// and the same phase one season before; at least 16 steps, so a series without a season still
// shows a local level and slope through its noise; at most 256 steps (the cost of truncated
// BPTT grows with the window), and at most a quarter of the training rows, so that at least
// three quarters of them start a training sample. Never less than 1.
int64_t default_window(int64_t season_period, int64_t training_rows);

// =============================================================================================
// All of the above in one call, as `lstm train` and `lstm evaluate` use it.
struct ForecastSetup {
  SplitFractions fractions;
  int64_t window = 0;   // 0: default_window(season, training rows)
  int64_t horizon = 1;
  int64_t season = 0;   // 0: detect_season on the training part with the calendar's hint
};

struct ForecastData {
  SplitPoints split;
  StandardScaler scaler;  // fitted on the training rows
  Season season;
  int64_t window = 0;
  int64_t horizon = 0;
  // Scaled inputs and targets; targets within the training, validation and test rows. A part
  // with no rows (fraction 0) has no samples (empty tensors).
  Windows train, validation, test;
};

// Splits, fits the scaler on the training rows, finds the season and the window, and cuts the
// three parts into windows. Throws lstm::Error when the training part has no sample (the message
// says how many rows the window and horizon need), or when a non-empty part has none.
ForecastData prepare_forecast(const TimeSeries& series, const ForecastSetup& setup = {});

// =============================================================================================
// Baselines and forecast metrics, in the series' own units.

// The seasonal-naive forecast for the samples starting at `target_start` (as in Windows):
// ŷ[t + h] = y[t + h − m·⌈(h + 1)/m⌉], the last observed value (rows before t) at the same
// phase of the season m. With m = 1 it is the naive forecast ŷ[t + h] = y[t − 1]. Throws
// lstm::Error when a sample starts before row m. Returns (samples, horizon).
Tensor seasonal_naive_forecast(const std::vector<double>& target, const std::vector<int64_t>& target_start,
                               int64_t horizon, int64_t season);

struct ForecastMetrics {
  double rmse = 0;   // √(mean (y − ŷ)²)
  double mae = 0;    // mean |y − ŷ|
  double mape = 0;   // 100·mean |y − ŷ| / |y| over the points where y ≠ 0 (NaN if y = 0 everywhere)
  double smape = 0;  // 100·mean 2|y − ŷ| / (|y| + |ŷ|), a term being 0 where y = ŷ = 0
  int64_t count = 0;       // points compared
  int64_t mape_count = 0;  // points in the MAPE (y ≠ 0)
};

// forecast and actual of one shape; throws lstm::Error naming both shapes otherwise.
ForecastMetrics forecast_metrics(const Tensor& forecast, const Tensor& actual);

// =============================================================================================
// Text. Characters are Unicode code points of UTF-8 text; invalid UTF-8 is an error naming its
// byte offset.

// The code points of `text`, each as its UTF-8 bytes. `source` names the text in messages.
std::vector<std::string> split_characters(std::string_view text, const std::string& source = "text");
// Words: lower-cased (ASCII) runs of letters, digits, apostrophes and non-ASCII characters;
// every other visible character is a token of its own; white space separates.
std::vector<std::string> split_words(std::string_view text);

struct VocabularyOptions {
  int64_t max_size = 0;         // keep the most frequent tokens only (0: no cap); counts the
                                // reserved tokens
  int64_t min_count = 1;        // leave out tokens seen fewer times
  bool reserve_special = false; // id 0 = "<pad>", id 1 = "<unk>" (unknown tokens map to it)
};

// Tokens and their ids: the reserved tokens first, then by falling count, ties by byte order.
class Vocabulary {
 public:
  static constexpr int32_t padding_id = 0;  // with reserve_special
  static constexpr int32_t unknown_id = 1;  // with reserve_special

  Vocabulary() = default;
  static Vocabulary from_counts(const std::unordered_map<std::string, int64_t>& counts,
                                const VocabularyOptions& options = {});
  static Vocabulary from_tokens(const std::vector<std::string>& tokens,
                                const VocabularyOptions& options = {});
  // {"tokens": [...], "reserve_special": bool}; from_json checks it (duplicates, types).
  std::string to_json() const;
  static Vocabulary from_json(const std::string& json);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  bool has_special() const { return reserve_special_; }
  const std::string& token(int32_t id) const;
  const std::vector<std::string>& tokens() const { return tokens_; }
  std::optional<int32_t> find(std::string_view token) const;

  // Ids of `tokens`: an unknown token maps to unknown_id with reserve_special, and is an error
  // naming it and its position otherwise.
  std::vector<int32_t> encode(const std::vector<std::string>& tokens) const;
  // The tokens of `ids` concatenated (a character vocabulary gives the text back).
  std::string decode(const std::vector<int32_t>& ids) const;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
  bool reserve_special_ = false;
};

// The byte offset where the held-out tail of `text` begins: the last `fraction` of its bytes,
// moved forward to the start of a code point. fraction in [0, 1).
int64_t held_out_tail_offset(std::string_view text, double fraction);

// Labeled texts from a table: the text of `text_column` and the label of `label_column` per row.
struct LabeledTexts {
  std::vector<std::string> texts;
  std::vector<int32_t> labels;             // indices into label_names
  std::vector<std::string> label_names;    // sorted (byte order)
  std::vector<int64_t> lines;
};

// Labels are read as found; with `known_labels` (a model's), a label outside them is an error
// naming its line and column and the known ones, and label_names is known_labels. An empty label
// is an error.
LabeledTexts labeled_texts(const Table& table, const std::string& text_column,
                           const std::string& label_column,
                           const std::vector<std::string>* known_labels = nullptr);

enum class TokenLevel { character, word };
std::vector<std::string> tokenize(std::string_view text, TokenLevel level);
// "char", "word" and back; from_name throws listing the names.
std::string token_level_name(TokenLevel level);
TokenLevel token_level_from_name(const std::string& name);

// A batch of id sequences padded to a common length, for Embedding and variable-length
// recurrent layers.
struct PaddedBatch {
  Tensor ids;                    // (batch, time): ids as floats, padding_id past each length
  std::vector<int64_t> lengths;  // per sample, 1 … time
};

// Sequences longer than max_length (0: no limit) keep their first max_length ids; time is the
// longest kept length. An empty sequence becomes one padding id, so every length is ≥ 1.
PaddedBatch pad_sequences(const std::vector<std::vector<int32_t>>& sequences, int64_t max_length = 0,
                          int32_t padding_id = Vocabulary::padding_id);

// =============================================================================================
// Classification metrics.
struct ClassificationMetrics {
  std::vector<std::string> labels;
  std::vector<std::vector<int64_t>> confusion;  // [actual][predicted] counts
  std::vector<double> precision;  // per class: TP / (TP + FP), 0 when the class is never predicted
  std::vector<double> recall;     // TP / (TP + FN), 0 when the class never occurs
  std::vector<double> f1;         // 2PR / (P + R), 0 when P + R = 0
  std::vector<int64_t> support;   // occurrences of each class
  double accuracy = 0;            // correct / all (NaN with no samples)
  double macro_f1 = 0;            // mean of f1 over the classes
};

// predicted and actual are class indices into labels, of one length.
ClassificationMetrics classification_metrics(const std::vector<int32_t>& predicted,
                                             const std::vector<int32_t>& actual,
                                             const std::vector<std::string>& labels);

}  // namespace lstm
