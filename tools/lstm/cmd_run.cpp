// lstm run --model M.safetensors --input X.npy --output Y.npy [--lengths L.npy]
// Loads a model, reads the sequences X (batch, time, features) and optionally each sample's
// valid length, and writes the model's outputs Y (batch, time, out) as float32.
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "inputs.h"
#include "lstm/lstm.h"

namespace lstm::cli {

namespace {

struct RunOptions {
  std::string model;
  std::string input;
  std::string output;
  std::string lengths;  // empty: every sample is full length
};

void run(const RunOptions& options) {
  Sequential model = Sequential::load(options.model);
  const Tensor x = read_input(options.input, expected_input(model));
  const bool has_lengths = !options.lengths.empty();
  const std::vector<int64_t> lengths =
      has_lengths ? read_lengths(options.lengths, x, options.input) : std::vector<int64_t>{};
  Tensor y;
  try {
    y = model.predict(x, has_lengths ? &lengths : nullptr);
  } catch (const Error& e) {
    // The shapes are checked above, so what is left is in the values of x (token ids).
    throw Error(options.input + ": " + e.what());
  }
  write_npy(options.output, y);
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* command = app.add_subcommand(
      "run", "Run a model on the sequences of a .npy file and write its outputs as .npy");
  command
      ->add_option("--model", options->model,
                   "Model file (.safetensors): an lstm.cpp model or a PyTorch state_dict")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--input", options->input,
                   "Input sequences (.npy, float32 or float64): (batch, time, features), or "
                   "token ids (batch, time) for a model that starts with an embedding")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--output", options->output,
                   "Where to write the outputs (.npy, float32): (batch, time, out), or "
                   "(batch, out) for a model that returns only the last step")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--lengths", options->lengths,
                   "Valid steps of each sample (.npy, int32 or int64): (batch,), each in "
                   "[1, time]; steps past a sample's length are padding (default: all full "
                   "length)")
      ->type_name("PATH");
  command->footer("Example: lstm run --model model.safetensors --input x.npy --output y.npy");
  command->callback([options] { run(*options); });
}

}  // namespace lstm::cli
