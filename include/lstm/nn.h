// Layers. Each owns its parameters (PyTorch's names and shapes) and their gradients, and
// implements forward (remembering what backward needs when training) and backward (which
// accumulates parameter gradients and returns the gradient of the input).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "lstm/tensor.h"

namespace lstm {

// A named parameter and its gradient, as PyTorch's state_dict names it within the layer
// ("weight_ih_l0", "bias", ...).
struct ParameterRef {
  std::string name;
  Tensor* value;
  Tensor* grad;
};

// Per-call settings of a forward pass.
struct ForwardContext {
  bool training = false;
  // Valid length of each sample of the batch (batch,); null means every sample is full length.
  const std::vector<int64_t>* lengths = nullptr;
  // Random generator for dropout; needed only when training with dropout > 0.
  Rng* rng = nullptr;
  // Recurrent layers, inference only, on CPUs with AVX-512 BF16 (ignored elsewhere and when
  // training): h_{t−1} W_hhᵀ with W_hh and h rounded to bfloat16, sums in float32. Faster at
  // small batches; the error against float32 is in docs/performance.md.
  bool bf16_weights = false;
};

class Layer {
 public:
  virtual ~Layer() = default;
  // "lstm", "gru", "rnn", "dense", "embedding", "dropout", "layer_norm".
  virtual std::string kind() const = 0;
  // The layer's options as a JSON object (text); the model file stores it.
  virtual std::string config_json() const = 0;
  // One line for `lstm info`: "LSTM(input_size=8, hidden_size=64, num_layers=2)".
  virtual std::string describe() const = 0;
  // Features out for `features_in` features in (the last dimension).
  virtual int64_t output_features(int64_t features_in) const = 0;

  virtual Tensor forward(const Tensor& x, const ForwardContext& ctx) = 0;
  // Gradient of the loss with respect to the last forward's input, given that with respect to
  // its output; adds the parameter gradients into the grad tensors.
  virtual Tensor backward(const Tensor& d_y) = 0;

  virtual std::vector<ParameterRef> parameters() { return {}; }
  // Sets the parameters to PyTorch's initial values, drawn from `rng`.
  virtual void reset_parameters(Rng& rng) { (void)rng; }
  void zero_grad();
  int64_t parameter_count();
};

// ---------------------------------------------------------------------------------------------
// Recurrent layers (LSTM, GRU, RNN), as PyTorch's nn.LSTM / nn.GRU / nn.RNN with batch_first.

enum class CellType { lstm, gru, rnn_tanh, rnn_relu };

struct LSTMOptions {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  bool bias = true;
  float dropout = 0.0f;  // on the outputs of each layer but the last, when training
  bool bidirectional = false;
  int64_t proj_size = 0;  // > 0: h_t = W_hr (o_t ⊙ tanh(c_t)), of size proj_size
  // false: the layer outputs only the last step, (batch, directions · out): the forward
  // direction's state at each sample's last valid step, beside the reverse direction's at step 0.
  bool return_sequences = true;
};

struct GRUOptions {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  bool bias = true;
  float dropout = 0.0f;
  bool bidirectional = false;
  bool return_sequences = true;
};

enum class Nonlinearity { tanh, relu };

struct RNNOptions {
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  Nonlinearity nonlinearity = Nonlinearity::tanh;
  bool bias = true;
  float dropout = 0.0f;
  bool bidirectional = false;
  bool return_sequences = true;
};

// Everything that defines a recurrent layer, whatever its cell.
struct RecurrentConfig {
  CellType cell = CellType::lstm;
  int64_t input_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 1;
  bool bias = true;
  float dropout = 0.0f;
  bool bidirectional = false;
  int64_t proj_size = 0;
  bool return_sequences = true;

  int64_t directions() const { return bidirectional ? 2 : 1; }
  // Size of h: proj_size if set, else hidden_size.
  int64_t output_size() const { return proj_size > 0 ? proj_size : hidden_size; }
  // 4 for LSTM, 3 for GRU, 1 for RNN.
  int64_t gate_count() const;
};

// Final states, PyTorch's layout: h_n is (num_layers · directions, batch, output_size),
// c_n (LSTM only) is (num_layers · directions, batch, hidden_size).
struct RecurrentResult {
  Tensor output;  // (batch, time, directions · output_size), or (batch, directions · output_size)
  Tensor h_n;
  Tensor c_n;
};

struct RecurrentGradients {
  Tensor d_input;  // (batch, time, input_size)
  Tensor d_h0;     // like h_n
  Tensor d_c0;     // like c_n (LSTM only)
};

class Recurrent : public Layer {
 public:
  explicit Recurrent(const RecurrentConfig& config);
  ~Recurrent() override;
  Recurrent(Recurrent&&) noexcept;
  Recurrent& operator=(Recurrent&&) noexcept;

  const RecurrentConfig& config() const { return config_; }

  // x: (batch, time, input_size); h0, c0: optional initial states shaped like h_n, c_n (zeros
  // if null). With lengths, outputs past a sample's length are zero, its final state is the one
  // at its last valid step, and the reverse direction starts at that step.
  RecurrentResult forward_sequence(const Tensor& x, const Tensor* h0 = nullptr,
                                   const Tensor* c0 = nullptr, const ForwardContext& ctx = {});
  // Gradients for the last forward_sequence call made with ctx.training = true. d_output is
  // shaped like its output; d_h_n and d_c_n may be null (zero).
  RecurrentGradients backward_sequence(const Tensor& d_output, const Tensor* d_h_n = nullptr,
                                       const Tensor* d_c_n = nullptr);

  std::string kind() const override;
  std::string config_json() const override;
  std::string describe() const override;
  int64_t output_features(int64_t features_in) const override;
  Tensor forward(const Tensor& x, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& d_y) override;
  std::vector<ParameterRef> parameters() override;

  // Parameter by PyTorch name ("weight_ih_l0", "bias_hh_l1_reverse", "weight_hr_l0", ...).
  Tensor& parameter(const std::string& name);

  // Inference with the weights packed once. freeze_weights() copies every parameter and packs
  // W_hh and W_ih into the layout of the GEMM's micro-kernel (as oneDNN's primitives take their
  // weights reordered beforehand); until unfreeze_weights(), inference computes with that copy
  // and skips the packing that every call otherwise does, which at small batches costs as much
  // as several time steps. The results are bit for bit those of unfrozen inference with the
  // weights as they were at freeze_weights(): later changes to the parameters are not seen
  // until the next freeze_weights(). Memory: about one more copy of the parameters, packed
  // (and W_ih a second time, packed per chunk of units, where its weights and W_hh's together
  // take at most 16 MiB and W_hh more than 1 MiB or there is a projection: large batches then
  // compute the input projection step by step). With bf16_weights, the first such call while
  // frozen packs W_hh in bfloat16 too (half a copy of W_hh more), and later ones reuse it. A
  // training pass (ctx.training) throws while frozen.
  void freeze_weights();
  void unfreeze_weights();
  bool weights_frozen() const;

  // The threads a forward or backward pass of this layer with `batch` samples runs on: at most
  // lstm::num_threads(); where W_hh fits in a core's L2 (1 MiB) and the batch has 16 samples or
  // more, no more than its row blocks of 8 or more samples (a batch of 8–15: two blocks where
  // W_hh is at most 512 KiB and a block's step at least 256 kFLOP); otherwise no more than the
  // chunks its hidden units are cut into, and one where a time step is too small to share
  // (docs/performance.md, Threads). Results never depend on it.
  int threads_used(int64_t batch) const;

  // Resets every parameter to PyTorch's default: U(−1/√H, 1/√H).
  void reset_parameters(Rng& rng) override;

  struct Impl;

 private:
  RecurrentConfig config_;
  std::unique_ptr<Impl> impl_;
};

class LSTM : public Recurrent {
 public:
  explicit LSTM(const LSTMOptions& options);
};

class GRU : public Recurrent {
 public:
  explicit GRU(const GRUOptions& options);
};

class RNN : public Recurrent {
 public:
  explicit RNN(const RNNOptions& options);
};

// ---------------------------------------------------------------------------------------------
// Dense: y = x Wᵀ + b over the last dimension (nn.Linear), so at every step of a sequence.
struct DenseOptions {
  int64_t in_features = 0;
  int64_t out_features = 0;
  bool bias = true;
};

class Dense : public Layer {
 public:
  explicit Dense(const DenseOptions& options);
  const DenseOptions& options() const { return options_; }
  Tensor weight;  // (out_features, in_features)
  Tensor bias;    // (out_features,), empty without bias
  Tensor weight_grad, bias_grad;

  std::string kind() const override { return "dense"; }
  std::string config_json() const override;
  std::string describe() const override;
  int64_t output_features(int64_t features_in) const override;
  Tensor forward(const Tensor& x, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& d_y) override;
  std::vector<ParameterRef> parameters() override;
  void reset_parameters(Rng& rng) override;  // U(−1/√in, 1/√in), as PyTorch

 private:
  DenseOptions options_;
  Tensor input_;  // the last training forward's input
};

// Embedding: integer ids (stored as floats holding whole numbers) to vectors (nn.Embedding).
// Input (batch, time) → output (batch, time, embedding_dim).
struct EmbeddingOptions {
  int64_t num_embeddings = 0;
  int64_t embedding_dim = 0;
  int64_t padding_idx = -1;  // ≥ 0: that row gets no gradient (as PyTorch)
};

class Embedding : public Layer {
 public:
  explicit Embedding(const EmbeddingOptions& options);
  const EmbeddingOptions& options() const { return options_; }
  Tensor weight;  // (num_embeddings, embedding_dim)
  Tensor weight_grad;

  std::string kind() const override { return "embedding"; }
  std::string config_json() const override;
  std::string describe() const override;
  int64_t output_features(int64_t features_in) const override;
  Tensor forward(const Tensor& x, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& d_y) override;  // returns an empty tensor: ids have no gradient
  std::vector<ParameterRef> parameters() override;
  void reset_parameters(Rng& rng) override;  // N(0, 1), as PyTorch

 private:
  EmbeddingOptions options_;
  std::vector<int64_t> ids_;  // the last training forward's ids
  Shape input_shape_;
};

// Dropout: when training, zeroes each element with probability p and scales the rest by 1/(1−p).
struct DropoutOptions {
  float p = 0.5f;
};

class Dropout : public Layer {
 public:
  explicit Dropout(const DropoutOptions& options);
  const DropoutOptions& options() const { return options_; }
  std::string kind() const override { return "dropout"; }
  std::string config_json() const override;
  std::string describe() const override;
  int64_t output_features(int64_t features_in) const override { return features_in; }
  Tensor forward(const Tensor& x, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& d_y) override;

 private:
  DropoutOptions options_;
  Tensor mask_;  // 0 or 1/(1−p) per element, from the last training forward
};

// LayerNorm over the last dimension (nn.LayerNorm(normalized_shape = features)).
struct LayerNormOptions {
  int64_t features = 0;
  float eps = 1e-5f;
  bool elementwise_affine = true;
};

class LayerNorm : public Layer {
 public:
  explicit LayerNorm(const LayerNormOptions& options);
  const LayerNormOptions& options() const { return options_; }
  Tensor weight;  // (features,) γ, ones
  Tensor bias;    // (features,) β, zeros
  Tensor weight_grad, bias_grad;

  std::string kind() const override { return "layer_norm"; }
  std::string config_json() const override;
  std::string describe() const override;
  int64_t output_features(int64_t features_in) const override { return features_in; }
  Tensor forward(const Tensor& x, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& d_y) override;
  std::vector<ParameterRef> parameters() override;
  void reset_parameters(Rng& rng) override;  // γ = 1, β = 0, as PyTorch

 private:
  LayerNormOptions options_;
  Tensor normalized_;  // x̂ of the last training forward, shaped like x
  Tensor inv_std_;     // 1/√(var + eps) per row
};

// ---------------------------------------------------------------------------------------------
// Residual: y = x + f(x) around a layer f whose output has as many features as its input and the
// same shape (a recurrent layer with return_sequences, a Dense of equal sizes). Stacked recurrent
// layers with residual connections are each wrapped in one:
//
//     model.add(lstm::LSTM({.input_size = 8, .hidden_size = 64}));
//     model.add(lstm::Residual(lstm::LSTM({.input_size = 64, .hidden_size = 64})));
//
// Its parameters are the wrapped layer's, under the same names.
class Residual : public Layer {
 public:
  explicit Residual(std::unique_ptr<Layer> inner);
  template <class L>
    requires std::is_base_of_v<Layer, std::remove_cvref_t<L>>
  explicit Residual(L&& inner)
      : Residual(std::make_unique<std::remove_cvref_t<L>>(std::forward<L>(inner))) {}

  Layer& inner() { return *inner_; }
  const Layer& inner() const { return *inner_; }

  std::string kind() const override { return "residual"; }
  std::string config_json() const override;
  std::string describe() const override;
  int64_t output_features(int64_t features_in) const override;
  Tensor forward(const Tensor& x, const ForwardContext& ctx) override;
  Tensor backward(const Tensor& d_y) override;
  std::vector<ParameterRef> parameters() override { return inner_->parameters(); }
  void reset_parameters(Rng& rng) override { inner_->reset_parameters(rng); }

 private:
  std::unique_ptr<Layer> inner_;
};

}  // namespace lstm
