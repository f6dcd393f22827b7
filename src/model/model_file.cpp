// The model file (docs/format.md): a safetensors file whose tensors are PyTorch state_dict names
// under a layer prefix ("0.weight_ih_l0", "1.weight") and whose __metadata__ carries the
// architecture as JSON. A plain PyTorch state_dict (no metadata) loads too: the architecture is
// inferred from the names and shapes.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "lstm/io.h"
#include "lstm/model.h"
#include "model/model_file.h"

namespace lstm {

namespace {

using json = nlohmann::json;

constexpr const char* kFormatName = "lstm.cpp";
constexpr int kFormatVersion = 1;

// A required field of a layer's JSON config, with an error that names the layer and the field.
template <class T>
T field(const json& config, const std::string& key, const std::string& where) {
  if (!config.contains(key))
    throw Error(where + ": the layer config has no \"" + key + "\"");
  try {
    return config.at(key).get<T>();
  } catch (const json::exception&) {
    throw Error(where + ": \"" + key + "\" has the wrong type: " + config.at(key).dump());
  }
}

template <class T>
T field_or(const json& config, const std::string& key, T fallback, const std::string& where) {
  return config.contains(key) ? field<T>(config, key, where) : fallback;
}

std::unique_ptr<Layer> layer_from_config(const json& config, const std::string& where) {
  if (!config.is_object()) throw Error(where + ": a layer config must be a JSON object");
  const auto type = field<std::string>(config, "type", where);
  if (type == "lstm" || type == "gru" || type == "rnn") {
    RecurrentConfig rc;
    if (type == "lstm") {
      rc.cell = CellType::lstm;
    } else if (type == "gru") {
      rc.cell = CellType::gru;
    } else {
      const auto nl = field_or<std::string>(config, "nonlinearity", "tanh", where);
      if (nl != "tanh" && nl != "relu")
        throw Error(where + ": nonlinearity must be \"tanh\" or \"relu\", got \"" + nl + "\"");
      rc.cell = nl == "relu" ? CellType::rnn_relu : CellType::rnn_tanh;
    }
    rc.input_size = field<int64_t>(config, "input_size", where);
    rc.hidden_size = field<int64_t>(config, "hidden_size", where);
    rc.num_layers = field_or<int64_t>(config, "num_layers", 1, where);
    rc.bias = field_or<bool>(config, "bias", true, where);
    rc.dropout = field_or<float>(config, "dropout", 0.0f, where);
    rc.bidirectional = field_or<bool>(config, "bidirectional", false, where);
    rc.proj_size = field_or<int64_t>(config, "proj_size", 0, where);
    rc.return_sequences = field_or<bool>(config, "return_sequences", true, where);
    return std::make_unique<Recurrent>(rc);
  }
  if (type == "dense")
    return std::make_unique<Dense>(
        DenseOptions{.in_features = field<int64_t>(config, "in_features", where),
                     .out_features = field<int64_t>(config, "out_features", where),
                     .bias = field_or<bool>(config, "bias", true, where)});
  if (type == "embedding")
    return std::make_unique<Embedding>(
        EmbeddingOptions{.num_embeddings = field<int64_t>(config, "num_embeddings", where),
                         .embedding_dim = field<int64_t>(config, "embedding_dim", where),
                         .padding_idx = field_or<int64_t>(config, "padding_idx", -1, where)});
  if (type == "dropout")
    return std::make_unique<Dropout>(DropoutOptions{.p = field<float>(config, "p", where)});
  if (type == "layer_norm")
    return std::make_unique<LayerNorm>(LayerNormOptions{
        .features = field<int64_t>(config, "features", where),
        .eps = field_or<float>(config, "eps", 1e-5f, where),
        .elementwise_affine = field_or<bool>(config, "elementwise_affine", true, where)});
  if (type == "residual") {
    if (!config.contains("layer")) throw Error(where + ": the residual config has no \"layer\"");
    return std::make_unique<Residual>(layer_from_config(config.at("layer"), where + " (inside residual)"));
  }
  throw Error(where + ": unknown layer type \"" + type +
              "\" (known: lstm, gru, rnn, dense, embedding, dropout, layer_norm, residual)");
}

// The tensors of one layer of a plain state_dict, by name within the layer.
using LayerTensors = std::map<std::string, const Tensor*>;

// Infers a recurrent layer from PyTorch's names and shapes: weight_hh_l0 is (G·H, H_out) with
// G = 4 (LSTM), 3 (GRU) or 1 (RNN); with a projection, weight_hr_l0 is (P, H).
std::unique_ptr<Layer> infer_recurrent(const LayerTensors& t, const std::string& where) {
  const auto get = [&](const std::string& name) -> const Tensor& {
    auto it = t.find(name);
    if (it == t.end()) throw Error(where + ": missing tensor '" + name + "'");
    return *it->second;
  };
  const Tensor& w_ih = get("weight_ih_l0");
  const Tensor& w_hh = get("weight_hh_l0");
  if (w_ih.rank() != 2 || w_hh.rank() != 2)
    throw Error(where + ": weight_ih_l0 and weight_hh_l0 must be matrices, got " +
                w_ih.shape_string() + " and " + w_hh.shape_string());
  RecurrentConfig rc;
  rc.input_size = w_ih.dim(1);
  int64_t hidden = w_hh.dim(1);
  if (t.count("weight_hr_l0")) {
    const Tensor& w_hr = get("weight_hr_l0");
    if (w_hr.rank() != 2)
      throw Error(where + ": weight_hr_l0 must be a matrix, got " + w_hr.shape_string());
    rc.proj_size = w_hr.dim(0);
    hidden = w_hr.dim(1);
  }
  if (hidden <= 0 || w_hh.dim(0) % hidden != 0)
    throw Error(where + ": weight_hh_l0 " + w_hh.shape_string() +
                " has a row count that is not 4, 3 or 1 times the hidden size " +
                std::to_string(hidden));
  switch (w_hh.dim(0) / hidden) {
    case 4: rc.cell = CellType::lstm; break;
    case 3: rc.cell = CellType::gru; break;
    case 1: rc.cell = CellType::rnn_tanh; break;
    default:
      throw Error(where + ": weight_hh_l0 " + w_hh.shape_string() +
                  " has 4·H (LSTM), 3·H (GRU) or H (RNN) rows for hidden size " +
                  std::to_string(hidden) + ", not " + std::to_string(w_hh.dim(0)));
  }
  if (rc.proj_size > 0 && rc.cell != CellType::lstm)
    throw Error(where + ": weight_hr_l0 (a projection) belongs only to an LSTM");
  rc.hidden_size = hidden;
  rc.num_layers = 0;
  while (t.count("weight_ih_l" + std::to_string(rc.num_layers))) ++rc.num_layers;
  rc.bidirectional = t.count("weight_ih_l0_reverse") > 0;
  rc.bias = t.count("bias_ih_l0") > 0;
  return std::make_unique<Recurrent>(rc);
}

std::unique_ptr<Layer> infer_layer(const LayerTensors& t, const std::string& where,
                                   bool is_first, const LayerTensors* next) {
  if (t.count("weight_ih_l0")) return infer_recurrent(t, where);
  auto weight = t.find("weight");
  if (weight == t.end()) {
    std::string names;
    for (const auto& [name, _] : t) names += (names.empty() ? "" : ", ") + name;
    throw Error(where + ": cannot tell the layer from its tensors (" + names +
                "); expected weight_ih_l0... (LSTM, GRU, RNN) or weight[, bias] (Linear, "
                "Embedding, LayerNorm)");
  }
  const Tensor& w = *weight->second;
  const bool has_bias = t.count("bias") > 0;
  if (w.rank() == 1) {
    if (!has_bias) throw Error(where + ": a 1-D weight without bias is not a known layer");
    return std::make_unique<LayerNorm>(LayerNormOptions{.features = w.dim(0)});
  }
  if (w.rank() != 2)
    throw Error(where + ": weight must be 1-D (LayerNorm) or 2-D (Linear, Embedding), got " +
                w.shape_string());
  // A 2-D weight without a bias at the front, whose second dimension is what the next layer
  // takes in, is an Embedding (num_embeddings, embedding_dim); otherwise a Linear (out, in).
  if (!has_bias && is_first && next && next->count("weight_ih_l0")) {
    const Tensor& next_w_ih = *next->at("weight_ih_l0");
    if (next_w_ih.rank() == 2 && next_w_ih.dim(1) == w.dim(1) && next_w_ih.dim(1) != w.dim(0))
      return std::make_unique<Embedding>(
          EmbeddingOptions{.num_embeddings = w.dim(0), .embedding_dim = w.dim(1)});
  }
  return std::make_unique<Dense>(
      DenseOptions{.in_features = w.dim(1), .out_features = w.dim(0), .bias = has_bias});
}

// Splits "N.name" into (N, name); a name without a numeric prefix belongs to layer 0 (the
// state_dict of a bare nn.LSTM).
std::pair<int64_t, std::string> split_layer_prefix(const std::string& name) {
  const auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0) return {0, name};
  const std::string prefix = name.substr(0, dot);
  if (!std::all_of(prefix.begin(), prefix.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
      prefix.size() > 9)
    return {-1, name};
  return {std::stoll(prefix), name.substr(dot + 1)};
}

}  // namespace

std::string Sequential::architecture_json() const {
  json layers = json::array();
  for (const auto& layer : layers_) layers.push_back(json::parse(layer->config_json()));
  return json{{"layers", layers}}.dump();
}

void write_model_file(Sequential& model, const std::string& path,
                      const std::vector<NamedTensor>& extra_tensors,
                      const std::map<std::string, std::string>& extra_metadata) {
  std::vector<NamedTensor> tensors;
  for (const ParameterRef& p : model.parameters()) tensors.push_back({p.name, *p.value});
  tensors.insert(tensors.end(), extra_tensors.begin(), extra_tensors.end());
  std::map<std::string, std::string> metadata{{"format", kFormatName},
                                              {"format_version", std::to_string(kFormatVersion)},
                                              {"architecture", model.architecture_json()}};
  for (const auto& [key, value] : extra_metadata) {
    if (metadata.count(key)) throw Error("Sequential::save: metadata key '" + key + "' is reserved");
    metadata[key] = value;
  }
  write_safetensors(path, tensors, metadata);
}

void assign_parameters(Sequential& model, const std::map<std::string, const Tensor*>& by_name,
                       const std::string& path) {
  // Every parameter the architecture needs, with its exact shape; nothing left over.
  std::set<std::string> used;
  for (const ParameterRef& p : model.parameters()) {
    const auto found = by_name.find(p.name);
    const Tensor* t = found == by_name.end() ? nullptr : found->second;
    if (!t)
      throw Error(path + ": missing tensor '" + p.name + "' " + p.value->shape_string() +
                  " that the architecture needs");
    if (t->shape() != p.value->shape())
      throw Error(path + ": tensor '" + p.name + "' has shape " + t->shape_string() +
                  ", the architecture needs " + p.value->shape_string());
    *p.value = *t;
    used.insert(p.name);
  }
  for (const auto& [name, tensor] : by_name)
    if (!used.count(name))
      throw Error(path + ": tensor '" + name + "' is not a parameter of the model (" +
                  model.layer(0).describe() + (model.size() > 1 ? ", ..." : "") + ")");
}

bool is_training_state_tensor(const std::string& name) {
  return name.starts_with(kOptimizerTensorPrefix) || name.starts_with(kCallbackTensorPrefix);
}

void Sequential::save(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& extra_metadata) {
  write_model_file(*this, path, {}, {extra_metadata.begin(), extra_metadata.end()});
}

Sequential Sequential::load(const std::string& path) {
  const SafetensorsFile file = read_safetensors(path);
  Sequential model;
  // The file's tensors under the names the model gives its parameters ("N.name").
  std::map<std::string, const Tensor*> by_name;
  const auto format = file.metadata.find("format");

  if (format != file.metadata.end()) {
    if (format->second != kFormatName)
      throw Error(path + ": metadata format is \"" + format->second + "\", expected \"" +
                  kFormatName + "\"");
    const auto version = file.metadata.find("format_version");
    if (version == file.metadata.end() || version->second != std::to_string(kFormatVersion))
      throw Error(path + ": format_version " +
                  (version == file.metadata.end() ? std::string("missing") : version->second) +
                  ", this build reads version " + std::to_string(kFormatVersion));
    const auto arch = file.metadata.find("architecture");
    if (arch == file.metadata.end()) throw Error(path + ": metadata has no \"architecture\"");
    json parsed;
    try {
      parsed = json::parse(arch->second);
    } catch (const json::exception& e) {
      throw Error(path + ": metadata \"architecture\" is not valid JSON: " + e.what());
    }
    if (!parsed.is_object() || !parsed.contains("layers") || !parsed["layers"].is_array())
      throw Error(path + ": metadata \"architecture\" must be an object with a \"layers\" array");
    for (std::size_t i = 0; i < parsed["layers"].size(); ++i)
      model.add(layer_from_config(parsed["layers"][i], path + ": layer " + std::to_string(i)));
    // A checkpoint's optimizer and callback tensors are not the model's.
    for (const NamedTensor& nt : file.tensors)
      if (!is_training_state_tensor(nt.name)) by_name[nt.name] = &nt.tensor;
  } else {
    std::map<int64_t, LayerTensors> groups;
    for (const NamedTensor& nt : file.tensors) {
      const auto [index, name] = split_layer_prefix(nt.name);
      if (index < 0)
        throw Error(path + ": tensor '" + nt.name +
                    "' has no layer prefix; expected names like '0.weight_ih_l0' or '1.weight'");
      const std::string canonical = std::to_string(index) + "." + name;
      if (by_name.count(canonical))
        throw Error(path + ": tensor '" + nt.name + "' and another both name '" + canonical + "'");
      groups[index][name] = &nt.tensor;
      by_name[canonical] = &nt.tensor;
    }
    if (groups.empty()) throw Error(path + ": the file holds no tensors");
    int64_t expected = 0;
    for (auto it = groups.begin(); it != groups.end(); ++it, ++expected) {
      if (it->first != expected)
        throw Error(path + ": layer " + std::to_string(expected) +
                    " has no tensors; a layer without parameters (Dropout, an activation) cannot "
                    "be identified in a plain state_dict: renumber the layers or save the model "
                    "with lstm.cpp metadata");
      const auto next = std::next(it);
      model.add(infer_layer(it->second, path + ": layer " + std::to_string(it->first),
                            it == groups.begin(), next == groups.end() ? nullptr : &next->second));
    }
  }

  assign_parameters(model, by_name, path);
  return model;
}

}  // namespace lstm
