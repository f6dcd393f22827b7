// The simple layers: Dense, Embedding, Dropout and LayerNorm, and what every Layer shares.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "kernels/kernels.h"
#include "lstm/nn.h"

namespace lstm {

namespace {

// The shortest decimal text that reads back as the same float: "0.1", "1e-05".
std::string float_text(float value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

// The float as the double with that shortest text, so that JSON shows 0.1 and not
// 0.10000000149011612; reading it back as a float gives the same float.
double json_number(float value) {
  const std::string text = float_text(value);
  double number = 0.0;
  std::from_chars(text.data(), text.data() + text.size(), number);
  return number;
}

const char* bool_text(bool value) { return value ? "true" : "false"; }

// "(*, 64)": any leading dimensions, then `last`.
std::string any_rank_ending_in(int64_t last) { return "(*, " + std::to_string(last) + ")"; }

// Throws unless `x` has rank ≥ 1 and its last dimension is `last`.
void check_last_dim(const Tensor& x, int64_t last, const std::string& what) {
  if (x.rank() < 1 || x.dim(-1) != last)
    throw Error(what + ": expected shape " + any_rank_ending_in(last) + ", got " +
                x.shape_string());
}

// Throws unless `d_y` has the shape of the output the last training forward produced.
void check_output_gradient(const Tensor& d_y, const Shape& output_shape, const std::string& layer) {
  if (d_y.shape() != output_shape)
    throw Error(layer + "::backward: expected d_y of the output's shape " +
                shape_string(output_shape) + ", got " + d_y.shape_string());
}

[[noreturn]] void throw_no_training_forward(const std::string& layer) {
  throw Error(layer +
              "::backward: no training forward to differentiate; call forward with "
              "ctx.training = true first");
}

// The multi-index of the element at row-major position `flat` of `shape`: "(1, 3)".
std::string index_text(const Shape& shape, int64_t flat) {
  Shape index(shape.size());
  for (std::size_t axis = shape.size(); axis-- > 0;) {
    index[axis] = flat % shape[axis];
    flat /= shape[axis];
  }
  return shape_string(index);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Layer

void Layer::zero_grad() {
  for (const ParameterRef& p : parameters()) p.grad->fill(0.0f);
}

int64_t Layer::parameter_count() {
  int64_t count = 0;
  for (const ParameterRef& p : parameters()) count += p.value->numel();
  return count;
}

// ---------------------------------------------------------------------------------------------
// Dense

Dense::Dense(const DenseOptions& options) : options_(options) {
  if (options.in_features < 1)
    throw Error("Dense: in_features must be ≥ 1, got " + std::to_string(options.in_features));
  if (options.out_features < 1)
    throw Error("Dense: out_features must be ≥ 1, got " + std::to_string(options.out_features));
  weight = Tensor({options.out_features, options.in_features});
  weight_grad = Tensor(weight.shape());
  if (options.bias) {
    bias = Tensor({options.out_features});
    bias_grad = Tensor(bias.shape());
  }
  Rng rng;  // a fixed draw; reset_parameters with the model's generator gives another
  reset_parameters(rng);
}

void Dense::reset_parameters(Rng& rng) {
  // W, b ~ U(−1/√in, 1/√in)
  const float bound = 1.0f / std::sqrt(static_cast<float>(options_.in_features));
  for (float& w : weight) w = rng.uniform(-bound, bound);
  for (float& b : bias) b = rng.uniform(-bound, bound);
}

std::string Dense::config_json() const {
  return nlohmann::ordered_json{{"type", kind()},
                                {"in_features", options_.in_features},
                                {"out_features", options_.out_features},
                                {"bias", options_.bias}}
      .dump();
}

std::string Dense::describe() const {
  return "Dense(in_features=" + std::to_string(options_.in_features) +
         ", out_features=" + std::to_string(options_.out_features) +
         ", bias=" + bool_text(options_.bias) + ")";
}

int64_t Dense::output_features(int64_t features_in) const {
  if (features_in != options_.in_features)
    throw Error("Dense: expected " + std::to_string(options_.in_features) +
                " input features, got " + std::to_string(features_in));
  return options_.out_features;
}

Tensor Dense::forward(const Tensor& x, const ForwardContext& ctx) {
  const kernels::DenormalsFlushed flushed;
  const int64_t in = options_.in_features, out = options_.out_features;
  check_last_dim(x, in, "Dense input");
  const int64_t rows = x.numel() / in;  // every leading index together
  Shape y_shape = x.shape();
  y_shape.back() = out;

  // y = x Wᵀ + b, for all rows in one GEMM: y starts as b in every row, then gains X Wᵀ.
  Tensor y(y_shape);  // (rows, out)
  if (options_.bias)
    for (int64_t r = 0; r < rows; ++r) std::copy(bias.begin(), bias.end(), y.data() + r * out);
  kernels::sgemm(kernels::Trans::no, kernels::Trans::yes, rows, out, in, x.data(), in,
                 weight.data(), in, options_.bias ? 1.0f : 0.0f, y.data(), out);

  input_ = ctx.training ? x : Tensor();
  return y;
}

Tensor Dense::backward(const Tensor& d_y) {
  const kernels::DenormalsFlushed flushed;
  if (input_.rank() == 0) throw_no_training_forward("Dense");
  const int64_t in = options_.in_features, out = options_.out_features;
  Shape y_shape = input_.shape();
  y_shape.back() = out;
  check_output_gradient(d_y, y_shape, "Dense");
  const int64_t rows = input_.numel() / in;

  // dW += dYᵀ X      dY: (rows, out), X: (rows, in), dW: (out, in)
  kernels::sgemm(kernels::Trans::yes, kernels::Trans::no, out, in, rows, d_y.data(), out,
                 input_.data(), in, 1.0f, weight_grad.data(), in);
  // db += Σ_rows dY, summed in double: the sum of many small terms that may cancel exactly (an
  // L1 loss's ±1/N) then is exact, or nearly, whatever the order, as the true gradient is, and
  // an optimizer that normalises the gradient (Adam) does not blow up its rounding error.
  if (options_.bias) {
    std::vector<double> sum(static_cast<std::size_t>(out), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < out; ++j) sum[static_cast<std::size_t>(j)] += d_y[r * out + j];
    for (int64_t j = 0; j < out; ++j)
      bias_grad[j] += static_cast<float>(sum[static_cast<std::size_t>(j)]);
  }
  // dX = dY W        W: (out, in), dX: (rows, in)
  Tensor d_x(input_.shape());
  kernels::sgemm(kernels::Trans::no, kernels::Trans::no, rows, in, out, d_y.data(), out,
                 weight.data(), in, 0.0f, d_x.data(), in);
  return d_x;
}

std::vector<ParameterRef> Dense::parameters() {
  std::vector<ParameterRef> refs{{"weight", &weight, &weight_grad}};
  if (options_.bias) refs.push_back({"bias", &bias, &bias_grad});
  return refs;
}

// ---------------------------------------------------------------------------------------------
// Embedding

Embedding::Embedding(const EmbeddingOptions& options) : options_(options) {
  if (options.num_embeddings < 1)
    throw Error("Embedding: num_embeddings must be ≥ 1, got " +
                std::to_string(options.num_embeddings));
  if (options.embedding_dim < 1)
    throw Error("Embedding: embedding_dim must be ≥ 1, got " +
                std::to_string(options.embedding_dim));
  if (options.padding_idx < -1 || options.padding_idx >= options.num_embeddings)
    throw Error("Embedding: padding_idx must be -1 (none) or in [0, " +
                std::to_string(options.num_embeddings) + "), got " +
                std::to_string(options.padding_idx));
  weight = Tensor({options.num_embeddings, options.embedding_dim});
  weight_grad = Tensor(weight.shape());
  Rng rng;  // a fixed draw; reset_parameters with the model's generator gives another
  reset_parameters(rng);
}

void Embedding::reset_parameters(Rng& rng) {
  // W ~ N(0, 1), the padding row zero
  for (float& w : weight) w = rng.normal();
  if (options_.padding_idx >= 0) {
    float* row = weight.data() + options_.padding_idx * options_.embedding_dim;
    std::fill(row, row + options_.embedding_dim, 0.0f);
  }
}

std::string Embedding::config_json() const {
  return nlohmann::ordered_json{{"type", kind()},
                                {"num_embeddings", options_.num_embeddings},
                                {"embedding_dim", options_.embedding_dim},
                                {"padding_idx", options_.padding_idx}}
      .dump();
}

std::string Embedding::describe() const {
  return "Embedding(num_embeddings=" + std::to_string(options_.num_embeddings) +
         ", embedding_dim=" + std::to_string(options_.embedding_dim) +
         ", padding_idx=" + std::to_string(options_.padding_idx) + ")";
}

int64_t Embedding::output_features(int64_t /*features_in*/) const { return options_.embedding_dim; }

Tensor Embedding::forward(const Tensor& x, const ForwardContext& ctx) {
  if (x.rank() < 1)
    throw Error("Embedding input: expected ids of shape (batch, time), got " + x.shape_string());
  const int64_t dim = options_.embedding_dim;

  // ids: (n) = x as whole numbers in [0, num_embeddings)
  std::vector<int64_t> ids(static_cast<std::size_t>(x.numel()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float value = x[i];
    if (value != std::floor(value))
      throw Error("Embedding input: id " + float_text(value) + " at position " +
                  index_text(x.shape(), i) + " is not a whole number");
    if (value < 0.0f || value >= static_cast<float>(options_.num_embeddings))
      throw Error("Embedding input: id " + float_text(value) + " at position " +
                  index_text(x.shape(), i) + " is outside [0, " +
                  std::to_string(options_.num_embeddings) + ")");
    ids[static_cast<std::size_t>(i)] = static_cast<int64_t>(value);
  }

  // y[i, :] = W[ids[i], :]      y: (*x.shape, dim)
  Shape y_shape = x.shape();
  y_shape.push_back(dim);
  Tensor y(y_shape);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const float* row = weight.data() + ids[i] * dim;
    std::copy(row, row + dim, y.data() + static_cast<int64_t>(i) * dim);
  }

  if (ctx.training) {
    ids_ = std::move(ids);
    input_shape_ = x.shape();
  } else {
    ids_.clear();
    input_shape_.clear();
  }
  return y;
}

Tensor Embedding::backward(const Tensor& d_y) {
  if (input_shape_.empty()) throw_no_training_forward("Embedding");
  const int64_t dim = options_.embedding_dim;
  Shape y_shape = input_shape_;
  y_shape.push_back(dim);
  check_output_gradient(d_y, y_shape, "Embedding");

  // dW[ids[i], :] += dY[i, :], except for the padding row
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    if (ids_[i] == options_.padding_idx) continue;
    const float* d_row = d_y.data() + static_cast<int64_t>(i) * dim;
    float* grad_row = weight_grad.data() + ids_[i] * dim;
    for (int64_t j = 0; j < dim; ++j) grad_row[j] += d_row[j];
  }
  return Tensor();
}

std::vector<ParameterRef> Embedding::parameters() { return {{"weight", &weight, &weight_grad}}; }

// ---------------------------------------------------------------------------------------------
// Dropout

Dropout::Dropout(const DropoutOptions& options) : options_(options) {
  if (!(options.p >= 0.0f && options.p < 1.0f))
    throw Error("Dropout: p must be in [0, 1), got " + float_text(options.p));
}

std::string Dropout::config_json() const {
  return nlohmann::ordered_json{{"type", kind()}, {"p", json_number(options_.p)}}.dump();
}

std::string Dropout::describe() const { return "Dropout(p=" + float_text(options_.p) + ")"; }

Tensor Dropout::forward(const Tensor& x, const ForwardContext& ctx) {
  if (x.rank() < 1)
    throw Error("Dropout input: expected a tensor of rank ≥ 1, got " + x.shape_string());
  if (!ctx.training) {
    mask_ = Tensor();
    return x;
  }
  const float p = options_.p;
  if (p > 0.0f && ctx.rng == nullptr)
    throw Error("Dropout: training with p = " + float_text(p) +
                " needs a random generator in ForwardContext::rng, got none");

  // mask_i = 1/(1−p) if u_i ≥ p else 0, with u_i = rng.uniform() drawn for every element in
  // row-major order (none drawn when p = 0)
  // y = x ⊙ mask
  const float scale = 1.0f / (1.0f - p);
  mask_ = Tensor(x.shape());
  Tensor y(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const bool keep = p == 0.0f || ctx.rng->uniform() >= p;
    mask_[i] = keep ? scale : 0.0f;
    y[i] = x[i] * mask_[i];
  }
  return y;
}

Tensor Dropout::backward(const Tensor& d_y) {
  if (mask_.rank() == 0) throw_no_training_forward("Dropout");
  check_output_gradient(d_y, mask_.shape(), "Dropout");
  // dx = dy ⊙ mask
  Tensor d_x(d_y.shape());
  for (int64_t i = 0; i < d_y.numel(); ++i) d_x[i] = d_y[i] * mask_[i];
  return d_x;
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

LayerNorm::LayerNorm(const LayerNormOptions& options) : options_(options) {
  if (options.features < 1)
    throw Error("LayerNorm: features must be ≥ 1, got " + std::to_string(options.features));
  if (!(options.eps > 0.0f && std::isfinite(options.eps)))
    throw Error("LayerNorm: eps must be a finite number > 0, got " + float_text(options.eps));
  if (options.elementwise_affine) {
    weight = Tensor({options.features}, 1.0f);
    bias = Tensor({options.features}, 0.0f);
    weight_grad = Tensor(weight.shape());
    bias_grad = Tensor(bias.shape());
  }
}

std::string LayerNorm::config_json() const {
  return nlohmann::ordered_json{{"type", kind()},
                                {"features", options_.features},
                                {"eps", json_number(options_.eps)},
                                {"elementwise_affine", options_.elementwise_affine}}
      .dump();
}

std::string LayerNorm::describe() const {
  return "LayerNorm(features=" + std::to_string(options_.features) +
         ", eps=" + float_text(options_.eps) +
         ", elementwise_affine=" + bool_text(options_.elementwise_affine) + ")";
}

Tensor LayerNorm::forward(const Tensor& x, const ForwardContext& ctx) {
  const kernels::DenormalsFlushed flushed;
  const int64_t features = options_.features;
  check_last_dim(x, features, "LayerNorm input");
  const int64_t rows = x.numel() / features;
  const bool affine = options_.elementwise_affine;

  // For each row x of F = features values (the statistics in double):
  //   μ = (1/F) Σ_j x_j        σ² = (1/F) Σ_j (x_j − μ)²   (biased)
  //   x̂_j = (x_j − μ) / √(σ² + eps)
  //   y_j = γ_j x̂_j + β_j     (y = x̂ without elementwise_affine)
  Tensor normalized(x.shape());  // x̂: (rows, F)
  Tensor inv_std({rows});        // 1/√(σ² + eps): (rows,)
  Tensor y(x.shape());           // (rows, F)
  for (int64_t r = 0; r < rows; ++r) {
    const float* x_row = x.data() + r * features;
    double sum = 0.0;
    for (int64_t j = 0; j < features; ++j) sum += x_row[j];
    const double mean = sum / static_cast<double>(features);
    double squares = 0.0;
    for (int64_t j = 0; j < features; ++j) {
      const double centered = x_row[j] - mean;
      squares += centered * centered;
    }
    const double variance = squares / static_cast<double>(features);
    const double inv = 1.0 / std::sqrt(variance + static_cast<double>(options_.eps));
    inv_std[r] = static_cast<float>(inv);
    float* n_row = normalized.data() + r * features;
    float* y_row = y.data() + r * features;
    for (int64_t j = 0; j < features; ++j) {
      n_row[j] = static_cast<float>((x_row[j] - mean) * inv);
      y_row[j] = affine ? weight[j] * n_row[j] + bias[j] : n_row[j];
    }
  }

  if (ctx.training) {
    normalized_ = std::move(normalized);
    inv_std_ = std::move(inv_std);
  } else {
    normalized_ = Tensor();
    inv_std_ = Tensor();
  }
  return y;
}

Tensor LayerNorm::backward(const Tensor& d_y) {
  const kernels::DenormalsFlushed flushed;
  if (normalized_.rank() == 0) throw_no_training_forward("LayerNorm");
  check_output_gradient(d_y, normalized_.shape(), "LayerNorm");
  const int64_t features = options_.features;
  const int64_t rows = d_y.numel() / features;
  const bool affine = options_.elementwise_affine;

  // For each row, with g_j = dy_j γ_j (g = dy without elementwise_affine):
  //   dx_j = (1/√(σ² + eps)) (g_j − mean(g) − x̂_j mean(g ⊙ x̂))
  //   dγ_j += dy_j x̂_j        dβ_j += dy_j
  Tensor d_x(d_y.shape());  // (rows, F)
  for (int64_t r = 0; r < rows; ++r) {
    const float* dy_row = d_y.data() + r * features;
    const float* n_row = normalized_.data() + r * features;
    const auto g_at = [&](int64_t j) {
      return affine ? static_cast<double>(dy_row[j]) * weight[j] : static_cast<double>(dy_row[j]);
    };
    double g_sum = 0.0, g_n_sum = 0.0;
    for (int64_t j = 0; j < features; ++j) {
      const double g = g_at(j);
      g_sum += g;
      g_n_sum += g * n_row[j];
    }
    const double g_mean = g_sum / static_cast<double>(features);
    const double g_n_mean = g_n_sum / static_cast<double>(features);
    float* dx_row = d_x.data() + r * features;
    for (int64_t j = 0; j < features; ++j)
      dx_row[j] = static_cast<float>(inv_std_[r] * (g_at(j) - g_mean - n_row[j] * g_n_mean));
    if (affine)
      for (int64_t j = 0; j < features; ++j) {
        weight_grad[j] += dy_row[j] * n_row[j];
        bias_grad[j] += dy_row[j];
      }
  }
  return d_x;
}

std::vector<ParameterRef> LayerNorm::parameters() {
  if (!options_.elementwise_affine) return {};
  return {{"weight", &weight, &weight_grad}, {"bias", &bias, &bias_grad}};
}

void LayerNorm::reset_parameters(Rng& /*rng*/) {
  weight.fill(1.0f);
  bias.fill(0.0f);
}

// ---------------------------------------------------------------------------------------------
// Residual

Residual::Residual(std::unique_ptr<Layer> inner) : inner_(std::move(inner)) {
  if (!inner_) throw Error("Residual: null layer");
}

std::string Residual::config_json() const {
  return nlohmann::ordered_json{{"type", kind()}, {"layer", nlohmann::json::parse(inner_->config_json())}}
      .dump();
}

std::string Residual::describe() const { return "Residual(" + inner_->describe() + ")"; }

int64_t Residual::output_features(int64_t features_in) const {
  const int64_t out = inner_->output_features(features_in);
  if (out != features_in)
    throw Error("Residual: " + inner_->describe() + " turns " + std::to_string(features_in) +
                " features into " + std::to_string(out) + "; x + f(x) needs as many out as in");
  return out;
}

// y = x + f(x); dL/dx = dL/dy + f'(x)ᵀ dL/dy.
Tensor Residual::forward(const Tensor& x, const ForwardContext& ctx) {
  Tensor y = inner_->forward(x, ctx);
  if (y.shape() != x.shape())
    throw Error("Residual: " + inner_->describe() + " maps " + x.shape_string() + " to " +
                y.shape_string() + "; x + f(x) needs the same shape");
  for (int64_t i = 0; i < y.numel(); ++i) y[i] += x[i];
  return y;
}

Tensor Residual::backward(const Tensor& d_y) {
  Tensor d_x = inner_->backward(d_y);
  for (int64_t i = 0; i < d_x.numel(); ++i) d_x[i] += d_y[i];
  return d_x;
}

}  // namespace lstm
