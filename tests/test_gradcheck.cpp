// Finite-difference gradient checks: every float32 layer's backward against central differences
// of the double reference (tests/reference/reference.h).
//
// The loss is L = Σ w ⊙ output (+ Σ w_h ⊙ h_n + Σ w_c ⊙ c_n for a recurrent layer) with fixed
// random w, so the gradients handed to backward are w, w_h and w_c. Its numerical gradient is
//   ∂L/∂v ≈ (L(v + h) − L(v − h)) / 2h,  h = 1e-5,
// whose error is O(h²)·|L'''| ≈ 1e-10 from truncation plus O(ε_double·|L|/h) ≈ 1e-11 from
// rounding: negligible next to float32's. The float backward's own error is rounding: u = 2⁻²⁴
// ≈ 6e-8 per operation, through the ≤ 5 steps, 2 layers and two directions here and the sums
// over batch and time of the weight gradients, a few times u·√(terms) relative to the gradient's
// scale; 1e-5 relative to each gradient tensor's largest |element| is that with room, and still
// catches any wrong term (a missing or misplaced one is O(1) relative).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "lstm/nn.h"
#include "reference/reference.h"
#include "test_util.h"

namespace {

using namespace lstm;
using namespace lstm::reference;

constexpr double kStep = 1e-5;
constexpr double kGradientTolerance = 1e-5;

// ∂loss/∂v_k ≈ (loss(v + h·e_k) − loss(v − h·e_k)) / 2h for element v_k of values, which loss
// reads; the element is restored after its two evaluations.
double central_difference(Array& values, std::size_t k, const std::function<double()>& loss,
                          double step = kStep) {
  const double saved = values.data[k];
  values.data[k] = saved + step;
  const double plus = loss();
  values.data[k] = saved - step;
  const double minus = loss();
  values.data[k] = saved;
  return (plus - minus) / (2.0 * step);
}

// central_difference for every element of values.
Array numerical_gradient(Array& values, const std::function<double()>& loss, double step = kStep) {
  Array gradient(values.shape);
  for (std::size_t k = 0; k < values.data.size(); ++k)
    gradient.data[k] = central_difference(values, k, loss, step);
  return gradient;
}

// A recurrent layer to check and the inputs it is checked on.
struct RecurrentCase {
  RecurrentConfig config;
  int64_t batch = 2, steps = 4;
  bool with_h0 = false;       // random h0 (and c0), whose gradients are checked too
  bool with_lengths = false;  // lengths {steps, 1, steps − 1, …}: full, shortest and between

  std::string describe() const {
    std::ostringstream out;
    out << reference::describe(config) << " batch=" << batch << " steps=" << steps
        << (with_h0 ? " h0" : "") << (with_lengths ? " lengths" : "");
    return out.str();
  }
};

// The float layer and the reference on the same weights, inputs and dropout masks.
struct RecurrentProblem {
  Recurrent layer;
  Parameters parameters;
  RecurrentInput input;
  Tensor x, h0, c0;
  std::vector<int64_t> lengths;
  Tensor w, w_h, w_c;  // the loss's weights on output, h_n and c_n
  RecurrentResult result;

  RecurrentProblem(const RecurrentCase& c, uint64_t seed) : layer(c.config) {
    const RecurrentConfig& config = c.config;
    const bool is_lstm = config.cell == CellType::lstm;
    const int64_t states = config.num_layers * config.directions();
    Rng rng(seed);
    parameters = randomize_parameters(layer, rng);
    x = random_tensor({c.batch, c.steps, config.input_size}, rng);
    if (c.with_h0) {
      h0 = random_tensor({states, c.batch, config.output_size()}, rng);
      if (is_lstm) c0 = random_tensor({states, c.batch, config.hidden_size}, rng);
    }
    if (c.with_lengths)
      for (int64_t b = 0; b < c.batch; ++b)
        lengths.push_back(b == 0 ? c.steps : b == 1 ? 1 : std::max<int64_t>(1, c.steps - b + 1));

    Rng dropout_rng(seed + 1), reference_dropout_rng(seed + 1);
    ForwardContext ctx{.training = true, .rng = &dropout_rng};
    if (c.with_lengths) ctx.lengths = &lengths;
    result = layer.forward_sequence(x, h0.empty() ? nullptr : &h0, c0.empty() ? nullptr : &c0, ctx);

    input.x = Array(x);
    if (!h0.empty()) input.h0 = Array(h0);
    if (!c0.empty()) input.c0 = Array(c0);
    input.lengths = lengths;
    if (config.dropout > 0.0f)
      input.dropout_masks =
          recurrent_dropout_masks(config, c.batch, c.steps, reference_dropout_rng);

    w = random_tensor(result.output.shape(), rng);
    w_h = random_tensor(result.h_n.shape(), rng);
    if (is_lstm) w_c = random_tensor(result.c_n.shape(), rng);
  }

  // L = Σ w ⊙ output + Σ w_h ⊙ h_n + Σ w_c ⊙ c_n, on the reference.
  double reference_loss() const {
    const RecurrentOutput out = recurrent_forward(layer.config(), parameters, input);
    double loss = weighted_sum(Array(w), out.output) + weighted_sum(Array(w_h), out.h_n);
    if (!w_c.empty()) loss += weighted_sum(Array(w_c), out.c_n);
    return loss;
  }
};

void check_recurrent_gradients(const RecurrentCase& c, uint64_t seed) {
  const std::string what = c.describe() + " seed=" + std::to_string(seed);
  RecurrentProblem problem(c, seed);
  if (c.config.cell == CellType::rnn_relu) {
    // Finite differences across ReLU's kink at 0 are meaningless, and float and double may take
    // different sides of it: the seed must leave every pre-activation well away from 0.
    const double margin =
        recurrent_forward(c.config, problem.parameters, problem.input).smallest_relu_input;
    ASSERT_GT(margin, 1e-3) << what << ": a ReLU input lies near 0; pick another seed";
  }

  problem.layer.zero_grad();
  const RecurrentGradients gradients = problem.layer.backward_sequence(
      problem.w, &problem.w_h, problem.w_c.empty() ? nullptr : &problem.w_c);

  const std::function<double()> loss = [&] { return problem.reference_loss(); };
  for (const ParameterRef& p : problem.layer.parameters())
    EXPECT_TRUE(close_to(*p.grad, numerical_gradient(problem.parameters.at(p.name), loss),
                         kGradientTolerance, what + ": gradient of " + p.name));
  EXPECT_TRUE(close_to(gradients.d_input, numerical_gradient(problem.input.x, loss),
                       kGradientTolerance, what + ": d_input"));
  if (c.with_h0) {
    EXPECT_TRUE(close_to(gradients.d_h0, numerical_gradient(problem.input.h0, loss),
                         kGradientTolerance, what + ": d_h0"));
    if (c.config.cell == CellType::lstm) {
      EXPECT_TRUE(close_to(gradients.d_c0, numerical_gradient(problem.input.c0, loss),
                           kGradientTolerance, what + ": d_c0"));
    }
  }
}

// `actual`, a gradient of values, against central differences of loss at `samples` random
// elements: max |actual_k − numerical_k| ≤ tolerance · max |actual| (close_to's measure, with
// the scale taken from the float gradient, since the numerical one is known at the samples only).
::testing::AssertionResult close_at_samples(const Tensor& actual, Array& values,
                                            const std::function<double()>& loss, int samples,
                                            Rng& rng, const std::string& what) {
  if (actual.shape() != values.shape) return ::testing::AssertionFailure() << what << ": shape";
  double scale = 0.0, error = 0.0;
  for (float v : actual) scale = std::max(scale, std::abs(static_cast<double>(v)));
  for (int sample = 0; sample < samples; ++sample) {
    const auto k = static_cast<std::size_t>(rng.next_u64() % values.data.size());
    error = std::max(error, std::abs(actual.data()[k] - central_difference(values, k, loss)));
  }
  if (error <= kGradientTolerance * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": relative error " << error / scale << " > "
                                       << kGradientTolerance;
}

// The gradients of a layer too large to difference every element, at 12 random elements of each
// parameter, the input and the initial states (c.with_h0).
void check_sampled_gradients(const RecurrentCase& c, uint64_t seed) {
  const std::string what = c.describe() + " seed=" + std::to_string(seed);
  RecurrentProblem problem(c, seed);
  problem.layer.zero_grad();
  const RecurrentGradients gradients = problem.layer.backward_sequence(
      problem.w, &problem.w_h, problem.w_c.empty() ? nullptr : &problem.w_c);
  const std::function<double()> loss = [&] { return problem.reference_loss(); };
  Rng rng(seed + 100);
  constexpr int samples = 12;
  for (const ParameterRef& p : problem.layer.parameters())
    EXPECT_TRUE(close_at_samples(*p.grad, problem.parameters.at(p.name), loss, samples, rng,
                                 what + ": gradient of " + p.name));
  EXPECT_TRUE(close_at_samples(gradients.d_input, problem.input.x, loss, samples, rng,
                               what + ": d_input"));
  if (!c.with_h0) return;
  EXPECT_TRUE(close_at_samples(gradients.d_h0, problem.input.h0, loss, samples, rng,
                               what + ": d_h0"));
  if (c.config.cell == CellType::lstm)
    EXPECT_TRUE(close_at_samples(gradients.d_c0, problem.input.c0, loss, samples, rng,
                                 what + ": d_c0"));
}

// Layers whose steps compute their own rows of Gx (Recurrent's input_in_steps: 16 samples or
// more, W_hh over the 1 MiB of row blocks, the weights within 16 MiB), every cell, with initial
// states and lengths.
TEST(Gradcheck, InputProjectionInTheSteps) {
  for (CellType cell : {CellType::lstm, CellType::gru, CellType::rnn_tanh}) {
    const RecurrentConfig config{.cell = cell,
                                 .input_size = 6,
                                 .hidden_size = cell == CellType::lstm  ? 260
                                                : cell == CellType::gru ? 300
                                                                        : 520};
    check_sampled_gradients(
        {.config = config, .batch = 16, .steps = 2, .with_h0 = true, .with_lengths = true},
        600 + static_cast<uint64_t>(cell));
  }
}

// Small batches over several chunks of units (each chunk's dh_{t−1} = dA_t W_hh from all of dA_t
// and its own columns of W_hh): 3 chunks of 32, 32 and 8 units (the last padded to a panel) and
// 8 chunks of 48 units but the last two (12, none), both directions, with initial states and
// lengths. The gradient checks above have one chunk of units (H ≤ 5).
TEST(Gradcheck, ChunksOfUnitsAtSmallBatches) {
  for (CellType cell : {CellType::lstm, CellType::gru, CellType::rnn_tanh})
    for (int64_t hidden : {72, 300}) {
      const RecurrentConfig config{
          .cell = cell, .input_size = 5, .hidden_size = hidden, .bidirectional = true};
      const uint64_t seed = 800 + static_cast<uint64_t>(cell) * 10 + static_cast<uint64_t>(hidden);
      check_sampled_gradients({.config = config, .batch = 1, .steps = 4, .with_h0 = true}, seed);
      check_sampled_gradients(
          {.config = config, .batch = 3, .steps = 4, .with_h0 = true, .with_lengths = true},
          seed + 1);
    }
}

// The variants every cell is checked in: one layer; initial states; bidirectional with lengths;
// two layers; only the last step out (with lengths and both directions); no bias; dropout 0.5
// between two layers; a batch large enough for row blocks.
std::vector<RecurrentCase> variants(CellType cell) {
  const RecurrentConfig base{.cell = cell, .input_size = 3, .hidden_size = 4};
  std::vector<RecurrentCase> cases;
  cases.push_back({.config = base});
  cases.push_back({.config = base, .batch = 3, .steps = 5, .with_h0 = true});
  RecurrentConfig config = base;
  config.bidirectional = true;
  cases.push_back({.config = config, .batch = 3, .with_h0 = true, .with_lengths = true});
  config = base;
  config.num_layers = 2;
  cases.push_back({.config = config, .with_h0 = true});
  config = base;
  config.return_sequences = false;
  config.bidirectional = true;
  cases.push_back({.config = config, .batch = 3, .with_lengths = true});
  config = base;
  config.bias = false;
  config.input_size = 1;
  config.hidden_size = 5;
  cases.push_back({.config = config, .batch = 1, .steps = 3});
  config = base;
  config.num_layers = 2;
  config.dropout = 0.5f;
  cases.push_back({.config = config, .batch = 3});
  // 17 samples: a time loop in row blocks of 8 and 9 samples, with lengths, both directions
  config = base;
  config.bidirectional = true;
  cases.push_back({.config = config, .batch = 17, .steps = 3, .with_h0 = true, .with_lengths = true});
  return cases;
}

void check_variants(CellType cell, uint64_t seed) {
  for (const RecurrentCase& c : variants(cell)) check_recurrent_gradients(c, seed++);
}

TEST(Gradcheck, LSTM) { check_variants(CellType::lstm, 100); }

// The projection h = W_hr (o ⊙ tanh(c)), alone and with everything else at once.
TEST(Gradcheck, LSTMProjection) {
  const RecurrentConfig base{.cell = CellType::lstm, .input_size = 3, .hidden_size = 5, .proj_size = 2};
  check_recurrent_gradients({.config = base, .with_h0 = true}, 200);
  RecurrentConfig config = base;
  config.num_layers = 2;
  config.bidirectional = true;
  check_recurrent_gradients({.config = config, .batch = 3, .with_h0 = true, .with_lengths = true}, 201);
  config.return_sequences = false;
  check_recurrent_gradients({.config = config, .batch = 3, .with_lengths = true}, 202);
  // 17 samples: with a projection, one block whose steps compute their own rows of Gx
  // (Recurrent's input_in_steps)
  check_recurrent_gradients({.config = base, .batch = 17, .steps = 3, .with_h0 = true,
                             .with_lengths = true}, 203);
}

TEST(Gradcheck, GRU) { check_variants(CellType::gru, 300); }
TEST(Gradcheck, RNNTanh) { check_variants(CellType::rnn_tanh, 400); }
TEST(Gradcheck, RNNRelu) { check_variants(CellType::rnn_relu, 500); }

// Random small configurations, every option drawn independently (ReLU stays with the fixed
// variants above, whose seeds keep its inputs away from the kink).
TEST(Gradcheck, RandomConfigurations) {
  const CellType cells[] = {CellType::lstm, CellType::gru, CellType::rnn_tanh};
  for (uint64_t seed = 1100; seed < 1130; ++seed) {
    Rng rng(seed);
    auto below = [&](uint64_t n) { return static_cast<int64_t>(rng.next_u64() % n); };
    RecurrentCase c;
    c.config.cell = cells[seed % 3];
    c.config.input_size = 1 + below(4);
    c.config.hidden_size = 1 + below(4);
    c.config.num_layers = 1 + below(2);
    c.config.bidirectional = below(2) == 1;
    c.config.bias = below(4) != 0;
    c.config.return_sequences = below(2) == 1;
    if (c.config.num_layers > 1 && below(2) == 1) c.config.dropout = 0.5f;
    if (c.config.cell == CellType::lstm && c.config.hidden_size > 1 && below(2) == 1)
      c.config.proj_size = 1 + below(static_cast<uint64_t>(c.config.hidden_size - 1));
    c.batch = 1 + below(3);
    c.steps = 1 + below(4);
    c.with_h0 = below(2) == 1;
    c.with_lengths = below(2) == 1;
    check_recurrent_gradients(c, seed);
  }
}

// The oracle's own derivative: central differences with two step sizes agree, so h = 1e-5 sits
// where neither truncation (∝ h²) nor rounding (∝ 1/h) matters.
TEST(Gradcheck, ReferenceDifferencesAgreeAcrossStepSizes) {
  RecurrentConfig config{.cell = CellType::lstm, .input_size = 3, .hidden_size = 5,
                         .num_layers = 2, .bidirectional = true, .proj_size = 2};
  RecurrentProblem problem({.config = config, .batch = 2, .steps = 4, .with_h0 = true,
                            .with_lengths = true}, 600);
  const std::function<double()> loss = [&] { return problem.reference_loss(); };
  for (auto& [name, values] : problem.parameters) {
    const Array fine = numerical_gradient(values, loss, 1e-5);
    const Array coarse = numerical_gradient(values, loss, 1e-4);
    EXPECT_LT(lstm::testing::relative_error(coarse.data.data(), fine.data.data(), fine.numel()),
              1e-7)
        << name;
  }
}

TEST(Gradcheck, Dense) {
  Rng rng(700);
  for (const bool bias : {true, false}) {
    for (const Shape& shape : {Shape{4, 5}, Shape{2, 3, 5}}) {
      const std::string what = std::string("dense in=5 out=3") + (bias ? "" : " no-bias") +
                               " x" + shape_string(shape);
      Dense dense({.in_features = 5, .out_features = 3, .bias = bias});
      fill_uniform(dense.weight, rng);
      fill_uniform(dense.bias, rng);
      const Tensor x = random_tensor(shape, rng);
      const Tensor y = dense.forward(x, {.training = true});
      const Tensor w = random_tensor(y.shape(), rng);
      dense.zero_grad();
      const Tensor d_x = dense.backward(w);

      Array weight(dense.weight), bias_values(dense.bias), input(x);
      const std::function<double()> loss = [&] {
        return weighted_sum(Array(w), dense_forward(input, weight, bias_values));
      };
      EXPECT_TRUE(close_to(dense.weight_grad, numerical_gradient(weight, loss), kGradientTolerance,
                           what + ": gradient of weight"));
      if (bias) {
        EXPECT_TRUE(close_to(dense.bias_grad, numerical_gradient(bias_values, loss),
                             kGradientTolerance, what + ": gradient of bias"));
      }
      EXPECT_TRUE(close_to(d_x, numerical_gradient(input, loss), kGradientTolerance, what + ": d_x"));
    }
  }
}

// The rows looked up get the gradient; with padding_idx that row gets none (as PyTorch), though
// it is still looked up.
TEST(Gradcheck, Embedding) {
  Rng rng(800);
  for (const int64_t padding_idx : {int64_t{-1}, int64_t{2}}) {
    const std::string what = "embedding num=6 dim=4 padding_idx=" + std::to_string(padding_idx);
    Embedding embedding({.num_embeddings = 6, .embedding_dim = 4, .padding_idx = padding_idx});
    fill_uniform(embedding.weight, rng);
    const Tensor ids({2, 5}, {0, 2, 2, 5, 1, 3, 2, 0, 0, 4});
    const Tensor y = embedding.forward(ids, {.training = true});
    const Tensor w = random_tensor(y.shape(), rng);
    embedding.zero_grad();
    EXPECT_TRUE(embedding.backward(w).empty()) << what << ": ids have no gradient";

    Array weight(embedding.weight);
    const std::function<double()> loss = [&] {
      return weighted_sum(Array(w), embedding_forward(Array(ids), weight));
    };
    Array expected = numerical_gradient(weight, loss);
    if (padding_idx >= 0)
      for (int64_t k = 0; k < 4; ++k) expected(padding_idx, k) = 0.0;
    EXPECT_TRUE(close_to(embedding.weight_grad, expected, kGradientTolerance,
                         what + ": gradient of weight"));
  }
}

TEST(Gradcheck, LayerNorm) {
  Rng rng(900);
  for (const bool affine : {true, false}) {
    for (const int64_t features : {int64_t{1}, int64_t{2}, int64_t{7}}) {
      const std::string what = "layer_norm features=" + std::to_string(features) +
                               (affine ? "" : " no-affine");
      LayerNorm norm({.features = features, .elementwise_affine = affine});
      if (affine) {
        fill_uniform(norm.weight, rng, 0.5f, 1.5f);
        fill_uniform(norm.bias, rng);
      }
      const Tensor x = random_tensor({2, 3, features}, rng, 1.0f, 3.0f);
      const Tensor y = norm.forward(x, {.training = true});
      const Tensor w = random_tensor(y.shape(), rng);
      norm.zero_grad();
      const Tensor d_x = norm.backward(w);

      Array gamma = affine ? Array(norm.weight) : Array(), beta = affine ? Array(norm.bias) : Array();
      Array input(x);
      const double eps = norm.options().eps;
      const std::function<double()> loss = [&] {
        return weighted_sum(Array(w), layer_norm_forward(input, gamma, beta, eps));
      };
      EXPECT_TRUE(close_to(d_x, numerical_gradient(input, loss), kGradientTolerance, what + ": d_x"));
      if (affine) {
        EXPECT_TRUE(close_to(norm.weight_grad, numerical_gradient(gamma, loss), kGradientTolerance,
                             what + ": gradient of weight"));
        EXPECT_TRUE(close_to(norm.bias_grad, numerical_gradient(beta, loss), kGradientTolerance,
                             what + ": gradient of bias"));
      }
    }
  }
}

// Dropout with the mask its training forward drew (read back as y / x, x ≠ 0): the reference
// y = x ⊙ mask differentiated numerically against the layer's backward.
TEST(Gradcheck, Dropout) {
  Rng rng(1000);
  Dropout dropout({.p = 0.5f});
  const Tensor x = random_tensor({3, 4, 5}, rng, 0.5f, 1.5f);
  Rng dropout_rng(1001);
  const Tensor y = dropout.forward(x, {.training = true, .rng = &dropout_rng});
  Array mask(y.shape());
  for (int64_t k = 0; k < x.numel(); ++k) {
    const double m = static_cast<double>(y[k]) / static_cast<double>(x[k]);
    ASSERT_TRUE(m == 0.0 || m == 2.0) << "dropout p=0.5: element " << k << " scaled by " << m;
    mask.data[static_cast<std::size_t>(k)] = m;
  }
  const Tensor w = random_tensor(y.shape(), rng);
  const Tensor d_x = dropout.backward(w);
  Array input(x);
  const std::function<double()> loss = [&] {
    return weighted_sum(Array(w), dropout_forward(input, mask));
  };
  EXPECT_TRUE(close_to(d_x, numerical_gradient(input, loss), kGradientTolerance, "dropout p=0.5: d_x"));
}

}  // namespace
