// lstm info --model M.safetensors
// Prints a model's layers with the parameter count (Sequential::summary), then the names and
// shapes of its tensors.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "lstm/lstm.h"

namespace lstm::cli {

namespace {

void info(const std::string& path) {
  Sequential model = Sequential::load(path);
  const std::vector<ParameterRef> tensors = model.parameters();
  std::size_t name_width = 0;
  for (const ParameterRef& t : tensors) name_width = std::max(name_width, t.name.size());

  std::cout << "model: " << path << "\n\n" << model.summary();
  std::cout << "\ntensors:\n";
  for (const ParameterRef& t : tensors)
    std::cout << "  " << std::left << std::setw(static_cast<int>(name_width)) << t.name << "  "
              << t.value->shape_string() << '\n';
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  CLI::App* command = app.add_subcommand(
      "info", "Print a model's layers, its tensors' names and shapes, and its parameter count");
  command
      ->add_option("--model", *model,
                   "Model file (.safetensors): an lstm.cpp model or a PyTorch state_dict")
      ->required()
      ->type_name("PATH");
  command->footer("Example: lstm info --model model.safetensors");
  command->callback([model] { info(*model); });
}

}  // namespace lstm::cli
