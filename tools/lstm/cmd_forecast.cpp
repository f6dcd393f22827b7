// lstm forecast --model M --data FILE.csv --steps K
// The next K values of a series after the end of the data, in the series' own units, as CSV on
// stdout (task_series.cpp computes them).
#include <memory>
#include <string>

#include "commands.h"
#include "tasks.h"

namespace lstm::cli {

void add_forecast_command(CLI::App& app) {
  struct Options {
    std::string model, data;
    int64_t steps = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "forecast", "Forecast the next steps of a series after the end of a CSV, as CSV on stdout");
  command->add_option("--model", o->model, "A series model trained by `lstm train`")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--data", o->data,
                   "The series so far (CSV with the model's columns); the forecast starts after "
                   "its last row")
      ->required()
      ->type_name("PATH");
  command->add_option("--steps", o->steps, "How many steps to forecast")
      ->required()
      ->check(CLI::PositiveNumber)
      ->type_name("K");
  command->footer(
      "Example: lstm forecast --model air.safetensors --data data/timeseries/AirPassengers.csv "
      "--steps 12");
  command->callback([o] { forecast_series(o->model, o->data, o->steps); });
}

}  // namespace lstm::cli
