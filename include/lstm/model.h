// Sequential: a stack of layers run one after the other, saved and loaded as one safetensors
// file (docs/format.md).
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "lstm/nn.h"

namespace lstm {

class Sequential {
 public:
  Sequential() = default;
  Sequential(Sequential&&) noexcept = default;
  Sequential& operator=(Sequential&&) noexcept = default;

  // model.add(lstm::LSTM({.input_size = 1, .hidden_size = 64}));
  template <class L>
    requires std::is_base_of_v<Layer, std::remove_cvref_t<L>>
  std::remove_cvref_t<L>& add(L&& layer) {
    auto owned = std::make_unique<std::remove_cvref_t<L>>(std::forward<L>(layer));
    auto& ref = *owned;
    add(std::move(owned));
    return ref;
  }
  void add(std::unique_ptr<Layer> layer);

  std::size_t size() const { return layers_.size(); }
  Layer& layer(std::size_t i) { return *layers_.at(i); }
  const Layer& layer(std::size_t i) const { return *layers_.at(i); }

  // Every layer's forward in turn. Recurrent layers use ctx.lengths.
  Tensor forward(const Tensor& x, const ForwardContext& ctx = {});
  // Every layer's backward in reverse; returns the gradient for the input (empty if the first
  // layer is an Embedding).
  Tensor backward(const Tensor& d_y);
  // forward without training.
  Tensor predict(const Tensor& x, const std::vector<int64_t>* lengths = nullptr);

  // "N.name" for the parameters of layer N, as PyTorch's nn.Sequential state_dict.
  std::vector<ParameterRef> parameters();
  int64_t parameter_count();
  void zero_grad();

  // Layers, shapes and parameter count, one layer a line.
  std::string summary();
  // The architecture as JSON (docs/format.md).
  std::string architecture_json() const;

  // Writes the weights and the architecture (atomic; docs/format.md).
  void save(const std::string& path,
            const std::vector<std::pair<std::string, std::string>>& extra_metadata = {});
  // Reads an lstm.cpp model file, or a plain PyTorch state_dict saved with safetensors whose
  // names are "N.weight_ih_l0", "N.weight", ... (the architecture is inferred from names and
  // shapes).
  static Sequential load(const std::string& path);

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
};

}  // namespace lstm
