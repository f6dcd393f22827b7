// Initial weights (Sequential::initialize): PyTorch's, which each layer's reset_parameters draws,
// or Keras's defaults, written here in PyTorch's layout.
#include <cmath>
#include <vector>

#include "lstm/model.h"

namespace lstm {

namespace {

// Glorot (Xavier) uniform: U(−a, a) with a = √(6 / (fan_in + fan_out)); for a (rows, cols)
// weight in PyTorch's (out, in) layout, fan_in = cols and fan_out = rows.
void glorot_uniform(Tensor& weight, Rng& rng) {
  const double fan_out = static_cast<double>(weight.dim(0));
  const double fan_in = static_cast<double>(weight.dim(1));
  const auto limit = static_cast<float>(std::sqrt(6.0 / (fan_in + fan_out)));
  for (float& w : weight) w = rng.uniform(-limit, limit);
}

// A (rows, cols) matrix with orthonormal columns (rows ≥ cols), as Keras's Orthogonal: Q of the
// QR decomposition of a standard normal matrix A, with each column's sign made that of R's
// diagonal so that Q is uniformly distributed. QR by modified Gram–Schmidt in double precision:
// for each column j, q_j = a_j − Σ_{i<j} (q_i·a_j) q_i, then R_jj = ‖q_j‖ and q_j /= R_jj; the
// sign of R_jj is then +, so Q needs no sign fix.
void orthogonal(Tensor& weight, Rng& rng) {
  const int64_t rows = weight.dim(0), cols = weight.dim(1);
  if (rows < cols) {
    // Rows orthonormal instead: the transpose of a (cols, rows) matrix with orthonormal columns.
    Tensor transposed({cols, rows});
    orthogonal(transposed, rng);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) weight[r * cols + c] = transposed[c * rows + r];
    return;
  }
  std::vector<double> q(static_cast<std::size_t>(rows * cols));  // column-major: q[c·rows + r]
  for (double& v : q) v = rng.normal();
  for (int64_t j = 0; j < cols; ++j) {
    double* qj = &q[static_cast<std::size_t>(j * rows)];
    for (int64_t i = 0; i < j; ++i) {
      const double* qi = &q[static_cast<std::size_t>(i * rows)];
      double dot = 0.0;
      for (int64_t r = 0; r < rows; ++r) dot += qi[r] * qj[r];
      for (int64_t r = 0; r < rows; ++r) qj[r] -= dot * qi[r];
    }
    double norm = 0.0;
    for (int64_t r = 0; r < rows; ++r) norm += qj[r] * qj[r];
    norm = std::sqrt(norm);
    for (int64_t r = 0; r < rows; ++r) qj[r] /= norm;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      weight[r * cols + c] = static_cast<float>(q[static_cast<std::size_t>(c * rows + r)]);
}

// Keras's LSTM/GRU/SimpleRNN defaults in PyTorch's layout: kernel (in, G·H) Glorot-uniform is
// weight_ih (G·H, in); recurrent_kernel (H, G·H) orthogonal is weight_hh (G·H, H) with
// orthonormal columns; biases zero, with unit_forget_bias for the LSTM: the forget rows
// [H, 2H) of bias_ih are 1 (PyTorch's gate order is i, f, g, o). A projection weight_hr, which
// Keras lacks, is Glorot-uniform.
void keras_recurrent(Recurrent& layer, Rng& rng) {
  const RecurrentConfig& config = layer.config();
  for (const ParameterRef& p : layer.parameters()) {
    Tensor& w = *p.value;
    if (p.name.starts_with("weight_ih") || p.name.starts_with("weight_hr")) {
      glorot_uniform(w, rng);
    } else if (p.name.starts_with("weight_hh")) {
      orthogonal(w, rng);
    } else {
      w.fill(0.0f);
      if (config.cell == CellType::lstm && p.name.starts_with("bias_ih"))
        for (int64_t row = config.hidden_size; row < 2 * config.hidden_size; ++row) w[row] = 1.0f;
    }
  }
}

void keras_initialize(Layer& layer, Rng& rng) {
  if (auto* residual = dynamic_cast<Residual*>(&layer)) return keras_initialize(residual->inner(), rng);
  if (auto* recurrent = dynamic_cast<Recurrent*>(&layer)) return keras_recurrent(*recurrent, rng);
  if (auto* dense = dynamic_cast<Dense*>(&layer)) {
    glorot_uniform(dense->weight, rng);
    dense->bias.fill(0.0f);
    return;
  }
  if (auto* embedding = dynamic_cast<Embedding*>(&layer)) {
    // U(−0.05, 0.05); the padding row stays zero, as PyTorch leaves it.
    for (float& w : embedding->weight) w = rng.uniform(-0.05f, 0.05f);
    const EmbeddingOptions& options = embedding->options();
    if (options.padding_idx >= 0)
      for (int64_t j = 0; j < options.embedding_dim; ++j)
        embedding->weight[options.padding_idx * options.embedding_dim + j] = 0.0f;
    return;
  }
  layer.reset_parameters(rng);  // LayerNorm: γ = 1, β = 0 in both; the rest has no parameters
}

}  // namespace

void Sequential::initialize(Initializer initializer, uint64_t seed) {
  Rng rng(seed);
  for (auto& layer : layers_) {
    if (initializer == Initializer::keras)
      keras_initialize(*layer, rng);
    else
      layer->reset_parameters(rng);
  }
}

}  // namespace lstm
