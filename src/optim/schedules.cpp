// Learning-rate schedules, as torch.optim.lr_scheduler: StepLR, ExponentialLR,
// CosineAnnealingLR (their closed forms, which PyTorch's recursive forms follow) and
// ReduceLROnPlateau. γ₀ is the base learning rate and e the epoch, counted by step() calls.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "lstm/optim.h"
#include "optim/check.h"

namespace lstm {

using optim_detail::number;
using optim_detail::require;

namespace {

// state.at(key), or an lstm::Error naming the key.
double state_value(const std::map<std::string, double>& state, const std::string& key,
                   const std::string& owner) {
  const auto found = state.find(key);
  require(found != state.end(), owner + ": state lacks '" + key + "'");
  return found->second;
}

// A count in a state: a whole number >= 0.
int64_t state_count(const std::map<std::string, double>& state, const std::string& key,
                    const std::string& owner) {
  const double value = state_value(state, key, owner);
  require(value >= 0.0 && value == std::floor(value) && value < 0x1p62,
          owner + ": state '" + key + "' is " + number(value) + ", not a count");
  return static_cast<int64_t>(value);
}

}  // namespace

void LRSchedule::step(Optimizer& optimizer) {
  if (epoch_ == 0) base_lr_ = optimizer.lr();
  ++epoch_;
  optimizer.set_lr(lr_at(epoch_, base_lr_));
}

std::map<std::string, double> LRSchedule::state() const {
  return {{"epoch", static_cast<double>(epoch_)}, {"base_lr", base_lr_}};
}

void LRSchedule::load_state(const std::map<std::string, double>& state) {
  const int64_t epoch = state_count(state, "epoch", name());
  const double base_lr = state_value(state, "base_lr", name());
  require(base_lr >= 0.0, name() + ": state 'base_lr' is " + number(base_lr));
  epoch_ = epoch;
  base_lr_ = base_lr;
}

StepLR::StepLR(const StepLROptions& options) : options_(options) {
  require(options.step_size > 0,
          "step: step_size must be given, > 0 (got " + std::to_string(options.step_size) + ")");
}

std::unique_ptr<LRSchedule> StepLR::clone() const { return std::make_unique<StepLR>(*this); }

// γ_e = γ₀ · gamma^⌊e / step_size⌋
double StepLR::lr_at(int64_t epoch, double base_lr) const {
  return base_lr * std::pow(options_.gamma, static_cast<double>(epoch / options_.step_size));
}

ExponentialLR::ExponentialLR(const ExponentialLROptions& options) : options_(options) {
  require(options.gamma > 0.0,
          "exponential: gamma must be given, > 0 (got " + number(options.gamma) + ")");
}

std::unique_ptr<LRSchedule> ExponentialLR::clone() const {
  return std::make_unique<ExponentialLR>(*this);
}

// γ_e = γ₀ · gamma^e
double ExponentialLR::lr_at(int64_t epoch, double base_lr) const {
  return base_lr * std::pow(options_.gamma, static_cast<double>(epoch));
}

CosineAnnealingLR::CosineAnnealingLR(const CosineAnnealingLROptions& options) : options_(options) {
  require(options.T_max > 0,
          "cosine: T_max must be given, > 0 (got " + std::to_string(options.T_max) + ")");
}

std::unique_ptr<LRSchedule> CosineAnnealingLR::clone() const {
  return std::make_unique<CosineAnnealingLR>(*this);
}

// γ_e = η_min + (γ₀ − η_min) · (1 + cos(π e / T_max)) / 2
double CosineAnnealingLR::lr_at(int64_t epoch, double base_lr) const {
  const double phase =
      std::numbers::pi * static_cast<double>(epoch) / static_cast<double>(options_.T_max);
  return options_.eta_min + (base_lr - options_.eta_min) * (1.0 + std::cos(phase)) / 2.0;
}

// ---------------------------------------------------------------------------------------------
ReduceLROnPlateau::ReduceLROnPlateau(const ReduceLROnPlateauOptions& options)
    : options_(options),
      best_(options.mode == PlateauMode::min ? std::numeric_limits<double>::infinity()
                                             : -std::numeric_limits<double>::infinity()) {
  require(options.factor >= 0.0 && options.factor < 1.0,
          "reduce_lr_on_plateau: factor must be in [0, 1) (got " + number(options.factor) + ")");
  require(options.patience >= 0, "reduce_lr_on_plateau: patience must be >= 0");
  require(options.cooldown >= 0, "reduce_lr_on_plateau: cooldown must be >= 0");
  require(options.threshold >= 0.0, "reduce_lr_on_plateau: threshold must be >= 0");
  require(options.min_lr >= 0.0, "reduce_lr_on_plateau: min_lr must be >= 0");
  require(options.eps >= 0.0, "reduce_lr_on_plateau: eps must be >= 0");
}

//   min, rel: a < best · (1 − threshold)      min, abs: a < best − threshold
//   max, rel: a > best · (1 + threshold)      max, abs: a > best + threshold
bool ReduceLROnPlateau::is_better(double metric) const {
  const bool relative = options_.threshold_mode == ThresholdMode::rel;
  if (options_.mode == PlateauMode::min)
    return metric < (relative ? best_ * (1.0 - options_.threshold) : best_ - options_.threshold);
  return metric > (relative ? best_ * (1.0 + options_.threshold) : best_ + options_.threshold);
}

// An epoch that does not beat the best is bad; epochs in cooldown never count as bad. After
// more than `patience` bad epochs in a row:
//   γ ← max(γ · factor, min_lr), unless that lowers γ by eps or less
// and the cooldown starts.
void ReduceLROnPlateau::step(Optimizer& optimizer, double metric) {
  ++epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options_.patience) {
    const double old_lr = optimizer.lr();
    const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
    if (old_lr - new_lr > options_.eps) optimizer.set_lr(new_lr);
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
}

std::map<std::string, double> ReduceLROnPlateau::state() const {
  return {{"epoch", static_cast<double>(epoch_)},
          {"best", best_},
          {"num_bad_epochs", static_cast<double>(num_bad_epochs_)},
          {"cooldown_counter", static_cast<double>(cooldown_counter_)}};
}

void ReduceLROnPlateau::load_state(const std::map<std::string, double>& state) {
  const std::string owner = "reduce_lr_on_plateau";
  const int64_t epoch = state_count(state, "epoch", owner);
  const double best = state_value(state, "best", owner);
  const int64_t num_bad_epochs = state_count(state, "num_bad_epochs", owner);
  const int64_t cooldown_counter = state_count(state, "cooldown_counter", owner);
  epoch_ = epoch;
  best_ = best;
  num_bad_epochs_ = num_bad_epochs;
  cooldown_counter_ = cooldown_counter;
}

}  // namespace lstm
