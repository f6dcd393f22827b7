// The `lstm` command: dispatches to the subcommands (commands.h) and turns every failure into one
// line on stderr and an exit status — 2 for a command line that does not parse, 1 for anything
// that goes wrong after that (a missing or malformed file, a shape that does not fit the model).
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"

namespace {

// The version of the project (CMakeLists.txt's project(... VERSION ...)); a test keeps them equal.
constexpr const char* kVersion = "0.1.0";

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// "lstm: error: <message>" on one line, whatever newlines the message holds.
void print_error(std::string message) {
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  std::cerr << "lstm: error: " << message << '\n';
}

// The parse error's message, and where to read about the flags of the command it concerns:
// "--input is required (see `lstm run --help`)".
std::string usage_message(const CLI::App& app, const CLI::ParseError& e) {
  const std::vector<CLI::App*> chosen = app.get_subcommands();
  const std::vector<std::string> unparsed = app.remaining();
  if (chosen.empty()) {
    // CLI11 calls an unknown command, or a flag before the command, a missing command; name
    // what it found and the known commands instead.
    std::string known;
    for (const CLI::App* command : app.get_subcommands([](const CLI::App*) { return true; }))
      known += (known.empty() ? "" : ", ") + command->get_name();
    const std::string found = unparsed.empty() ? "a command is required"
                              : unparsed.front().starts_with('-')
                                  ? "unexpected '" + unparsed.front() + "' before the command"
                                  : "unknown command '" + unparsed.front() + "'";
    return found + "; the commands are " + known + " (see `lstm --help`)";
  }
  std::string command = "lstm";
  for (const CLI::App* sub : chosen) command += " " + sub->get_name();
  return e.what() + std::string(" (see `") + command + " --help`)";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lstm.cpp: forecast series, model text and classify texts with LSTMs; train, run and inspect models.", "lstm"};
  app.set_version_flag("--version", std::string("lstm ") + kVersion, "Print the version and exit");
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 on success, 1 on a failure (missing or malformed file, shape or value that "
      "does not fit), 2 on a command line that does not parse.\n"
      "`lstm COMMAND --help` explains the flags of a command.");
  lstm::cli::add_train_command(app);
  lstm::cli::add_evaluate_command(app);
  lstm::cli::add_forecast_command(app);
  lstm::cli::add_generate_command(app);
  lstm::cli::add_predict_command(app);
  lstm::cli::add_run_command(app);
  lstm::cli::add_fit_command(app);
  lstm::cli::add_info_command(app);
  lstm::cli::add_bench_command(app);

  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success))
      return app.exit(e);  // --help or --version
    print_error(usage_message(app, e));
    return kExitUsage;
  } catch (const std::exception& e) {
    print_error(e.what());
    return kExitFailure;
  } catch (...) {
    print_error("unknown failure");
    return kExitFailure;
  }
}
