// lstm fit --model IN --x X.npy --y Y.npy --out OUT [training options]
// Trains a model (an lstm.cpp file or a plain PyTorch state_dict) on arrays and writes the trained
// weights under the same tensor names. It computes what a plain PyTorch loop computes: batches in
// order (or shuffled with --seed), the loss's mean over each batch, clipping, one step per batch.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "inputs.h"
#include "lstm/lstm.h"

namespace lstm::cli {

namespace {

struct FitCommandOptions {
  std::string model, x, y, out, lengths, checkpoint;
  std::string loss = "mse";
  std::string optimizer = "adam";
  std::optional<double> lr, momentum, weight_decay;
  bool nesterov = false;
  int64_t batch_size = 32;
  int64_t epochs = 1;
  bool no_shuffle = false;
  double clip_norm = 0.0;
  uint64_t seed = 0;
  bool resume = false;
  int verbose = 1;
};

// The optimizer the flags ask for, PyTorch's defaults where a flag is not given. A flag the
// optimizer has no use for is an error rather than silently ignored.
std::unique_ptr<Optimizer> make_optimizer(const FitCommandOptions& o) {
  if (o.momentum && o.optimizer != "sgd" && o.optimizer != "rmsprop")
    throw Error("--momentum applies to --optimizer sgd and rmsprop, not " + o.optimizer);
  if (o.nesterov && o.optimizer != "sgd")
    throw Error("--nesterov applies to --optimizer sgd, not " + o.optimizer);
  if (o.optimizer == "sgd") {
    SGDOptions options;
    options.lr = o.lr.value_or(options.lr);
    options.momentum = o.momentum.value_or(options.momentum);
    options.weight_decay = o.weight_decay.value_or(options.weight_decay);
    options.nesterov = o.nesterov;
    return std::make_unique<SGD>(options);
  }
  if (o.optimizer == "adam") {
    AdamOptions options;
    options.lr = o.lr.value_or(options.lr);
    options.weight_decay = o.weight_decay.value_or(options.weight_decay);
    return std::make_unique<Adam>(options);
  }
  if (o.optimizer == "adamw") {
    AdamWOptions options;
    options.lr = o.lr.value_or(options.lr);
    options.weight_decay = o.weight_decay.value_or(options.weight_decay);
    return std::make_unique<AdamW>(options);
  }
  if (o.optimizer == "rmsprop") {
    RMSpropOptions options;
    options.lr = o.lr.value_or(options.lr);
    options.momentum = o.momentum.value_or(options.momentum);
    options.weight_decay = o.weight_decay.value_or(options.weight_decay);
    return std::make_unique<RMSprop>(options);
  }
  AdagradOptions options;  // the flag's value was checked against the list
  options.lr = o.lr.value_or(options.lr);
  options.weight_decay = o.weight_decay.value_or(options.weight_decay);
  return std::make_unique<Adagrad>(options);
}

// The targets: float32/float64 shaped like the model's output, or, for cross_entropy, integer
// class indices (held as floats, as the loss takes them).
Tensor read_targets(const std::string& path, Loss loss, int64_t samples, const std::string& x_path) {
  Tensor y;
  if (loss == Loss::cross_entropy) {
    const NpyArray array = read_npy_array(path);
    if (array.dtype != DType::i32 && array.dtype != DType::i64)
      throw Error(path + ": cross_entropy takes class indices as int32 or int64, got " +
                  dtype_name(array.dtype));
    y = Tensor(array.shape);
    for (std::size_t i = 0; i < array.values.size(); ++i)
      y[static_cast<int64_t>(i)] = static_cast<float>(array.values[i]);
  } else {
    y = read_npy(path);
  }
  if (y.rank() < 1 || y.dim(0) != samples)
    throw Error(path + ": expected " + std::to_string(samples) + " samples (as " + x_path +
                " has) along the first dimension, got " + y.shape_string());
  return y;
}

void fit(const FitCommandOptions& o) {
  if (o.resume && o.checkpoint.empty())
    throw Error("--resume continues from the --checkpoint file: give --checkpoint too");
  Sequential model = Sequential::load(o.model);
  const Loss loss = loss_from_name(o.loss);
  const Tensor x = read_input(o.x, expected_input(model));
  const Tensor y = read_targets(o.y, loss, x.dim(0), o.x);
  FitOptions options{.epochs = o.epochs,
                     .batch_size = o.batch_size,
                     .shuffle = !o.no_shuffle,
                     .seed = o.seed,
                     .verbose = o.verbose};
  if (!o.lengths.empty()) options.lengths = read_lengths(o.lengths, x, o.x);
  if (!o.checkpoint.empty()) {
    options.callbacks.push_back(callbacks::ModelCheckpoint({.path = o.checkpoint}));
    if (o.resume) {
      if (std::filesystem::exists(o.checkpoint))
        options.resume_from = o.checkpoint;
      else if (o.verbose > 0)
        std::cerr << "lstm fit: no checkpoint at " << o.checkpoint << " yet; starting afresh\n";
    }
  }
  model.compile(loss, *make_optimizer(o), {}, {.clip_norm = o.clip_norm});
  const History history = model.fit(x, y, options);
  model.save(o.out);
  if (o.verbose > 0 && !history.epochs.empty())
    std::cerr << "lstm fit: " << history.epochs.size() << " epoch(s), final loss "
              << history["loss"].back() << "; wrote " << o.out << '\n';
}

}  // namespace

void add_fit_command(CLI::App& app) {
  auto o = std::make_shared<FitCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "fit", "Train a model on .npy arrays as a plain PyTorch loop would, and save the weights");
  command
      ->add_option("--model", o->model,
                   "Model to train (.safetensors): an lstm.cpp model or a PyTorch state_dict")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--x", o->x,
                   "Inputs (.npy, float32 or float64): (batch, time, features), or token ids "
                   "(batch, time) for a model that starts with an embedding")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--y", o->y,
                   "Targets (.npy): float, shaped like the model's output; for cross_entropy, "
                   "int32 or int64 class indices (batch, time) or (batch,)")
      ->required()
      ->type_name("PATH");
  command->add_option("--out", o->out, "Where to write the trained model (.safetensors)")
      ->required()
      ->type_name("PATH");
  command
      ->add_option("--loss", o->loss,
                   "mse, mae, huber (delta 1), cross_entropy (on logits) or bce (on logits); "
                   "the mean over each batch")
      ->check(CLI::IsMember({"mse", "mae", "huber", "cross_entropy", "bce"}))
      ->capture_default_str();
  command->add_option("--optimizer", o->optimizer, "sgd, adam, adamw, rmsprop or adagrad")
      ->check(CLI::IsMember({"sgd", "adam", "adamw", "rmsprop", "adagrad"}))
      ->capture_default_str();
  command
      ->add_option("--lr", o->lr,
                   "Learning rate (default: PyTorch's for the optimizer: adam, adamw 1e-3; "
                   "rmsprop, adagrad 1e-2; sgd 1e-3)")
      ->check(CLI::PositiveNumber)
      ->type_name("F");
  command->add_option("--batch-size", o->batch_size, "Samples per step; the last batch may be smaller")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--epochs", o->epochs, "Passes over the data")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_flag("--no-shuffle", o->no_shuffle,
                    "Take the batches in order, as a DataLoader without shuffling (default: "
                    "shuffle each epoch with --seed)");
  command->add_option("--momentum", o->momentum, "Momentum of sgd or rmsprop (default 0)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("F");
  command->add_flag("--nesterov", o->nesterov, "Nesterov momentum (sgd; needs --momentum)");
  command
      ->add_option("--weight-decay", o->weight_decay,
                   "L2 penalty (adamw: decoupled; default 0, adamw 1e-2)")
      ->check(CLI::NonNegativeNumber)
      ->type_name("F");
  command
      ->add_option("--clip-norm", o->clip_norm,
                   "Clip the gradients' global L2 norm to this before each step (0: no clipping)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_option("--seed", o->seed, "Seed of shuffling and dropout")->capture_default_str();
  command
      ->add_option("--lengths", o->lengths,
                   "Valid steps of each sample (.npy, int32 or int64): (batch,), each in [1, time]")
      ->type_name("PATH");
  command
      ->add_option("--checkpoint", o->checkpoint,
                   "Write a checkpoint (weights, optimizer state, epoch, random state) here after "
                   "every epoch, atomically")
      ->type_name("PATH");
  command->add_flag("--resume", o->resume,
                    "Continue from --checkpoint if it exists, ending as an unbroken run would");
  command
      ->add_option("--verbose", o->verbose,
                   "0: silent; 1: a progress bar on a terminal, a line per epoch otherwise; 2: a "
                   "line per epoch")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  command->footer(
      "Example: lstm fit --model m.safetensors --x x.npy --y y.npy --out trained.safetensors "
      "--loss mse --optimizer adam --lr 0.01 --batch-size 32 --epochs 20");
  command->callback([o] { fit(*o); });
}

}  // namespace lstm::cli
