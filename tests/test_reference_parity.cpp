// The float32 layers against the double reference (tests/reference/reference.h) on random
// configurations, and the invariants: one step at a time equals the whole sequence; dropout
// between layers draws the masks the reference is given; no dropout at inference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "lstm/nn.h"
#include "lstm/threads.h"
#include "reference/reference.h"
#include "test_util.h"

namespace {

using namespace lstm;
using namespace lstm::reference;

// Forward tolerance, relative to the largest |value| of the tensor compared. The float layers
// get the same weights and inputs as the reference (floats, exact in double), so the difference
// is float32 rounding alone: u = 2⁻²⁴ ≈ 6e-8 per operation. A pre-activation is a dot product of
// K ≤ I + H ≤ 210 terms, whose rounding error grows like u·√K (≈ 9e-7 at K = 210) relative to
// its terms; sigmoid and tanh (slope ≤ 1) and the cell update pass it on without growing it, and
// over the ≤ 9 steps and 3 layers here the errors of successive steps add up only partly (the
// recurrence is contractive for these weights). 2e-6 is that budget with a little room.
constexpr double kForwardTolerance = 2e-6;
// Dense and LayerNorm: one dot product of ≤ 70 terms, or one mean and variance over ≤ 70
// values, then a handful of operations: u·√70 ≈ 5e-7, with the same room.
constexpr double kFeedForwardTolerance = 1e-6;

// The sizes the random configurations draw from: odd ones, ones below and above a SIMD width.
const std::vector<int64_t> kSizes = {1, 3, 5, 7, 13, 17, 33, 70};

int64_t uniform_int(Rng& rng, int64_t low, int64_t high) {  // in [low, high]
  return low + static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(high - low + 1));
}
bool coin(Rng& rng) { return rng.uniform() < 0.5f; }
int64_t any_size(Rng& rng) { return kSizes[static_cast<std::size_t>(uniform_int(rng, 0, 7))]; }

// A recurrent layer's configuration and what it is run on.
struct Case {
  RecurrentConfig config;
  int64_t batch = 1, steps = 1;
  bool with_h0 = false;       // random h0 (and c0) instead of zeros
  bool with_lengths = false;  // random lengths in [1, steps] instead of full ones
  uint64_t seed = 0;          // of the weights and inputs

  std::string describe() const {
    std::ostringstream out;
    out << reference::describe(config) << " batch=" << batch << " steps=" << steps
        << (with_h0 ? " h0" : "") << (with_lengths ? " lengths" : "") << " seed=" << seed;
    return out.str();
  }
};

Case random_case(CellType cell, uint64_t seed) {
  Rng rng(seed);
  Case c;
  c.seed = seed;
  c.config.cell = cell;
  c.config.input_size = any_size(rng);
  c.config.hidden_size = any_size(rng);
  c.config.num_layers = uniform_int(rng, 1, 3);
  c.config.bidirectional = coin(rng);
  c.config.bias = coin(rng);
  c.config.return_sequences = coin(rng);
  // PyTorch requires proj_size < hidden_size.
  if (cell == CellType::lstm && c.config.hidden_size > 1 && coin(rng)) {
    do {
      c.config.proj_size = any_size(rng);
    } while (c.config.proj_size >= c.config.hidden_size);
  }
  c.batch = uniform_int(rng, 1, 5);
  c.steps = uniform_int(rng, 1, 9);
  c.with_h0 = coin(rng);
  c.with_lengths = coin(rng);
  return c;
}

// A float layer with random weights, random inputs, and the same for the reference.
struct Prepared {
  Recurrent layer;
  Parameters parameters;
  Tensor x, h0, c0;
  std::vector<int64_t> lengths;

  explicit Prepared(const Case& c) : layer(c.config) {
    Rng rng(~c.seed);  // not the stream random_case drew the configuration from
    parameters = randomize_parameters(layer, rng);
    const RecurrentConfig& config = c.config;
    const int64_t states = config.num_layers * config.directions();
    x = random_tensor({c.batch, c.steps, config.input_size}, rng);
    if (c.with_h0) {
      h0 = random_tensor({states, c.batch, config.output_size()}, rng);
      if (config.cell == CellType::lstm) c0 = random_tensor({states, c.batch, config.hidden_size}, rng);
    }
    if (c.with_lengths) lengths = random_lengths(c.batch, c.steps, rng);
  }

  RecurrentResult run_float(ForwardContext ctx) {
    if (!lengths.empty()) ctx.lengths = &lengths;
    return layer.forward_sequence(x, h0.empty() ? nullptr : &h0, c0.empty() ? nullptr : &c0, ctx);
  }

  RecurrentOutput run_reference(std::vector<Array> dropout_masks = {}) const {
    RecurrentInput input;
    input.x = Array(x);
    if (!h0.empty()) input.h0 = Array(h0);
    if (!c0.empty()) input.c0 = Array(c0);
    input.lengths = lengths;
    input.dropout_masks = std::move(dropout_masks);
    return recurrent_forward(layer.config(), parameters, input);
  }
};

void expect_close(const RecurrentResult& actual, const RecurrentOutput& expected,
                  const RecurrentConfig& config, const std::string& what) {
  EXPECT_TRUE(close_to(actual.output, expected.output, kForwardTolerance, what + ": output"));
  EXPECT_TRUE(close_to(actual.h_n, expected.h_n, kForwardTolerance, what + ": h_n"));
  if (config.cell == CellType::lstm) {
    EXPECT_TRUE(close_to(actual.c_n, expected.c_n, kForwardTolerance, what + ": c_n"));
  }
}

// Many random configurations of one cell, inference mode.
void check_random_configurations(CellType cell, uint64_t first_seed) {
  for (uint64_t seed = first_seed; seed < first_seed + 200; ++seed) {
    const Case c = random_case(cell, seed);
    Prepared p(c);
    expect_close(p.run_float({}), p.run_reference(), c.config, c.describe());
  }
}

TEST(ReferenceParity, LSTM) { check_random_configurations(CellType::lstm, 1000); }
TEST(ReferenceParity, GRU) { check_random_configurations(CellType::gru, 2000); }
TEST(ReferenceParity, RNNTanh) { check_random_configurations(CellType::rnn_tanh, 3000); }
TEST(ReferenceParity, RNNRelu) { check_random_configurations(CellType::rnn_relu, 4000); }

// Batches of 16 to 24 samples, where the smaller layers run their time loop in row blocks of 8
// or more samples (Recurrent's batch_blocks), inference and training.
TEST(ReferenceParity, RowBlocks) {
  const CellType cells[] = {CellType::lstm, CellType::gru, CellType::rnn_tanh, CellType::rnn_relu};
  for (uint64_t seed = 5000; seed < 5040; ++seed) {
    Case c = random_case(cells[seed % 4], seed);
    c.batch = 16 + static_cast<int64_t>(seed % 9);
    Prepared p(c);
    const RecurrentOutput expected = p.run_reference();
    expect_close(p.run_float({}), expected, c.config, c.describe());
    expect_close(p.run_float({.training = true}), expected, c.config, c.describe() + " training");
  }
}

// Batches of 16 to 19 samples of layers whose W_hh exceeds the 1 MiB of row blocks (and whose
// weights are within 16 MiB), or that have a projection: each step computes its own rows of Gx
// (Recurrent's input_in_steps), inference and training, every cell, both directions, two
// layers (the second's input 2·H wide, deeper than one depth block of the scalar and AVX2
// paths), with lengths and without biases.
TEST(ReferenceParity, InputProjectionInTheSteps) {
  const CellType cells[] = {CellType::lstm, CellType::gru, CellType::rnn_tanh, CellType::rnn_relu};
  for (uint64_t seed = 7000; seed < 7008; ++seed) {
    Case c;
    c.seed = seed;
    c.config.cell = cells[seed % 4];
    c.config.input_size = 5 + static_cast<int64_t>(seed % 3);
    // W_hh = G·H² floats: over 1 MiB from H = 257 (LSTM), 296 (GRU), 513 (RNN)
    c.config.hidden_size = c.config.cell == CellType::lstm  ? 260
                           : c.config.cell == CellType::gru ? 300
                                                            : 520;
    c.config.num_layers = seed < 7004 ? 1 : 2;
    c.config.bidirectional = seed >= 7004;
    c.config.bias = seed % 3 != 0;
    c.batch = 16 + static_cast<int64_t>(seed / 2 % 4);
    c.steps = 3;
    c.with_h0 = true;
    c.with_lengths = (seed + seed / 4) % 2 == 0;  // every cell with and without
    Prepared p(c);
    const RecurrentOutput expected = p.run_reference();
    expect_close(p.run_float({}), expected, c.config, c.describe());
    expect_close(p.run_float({.training = true}), expected, c.config, c.describe() + " training");
  }
  // a small layer with a projection (no row blocks), batch 16
  Case c = random_case(CellType::lstm, 7100);
  c.config.hidden_size = 40;
  c.config.proj_size = 11;
  c.batch = 16;
  Prepared p(c);
  const RecurrentOutput expected = p.run_reference();
  expect_close(p.run_float({}), expected, c.config, c.describe());
  expect_close(p.run_float({.training = true}), expected, c.config, c.describe() + " training");
}

// Batches of 8 to 15 samples of layers whose W_hh is at most 512 KiB and whose step of half the
// batch is at least 256 kFLOP: two row blocks (Recurrent's batch_blocks), inference and training.
TEST(ReferenceParity, TwoRowBlocksOfASmallBatch) {
  const CellType cells[] = {CellType::lstm, CellType::gru, CellType::rnn_tanh, CellType::rnn_relu};
  for (uint64_t seed = 6000; seed < 6012; ++seed) {
    Case c = random_case(cells[seed % 4], seed);
    c.config.proj_size = 0;
    c.config.hidden_size = c.config.cell == CellType::lstm ? 96 + 8 * static_cast<int64_t>(seed % 4)
                           : c.config.cell == CellType::gru ? 120 : 190;
    c.batch = 8 + static_cast<int64_t>(seed % 8);
    Prepared p(c);
    ASSERT_EQ(p.layer.threads_used(c.batch), std::min(2, lstm::num_threads())) << c.describe();
    const RecurrentOutput expected = p.run_reference();
    expect_close(p.run_float({}), expected, c.config, c.describe());
    expect_close(p.run_float({.training = true}), expected, c.config, c.describe() + " training");
  }
}

// The float layer's parameters are PyTorch's, by name and shape, in state_dict order.
TEST(ReferenceParity, ParameterNamesAndShapes) {
  for (uint64_t seed = 5000; seed < 5040; ++seed) {
    const Case c = random_case(static_cast<CellType>(seed % 4), seed);
    Recurrent layer(c.config);
    const auto expected = recurrent_parameter_shapes(c.config);
    const auto actual = layer.parameters();
    ASSERT_EQ(actual.size(), expected.size()) << c.describe();
    for (std::size_t k = 0; k < actual.size(); ++k) {
      EXPECT_EQ(actual[k].name, expected[k].first) << c.describe();
      EXPECT_EQ(actual[k].value->shape(), expected[k].second) << c.describe() << " " << actual[k].name;
      EXPECT_EQ(actual[k].grad->shape(), expected[k].second) << c.describe() << " grad of " << actual[k].name;
      EXPECT_EQ(&layer.parameter(actual[k].name), actual[k].value) << c.describe();
    }
  }
}

// The reference itself against one step computed by hand from DESIGN.md's equations, for one
// unit and one input: the gate order and where each weight and bias goes.
TEST(ReferenceSelfCheck, OneStepByHand) {
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  const double x = 0.5, h = 0.3, c = -0.2;
  RecurrentInput input;
  input.x = Array({1, 1, 1});
  input.x.data = {x};
  input.h0 = Array({1, 1, 1});
  input.h0.data = {h};
  input.c0 = Array({1, 1, 1});
  input.c0.data = {c};
  auto column = [](std::vector<double> values) {
    Array a({static_cast<int64_t>(values.size()), 1});
    a.data = std::move(values);
    return a;
  };
  auto row = [](std::vector<double> values) {
    Array a({static_cast<int64_t>(values.size())});
    a.data = std::move(values);
    return a;
  };
  const std::vector<double> w_ih = {0.1, 0.2, 0.3, 0.4}, w_hh = {-0.5, 0.6, -0.7, 0.8};
  const std::vector<double> b_ih = {0.01, 0.02, 0.03, 0.04}, b_hh = {-0.05, 0.06, 0.07, -0.08};
  auto pre = [&](int k) { return w_ih[k] * x + b_ih[k] + w_hh[k] * h + b_hh[k]; };
  auto weights = [&](int gates) {
    Parameters p;
    p["weight_ih_l0"] = column({w_ih.begin(), w_ih.begin() + gates});
    p["weight_hh_l0"] = column({w_hh.begin(), w_hh.begin() + gates});
    p["bias_ih_l0"] = row({b_ih.begin(), b_ih.begin() + gates});
    p["bias_hh_l0"] = row({b_hh.begin(), b_hh.begin() + gates});
    return p;
  };

  RecurrentConfig config{.cell = CellType::lstm, .input_size = 1, .hidden_size = 1};
  const double i = sigmoid(pre(0)), f = sigmoid(pre(1)), g = std::tanh(pre(2)), o = sigmoid(pre(3));
  const double c1 = f * c + i * g;
  RecurrentOutput lstm = recurrent_forward(config, weights(4), input);
  EXPECT_NEAR(lstm.c_n.data[0], c1, 1e-15);
  EXPECT_NEAR(lstm.h_n.data[0], o * std::tanh(c1), 1e-15);

  // With a projection of size 1: h' = W_hr (o ⊙ tanh(c')).
  config.proj_size = 1;
  config.hidden_size = 2;
  Parameters projected;
  projected["weight_ih_l0"] = column({0.1, 0.0, 0.2, 0.0, 0.3, 0.0, 0.4, 0.0});
  projected["weight_hh_l0"] = column({-0.5, 0.0, 0.6, 0.0, -0.7, 0.0, 0.8, 0.0});
  projected["bias_ih_l0"] = row({0.01, 0.0, 0.02, 0.0, 0.03, 0.0, 0.04, 0.0});
  projected["bias_hh_l0"] = row({-0.05, 0.0, 0.06, 0.0, 0.07, 0.0, -0.08, 0.0});
  Array w_hr({1, 2});
  w_hr.data = {1.5, -2.0};
  projected["weight_hr_l0"] = w_hr;
  input.c0 = Array({1, 1, 2});
  input.c0.data = {c, 0.0};
  // Unit 1 has all-zero weights: i = f = o = σ(0) = ½, g = 0, c' = 0, so it adds nothing.
  RecurrentOutput lstm_proj = recurrent_forward(config, projected, input);
  EXPECT_NEAR(lstm_proj.h_n.data[0], 1.5 * o * std::tanh(c1), 1e-15);

  config = {.cell = CellType::gru, .input_size = 1, .hidden_size = 1};
  const double r = sigmoid(pre(0)), z = sigmoid(pre(1));
  const double n = std::tanh(w_ih[2] * x + b_ih[2] + r * (w_hh[2] * h + b_hh[2]));
  input.c0 = Array();
  EXPECT_NEAR(recurrent_forward(config, weights(3), input).h_n.data[0], (1 - z) * n + z * h, 1e-15);

  config = {.cell = CellType::rnn_tanh, .input_size = 1, .hidden_size = 1};
  EXPECT_NEAR(recurrent_forward(config, weights(1), input).h_n.data[0], std::tanh(pre(0)), 1e-15);
  config.cell = CellType::rnn_relu;
  EXPECT_NEAR(recurrent_forward(config, weights(1), input).h_n.data[0], 0.0, 1e-15);  // pre < 0
}

// One step at a time, feeding h_n (and c_n) back as h0 (and c0), gives the outputs and final
// states of one call on the whole sequence to within 1e-6 of the tensor's scale, not bit for bit:
// the only difference between the two is the input projection W_ih x_t, computed for B rows a
// step in one case and for T·B rows at once in the other, and the GEMM picks its summation
// order by the number of rows (a dot-product way for few rows, register tiles with one or
// several accumulator sets otherwise). Reordering a float32 sum of K ≤ 70 terms moves it by
// about u·√K ≈ 5e-7 of its terms' scale; everything after it is the same operations in the same
// order.
constexpr double kStepByStepTolerance = 1e-6;

TEST(ReferenceParity, StepByStepEqualsWholeSequence) {
  for (uint64_t seed = 6000; seed < 6100; ++seed) {
    Case c = random_case(static_cast<CellType>(seed % 4), seed);
    c.config.bidirectional = false;
    c.config.return_sequences = true;
    c.with_h0 = true;
    c.with_lengths = false;
    Prepared p(c);
    const std::string what = c.describe();
    const RecurrentResult whole = p.run_float({});
    const int64_t B = c.batch, T = c.steps, I = c.config.input_size, H_out = c.config.output_size();

    Tensor h = p.h0, cell = p.c0;
    const bool is_lstm = c.config.cell == CellType::lstm;
    Tensor stepwise_output({B, T, H_out});
    for (int64_t t = 0; t < T; ++t) {
      Tensor x_t({B, 1, I});
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < I; ++j) x_t[b * I + j] = p.x[(b * T + t) * I + j];
      const RecurrentResult step = p.layer.forward_sequence(x_t, &h, is_lstm ? &cell : nullptr, {});
      for (int64_t b = 0; b < B; ++b)
        for (int64_t k = 0; k < H_out; ++k)
          stepwise_output[(b * T + t) * H_out + k] = step.output[b * H_out + k];
      h = step.h_n;
      cell = step.c_n;
    }
    EXPECT_TRUE(close_to(stepwise_output, Array(whole.output), kStepByStepTolerance, what + ": output"));
    EXPECT_TRUE(close_to(h, Array(whole.h_n), kStepByStepTolerance, what + ": h_n"));
    if (is_lstm) {
      EXPECT_TRUE(close_to(cell, Array(whole.c_n), kStepByStepTolerance, what + ": c_n"));
    }
  }
}

// Dropout p = 0.5 between stacked layers when training: the float layer's masks are the ones
// recurrent_dropout_masks draws from a generator with the same seed. At inference, and after the
// last layer, there is none.
TEST(ReferenceParity, DropoutBetweenLayers) {
  for (uint64_t seed = 7000; seed < 7060; ++seed) {
    Case c = random_case(static_cast<CellType>(seed % 4), seed);
    c.config.num_layers = 2 + static_cast<int64_t>(seed % 2);
    c.config.dropout = 0.5f;
    if (seed % 3 == 0) c.batch = 16 + static_cast<int64_t>(seed % 9);  // row blocks, where small
    Prepared p(c);
    const std::string what = c.describe();

    Rng layer_rng(seed), reference_rng(seed);
    const RecurrentOutput with_masks =
        p.run_reference(recurrent_dropout_masks(c.config, c.batch, c.steps, reference_rng));
    expect_close(p.run_float({.training = true, .rng = &layer_rng}), with_masks, c.config,
                 what + " training");

    const RecurrentOutput without = p.run_reference();
    expect_close(p.run_float({}), without, c.config, what + " inference");
    // The masks must have changed the output, or the first comparison proved nothing.
    EXPECT_GT(lstm::testing::relative_error(with_masks.output.data.data(),
                                            without.output.data.data(), with_masks.output.numel()),
              1e-3)
        << what;
  }
  // One layer: dropout applies between layers only, so training changes nothing.
  for (uint64_t seed = 7100; seed < 7108; ++seed) {
    Case c = random_case(static_cast<CellType>(seed % 4), seed);
    c.config.num_layers = 1;
    c.config.dropout = 0.5f;
    Prepared p(c);
    Rng rng(seed);
    expect_close(p.run_float({.training = true, .rng = &rng}), p.run_reference(), c.config,
                 c.describe() + " training");
  }
}

TEST(ReferenceParity, Dense) {
  Rng rng(8000);
  for (int trial = 0; trial < 24; ++trial) {
    const int64_t in = any_size(rng), out = any_size(rng);
    const bool bias = coin(rng), sequence = coin(rng);
    Dense dense({.in_features = in, .out_features = out, .bias = bias});
    fill_uniform(dense.weight, rng);
    fill_uniform(dense.bias, rng);
    const Shape shape = sequence ? Shape{3, 4, in} : Shape{5, in};
    const Tensor x = random_tensor(shape, rng);
    const Array expected = dense_forward(Array(x), Array(dense.weight), Array(dense.bias));
    EXPECT_TRUE(close_to(dense.forward(x, {}), expected, kFeedForwardTolerance,
                         "dense in=" + std::to_string(in) + " out=" + std::to_string(out) +
                             (bias ? "" : " no-bias") + " x" + shape_string(shape)));
  }
}

TEST(ReferenceParity, Embedding) {
  Rng rng(8100);
  for (int trial = 0; trial < 12; ++trial) {
    const int64_t count = any_size(rng), dim = any_size(rng);
    Embedding embedding({.num_embeddings = count, .embedding_dim = dim});
    fill_uniform(embedding.weight, rng);
    Tensor ids({3, 5});
    for (float& id : ids) id = static_cast<float>(uniform_int(rng, 0, count - 1));
    // A copy of rows: exact.
    const Array expected = embedding_forward(Array(ids), Array(embedding.weight));
    EXPECT_TRUE(close_to(embedding.forward(ids, {}), expected, 0.0,
                         "embedding num=" + std::to_string(count) + " dim=" + std::to_string(dim)));
  }
}

TEST(ReferenceParity, LayerNorm) {
  Rng rng(8200);
  for (int trial = 0; trial < 24; ++trial) {
    const int64_t features = any_size(rng);
    const bool affine = coin(rng);
    LayerNorm norm({.features = features, .elementwise_affine = affine});
    if (affine) {
      fill_uniform(norm.weight, rng, 0.5f, 1.5f);
      fill_uniform(norm.bias, rng);
    }
    // Off-centre inputs, so that the mean matters.
    const Tensor x = random_tensor({2, 3, features}, rng, 1.0f, 3.0f);
    const Array expected =
        affine ? layer_norm_forward(Array(x), Array(norm.weight), Array(norm.bias), 1e-5f)
               : layer_norm_forward(Array(x), Array(), Array(), 1e-5f);
    EXPECT_TRUE(close_to(norm.forward(x, {}), expected, kFeedForwardTolerance,
                         "layer_norm features=" + std::to_string(features) +
                             (affine ? "" : " no-affine")));
  }
}

// The Dropout layer when training keeps each element with probability 1 − p, scaled by
// 1/(1−p), and zeroes the rest; at inference it is the identity.
TEST(ReferenceParity, DropoutLayer) {
  for (const float p : {0.5f, 0.2f}) {
    Dropout dropout({.p = p});
    Rng data_rng(8300), rng(8301);
    const Tensor x = random_tensor({20, 25, 20}, data_rng, 0.5f, 1.5f);
    const Tensor y = dropout.forward(x, {.training = true, .rng = &rng});
    ASSERT_EQ(y.shape(), x.shape());
    int64_t kept = 0;
    for (int64_t k = 0; k < x.numel(); ++k) {
      if (y[k] == 0.0f) continue;
      ++kept;
      const double expected = static_cast<double>(x[k]) / (1.0 - static_cast<double>(p));
      ASSERT_NEAR(y[k], expected, 2e-7 * expected) << "dropout p=" << p << " element " << k;
    }
    // Binomial(10000, 1 − p): five standard deviations either side.
    const double n = static_cast<double>(x.numel()), mean = n * (1.0 - p);
    EXPECT_NEAR(static_cast<double>(kept), mean, 5.0 * std::sqrt(n * p * (1.0 - p)))
        << "dropout p=" << p;

    const Tensor y_inference = dropout.forward(x, {});
    EXPECT_TRUE(close_to(y_inference, Array(x), 0.0, "dropout p=" + std::to_string(p) + " inference"));
  }
}

}  // namespace
