// The jobs behind `lstm train`, `lstm evaluate`, `lstm forecast`, `lstm generate` and
// `lstm predict`: forecasting a series (task_series.cpp), modelling text (task_text.cpp),
// classifying texts (task_classify.cpp). A trained model file carries its task and what the task
// needs to use it again (scaling, window, vocabulary, labels, the data split) in its metadata:
// "task" is "series", "text" or "classify", and "task_config" a JSON object of the task's own.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lstm/lstm.h"

namespace lstm::cli {

// Every flag of `lstm train`; cmd_train.cpp refuses a flag that does not apply to the task.
// Zero or empty means "the task's default" where a comment says so.
struct TrainCommandOptions {
  std::string task = "series";
  std::string data;
  std::string model;   // where the trained model goes
  std::string report;  // HTML report (empty: none)

  // The network and its training.
  int64_t layers = 0;       // recurrent layers (0: the task's default)
  int64_t hidden = 0;       // hidden size (0: the task's default)
  double dropout = -1;      // between recurrent layers (< 0: the task's default)
  int64_t epochs = 0;       // at most this many (0: the task's default); early stopping may end sooner
  int64_t batch_size = 0;   // (0: the task's default)
  std::string optimizer = "adam";
  std::optional<double> lr;  // (unset: the task's default)
  int64_t patience = 0;      // early-stopping patience in epochs (0: the task's default)
  uint64_t seed = 0;
  double max_time = 0;       // seconds (0: the task's default)
  int verbose = 1;

  // series
  std::string target;
  std::vector<std::string> features;
  int64_t window = 0;   // (0: from the detected season)
  int64_t horizon = 1;
  int64_t season = 0;   // (0: detected)
  std::string missing = "error";
  std::vector<double> split;  // train, validation, test fractions (empty: 0.7 0.15 0.15)

  // text
  int64_t seq_length = 0;    // truncated-BPTT length (0: the task's default)
  double holdout = 0.1;      // the held-out tail's fraction of the text (validation)

  // classify
  std::string text_column;
  std::string label_column;
  std::string level = "word";  // char | word
  int64_t max_length = 0;      // tokens kept per text (0: the task's default)
  bool bidirectional = true;   // docs/classify.md says why
};

struct EvaluateCommandOptions {
  std::string model;
  std::string data;
  bool json = false;
  std::string report;
  int64_t season = 0;  // series: the seasonal-naive baseline's season (0: the model's)
};

// A trained model file with its task's metadata.
struct TaskModel {
  Sequential model;
  std::string task;
  std::string config;  // the task's JSON object (text)
  std::map<std::string, std::string> metadata;
};

// Reads a model file written by `lstm train`; throws naming the file when it has no task (a
// model made otherwise: use `lstm run`) or, with `expected_task` given, another task.
TaskModel load_task_model(const std::string& path, const std::string& expected_task = "");
// Saves a trained model with its task and config.
void save_task_model(Sequential& model, const std::string& path, const std::string& task,
                     const std::string& config);

// A fingerprint of a file's bytes (its size and 64-bit FNV-1a hash, as text): a model stores its
// training file's, so that `lstm evaluate` on that same file scores only the held-out part.
std::string file_fingerprint(const std::string& path);

// The optimizer --optimizer and --lr ask for (lr: the task's default when not given).
std::unique_ptr<Optimizer> make_task_optimizer(const TrainCommandOptions& options, double default_lr);

void train_series(const TrainCommandOptions& options);
void evaluate_series(const EvaluateCommandOptions& options, TaskModel& model);
// lstm forecast: the next `steps` values after the data, CSV on stdout.
void forecast_series(const std::string& model_path, const std::string& data, int64_t steps);

void train_text(const TrainCommandOptions& options);
void evaluate_text(const EvaluateCommandOptions& options, TaskModel& model);
// lstm generate: the prompt and `length` characters sampled after it (temperature, top_k: 0 for
// all), the same for the same seed, on stdout.
void generate_text(const std::string& model_path, const std::string& prompt, int64_t length,
                   double temperature, int64_t top_k, uint64_t seed);

void train_classifier(const TrainCommandOptions& options);
void evaluate_classifier(const EvaluateCommandOptions& options, TaskModel& model);
// lstm predict: the predicted label of every row of `data_path` and its probability, as CSV on
// stdout or to `output_path`.
void predict_classifier(const std::string& model_path, const std::string& data_path,
                        const std::string& text_column, const std::string& output_path);

}  // namespace lstm::cli
