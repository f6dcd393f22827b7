#include "train/checkpoint.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "model/model_file.h"

namespace lstm {

namespace {

using json = nlohmann::json;

// JSON has no infinities or NaN; they are written as the strings "inf", "-inf" and "nan" (a
// plateau's "best" is ±inf before its first epoch).
json number_json(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

double number_from_json(const json& value, const std::string& where) {
  if (value.is_number()) return value.get<double>();
  if (value == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (value == "inf") return std::numeric_limits<double>::infinity();
  if (value == "-inf") return -std::numeric_limits<double>::infinity();
  throw Error(where + ": expected a number, \"inf\", \"-inf\" or \"nan\", got " + value.dump());
}

json numbers_json(const std::map<std::string, double>& numbers) {
  json out = json::object();
  for (const auto& [name, value] : numbers) out[name] = number_json(value);
  return out;
}

std::map<std::string, double> numbers_from_json(const json& object, const std::string& where) {
  std::map<std::string, double> numbers;
  for (const auto& [name, value] : object.items())
    numbers[name] = number_from_json(value, where + " \"" + name + "\"");
  return numbers;
}

std::string callback_prefix(std::size_t index) {
  return kCallbackTensorPrefix + std::to_string(index) + ".";
}

}  // namespace

void write_checkpoint(Sequential& model, const std::string& path, const CheckpointState& state) {
  std::vector<NamedTensor> tensors;
  for (const NamedTensor& t : state.optimizer.tensors)
    tensors.push_back({kOptimizerTensorPrefix + t.name, t.tensor});

  json callbacks = json::array();
  for (std::size_t i = 0; i < state.callbacks.size(); ++i) {
    const auto& [name, callback] = state.callbacks[i];
    callbacks.push_back({{"name", name}, {"numbers", numbers_json(callback.numbers)}});
    for (const NamedTensor& t : callback.tensors)
      tensors.push_back({callback_prefix(i) + t.name, t.tensor});
  }
  json history_values = json::object();
  for (const auto& [name, values] : state.history.values) {
    json list = json::array();
    for (const double v : values) list.push_back(number_json(v));
    history_values[name] = list;
  }
  json rng = json::array();
  for (const uint64_t word : state.rng) rng.push_back(std::to_string(word));

  const json training = {
      {"epochs_done", state.epochs_done},
      {"optimizer", {{"name", state.optimizer_name},
                     {"step", state.optimizer.step},
                     {"lr", number_json(state.optimizer.lr)}}},
      {"rng", rng},
      {"history", {{"epochs", state.history.epochs}, {"values", history_values}}},
      {"callbacks", callbacks},
      {"fit", {{"train_samples", state.train_samples},
               {"batch_size", state.batch_size},
               {"shuffle", state.shuffle}}}};
  write_model_file(model, path, tensors, {{"training", training.dump()}});
}

CheckpointState read_checkpoint(Sequential& model, const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  const auto training_text = file.metadata.find("training");
  if (training_text == file.metadata.end())
    throw Error(path + ": not a training checkpoint (its metadata has no \"training\"); "
                       "a checkpoint is written by fit's ModelCheckpoint or `lstm fit --checkpoint`");
  CheckpointState state;
  try {
    const json training = json::parse(training_text->second);
    state.epochs_done = training.at("epochs_done").get<int64_t>();
    const json& optimizer = training.at("optimizer");
    state.optimizer_name = optimizer.at("name").get<std::string>();
    state.optimizer.step = optimizer.at("step").get<int64_t>();
    state.optimizer.lr = number_from_json(optimizer.at("lr"), path + ": optimizer lr");
    for (const json& word : training.at("rng")) state.rng.push_back(std::stoull(word.get<std::string>()));
    const json& history = training.at("history");
    state.history.epochs = history.at("epochs").get<std::vector<int64_t>>();
    for (const auto& [name, values] : history.at("values").items())
      for (const json& v : values)
        state.history.values[name].push_back(number_from_json(v, path + ": history " + name));
    for (const json& callback : training.at("callbacks"))
      state.callbacks.push_back(
          {callback.at("name").get<std::string>(),
           CallbackState{numbers_from_json(callback.at("numbers"), path + ": callback"), {}}});
    const json& fit = training.at("fit");
    state.train_samples = fit.at("train_samples").get<int64_t>();
    state.batch_size = fit.at("batch_size").get<int64_t>();
    state.shuffle = fit.at("shuffle").get<bool>();
  } catch (const json::exception& e) {
    throw Error(path + ": the checkpoint's \"training\" metadata is malformed: " + e.what());
  } catch (const std::logic_error& e) {  // std::stoull
    throw Error(path + ": the checkpoint's random state is malformed: " + e.what());
  }

  std::map<std::string, const Tensor*> weights;
  for (const NamedTensor& t : file.tensors) {
    if (t.name.starts_with(kOptimizerTensorPrefix)) {
      state.optimizer.tensors.push_back(
          {t.name.substr(std::string(kOptimizerTensorPrefix).size()), t.tensor});
      continue;
    }
    bool is_callback_tensor = false;
    for (std::size_t i = 0; i < state.callbacks.size() && !is_callback_tensor; ++i)
      if (t.name.starts_with(callback_prefix(i))) {
        state.callbacks[i].second.tensors.push_back(
            {t.name.substr(callback_prefix(i).size()), t.tensor});
        is_callback_tensor = true;
      }
    if (is_callback_tensor) continue;
    if (is_training_state_tensor(t.name))
      throw Error(path + ": tensor '" + t.name + "' belongs to no callback of the checkpoint");
    weights[t.name] = &t.tensor;
  }
  assign_parameters(model, weights, path);
  return state;
}

}  // namespace lstm
