// The subcommands of the `lstm` tool. Each lives in its own cmd_<name>.cpp and adds itself to the
// application with the function declared here; main.cpp calls them in the order `lstm --help`
// lists them. A command's action runs once the whole command line has been parsed and checked.
#pragma once

#include <CLI/CLI.hpp>

namespace lstm::cli {

// lstm train and lstm evaluate: a model for a job from a data file, and its scores (cmd_train.cpp;
// the jobs are in tasks.h).
void add_train_command(CLI::App& app);
void add_evaluate_command(CLI::App& app);
// lstm forecast: a series model's next values after the data (cmd_forecast.cpp).
void add_forecast_command(CLI::App& app);
// lstm generate: text sampled from a text model (cmd_generate.cpp).
void add_generate_command(CLI::App& app);
// lstm predict: a classifier's label for every row of a CSV/TSV (cmd_predict.cpp).
void add_predict_command(CLI::App& app);
// lstm run: a model's predictions for the sequences in a .npy file (cmd_run.cpp).
void add_run_command(CLI::App& app);
// lstm fit: trains a model on .npy arrays (cmd_fit.cpp).
void add_fit_command(CLI::App& app);
// lstm info: the layers, tensors and parameter count of a model file (cmd_info.cpp).
void add_info_command(CLI::App& app);
// lstm bench: times the recurrent layers on random data (cmd_bench.cpp).
void add_bench_command(CLI::App& app);

}  // namespace lstm::cli
