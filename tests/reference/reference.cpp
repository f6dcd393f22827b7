#include "reference/reference.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "test_util.h"

namespace lstm::reference {

Array::Array(Shape shape_)
    : shape(std::move(shape_)), data(static_cast<std::size_t>(shape_numel(shape)), 0.0) {}

Array::Array(const Tensor& t) : shape(t.shape()), data(t.begin(), t.end()) {}

namespace {

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument("reference: " + message);
}

std::string direction_suffix(int64_t direction) { return direction == 0 ? "" : "_reverse"; }

std::string parameter_name(const std::string& base, int64_t layer, int64_t direction) {
  return base + "_l" + std::to_string(layer) + direction_suffix(direction);
}

// Input features of layer l: input_size for l = 0, D·H_out above it.
int64_t layer_input_size(const RecurrentConfig& config, int64_t layer) {
  return layer == 0 ? config.input_size : config.directions() * config.output_size();
}

// The weights of one direction of one layer. G = gate_count(); the gates' rows are stacked in
// PyTorch's order (LSTM i, f, g, o; GRU r, z, n), H rows each.
struct DirectionWeights {
  const Array* w_ih;  // (G·H, I_l)
  const Array* w_hh;  // (G·H, H_out)
  const Array* b_ih;  // (G·H,), null without bias
  const Array* b_hh;  // (G·H,), null without bias
  const Array* w_hr;  // (P, H), null without projection
};

DirectionWeights direction_weights(const RecurrentConfig& config, const Parameters& parameters,
                                   int64_t layer, int64_t direction) {
  auto get = [&](const std::string& base) -> const Array* {
    const std::string name = parameter_name(base, layer, direction);
    const auto it = parameters.find(name);
    require(it != parameters.end(), "missing parameter " + name);
    return &it->second;
  };
  DirectionWeights w{};
  w.w_ih = get("weight_ih");
  w.w_hh = get("weight_hh");
  if (config.bias) {
    w.b_ih = get("bias_ih");
    w.b_hh = get("bias_hh");
  }
  if (config.proj_size > 0) w.w_hr = get("weight_hr");
  return w;
}

// W_ih[k] · x + b_ih[k]: the input's part of the pre-activation of gate row k.
double input_part(const DirectionWeights& w, int64_t k, const std::vector<double>& x) {
  double sum = w.b_ih ? w.b_ih->data[static_cast<std::size_t>(k)] : 0.0;
  for (std::size_t j = 0; j < x.size(); ++j) sum += (*w.w_ih)(k, static_cast<int64_t>(j)) * x[j];
  return sum;
}

// W_hh[k] · h + b_hh[k]: the previous state's part of the pre-activation of gate row k.
double hidden_part(const DirectionWeights& w, int64_t k, const std::vector<double>& h) {
  double sum = w.b_hh ? w.b_hh->data[static_cast<std::size_t>(k)] : 0.0;
  for (std::size_t j = 0; j < h.size(); ++j) sum += (*w.w_hh)(k, static_cast<int64_t>(j)) * h[j];
  return sum;
}

// One LSTM step, gate rows [0, H) i, [H, 2H) f, [2H, 3H) g, [3H, 4H) o:
//   i  = σ(W_ii x + b_ii + W_hi h + b_hi)
//   f  = σ(W_if x + b_if + W_hf h + b_hf)
//   g  = tanh(W_ig x + b_ig + W_hg h + b_hg)
//   o  = σ(W_io x + b_io + W_ho h + b_ho)
//   c' = f ⊙ c + i ⊙ g
//   h' = o ⊙ tanh(c'), or W_hr (o ⊙ tanh(c')) with a projection
void lstm_step(const DirectionWeights& w, int64_t H, const std::vector<double>& x,
               std::vector<double>& h, std::vector<double>& c) {
  auto pre = [&](int64_t k) { return input_part(w, k, x) + hidden_part(w, k, h); };
  std::vector<double> c_next(static_cast<std::size_t>(H)), unprojected(static_cast<std::size_t>(H));
  for (int64_t u = 0; u < H; ++u) {
    const double i = sigmoid(pre(0 * H + u));
    const double f = sigmoid(pre(1 * H + u));
    const double g = std::tanh(pre(2 * H + u));
    const double o = sigmoid(pre(3 * H + u));
    const auto uu = static_cast<std::size_t>(u);
    c_next[uu] = f * c[uu] + i * g;
    unprojected[uu] = o * std::tanh(c_next[uu]);
  }
  c = c_next;
  if (!w.w_hr) {
    h = unprojected;
    return;
  }
  for (std::size_t p = 0; p < h.size(); ++p) {
    double sum = 0.0;
    for (int64_t u = 0; u < H; ++u)
      sum += (*w.w_hr)(static_cast<int64_t>(p), u) * unprojected[static_cast<std::size_t>(u)];
    h[p] = sum;
  }
}

// One GRU step, gate rows [0, H) r, [H, 2H) z, [2H, 3H) n:
//   r  = σ(W_ir x + b_ir + W_hr h + b_hr)
//   z  = σ(W_iz x + b_iz + W_hz h + b_hz)
//   n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//   h' = (1 − z) ⊙ n + z ⊙ h
void gru_step(const DirectionWeights& w, int64_t H, const std::vector<double>& x,
              std::vector<double>& h) {
  std::vector<double> h_next(static_cast<std::size_t>(H));
  for (int64_t u = 0; u < H; ++u) {
    const double r = sigmoid(input_part(w, 0 * H + u, x) + hidden_part(w, 0 * H + u, h));
    const double z = sigmoid(input_part(w, 1 * H + u, x) + hidden_part(w, 1 * H + u, h));
    const double n = std::tanh(input_part(w, 2 * H + u, x) + r * hidden_part(w, 2 * H + u, h));
    const auto uu = static_cast<std::size_t>(u);
    h_next[uu] = (1.0 - z) * n + z * h[uu];
  }
  h = h_next;
}

// One Elman RNN step: h' = tanh(W_ih x + b_ih + W_hh h + b_hh), or relu(…).
void rnn_step(const DirectionWeights& w, int64_t H, bool relu, const std::vector<double>& x,
              std::vector<double>& h, double& smallest_relu_input) {
  std::vector<double> h_next(static_cast<std::size_t>(H));
  for (int64_t u = 0; u < H; ++u) {
    const double pre = input_part(w, u, x) + hidden_part(w, u, h);
    if (relu) smallest_relu_input = std::min(smallest_relu_input, std::abs(pre));
    h_next[static_cast<std::size_t>(u)] = relu ? std::max(pre, 0.0) : std::tanh(pre);
  }
  h = h_next;
}

// One direction of one layer over every sample. The forward direction takes steps
// t = 0 … len−1, the reverse one t = len−1 … 0, both from (h0, c0)[l·D + d]; h after step t is
// written to layer_output[b, t, d·H_out : (d+1)·H_out] and the state after the last step taken
// to (h_n, c_n)[l·D + d].
void run_direction(const RecurrentConfig& config, const DirectionWeights& w, int64_t layer,
                   int64_t direction, const Array& layer_input, const RecurrentInput& input,
                   Array& layer_output, RecurrentOutput& result) {
  const int64_t B = layer_input.shape[0], T = layer_input.shape[1], I = layer_input.shape[2];
  const int64_t H = config.hidden_size, H_out = config.output_size();
  const int64_t state = layer * config.directions() + direction;
  const bool is_lstm = config.cell == CellType::lstm;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> h(static_cast<std::size_t>(H_out), 0.0), c(static_cast<std::size_t>(H), 0.0);
    if (!input.h0.empty())
      for (int64_t k = 0; k < H_out; ++k) h[static_cast<std::size_t>(k)] = input.h0(state, b, k);
    if (is_lstm && !input.c0.empty())
      for (int64_t k = 0; k < H; ++k) c[static_cast<std::size_t>(k)] = input.c0(state, b, k);

    const int64_t len = input.lengths.empty() ? T : input.lengths[static_cast<std::size_t>(b)];
    require(len >= 1 && len <= T, "length out of [1, T]");
    for (int64_t s = 0; s < len; ++s) {
      const int64_t t = direction == 0 ? s : len - 1 - s;
      std::vector<double> x(static_cast<std::size_t>(I));
      for (int64_t j = 0; j < I; ++j) x[static_cast<std::size_t>(j)] = layer_input(b, t, j);
      switch (config.cell) {
        case CellType::lstm: lstm_step(w, H, x, h, c); break;
        case CellType::gru: gru_step(w, H, x, h); break;
        case CellType::rnn_tanh: rnn_step(w, H, false, x, h, result.smallest_relu_input); break;
        case CellType::rnn_relu: rnn_step(w, H, true, x, h, result.smallest_relu_input); break;
      }
      for (int64_t k = 0; k < H_out; ++k)
        layer_output(b, t, direction * H_out + k) = h[static_cast<std::size_t>(k)];
    }
    for (int64_t k = 0; k < H_out; ++k) result.h_n(state, b, k) = h[static_cast<std::size_t>(k)];
    if (is_lstm)
      for (int64_t k = 0; k < H; ++k) result.c_n(state, b, k) = c[static_cast<std::size_t>(k)];
  }
}

}  // namespace

std::vector<std::pair<std::string, Shape>> recurrent_parameter_shapes(const RecurrentConfig& config) {
  const int64_t rows = config.gate_count() * config.hidden_size;
  std::vector<std::pair<std::string, Shape>> shapes;
  for (int64_t l = 0; l < config.num_layers; ++l) {
    for (int64_t d = 0; d < config.directions(); ++d) {
      shapes.emplace_back(parameter_name("weight_ih", l, d), Shape{rows, layer_input_size(config, l)});
      shapes.emplace_back(parameter_name("weight_hh", l, d), Shape{rows, config.output_size()});
      if (config.bias) {
        shapes.emplace_back(parameter_name("bias_ih", l, d), Shape{rows});
        shapes.emplace_back(parameter_name("bias_hh", l, d), Shape{rows});
      }
      if (config.proj_size > 0)
        shapes.emplace_back(parameter_name("weight_hr", l, d),
                            Shape{config.proj_size, config.hidden_size});
    }
  }
  return shapes;
}

RecurrentOutput recurrent_forward(const RecurrentConfig& config, const Parameters& parameters,
                                  const RecurrentInput& input) {
  require(input.x.shape.size() == 3 && input.x.shape[2] == config.input_size,
          "x must be (B, T, input_size)");
  const int64_t B = input.x.shape[0], T = input.x.shape[1];
  const int64_t L = config.num_layers, D = config.directions();
  const int64_t H = config.hidden_size, H_out = config.output_size();
  require(input.dropout_masks.empty() ||
              static_cast<int64_t>(input.dropout_masks.size()) == L - 1,
          "one dropout mask per layer but the last");

  RecurrentOutput result;
  result.h_n = Array({L * D, B, H_out});
  if (config.cell == CellType::lstm) result.c_n = Array({L * D, B, H});

  Array layer_input = input.x;
  for (int64_t l = 0; l < L; ++l) {
    // Steps past a sample's length stay 0.
    Array layer_output({B, T, D * H_out});
    for (int64_t d = 0; d < D; ++d)
      run_direction(config, direction_weights(config, parameters, l, d), l, d, layer_input, input,
                    layer_output, result);
    // Dropout on the output of every layer but the last: y = y ⊙ mask.
    if (!input.dropout_masks.empty() && l < L - 1)
      layer_output = dropout_forward(layer_output, input.dropout_masks[static_cast<std::size_t>(l)]);
    layer_input = std::move(layer_output);
  }

  if (config.return_sequences) {
    result.output = std::move(layer_input);
  } else {
    // The last layer's final states, [forward, reverse] on the feature axis.
    result.output = Array({B, D * H_out});
    for (int64_t b = 0; b < B; ++b)
      for (int64_t d = 0; d < D; ++d)
        for (int64_t k = 0; k < H_out; ++k)
          result.output(b, d * H_out + k) = result.h_n((L - 1) * D + d, b, k);
  }
  return result;
}

std::vector<Array> recurrent_dropout_masks(const RecurrentConfig& config, int64_t batch,
                                           int64_t steps, Rng& rng) {
  const double p = config.dropout, scale = 1.0 / (1.0 - p);
  std::vector<Array> masks;
  for (int64_t l = 0; l + 1 < config.num_layers; ++l) {
    Array mask({batch, steps, config.directions() * config.output_size()});
    for (double& m : mask.data) m = rng.uniform() >= config.dropout ? scale : 0.0;
    masks.push_back(std::move(mask));
  }
  return masks;
}

Array dense_forward(const Array& x, const Array& weight, const Array& bias) {
  const int64_t out = weight.shape[0], in = weight.shape[1];
  require(!x.shape.empty() && x.shape.back() == in, "dense: x's last axis must be in_features");
  const int64_t rows = x.numel() / in;
  Shape y_shape = x.shape;
  y_shape.back() = out;
  Array y(y_shape);
  // y[n, o] = b[o] + Σ_i W[o, i] · x[n, i]
  for (int64_t n = 0; n < rows; ++n)
    for (int64_t o = 0; o < out; ++o) {
      double sum = bias.empty() ? 0.0 : bias.data[static_cast<std::size_t>(o)];
      for (int64_t i = 0; i < in; ++i)
        sum += weight(o, i) * x.data[static_cast<std::size_t>(n * in + i)];
      y.data[static_cast<std::size_t>(n * out + o)] = sum;
    }
  return y;
}

Array embedding_forward(const Array& ids, const Array& weight) {
  const int64_t dim = weight.shape[1];
  Shape y_shape = ids.shape;
  y_shape.push_back(dim);
  Array y(y_shape);
  // y[n, :] = W[id_n, :]
  for (int64_t n = 0; n < ids.numel(); ++n) {
    const auto id = static_cast<int64_t>(ids.data[static_cast<std::size_t>(n)]);
    require(id >= 0 && id < weight.shape[0], "embedding: id out of range");
    for (int64_t k = 0; k < dim; ++k) y.data[static_cast<std::size_t>(n * dim + k)] = weight(id, k);
  }
  return y;
}

Array layer_norm_forward(const Array& x, const Array& gamma, const Array& beta, double eps) {
  const int64_t F = x.shape.back(), rows = x.numel() / F;
  Array y(x.shape);
  for (int64_t n = 0; n < rows; ++n) {
    const double* row = x.data.data() + n * F;
    // mean = Σ x / F,  var = Σ (x − mean)² / F
    double mean = 0.0, var = 0.0;
    for (int64_t k = 0; k < F; ++k) mean += row[k];
    mean /= static_cast<double>(F);
    for (int64_t k = 0; k < F; ++k) var += (row[k] - mean) * (row[k] - mean);
    var /= static_cast<double>(F);
    // y = (x − mean) / √(var + eps) · γ + β
    for (int64_t k = 0; k < F; ++k) {
      const double normalized = (row[k] - mean) / std::sqrt(var + eps);
      const auto kk = static_cast<std::size_t>(k);
      y.data[static_cast<std::size_t>(n * F + k)] =
          gamma.empty() ? normalized : normalized * gamma.data[kk] + beta.data[kk];
    }
  }
  return y;
}

Array dropout_forward(const Array& x, const Array& mask) {
  require(x.shape == mask.shape, "dropout: mask shaped unlike x");
  Array y(x.shape);
  for (std::size_t i = 0; i < x.data.size(); ++i) y.data[i] = x.data[i] * mask.data[i];
  return y;
}

double weighted_sum(const Array& w, const Array& y) {
  require(w.shape == y.shape, "weighted_sum: " + shape_string(w.shape) + " against " +
                                  shape_string(y.shape));
  double sum = 0.0;
  for (std::size_t i = 0; i < w.data.size(); ++i) sum += w.data[i] * y.data[i];
  return sum;
}

std::string describe(const RecurrentConfig& config) {
  static const char* const cells[] = {"lstm", "gru", "rnn_tanh", "rnn_relu"};
  std::ostringstream out;
  out << cells[static_cast<int>(config.cell)] << " layers=" << config.num_layers
      << (config.bidirectional ? " bidirectional" : "") << " input=" << config.input_size
      << " hidden=" << config.hidden_size;
  if (config.proj_size > 0) out << " proj=" << config.proj_size;
  if (!config.bias) out << " no-bias";
  if (config.dropout > 0.0f) out << " dropout=" << config.dropout;
  if (!config.return_sequences) out << " last-step";
  return out.str();
}

Tensor random_tensor(const Shape& shape, Rng& rng, float low, float high) {
  Tensor t(shape);
  fill_uniform(t, rng, low, high);
  return t;
}

void fill_uniform(Tensor& t, Rng& rng, float low, float high) {
  for (float& v : t) v = rng.uniform(low, high);
}

Parameters randomize_parameters(Recurrent& layer, Rng& rng) {
  const float k = 1.0f / std::sqrt(static_cast<float>(layer.config().hidden_size));
  Parameters parameters;
  for (const ParameterRef& p : layer.parameters()) {
    for (float& v : *p.value) v = rng.uniform(-k, k);
    parameters[p.name] = Array(*p.value);
  }
  return parameters;
}

std::vector<int64_t> random_lengths(int64_t batch, int64_t steps, Rng& rng) {
  std::vector<int64_t> lengths;
  for (int64_t b = 0; b < batch; ++b)
    lengths.push_back(1 + static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(steps)));
  return lengths;
}

::testing::AssertionResult close_to(const Tensor& actual, const Array& expected, double tolerance,
                                    const std::string& what) {
  if (actual.shape() != expected.shape)
    return ::testing::AssertionFailure() << what << ": shape " << actual.shape_string()
                                         << ", expected " << shape_string(expected.shape);
  const double error = lstm::testing::relative_error(actual.data(), expected.data.data(), actual.numel());
  if (error <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": relative error " << error << " > "
                                       << tolerance;
}

}  // namespace lstm::reference
