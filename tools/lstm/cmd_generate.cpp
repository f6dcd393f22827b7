// lstm generate --model M [--prompt TEXT] [--length N] [--temperature T] [--top-k K] [--seed S]
// Text sampled from a character model trained by `lstm train --task text`, on stdout
// (task_text.cpp samples it).
#include <memory>
#include <string>

#include "commands.h"
#include "tasks.h"

namespace lstm::cli {

void add_generate_command(CLI::App& app) {
  struct Options {
    std::string model, prompt;
    int64_t length = 500;
    double temperature = 1.0;
    int64_t top_k = 0;
    uint64_t seed = 0;
  };
  auto o = std::make_shared<Options>();
  CLI::App* command = app.add_subcommand(
      "generate", "Sample text from a character model trained by `lstm train --task text`, on stdout");
  command->add_option("--model", o->model, "A text model trained by `lstm train --task text`")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--prompt", o->prompt,
                   "Text to continue, printed first; every character must be in the model's "
                   "vocabulary (default: none, the text starts as after a line break)")
      ->type_name("TEXT");
  command->add_option("--length", o->length, "Characters to generate after the prompt")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--temperature", o->temperature,
                   "Divides the logits before sampling: below 1 safer, more repetitive text; above "
                   "1 more surprising text; 1 samples the model's own distribution")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--top-k", o->top_k,
                   "Sample among the K most likely characters only (0: all; 1: always the most "
                   "likely)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_option("--seed", o->seed, "Seed of the sampling: the same seed gives the same text")
      ->capture_default_str();
  command->footer(
      "Example: lstm generate --model austen.safetensors --prompt \"It is a truth \" --length 300 "
      "--temperature 0.8");
  command->callback(
      [o] { generate_text(o->model, o->prompt, o->length, o->temperature, o->top_k, o->seed); });
}

}  // namespace lstm::cli
