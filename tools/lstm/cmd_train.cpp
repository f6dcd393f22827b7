// lstm train --data FILE --model OUT [--task series|text|classify] [options]
// Trains a model for a job from a data file, with defaults that work, and saves it with what
// `lstm evaluate`, `forecast`, `generate` and `predict` need (tasks.h).
#include <map>
#include <memory>
#include <set>
#include <string>

#include "commands.h"
#include "tasks.h"

namespace lstm::cli {

namespace {

// The flags that belong to one task only; a flag given for another task is an error.
const std::map<std::string, std::string>& task_of_flag() {
  static const std::map<std::string, std::string> tasks{
      {"--target", "series"},          {"--features", "series"},  {"--window", "series"},
      {"--horizon", "series"},         {"--season", "series"},    {"--missing", "series"},
      {"--split", "series"},           {"--seq-length", "text"},  {"--holdout", "text"},
      {"--text-column", "classify"},   {"--label-column", "classify"},
      {"--level", "classify"},         {"--max-length", "classify"},
      {"--bidirectional", "classify"}};  // and its opposite, --unidirectional
  return tasks;
}

void check_flags_apply(const CLI::App& command, const std::string& task) {
  for (const auto& [flag, owner] : task_of_flag())
    if (const CLI::Option* option = command.get_option(flag); owner != task && option->count() > 0) {
      std::string names;  // every name of the option: --bidirectional / --unidirectional
      for (const std::string& name : option->get_lnames())
        names += (names.empty() ? "--" : " / --") + name;
      throw Error(names + " applies to --task " + owner + ", not " + task);
    }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "train", "Train a model for a job (forecasting a series, modelling text, classifying texts) "
               "from a data file, with defaults that work");
  command
      ->add_option("--task", o->task,
                   "series: forecast a column of a CSV; text: a character-level language model "
                   "of a text file; classify: label the texts of a TSV/CSV")
      ->check(CLI::IsMember({"series", "text", "classify"}))
      ->capture_default_str();
  command
      ->add_option("--data", o->data,
                   "The data: a CSV of measurements (series), a UTF-8 text file (text), a TSV or "
                   "CSV with a text and a label column (classify)")
      ->required()
      ->type_name("PATH");
  command->add_option("--model", o->model, "Where to write the trained model (.safetensors)")
      ->required()
      ->type_name("PATH");
  command->add_option("--report", o->report, "Also write an HTML report with plots here")
      ->type_name("PATH");

  command->add_option("--layers", o->layers, "Recurrent layers (default: the task's)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  command->add_option("--hidden", o->hidden, "Hidden size (default: the task's)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  command->add_option("--dropout", o->dropout, "Dropout between recurrent layers (default: the task's)")
      ->check(CLI::Range(0.0, 0.95))
      ->type_name("F");
  command
      ->add_option("--epochs", o->epochs,
                   "At most this many epochs; early stopping on the validation loss usually ends "
                   "sooner (default: the task's)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  command->add_option("--batch-size", o->batch_size, "Samples per step (default: the task's)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  command->add_option("--optimizer", o->optimizer, "adam, adamw, rmsprop, adagrad or sgd (momentum 0.9)")
      ->check(CLI::IsMember({"sgd", "adam", "adamw", "rmsprop", "adagrad"}))
      ->capture_default_str();
  command->add_option("--lr", o->lr, "Learning rate (default: the task's)")
      ->check(CLI::PositiveNumber)
      ->type_name("F");
  command
      ->add_option("--patience", o->patience,
                   "Stop after this many epochs without a better validation loss, keeping the "
                   "best weights (default: the task's)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  command->add_option("--seed", o->seed, "Seed of the initial weights, shuffling and dropout")
      ->capture_default_str();
  command
      ->add_option("--max-time", o->max_time,
                   "Stop training after this many seconds, keeping the best weights so far "
                   "(default: series 90, text 600, classify 1200)")
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  command
      ->add_option("--verbose", o->verbose,
                   "0: silent; 1: progress (a bar on a terminal, a line per epoch otherwise); 2: a "
                   "line per epoch")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();

  command
      ->add_option("--target", o->target,
                   "series: the column to forecast (default: the only column that is not time)")
      ->type_name("COLUMN");
  command
      ->add_option("--features", o->features,
                   "series: more input columns, comma-separated (default: none, univariate)")
      ->delimiter(',')
      ->type_name("COLUMNS");
  command
      ->add_option("--window", o->window,
                   "series: past steps each forecast sees (default: two detected seasons, at "
                   "least 16)")
      ->check(CLI::PositiveNumber)
      ->type_name("W");
  command->add_option("--horizon", o->horizon, "series: steps forecast at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--season", o->season, "series: the season's length (default: detected)")
      ->check(CLI::PositiveNumber)
      ->type_name("M");
  command
      ->add_option("--missing", o->missing,
                   "series: missing values: error (default), ffill, interpolate or drop")
      ->check(CLI::IsMember({"error", "ffill", "interpolate", "drop"}))
      ->capture_default_str();
  command
      ->add_option("--split", o->split,
                   "series: train, validation and test fractions of the rows, in time order "
                   "(default: 0.7,0.15,0.15)")
      ->delimiter(',')
      ->expected(3)
      ->type_name("T,V,E");

  command
      ->add_option("--seq-length", o->seq_length,
                   "text: characters per training sequence (truncated BPTT; default: the task's)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  command
      ->add_option("--holdout", o->holdout,
                   "text: the fraction at the end of the text held out for validation")
      ->check(CLI::Range(0.01, 0.5))
      ->capture_default_str();

  command->add_option("--text-column", o->text_column, "classify: the column holding the texts")
      ->type_name("COLUMN");
  command->add_option("--label-column", o->label_column, "classify: the column holding the labels")
      ->type_name("COLUMN");
  command
      ->add_option("--level", o->level,
                   "classify: tokens are words (word, default: a word carries meaning, and 200 of "
                   "them reach twice as far into a text as 500 characters) or characters (char)")
      ->check(CLI::IsMember({"char", "word"}))
      ->capture_default_str();
  command
      ->add_option("--max-length", o->max_length,
                   "classify: tokens kept from the start of each text (default: the task's)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  command->add_flag("--bidirectional,!--unidirectional", o->bidirectional,
                    "classify: an LSTM that reads each text both ways (the default), or only "
                    "forwards");

  command->footer(
      "Examples:\n"
      "  lstm train --data data/timeseries/AirPassengers.csv --model air.safetensors --report air.html\n"
      "  lstm train --task text --data data/text/jane_austen_6_novels.txt --model austen.safetensors "
      "--max-time 600\n"
      "  lstm train --task classify --data data/labeled/spam_assassin.tsv --text-column body "
      "--label-column label --model spam.safetensors");
  command->callback([o, command] {
    check_flags_apply(*command, o->task);
    if (o->task == "series")
      train_series(*o);
    else if (o->task == "text")
      train_text(*o);
    else
      train_classifier(*o);
  });
}

void add_evaluate_command(CLI::App& app) {
  auto o = std::make_shared<EvaluateCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "evaluate", "Score a model trained by `lstm train` on data: against baselines (series), "
                  "in bits per character (text), accuracy and per-class scores (classify)");
  command->add_option("--model", o->model, "A model trained by `lstm train`")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--data", o->data,
                   "The data to score. The file the model was trained on: its held-out part only; "
                   "any other file: all of it")
      ->required()
      ->type_name("PATH");
  command->add_flag("--json", o->json, "Print one JSON object on stdout instead of a table");
  command->add_option("--report", o->report, "Also write an HTML report with plots here")
      ->type_name("PATH");
  command
      ->add_option("--season", o->season,
                   "series: the season of the seasonal-naive baseline (default: the model's)")
      ->check(CLI::PositiveNumber)
      ->type_name("M");
  command->footer("Example: lstm evaluate --model air.safetensors --data data/timeseries/AirPassengers.csv");
  command->callback([o, command] {
    TaskModel model = load_task_model(o->model);
    if (model.task != "series" && command->get_option("--season")->count() > 0)
      throw Error("--season applies to a series model, not to a " + model.task + " model");
    if (model.task == "series")
      evaluate_series(*o, model);
    else if (model.task == "text")
      evaluate_text(*o, model);
    else
      evaluate_classifier(*o, model);
  });
}

}  // namespace lstm::cli
