// Sanity tests of the simple layers (Dense, Embedding, Dropout, LayerNorm): argument checks,
// small hand-computed cases, dropout's statistics, and backward without a training forward.
// Their parity with PyTorch and the double reference is tested elsewhere.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "lstm/nn.h"
#include "test_util.h"

namespace {

using lstm::Tensor;
using lstm::testing::error_of;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const lstm::ForwardContext kTrain{.training = true};
const lstm::ForwardContext kInfer{};

// ---------------------------------------------------------------------------------------------
// Dense

TEST(Dense, ForwardAndBackwardOnASmallCase) {
  lstm::Dense dense({.in_features = 2, .out_features = 3});
  dense.weight = Tensor({3, 2}, {1, 2, 3, 4, 5, 6});
  dense.bias = Tensor({3}, {0.5f, -1, 2});
  // x: (2, 1, 2), any leading shape is kept
  const Tensor x({2, 1, 2}, {1, -1, 2, 0.5f});
  const Tensor y = dense.forward(x, kTrain);
  // y = x Wᵀ + b
  EXPECT_EQ(y.shape(), (lstm::Shape{2, 1, 3}));
  const Tensor expected_y({2, 1, 3}, {1 - 2 + 0.5f, 3 - 4 - 1, 5 - 6 + 2,  //
                                      2 + 1 + 0.5f, 6 + 2 - 1, 10 + 3 + 2});
  EXPECT_TRUE(lstm::testing::tensors_close(y, expected_y, 0.0, "y"));

  const Tensor d_y({2, 1, 3}, {1, 0, 2, 0, 1, -1});
  const Tensor d_x = dense.backward(d_y);
  // dX = dY W, dW = dYᵀ X, db = Σ rows dY
  EXPECT_TRUE(lstm::testing::tensors_close(d_x, Tensor({2, 1, 2}, {11, 14, -2, -2}), 0.0, "dx"));
  EXPECT_TRUE(lstm::testing::tensors_close(dense.weight_grad,
                                           Tensor({3, 2}, {1, -1, 2, 0.5f, 0, -2.5f}), 0.0, "dW"));
  EXPECT_TRUE(lstm::testing::tensors_close(dense.bias_grad, Tensor({3}, {1, 1, 1}), 0.0, "db"));

  // A second backward accumulates; zero_grad clears.
  dense.backward(d_y);
  EXPECT_EQ(dense.bias_grad[0], 2.0f);
  dense.zero_grad();
  EXPECT_EQ(dense.bias_grad[0], 0.0f);
  EXPECT_EQ(dense.weight_grad[1], 0.0f);
}

TEST(Dense, ShapeErrorsNameExpectedAndActual) {
  lstm::Dense dense({.in_features = 4, .out_features = 2});
  const std::string forward_error = error_of([&] { dense.forward(Tensor({2, 5, 3}), kTrain); });
  EXPECT_TRUE(contains(forward_error, "(*, 4)")) << forward_error;
  EXPECT_TRUE(contains(forward_error, "(2, 5, 3)")) << forward_error;

  dense.forward(Tensor({2, 5, 4}), kTrain);
  const std::string backward_error = error_of([&] { dense.backward(Tensor({2, 5, 3})); });
  EXPECT_TRUE(contains(backward_error, "(2, 5, 2)")) << backward_error;
  EXPECT_TRUE(contains(backward_error, "(2, 5, 3)")) << backward_error;

  EXPECT_THROW(lstm::Dense({.in_features = 0, .out_features = 2}), lstm::Error);
  EXPECT_THROW(lstm::Dense({.in_features = 3, .out_features = -1}), lstm::Error);
}

TEST(Dense, InitConfigAndParameters) {
  lstm::Dense dense({.in_features = 16, .out_features = 8});
  lstm::Rng rng(7);
  dense.reset_parameters(rng);
  const float bound = 1.0f / 4.0f;
  float lowest = 1, highest = -1;
  for (const Tensor* t : {&dense.weight, &dense.bias})
    for (float v : *t) {
      lowest = std::min(lowest, v);
      highest = std::max(highest, v);
    }
  EXPECT_GE(lowest, -bound);
  EXPECT_LE(highest, bound);
  EXPECT_LT(lowest, -0.8f * bound);  // the draw spreads over the interval
  EXPECT_GT(highest, 0.8f * bound);

  EXPECT_EQ(dense.parameter_count(), 16 * 8 + 8);
  const auto params = dense.parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "weight");
  EXPECT_EQ(params[1].name, "bias");
  EXPECT_EQ(dense.config_json(),
            R"({"type":"dense","in_features":16,"out_features":8,"bias":true})");
  EXPECT_EQ(dense.describe(), "Dense(in_features=16, out_features=8, bias=true)");

  lstm::Dense no_bias({.in_features = 3, .out_features = 2, .bias = false});
  EXPECT_EQ(no_bias.parameters().size(), 1u);
  EXPECT_EQ(no_bias.parameter_count(), 6);
  EXPECT_TRUE(no_bias.bias.empty());
}

// ---------------------------------------------------------------------------------------------
// Embedding

TEST(Embedding, LooksUpRowsAndAccumulatesGradientsButNotPadding) {
  lstm::Embedding embedding({.num_embeddings = 4, .embedding_dim = 2, .padding_idx = 0});
  for (int j = 0; j < 2; ++j) EXPECT_EQ(embedding.weight[j], 0.0f);  // padding row zero
  embedding.weight = Tensor({4, 2}, {0, 0, 1, 2, 3, 4, 5, 6});

  const Tensor ids({2, 2}, {2, 0, 2, 3});
  const Tensor y = embedding.forward(ids, kTrain);
  EXPECT_TRUE(
      lstm::testing::tensors_close(y, Tensor({2, 2, 2}, {3, 4, 0, 0, 3, 4, 5, 6}), 0.0, "y"));
  const Tensor d_x = embedding.backward(Tensor({2, 2, 2}, {1, 1, 7, 7, 2, 3, 4, 5}));
  EXPECT_TRUE(d_x.empty());
  // Row 2 gets both of its uses, row 0 (padding) nothing.
  EXPECT_TRUE(lstm::testing::tensors_close(embedding.weight_grad,
                                           Tensor({4, 2}, {0, 0, 0, 0, 3, 4, 4, 5}), 0.0, "dW"));
  EXPECT_EQ(embedding.config_json(),
            R"({"type":"embedding","num_embeddings":4,"embedding_dim":2,"padding_idx":0})");
  EXPECT_EQ(embedding.describe(), "Embedding(num_embeddings=4, embedding_dim=2, padding_idx=0)");
}

TEST(Embedding, BadIdsNameTheValueAndPosition) {
  lstm::Embedding embedding({.num_embeddings = 10, .embedding_dim = 3});
  const auto error_for = [&](float bad) {
    return error_of([&] { embedding.forward(Tensor({2, 3}, {1, 2, 3, 4, bad, 5}), kInfer); });
  };
  const std::string fractional = error_for(2.5f);
  EXPECT_TRUE(contains(fractional, "2.5")) << fractional;
  EXPECT_TRUE(contains(fractional, "(1, 1)")) << fractional;
  EXPECT_TRUE(contains(fractional, "whole number")) << fractional;
  const std::string too_big = error_for(10.0f);
  EXPECT_TRUE(contains(too_big, "10")) << too_big;
  EXPECT_TRUE(contains(too_big, "(1, 1)")) << too_big;
  EXPECT_TRUE(contains(too_big, "[0, 10)")) << too_big;
  EXPECT_TRUE(contains(error_for(-1.0f), "-1")) << error_for(-1.0f);
  EXPECT_FALSE(error_for(NAN).empty());
  EXPECT_FALSE(error_for(INFINITY).empty());
  EXPECT_TRUE(error_for(9.0f).empty());

  EXPECT_THROW(lstm::Embedding({.num_embeddings = 4, .embedding_dim = 2, .padding_idx = 4}),
               lstm::Error);
  EXPECT_THROW(lstm::Embedding({.num_embeddings = 0, .embedding_dim = 2}), lstm::Error);
}

// ---------------------------------------------------------------------------------------------
// Dropout

TEST(Dropout, FollowsTheMaskRuleWithTheRightStatistics) {
  const float p = 0.3f;
  lstm::Dropout dropout({.p = p});
  const int64_t n = 200000;
  Tensor x({n / 100, 100});
  for (int64_t i = 0; i < n; ++i) x[i] = 1.0f + static_cast<float>(i % 7);
  lstm::Rng rng(123), replay(123);
  const Tensor y = dropout.forward(x, {.training = true, .rng = &rng});

  int64_t dropped = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool keep = replay.uniform() >= p;  // the rule, element by element in row-major order
    EXPECT_EQ(y[i], keep ? x[i] * (1.0f / (1.0f - p)) : 0.0f) << "element " << i;
    if (!keep) ++dropped;
  }
  // The dropped fraction is p within 5 standard deviations.
  const double fraction = static_cast<double>(dropped) / static_cast<double>(n);
  EXPECT_NEAR(fraction, p, 5.0 * std::sqrt(p * (1.0 - p) / static_cast<double>(n)));

  // backward: the same mask
  const Tensor d_x = dropout.backward(Tensor(x.shape(), 2.0f));
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(d_x[i], y[i] == 0.0f ? 0.0f : 2.0f / (1.0f - p)) << "element " << i;
}

TEST(Dropout, IdentityWhenNotTrainingAndArgumentChecks) {
  lstm::Dropout dropout({.p = 0.5f});
  const Tensor x({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_TRUE(lstm::testing::tensors_close(dropout.forward(x, kInfer), x, 0.0, "y"));

  const std::string no_rng = error_of([&] { dropout.forward(x, kTrain); });
  EXPECT_TRUE(contains(no_rng, "rng")) << no_rng;
  // p = 0 needs no generator and changes nothing.
  lstm::Dropout none({.p = 0.0f});
  EXPECT_TRUE(lstm::testing::tensors_close(none.forward(x, kTrain), x, 0.0, "y"));
  EXPECT_TRUE(lstm::testing::tensors_close(none.backward(x), x, 0.0, "dx"));

  for (float bad : {1.0f, -0.1f, 1.5f, NAN}) {
    const std::string message = error_of([&] { lstm::Dropout({.p = bad}); });
    EXPECT_TRUE(contains(message, "[0, 1)")) << "p = " << bad << ": " << message;
  }
  EXPECT_EQ(dropout.config_json(), R"({"type":"dropout","p":0.5})");
  EXPECT_EQ(lstm::Dropout({.p = 0.1f}).config_json(), R"({"type":"dropout","p":0.1})");
  EXPECT_EQ(dropout.describe(), "Dropout(p=0.5)");
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

TEST(LayerNorm, NormalizesRowsAndMatchesFiniteDifferences) {
  const int64_t features = 5;
  lstm::LayerNorm norm({.features = features});
  lstm::Rng rng(3);
  for (float& g : norm.weight) g = rng.uniform(0.5f, 1.5f);
  for (float& b : norm.bias) b = rng.uniform(-0.5f, 0.5f);
  Tensor x({3, features});
  for (float& v : x) v = rng.uniform(-2.0f, 2.0f);
  Tensor d_y(x.shape());
  for (float& v : d_y) v = rng.uniform(-1.0f, 1.0f);

  // With γ = 1 and β = 0, every row has mean 0 and (biased) variance 1 − eps/(σ² + eps) ≈ 1.
  lstm::LayerNorm plain({.features = features, .elementwise_affine = false});
  EXPECT_TRUE(plain.parameters().empty());
  const Tensor z = plain.forward(x, kInfer);
  for (int64_t r = 0; r < 3; ++r) {
    double mean = 0, squares = 0;
    for (int64_t j = 0; j < features; ++j) mean += z[r * features + j];
    mean /= features;
    for (int64_t j = 0; j < features; ++j)
      squares += (z[r * features + j] - mean) * (z[r * features + j] - mean);
    EXPECT_NEAR(mean, 0.0, 1e-6);
    EXPECT_NEAR(squares / features, 1.0, 1e-4);
  }

  // loss = Σ y ⊙ d_y; its derivatives by central differences against backward.
  const auto loss = [&](lstm::LayerNorm& layer, const Tensor& input) {
    const Tensor y = layer.forward(input, kInfer);
    double sum = 0;
    for (int64_t i = 0; i < y.numel(); ++i) sum += static_cast<double>(y[i]) * d_y[i];
    return sum;
  };
  norm.forward(x, kTrain);
  const Tensor d_x = norm.backward(d_y);
  const float h = 1e-2f;
  for (int64_t i = 0; i < x.numel(); ++i) {
    Tensor plus = x, minus = x;
    plus[i] += h;
    minus[i] -= h;
    EXPECT_NEAR(d_x[i], (loss(norm, plus) - loss(norm, minus)) / (2 * h), 2e-3) << "dx " << i;
  }
  for (int64_t j = 0; j < features; ++j) {
    const float saved = norm.weight[j];
    norm.weight[j] = saved + h;
    const double up = loss(norm, x);
    norm.weight[j] = saved - h;
    const double down = loss(norm, x);
    norm.weight[j] = saved;
    EXPECT_NEAR(norm.weight_grad[j], (up - down) / (2 * h), 2e-3) << "dγ " << j;
    double d_beta = 0;
    for (int64_t r = 0; r < 3; ++r) d_beta += d_y[r * features + j];
    EXPECT_NEAR(norm.bias_grad[j], d_beta, 1e-5) << "dβ " << j;
  }
  EXPECT_EQ(norm.config_json(),
            R"({"type":"layer_norm","features":5,"eps":1e-05,"elementwise_affine":true})");
  EXPECT_EQ(norm.describe(), "LayerNorm(features=5, eps=1e-05, elementwise_affine=true)");
  EXPECT_THROW(norm.forward(Tensor({3, 4}), kInfer), lstm::Error);
  EXPECT_THROW(lstm::LayerNorm({.features = 4, .eps = 0.0f}), lstm::Error);
}

// ---------------------------------------------------------------------------------------------
// backward without a training forward

TEST(Layers, BackwardWithoutTrainingForwardIsAClearError) {
  lstm::Dense dense({.in_features = 2, .out_features = 2});
  lstm::Embedding embedding({.num_embeddings = 3, .embedding_dim = 2});
  lstm::Dropout dropout({.p = 0.5f});
  lstm::LayerNorm norm({.features = 2});
  const Tensor x({1, 2}, {1, 2});
  const Tensor ids({1, 2}, {0, 1});
  const Tensor d_y({1, 2}, {1, 1});
  const Tensor d_embedded({1, 2, 2}, {1, 1, 1, 1});

  struct Case {
    lstm::Layer& layer;
    const Tensor& input;
    const Tensor& d_output;
  };
  for (const Case& c : {Case{dense, x, d_y}, Case{embedding, ids, d_embedded},
                        Case{dropout, x, d_y}, Case{norm, x, d_y}}) {
    // never a forward
    const std::string message = error_of([&] { c.layer.backward(c.d_output); });
    EXPECT_TRUE(contains(message, "training")) << c.layer.kind() << ": " << message;
    // a training forward, then an inference forward: nothing is kept for backward
    lstm::Rng rng(1);
    c.layer.forward(c.input, {.training = true, .rng = &rng});
    EXPECT_NO_THROW(c.layer.backward(c.d_output)) << c.layer.kind();
    c.layer.forward(c.input, kInfer);
    EXPECT_THROW(c.layer.backward(c.d_output), lstm::Error) << c.layer.kind();
  }
}

}  // namespace
