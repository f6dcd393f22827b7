// Sequential: a stack of layers run one after the other, saved and loaded as one safetensors
// file (docs/format.md).
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "lstm/loss.h"
#include "lstm/nn.h"
#include "lstm/optim.h"
#include "lstm/train.h"

namespace lstm {

class Sequential {
 public:
  Sequential();
  ~Sequential();
  Sequential(Sequential&&) noexcept;
  Sequential& operator=(Sequential&&) noexcept;

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
  // An lstm.cpp checkpoint (include/lstm/train.h) loads as the model it holds.
  static Sequential load(const std::string& path);

  // Sets every parameter anew from a generator seeded with `seed`, layer after layer.
  void initialize(Initializer initializer, uint64_t seed);

  // Training (include/lstm/train.h). compile keeps a copy of the optimizer, state included.
  void compile(Loss loss, const Optimizer& optimizer, std::vector<Metric> metrics = {},
               const CompileOptions& options = {});
  bool compiled() const { return training_ != nullptr; }
  // The compiled optimizer (its learning rate, its state); throws unless compiled.
  Optimizer& optimizer();
  // Trains on samples x (N, ...) and targets y (N, ...), the model's output for x being shaped
  // like y; returns the logged numbers of every epoch.
  History fit(const Tensor& x, const Tensor& y, const FitOptions& options = {});
  // The compiled loss and metrics over (x, y) in batches, without training: {"loss": ...,
  // "rmse": ...}. The loss is the mean of the batches' losses weighted by their sizes.
  EpochLogs evaluate(const Tensor& x, const Tensor& y, int64_t batch_size = 32,
                     const std::vector<int64_t>& lengths = {});

  struct Training;  // what compile set up (src/train/fit.cpp)

 private:
  std::vector<std::unique_ptr<Layer>> layers_;
  std::unique_ptr<Training> training_;
};

}  // namespace lstm
