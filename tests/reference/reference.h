// The oracle: every layer in double precision, as plain loops over batch, time and units that
// read like the equations of DESIGN.md ("The math"), with PyTorch's semantics. Slow on purpose;
// the fast float32 layers are checked against it (test_reference_parity.cpp) and its finite
// differences check their backward passes (test_gradcheck.cpp).
//
// The second half of this header holds the helpers those tests share: random layers and
// inputs, and the comparison of a float tensor with a reference array.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lstm/nn.h"
#include "lstm/tensor.h"

namespace lstm::reference {

// A dense row-major array of doubles.
struct Array {
  Shape shape;
  std::vector<double> data;

  Array() = default;
  explicit Array(Shape shape_);     // zeros
  explicit Array(const Tensor& t);  // the float values, exactly

  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  bool empty() const { return data.empty(); }
  double& operator()(int64_t i, int64_t j) { return data[index(i, j)]; }
  double operator()(int64_t i, int64_t j) const { return data[index(i, j)]; }
  double& operator()(int64_t i, int64_t j, int64_t k) { return data[index(i, j, k)]; }
  double operator()(int64_t i, int64_t j, int64_t k) const { return data[index(i, j, k)]; }

 private:
  std::size_t index(int64_t i, int64_t j) const {
    return static_cast<std::size_t>(i * shape[1] + j);
  }
  std::size_t index(int64_t i, int64_t j, int64_t k) const {
    return static_cast<std::size_t>((i * shape[1] + j) * shape[2] + k);
  }
};

// ---------------------------------------------------------------------------------------------
// Recurrent layers (LSTM, GRU, RNN; stacked, bidirectional, variable lengths).

// Parameters by PyTorch name: "weight_ih_l0", "bias_hh_l1_reverse", "weight_hr_l0", ...
using Parameters = std::map<std::string, Array>;

// PyTorch's names and shapes of a recurrent layer's parameters, in state_dict order.
std::vector<std::pair<std::string, Shape>> recurrent_parameter_shapes(const RecurrentConfig& config);

struct RecurrentInput {
  Array x;                         // (B, T, I)
  Array h0;                        // (L·D, B, H_out); empty: zeros
  Array c0;                        // (L·D, B, H), LSTM only; empty: zeros
  std::vector<int64_t> lengths;    // (B,), each in [1, T]; empty: every sample has T steps
  std::vector<Array> dropout_masks;  // L−1 masks (B, T, D·H_out) on the layers' outputs; empty: none
};

struct RecurrentOutput {
  Array output;  // (B, T, D·H_out), or (B, D·H_out) without return_sequences
  Array h_n;     // (L·D, B, H_out)
  Array c_n;     // (L·D, B, H), LSTM only
  // min |pre-activation| over every ReLU evaluated (RNN relu only): how far from the kink.
  double smallest_relu_input = std::numeric_limits<double>::infinity();
};

RecurrentOutput recurrent_forward(const RecurrentConfig& config, const Parameters& parameters,
                                  const RecurrentInput& input);

// The masks of dropout between layers, drawn as the float layer draws them from
// ForwardContext::rng: for each layer l = 0 … L−2 in turn, for every element of its output
// (B, T, D·H_out) in row-major order, keep = rng.uniform() ≥ p; a kept element is scaled by
// 1/(1−p), a dropped one is 0.
std::vector<Array> recurrent_dropout_masks(const RecurrentConfig& config, int64_t batch,
                                           int64_t steps, Rng& rng);

// ---------------------------------------------------------------------------------------------
// Feed-forward layers.

// y = x Wᵀ + b on the last axis; x (…, in), weight (out, in), bias (out,) or empty.
Array dense_forward(const Array& x, const Array& weight, const Array& bias);

// y[n, :] = weight[ids[n], :]; ids (…) hold whole numbers, the output is (…, embedding_dim).
Array embedding_forward(const Array& ids, const Array& weight);

// y = (x − mean) / √(var + eps) · γ + β on the last axis, var the biased variance; gamma and
// beta (features,) or both empty (no affine).
Array layer_norm_forward(const Array& x, const Array& gamma, const Array& beta, double eps);

// y = x ⊙ mask.
Array dropout_forward(const Array& x, const Array& mask);

// Σ_i w_i · y_i, the scalar loss whose gradient the checks compare.
double weighted_sum(const Array& w, const Array& y);

// ---------------------------------------------------------------------------------------------
// Helpers the tests share.

// "lstm layers=2 bidirectional input=3 hidden=5 proj=2 no-bias dropout=0.5 last-step"
std::string describe(const RecurrentConfig& config);

// Uniform in [low, high) element by element.
Tensor random_tensor(const Shape& shape, Rng& rng, float low = -1.0f, float high = 1.0f);
void fill_uniform(Tensor& t, Rng& rng, float low = -1.0f, float high = 1.0f);

// Fills every parameter of the float layer with U(−k, k), k = 1/√H (PyTorch's initial range,
// biases included) and returns the same values for the reference.
Parameters randomize_parameters(Recurrent& layer, Rng& rng);

// Each sample's length uniform in [1, steps].
std::vector<int64_t> random_lengths(int64_t batch, int64_t steps, Rng& rng);

// Shapes equal and max |actual − expected| ≤ tolerance · max |expected| (test_util.h's measure).
::testing::AssertionResult close_to(const Tensor& actual, const Array& expected, double tolerance,
                                    const std::string& what);

}  // namespace lstm::reference
