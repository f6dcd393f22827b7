// Optimizers, learning-rate schedules and gradient clipping, with the update rules, defaults and
// checks of PyTorch's torch.optim (version 1.13). Options are aggregates with PyTorch's defaults:
//
//     lstm::Adam adam({.lr = 1e-3});
//     for (each batch) {
//       model.zero_grad();  ... model.backward(loss.grad);
//       lstm::clip_grad_norm(model.parameters(), 1.0);
//       adam.step(model.parameters());
//     }
//
// An optimizer keeps its buffers per parameter name, so it needs no parameters until its first
// step, and its state (step count, learning rate, buffers as named tensors) can be saved in a
// checkpoint and restored into a fresh optimizer of the same kind.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lstm/io.h"
#include "lstm/nn.h"
#include "lstm/tensor.h"

namespace lstm {

// An optimizer's whole state. Buffers are named "<optimizer>.<buffer>.<parameter>" after
// PyTorch's state names: "adam.exp_avg.0.weight_ih_l0", "sgd.momentum_buffer.1.bias".
struct OptimizerState {
  int64_t step = 0;  // updates made
  double lr = 0.0;   // the current learning rate
  std::vector<NamedTensor> tensors;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // "sgd", "adam", "adamw", "rmsprop", "adagrad"; also the prefix of the state's tensor names.
  virtual std::string name() const = 0;
  // A copy, state included.
  virtual std::unique_ptr<Optimizer> clone() const = 0;

  // One update of every parameter from its gradient (left as it is). Every parameter must have a
  // gradient of its shape and a name of its own; its buffers are created at its first update.
  void step(const std::vector<ParameterRef>& parameters);
  // Updates made so far; all parameters share it (as in PyTorch when every parameter has a
  // gradient at every step).
  int64_t step_count() const { return step_count_; }

  // The learning rate the next step uses; schedules change it.
  double lr() const { return lr_; }
  void set_lr(double lr);

  OptimizerState state() const;
  // Replaces the whole state by one that state() gave for an optimizer of the same kind and
  // configuration. Names are checked here (each parameter must have all the buffers the
  // configuration uses), buffer shapes against the parameters at the next step.
  void load_state(const OptimizerState& state);

 protected:
  // The derived class checks its options, lr included.
  explicit Optimizer(double lr);

  // One parameter's buffers by PyTorch's state name ("exp_avg", "momentum_buffer", ...).
  using Buffers = std::map<std::string, Tensor>;
  // The buffers this optimizer, as configured, keeps for each parameter.
  virtual std::vector<std::string> buffer_names() const = 0;
  // Updates one parameter from its gradient; `step` is this update's number, 1 at the first.
  // Its first update creates all of buffer_names() for it.
  virtual void update(const ParameterRef& parameter, Buffers& buffers, int64_t step) = 0;

 private:
  double lr_;
  int64_t step_count_ = 0;
  std::map<std::string, Buffers> buffers_;  // by parameter name
};

// Sets every gradient to zero.
void zero_grad(const std::vector<ParameterRef>& parameters);

// ---------------------------------------------------------------------------------------------
// torch.optim.SGD. PyTorch 1.13 has no default lr for SGD; 1e-3 is that of later versions.
struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening = 0
};

class SGD : public Optimizer {
 public:
  explicit SGD(const SGDOptions& options = {});
  const SGDOptions& options() const { return options_; }  // as given; the current lr is lr()
  std::string name() const override { return "sgd"; }
  std::unique_ptr<Optimizer> clone() const override;

 protected:
  std::vector<std::string> buffer_names() const override;
  void update(const ParameterRef& parameter, Buffers& buffers, int64_t step) override;

 private:
  SGDOptions options_;
};

// torch.optim.Adam: weight decay added to the gradient (L2 regularisation).
struct AdamOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool amsgrad = false;
};

// torch.optim.AdamW: weight decay applied to the weights directly (decoupled).
struct AdamWOptions {
  double lr = 1e-3;
  std::array<double, 2> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;
  bool amsgrad = false;
};

class Adam : public Optimizer {
 public:
  explicit Adam(const AdamOptions& options = {});
  const AdamOptions& options() const { return options_; }
  std::string name() const override { return "adam"; }
  std::unique_ptr<Optimizer> clone() const override;

 protected:
  std::vector<std::string> buffer_names() const override;
  void update(const ParameterRef& parameter, Buffers& buffers, int64_t step) override;

 private:
  AdamOptions options_;
};

class AdamW : public Optimizer {
 public:
  explicit AdamW(const AdamWOptions& options = {});
  const AdamWOptions& options() const { return options_; }
  std::string name() const override { return "adamw"; }
  std::unique_ptr<Optimizer> clone() const override;

 protected:
  std::vector<std::string> buffer_names() const override;
  void update(const ParameterRef& parameter, Buffers& buffers, int64_t step) override;

 private:
  AdamWOptions options_;
};

// torch.optim.RMSprop, plain or centered, with or without momentum.
struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
};

class RMSprop : public Optimizer {
 public:
  explicit RMSprop(const RMSpropOptions& options = {});
  const RMSpropOptions& options() const { return options_; }
  std::string name() const override { return "rmsprop"; }
  std::unique_ptr<Optimizer> clone() const override;

 protected:
  std::vector<std::string> buffer_names() const override;
  void update(const ParameterRef& parameter, Buffers& buffers, int64_t step) override;

 private:
  RMSpropOptions options_;
};

// torch.optim.Adagrad.
struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

class Adagrad : public Optimizer {
 public:
  explicit Adagrad(const AdagradOptions& options = {});
  const AdagradOptions& options() const { return options_; }
  std::string name() const override { return "adagrad"; }
  std::unique_ptr<Optimizer> clone() const override;

 protected:
  std::vector<std::string> buffer_names() const override;
  void update(const ParameterRef& parameter, Buffers& buffers, int64_t step) override;

 private:
  AdagradOptions options_;
};

// ---------------------------------------------------------------------------------------------
// Learning-rate schedules, as torch.optim.lr_scheduler in a loop that calls scheduler.step()
// after each epoch: epoch e (from 0) trains with the learning rate set by the e-th call. The
// first call takes the optimizer's learning rate then as the base learning rate γ₀. A schedule
// may equally be stepped once per batch; "epoch" then counts calls.
class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  // "step", "exponential", "cosine".
  virtual std::string name() const = 0;
  virtual std::unique_ptr<LRSchedule> clone() const = 0;

  // Ends an epoch: sets the optimizer's learning rate to the schedule's for the next one.
  void step(Optimizer& optimizer);
  // The schedule's learning rate at `epoch`, for base learning rate `base_lr`.
  virtual double lr_at(int64_t epoch, double base_lr) const = 0;
  // Calls of step() so far.
  int64_t epoch() const { return epoch_; }

  // For checkpoints: "epoch" and "base_lr".
  std::map<std::string, double> state() const;
  void load_state(const std::map<std::string, double>& state);

 private:
  int64_t epoch_ = 0;
  double base_lr_ = 0.0;
};

// γ_e = γ₀ · gamma^⌊e / step_size⌋; step_size must be given (PyTorch has no default for it).
struct StepLROptions {
  int64_t step_size = 0;
  double gamma = 0.1;
};

class StepLR : public LRSchedule {
 public:
  explicit StepLR(const StepLROptions& options);
  const StepLROptions& options() const { return options_; }
  std::string name() const override { return "step"; }
  std::unique_ptr<LRSchedule> clone() const override;
  double lr_at(int64_t epoch, double base_lr) const override;

 private:
  StepLROptions options_;
};

// γ_e = γ₀ · gamma^e; gamma must be given.
struct ExponentialLROptions {
  double gamma = 0.0;
};

class ExponentialLR : public LRSchedule {
 public:
  explicit ExponentialLR(const ExponentialLROptions& options);
  const ExponentialLROptions& options() const { return options_; }
  std::string name() const override { return "exponential"; }
  std::unique_ptr<LRSchedule> clone() const override;
  double lr_at(int64_t epoch, double base_lr) const override;

 private:
  ExponentialLROptions options_;
};

// γ_e = η_min + (γ₀ − η_min) · (1 + cos(π e / T_max)) / 2, which past T_max rises again with
// period 2·T_max, as PyTorch's recursive form does; T_max must be given.
struct CosineAnnealingLROptions {
  int64_t T_max = 0;
  double eta_min = 0.0;
};

class CosineAnnealingLR : public LRSchedule {
 public:
  explicit CosineAnnealingLR(const CosineAnnealingLROptions& options);
  const CosineAnnealingLROptions& options() const { return options_; }
  std::string name() const override { return "cosine"; }
  std::unique_ptr<LRSchedule> clone() const override;
  double lr_at(int64_t epoch, double base_lr) const override;

 private:
  CosineAnnealingLROptions options_;
};

// torch.optim.lr_scheduler.ReduceLROnPlateau: watches a metric (validation loss, say) and
// multiplies the learning rate by `factor` when it has not improved for more than `patience`
// epochs, then waits `cooldown` epochs before counting again.
enum class PlateauMode { min, max };    // whether lower or higher is better
enum class ThresholdMode { rel, abs };  // improvement needed: relative or absolute

struct ReduceLROnPlateauOptions {
  PlateauMode mode = PlateauMode::min;
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::rel;
  int64_t cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;  // a reduction smaller than this is not made
};

class ReduceLROnPlateau {
 public:
  explicit ReduceLROnPlateau(const ReduceLROnPlateauOptions& options = {});
  const ReduceLROnPlateauOptions& options() const { return options_; }

  // Ends an epoch whose watched metric was `metric`; may lower the optimizer's learning rate.
  void step(Optimizer& optimizer, double metric);
  // Whether `metric` improves on the best so far by more than the threshold.
  bool is_better(double metric) const;
  int64_t epoch() const { return epoch_; }
  double best() const { return best_; }

  // For checkpoints: "epoch", "best" (±inf before the first epoch), "num_bad_epochs",
  // "cooldown_counter".
  std::map<std::string, double> state() const;
  void load_state(const std::map<std::string, double>& state);

 private:
  ReduceLROnPlateauOptions options_;
  int64_t epoch_ = 0;
  double best_;
  int64_t num_bad_epochs_ = 0;
  int64_t cooldown_counter_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Gradient clipping, as torch.nn.utils: call between backward and the optimizer's step.

// Scales all gradients by max_norm / (‖g‖ + 1e-6) when that is below 1, ‖g‖ being the L2 norm of
// all gradients together (clip_grad_norm_). Returns ‖g‖ before clipping (NaN or inf when a
// gradient is, which then spreads to every gradient, as in PyTorch).
double clip_grad_norm(const std::vector<ParameterRef>& parameters, double max_norm);
// Clamps every gradient element to [−clip_value, clip_value] (clip_grad_value_).
void clip_grad_value(const std::vector<ParameterRef>& parameters, double clip_value);

}  // namespace lstm
