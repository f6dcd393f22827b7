// The callbacks of include/lstm/train.h.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "lstm/model.h"

namespace lstm::callbacks {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Whether lower is better for the monitored name: accuracy improves upwards, losses and errors
// downwards.
bool minimizes(Mode mode, const std::string& monitor) {
  if (mode == Mode::automatic) return monitor.find("accuracy") == std::string::npos;
  return mode == Mode::min;
}

// Throws unless fit logs `monitor` every epoch.
void check_monitor(const std::string& callback, const std::string& monitor,
                   const TrainingState& state) {
  const auto& names = state.logged_names;
  if (std::find(names.begin(), names.end(), monitor) != names.end()) return;
  std::string logged;
  for (const auto& name : names) logged += (logged.empty() ? "" : ", ") + name;
  throw Error(callback + " monitors \"" + monitor + "\", which this fit does not log (it logs " +
              logged + ")" +
              (monitor.starts_with("val_") ? "; give validation data or a validation_split" : ""));
}

// The monitored number of the epoch just ended.
double monitored(const TrainingState& state, const std::string& monitor) {
  return state.logs.at(monitor);
}

// A number by name from a callback's saved state, with an error naming what is missing.
double saved_number(const CallbackState& state, const std::string& callback, const std::string& key) {
  const auto found = state.numbers.find(key);
  if (found == state.numbers.end())
    throw Error("the checkpoint's " + callback + " state has no \"" + key + "\"");
  return found->second;
}

std::vector<NamedTensor> copy_weights(Sequential& model) {
  std::vector<NamedTensor> weights;
  for (const ParameterRef& p : model.parameters()) weights.push_back({p.name, *p.value});
  return weights;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// EarlyStopping: improvement means current < best − min_delta (min) or current > best + min_delta
// (max). After `patience` epochs in a row without one, training stops.

EarlyStopping::EarlyStopping(EarlyStoppingOptions options)
    : options_(std::move(options)), best_(kInfinity) {
  if (options_.patience < 0) throw Error("EarlyStopping: patience must be ≥ 0");
  if (options_.min_delta < 0.0) throw Error("EarlyStopping: min_delta must be ≥ 0");
  minimize_ = minimizes(options_.mode, options_.monitor);
  best_ = minimize_ ? kInfinity : -kInfinity;
}

void EarlyStopping::on_train_begin(TrainingState& state) {
  check_monitor("EarlyStopping", options_.monitor, state);
}

void EarlyStopping::on_epoch_end(TrainingState& state) {
  const double current = monitored(state, options_.monitor);
  const bool improved = minimize_ ? current < best_ - options_.min_delta
                                  : current > best_ + options_.min_delta;
  if (improved) {
    best_ = current;
    best_epoch_ = state.epoch;
    wait_ = 0;
    if (options_.restore_best_weights) best_weights_ = copy_weights(state.model);
    return;
  }
  ++wait_;
  if (wait_ >= options_.patience) {
    state.stop_training = true;
    state.stop_reason = "early stopping: " + options_.monitor + " has not improved for " +
                        std::to_string(wait_) + " epochs (best " + std::to_string(best_) +
                        " at epoch " + std::to_string(best_epoch_ + 1) + ")";
  }
}

void EarlyStopping::on_train_end(TrainingState& state) {
  if (!options_.restore_best_weights || best_weights_.empty()) return;
  std::vector<ParameterRef> params = state.model.parameters();
  for (std::size_t i = 0; i < params.size(); ++i) *params[i].value = best_weights_[i].tensor;
}

CallbackState EarlyStopping::state() const {
  return {{{"best", best_},
           {"best_epoch", static_cast<double>(best_epoch_)},
           {"wait", static_cast<double>(wait_)}},
          best_weights_};
}

void EarlyStopping::load_state(const CallbackState& state) {
  best_ = saved_number(state, name(), "best");
  best_epoch_ = static_cast<int64_t>(saved_number(state, name(), "best_epoch"));
  wait_ = static_cast<int64_t>(saved_number(state, name(), "wait"));
  best_weights_ = state.tensors;
}

// ---------------------------------------------------------------------------------------------
// ModelCheckpoint

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options) : options_(std::move(options)) {
  if (options_.path.empty()) throw Error("ModelCheckpoint: path must be given");
  minimize_ = minimizes(options_.mode, options_.monitor);
  best_ = minimize_ ? kInfinity : -kInfinity;
}

void ModelCheckpoint::on_train_begin(TrainingState& state) {
  if (options_.save_best_only) check_monitor("ModelCheckpoint", options_.monitor, state);
}

void ModelCheckpoint::record_epoch(TrainingState& state) {
  if (options_.save_best_only) {
    const double current = monitored(state, options_.monitor);
    if (!(minimize_ ? current < best_ : current > best_)) return;
    best_ = current;  // before saving, so that the checkpoint holds it
  }
  state.save_checkpoint(options_.path);
}

CallbackState ModelCheckpoint::state() const { return {{{"best", best_}}, {}}; }

void ModelCheckpoint::load_state(const CallbackState& state) {
  best_ = saved_number(state, name(), "best");
}

// ---------------------------------------------------------------------------------------------
// ReduceLROnPlateau and LRScheduler

ReduceLROnPlateau::ReduceLROnPlateau(ReduceLROnPlateauOptions options, std::string monitor)
    : schedule_(options), monitor_(std::move(monitor)) {}

void ReduceLROnPlateau::on_train_begin(TrainingState& state) {
  check_monitor("ReduceLROnPlateau", monitor_, state);
}

void ReduceLROnPlateau::on_epoch_end(TrainingState& state) {
  schedule_.step(state.optimizer, monitored(state, monitor_));
}

CallbackState ReduceLROnPlateau::state() const { return {schedule_.state(), {}}; }

void ReduceLROnPlateau::load_state(const CallbackState& state) { schedule_.load_state(state.numbers); }

void LRScheduler::on_epoch_end(TrainingState& state) { schedule_->step(state.optimizer); }

CallbackState LRScheduler::state() const { return {schedule_->state(), {}}; }

void LRScheduler::load_state(const CallbackState& state) { schedule_->load_state(state.numbers); }

// ---------------------------------------------------------------------------------------------
// EpochLogger

EpochLogger::EpochLogger(std::string path, LogFormat format) : path_(std::move(path)), format_(format) {
  if (path_.empty()) throw Error("EpochLogger: path must be given");
}

void EpochLogger::on_train_begin(TrainingState& state) {
  // A resumed run appends to the log of the epochs before; a new one starts it afresh.
  if (state.resumed && std::filesystem::exists(path_)) return;
  std::ofstream file(path_, std::ios::trunc);
  if (!file) throw Error(path_ + ": cannot create the epoch log");
  if (format_ == LogFormat::csv) {
    file << "epoch";
    for (const auto& name : state.logged_names) file << ',' << name;
    file << '\n';
  }
}

void EpochLogger::record_epoch(TrainingState& state) {
  std::ofstream file(path_, std::ios::app);
  if (!file) throw Error(path_ + ": cannot append to the epoch log");
  char number[32];
  const auto text = [&](double value) {
    std::snprintf(number, sizeof number, "%.9g", value);
    return std::string(number);
  };
  if (format_ == LogFormat::csv) {
    file << state.epoch + 1;
    for (const auto& name : state.logged_names) file << ',' << text(state.logs.at(name));
    file << '\n';
  } else {
    // JSON has no NaN or infinity: those are null.
    nlohmann::ordered_json row{{"epoch", state.epoch + 1}};
    for (const auto& name : state.logged_names) {
      const double value = state.logs.at(name);
      row[name] = std::isfinite(value) ? nlohmann::ordered_json(value) : nullptr;
    }
    file << row.dump() << '\n';
  }
  file.flush();
  if (!file) throw Error(path_ + ": cannot write to the epoch log");
}

}  // namespace lstm::callbacks
