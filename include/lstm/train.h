// Training with a few verbs, as in Keras, computing what the equivalent PyTorch loop computes:
//
//     model.compile(lstm::Loss::mse, lstm::Adam({.lr = 1e-3}), {lstm::Metric::rmse});
//     lstm::History history = model.fit(x, y, {.epochs = 50, .batch_size = 32,
//         .validation_split = 0.2, .seed = 7,
//         .callbacks = {lstm::callbacks::EarlyStopping({.patience = 5,
//                                                       .restore_best_weights = true}),
//                       lstm::callbacks::ModelCheckpoint({.path = "ckpt.safetensors"})}});
//     auto scores = model.evaluate(x_test, y_test);   // {"loss": ..., "rmse": ...}
//
// One epoch: the training samples in order (or permuted by the seeded generator when shuffling),
// cut into batches of batch_size (the last one may be smaller); for each batch the model's
// forward, the loss (the mean over the batch, as PyTorch's default reduction), backward, gradient
// clipping, one optimizer step. Then the validation loss and metrics, then the callbacks.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "lstm/io.h"
#include "lstm/loss.h"
#include "lstm/optim.h"
#include "lstm/tensor.h"

namespace lstm {

class Sequential;

// What compile() takes besides the loss, the optimizer and the metrics.
struct CompileOptions {
  LossOptions loss_options{};
  // > 0: clip the global gradient norm to this (clip_grad_norm) before each step.
  double clip_norm = 0.0;
  // > 0: clamp every gradient element to ±clip_value (clip_grad_value) before each step.
  double clip_value = 0.0;
};

// Samples along the first dimension of x and y; lengths (empty: all full length) gives each
// sample's valid steps for the recurrent layers.
struct Dataset {
  Tensor x{};
  Tensor y{};
  std::vector<int64_t> lengths{};
};

// Per-epoch numbers by name: "loss", each metric ("rmse"), with validation "val_loss",
// "val_rmse"; and "lr", the learning rate the epoch trained with.
using EpochLogs = std::map<std::string, double>;

struct History {
  // Each logged quantity per epoch: history.values["val_loss"][e].
  std::map<std::string, std::vector<double>> values;
  // The epoch numbers (from 0) the values belong to; a resumed run starts past 0.
  std::vector<int64_t> epochs;
  // Why training ended before its last epoch ("" when it ran them all): early stopping, the
  // time limit.
  std::string stop_reason;

  // values.at(key), with an error listing the logged names.
  const std::vector<double>& operator[](const std::string& key) const;
};

// What callbacks see of a fit in progress, and what they may change.
struct TrainingState {
  Sequential& model;
  Optimizer& optimizer;
  int64_t epoch = 0;   // the epoch being trained or just ended, from 0
  int64_t epochs = 0;  // the epoch count asked for
  // The names logged each epoch ("loss", "val_loss", ...), known from the start.
  std::vector<std::string> logged_names{};
  EpochLogs logs{};  // the epoch just ended
  // True when this fit continues from a checkpoint.
  bool resumed = false;
  // Set to end training after this epoch; stop_reason says why.
  bool stop_training = false;
  std::string stop_reason{};
  // Writes a checkpoint of the whole training state at this epoch's end (atomic).
  std::function<void(const std::string& path)> save_checkpoint{};
};

// A callback's own state, saved in checkpoints so that a resumed run goes on as if never stopped.
struct CallbackState {
  std::map<std::string, double> numbers{};  // may hold ±inf and NaN
  std::vector<NamedTensor> tensors{};
};

class Callback {
 public:
  virtual ~Callback() = default;
  // "early_stopping", "model_checkpoint", ...; checkpoints record it to match states on resume.
  virtual std::string name() const = 0;
  // Before the first epoch (after resuming): check options against state.logged_names.
  virtual void on_train_begin(TrainingState& state) { (void)state; }
  // After each epoch's validation: may stop training, change the learning rate or the weights.
  virtual void on_epoch_end(TrainingState& state) { (void)state; }
  // After every callback's on_epoch_end, when the epoch's state is final: logs and checkpoints.
  virtual void record_epoch(TrainingState& state) { (void)state; }
  // After the last epoch.
  virtual void on_train_end(TrainingState& state) { (void)state; }

  virtual CallbackState state() const { return {}; }
  virtual void load_state(const CallbackState& state) { (void)state; }
};

// A callback for FitOptions::callbacks: built from any callback value or a shared_ptr to one
// (keep the shared_ptr to read the callback after fit).
class CallbackHandle {
 public:
  template <class C>
    requires std::is_base_of_v<Callback, std::remove_cvref_t<C>>
  CallbackHandle(C&& callback)  // NOLINT(google-explicit-constructor): a list of callbacks reads
                                // best as values
      : callback_(std::make_shared<std::remove_cvref_t<C>>(std::forward<C>(callback))) {}
  template <class C>
    requires std::is_base_of_v<Callback, C>
  CallbackHandle(std::shared_ptr<C> callback)  // NOLINT(google-explicit-constructor)
      : callback_(std::move(callback)) {}
  Callback& operator*() const { return *callback_; }
  Callback* operator->() const { return callback_.get(); }

 private:
  std::shared_ptr<Callback> callback_;
};

// What to do when the loss or a gradient is NaN or infinite.
enum class NonFinitePolicy {
  stop,        // throw NonFiniteError; the weights stay as they were before that batch
  skip_batch,  // leave the weights alone for that batch, count it, go on
};

class NonFiniteError : public Error {
 public:
  NonFiniteError(const std::string& message, int64_t epoch_index, int64_t batch_index)
      : Error(message), epoch(epoch_index), batch(batch_index) {}
  int64_t epoch;  // from 0
  int64_t batch;  // from 0
};

struct FitOptions {
  int64_t epochs = 1;
  int64_t batch_size = 32;
  // Permute the training samples each epoch with the seeded generator.
  bool shuffle = true;
  // The generator for shuffling and dropout; the same seed gives the same weights bit for bit.
  uint64_t seed = 0;
  // Each sample's valid length (empty: all full length).
  std::vector<int64_t> lengths{};
  // As Keras: the last fraction of the samples (taken before shuffling) validates.
  double validation_split = 0.0;
  // Validation samples given apart; excludes validation_split.
  std::optional<Dataset> validation_data{};
  std::vector<CallbackHandle> callbacks{};
  // 0: silent; 1: a progress bar redrawn in place on a terminal, one line per epoch otherwise;
  // 2: one line per epoch.
  int verbose = 1;
  // Where progress goes (null: std::cerr), and whether it is a terminal (unset: asks isatty).
  std::ostream* progress_stream = nullptr;
  std::optional<bool> progress_is_terminal{};
  // > 0: stop when this many seconds have passed (the current epoch ends at the next batch).
  double max_seconds = 0.0;
  NonFinitePolicy on_nonfinite = NonFinitePolicy::stop;
  // A checkpoint written by this training set-up to continue from: weights, optimizer state,
  // epoch, random state, callbacks' states and history are restored, and the epochs left run.
  std::string resume_from{};
};

namespace callbacks {

// Which way a monitored number improves; auto: "max" for accuracy, else "min".
enum class Mode { automatic, min, max };

// Stops when the monitored number has not improved by more than min_delta for `patience`
// epochs. With restore_best_weights, the model ends with the weights of its best epoch.
struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int64_t patience = 0;
  Mode mode = Mode::automatic;
  bool restore_best_weights = false;
};

class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  std::string name() const override { return "early_stopping"; }
  void on_train_begin(TrainingState& state) override;
  void on_epoch_end(TrainingState& state) override;
  void on_train_end(TrainingState& state) override;
  CallbackState state() const override;
  void load_state(const CallbackState& state) override;

  // The best epoch so far (from 0), −1 before any.
  int64_t best_epoch() const { return best_epoch_; }
  double best() const { return best_; }

 private:
  EarlyStoppingOptions options_;
  bool minimize_ = true;
  double best_;
  int64_t best_epoch_ = -1;
  int64_t wait_ = 0;
  std::vector<NamedTensor> best_weights_;
};

// Writes a checkpoint (weights, optimizer state, epoch, random state, callbacks, history) after
// every epoch, or only when the monitored number improved. The file is also a model file:
// Sequential::load and `lstm run` read it.
struct ModelCheckpointOptions {
  std::string path{};
  std::string monitor = "val_loss";
  bool save_best_only = false;
  Mode mode = Mode::automatic;
};

class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(ModelCheckpointOptions options);
  std::string name() const override { return "model_checkpoint"; }
  void on_train_begin(TrainingState& state) override;
  void record_epoch(TrainingState& state) override;
  CallbackState state() const override;
  void load_state(const CallbackState& state) override;

 private:
  ModelCheckpointOptions options_;
  bool minimize_ = true;
  double best_;
};

// ReduceLROnPlateau (include/lstm/optim.h) on a monitored number, once per epoch.
class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options = {},
                             std::string monitor = "val_loss");
  std::string name() const override { return "reduce_lr_on_plateau"; }
  void on_train_begin(TrainingState& state) override;
  void on_epoch_end(TrainingState& state) override;
  CallbackState state() const override;
  void load_state(const CallbackState& state) override;

 private:
  lstm::ReduceLROnPlateau schedule_;
  std::string monitor_;
};

// A learning-rate schedule (StepLR, ExponentialLR, CosineAnnealingLR) stepped after each epoch.
class LRScheduler : public Callback {
 public:
  template <class S>
    requires std::is_base_of_v<LRSchedule, S>
  explicit LRScheduler(const S& schedule) : schedule_(schedule.clone()) {}
  LRScheduler(const LRScheduler& other) : schedule_(other.schedule_->clone()) {}
  std::string name() const override { return "lr_scheduler_" + schedule_->name(); }
  void on_epoch_end(TrainingState& state) override;
  CallbackState state() const override;
  void load_state(const CallbackState& state) override;

 private:
  std::unique_ptr<LRSchedule> schedule_;
};

// One row per epoch: CSV (epoch, then the logged names in order) or JSON lines (one object per
// epoch). Each row is flushed as it is written; a resumed run appends.
enum class LogFormat { csv, json_lines };

class EpochLogger : public Callback {
 public:
  explicit EpochLogger(std::string path, LogFormat format = LogFormat::csv);
  std::string name() const override { return "epoch_logger"; }
  void on_train_begin(TrainingState& state) override;
  void record_epoch(TrainingState& state) override;

 private:
  std::string path_;
  LogFormat format_;
};

}  // namespace callbacks

// Initial weights. PyTorch's defaults are what layers start with. Keras's: Glorot-uniform input
// and dense weights, orthogonal recurrent weights, zero biases but the LSTM forget gate's
// (b_ih's forget rows 1, so that b_ih + b_hh = 1 there), embeddings U(−0.05, 0.05).
enum class Initializer { pytorch, keras };

}  // namespace lstm
