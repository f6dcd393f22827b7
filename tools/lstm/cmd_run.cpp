// lstm run --model M.safetensors --input X.npy --output Y.npy [--lengths L.npy]
// Loads a model, reads the sequences X (batch, time, features) and optionally each sample's
// valid length, and writes the model's outputs Y (batch, time, out) as float32.
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "lstm/lstm.h"

namespace lstm::cli {

namespace {

struct RunOptions {
  std::string model;
  std::string input;
  std::string output;
  std::string lengths;  // empty: every sample is full length
};

// What the model's first layer that reads the input wants: token ids (batch, time) for an
// Embedding, otherwise (batch, time, features), the feature count under the layer's own name
// for it ("input_size 8").
struct ExpectedInput {
  bool token_ids = false;
  int64_t features = -1;  // -1: any count (a model of Dropout layers only)
  std::string option;
};

ExpectedInput expected_input(const Sequential& model) {
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& layer = model.layer(i);
    if (const auto* recurrent = dynamic_cast<const Recurrent*>(&layer))
      return {.features = recurrent->config().input_size, .option = "input_size"};
    if (const auto* dense = dynamic_cast<const Dense*>(&layer))
      return {.features = dense->options().in_features, .option = "in_features"};
    if (const auto* norm = dynamic_cast<const LayerNorm*>(&layer))
      return {.features = norm->options().features, .option = "features"};
    if (dynamic_cast<const Embedding*>(&layer) != nullptr)
      return {.token_ids = true, .features = -1, .option = "token ids"};
  }
  return {};
}

// x: (batch, time, features), or token ids (batch, time); at least one sample and one step.
Tensor read_input(const std::string& path, const ExpectedInput& expected) {
  Tensor x = read_npy(path);
  if (expected.token_ids) {
    if (x.rank() != 2)
      throw Error(path + ": expected token ids (batch, time) for a model that starts with an " +
                  "embedding, got " + x.shape_string());
  } else if (x.rank() != 3 || (expected.features >= 0 && x.dim(2) != expected.features)) {
    const std::string features =
        expected.features >= 0 ? std::to_string(expected.features) : "features";
    const std::string model =
        expected.features >= 0 ? " for a model with " + expected.option + " " + features : "";
    throw Error(path + ": expected (batch, time, " + features + ")" + model + ", got " +
                x.shape_string());
  }
  if (x.dim(0) < 1 || x.dim(1) < 1)
    throw Error(path + ": expected at least one sample and one time step, got " + x.shape_string());
  return x;
}

// lengths: (batch,), each in [1, time].
std::vector<int64_t> read_lengths(const std::string& path, const Tensor& x,
                                  const std::string& x_path) {
  Shape shape;
  std::vector<int64_t> lengths = read_npy_integers(path, &shape);
  const int64_t batch = x.dim(0), time = x.dim(1);
  if (shape != Shape{batch})
    throw Error(path + ": expected shape " + shape_string({batch}) + ", one length per sample of " +
                x_path + ", got " + shape_string(shape));
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t length = lengths[static_cast<std::size_t>(i)];
    if (length < 1 || length > time)
      throw Error(path + ": length of sample " + std::to_string(i) + " is " +
                  std::to_string(length) + ", expected a length in [1, " + std::to_string(time) +
                  "] (the time steps of " + x_path + ")");
  }
  return lengths;
}

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
