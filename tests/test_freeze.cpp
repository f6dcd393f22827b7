// Inference with frozen weights (Recurrent::freeze_weights; issue 5: weights packed once, as
// oneDNN's primitive takes them reordered beforehand). Frozen inference gives bit for bit what
// unfrozen inference gives, for the layers of recurrent_cases.h (every cell, stacked and
// bidirectional layers, a projection, variable lengths), with initial states, few and many rows
// in the input product (which takes dot products below 9 rows and the packed weights above)
// and any number of threads; it computes
// with the weights as they were when frozen; training refuses to run while frozen. The PyTorch
// parity tests run frozen inference against the fixtures too.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/kernels.h"
#include "lstm/nn.h"
#include "lstm/threads.h"
#include "recurrent_cases.h"
#include "threads.h"

namespace {

using namespace lstm;
using lstm::testing::bit_identical;
using lstm::testing::random_tensor;
using lstm::testing::recurrent_cases;
using lstm::testing::RecurrentCase;

struct Inputs {
  Tensor x, h0, c0;
  std::vector<int64_t> lengths;
};

Inputs random_inputs(const RecurrentConfig& config, int64_t batch, int64_t steps,
                     bool with_lengths, Rng& rng) {
  const int64_t LD = config.num_layers * config.directions();
  Inputs in{random_tensor({batch, steps, config.input_size}, rng),
            random_tensor({LD, batch, config.output_size()}, rng),
            random_tensor({LD, batch, config.hidden_size}, rng),
            {}};
  for (int64_t b = 0; b < batch; ++b)
    in.lengths.push_back(with_lengths ? 1 + (b * 5) % steps : steps);
  return in;
}

// output, h_n and c_n of one inference pass
std::vector<Tensor> infer(Recurrent& layer, const Inputs& in) {
  const bool is_lstm = layer.config().cell == CellType::lstm;
  const RecurrentResult r = layer.forward_sequence(in.x, &in.h0, is_lstm ? &in.c0 : nullptr,
                                                   {.lengths = &in.lengths});
  return {r.output, r.h_n, r.c_n};
}

void expect_bit_identical(const std::vector<Tensor>& a, const std::vector<Tensor>& b,
                          const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(bit_identical(a[i], b[i])) << what << ": result " << i;
}

TEST(Freeze, InferenceIsBitIdenticalToUnfrozen) {
  const int original = num_threads();
  threads::set_small_work_on_one_thread(false);  // share the small shapes among the threads too
  for (const RecurrentCase& c : recurrent_cases()) {
    SCOPED_TRACE(c.name + " cell " + std::to_string(static_cast<int>(c.config.cell)));
    Recurrent layer(c.config);
    Rng rng(3);
    layer.reset_parameters(rng);
    const Inputs in = random_inputs(c.config, c.batch, c.steps, c.lengths, rng);
    for (int n : {1, 2, 3}) {
      set_num_threads(n);
      layer.unfreeze_weights();
      EXPECT_FALSE(layer.weights_frozen());
      const std::vector<Tensor> unfrozen = infer(layer, in);
      layer.freeze_weights();
      EXPECT_TRUE(layer.weights_frozen());
      expect_bit_identical(unfrozen, infer(layer, in), std::to_string(n) + " threads");
      expect_bit_identical(unfrozen, infer(layer, in), "again, " + std::to_string(n) + " threads");
    }
  }
  threads::set_small_work_on_one_thread(true);
  set_num_threads(original);
}

// Frozen inference computes with the weights as they were at freeze_weights(), biases and
// projections included; freezing again (or unfreezing) takes the new ones.
TEST(Freeze, LaterChangesAreSeenOnlyAfterFreezingAgain) {
  RecurrentConfig config{
      .cell = CellType::lstm, .input_size = 6, .hidden_size = 40, .proj_size = 20};
  Recurrent layer(config);
  Rng rng(5);
  layer.reset_parameters(rng);
  const Inputs in = random_inputs(config, 12, 4, false, rng);  // 48 rows: packed W_ih
  const std::vector<Tensor> before = infer(layer, in);
  layer.freeze_weights();
  for (const char* name :
       {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"})
    for (float& w : layer.parameter(name)) w *= 0.5f;
  expect_bit_identical(before, infer(layer, in), "frozen, weights changed since");
  layer.unfreeze_weights();
  const std::vector<Tensor> after = infer(layer, in);
  EXPECT_FALSE(bit_identical(before[0], after[0]));
  layer.freeze_weights();
  expect_bit_identical(after, infer(layer, in), "frozen again");
}

// With bf16 weights (ForwardContext::bf16_weights) a frozen layer packs W_hh in bfloat16 from
// its frozen copy at each call and takes Gx from its packed W_ih: the same bits as unfrozen;
// also where the steps compute Gx (H = 300, 16 samples: Recurrent's input_in_steps).
TEST(Freeze, Bf16InferenceIsBitIdenticalToUnfrozen) {
  if (!kernels::bf16_supported()) GTEST_SKIP() << "no AVX-512 BF16 (or another path forced)";
  for (const auto& [cell, H, B] : std::vector<std::tuple<CellType, int64_t, int64_t>>{
           {CellType::lstm, 96, 5}, {CellType::gru, 96, 5}, {CellType::lstm, 300, 16}}) {
    const RecurrentConfig config{.cell = cell, .input_size = 24, .hidden_size = H};
    Recurrent layer(config);
    Rng rng(4);
    layer.reset_parameters(rng);
    const Tensor x = random_tensor({B, 6, 24}, rng);
    const ForwardContext bf16{.bf16_weights = true};
    const Tensor unfrozen = layer.forward_sequence(x, nullptr, nullptr, bf16).output;
    layer.freeze_weights();
    // the first call packs the bf16 W_hh into the frozen copy, the second reads it from there
    for (int call = 0; call < 2; ++call)
      EXPECT_TRUE(bit_identical(unfrozen, layer.forward_sequence(x, nullptr, nullptr, bf16).output))
          << "cell " << static_cast<int>(cell) << ", call " << call;
    // float32 inference in between still reads the float32 packing
    const Tensor float32 = layer.forward_sequence(x).output;
    EXPECT_FALSE(bit_identical(unfrozen, float32)) << "cell " << static_cast<int>(cell);
    // weights changed while frozen are not seen, in bf16 as in float32
    for (const ParameterRef& p : layer.parameters())
      if (p.name.rfind("weight_hh", 0) == 0) p.value->data()[0] += 0.5f;
    EXPECT_TRUE(bit_identical(unfrozen, layer.forward_sequence(x, nullptr, nullptr, bf16).output))
        << "cell " << static_cast<int>(cell);
    layer.freeze_weights();
    EXPECT_FALSE(bit_identical(unfrozen, layer.forward_sequence(x, nullptr, nullptr, bf16).output))
        << "cell " << static_cast<int>(cell) << ": freezing again takes the changed weights";
  }
}

TEST(Freeze, TrainingRefusesToRunWhileFrozen) {
  RecurrentConfig config{.cell = CellType::gru, .input_size = 4, .hidden_size = 16};
  Recurrent layer(config);
  Rng rng(2);
  layer.reset_parameters(rng);
  const Tensor x = random_tensor({2, 3, 4}, rng);
  // a training pass made before freezing cannot be gone back through after it
  const RecurrentResult r = layer.forward_sequence(x, nullptr, nullptr, {.training = true});
  layer.freeze_weights();
  EXPECT_THROW(layer.backward_sequence(r.output), Error);
  try {
    layer.forward_sequence(x, nullptr, nullptr, {.training = true});
    ADD_FAILURE() << "a training pass ran while frozen";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unfreeze_weights"), std::string::npos) << e.what();
  }
  layer.unfreeze_weights();
  const RecurrentResult again = layer.forward_sequence(x, nullptr, nullptr, {.training = true});
  EXPECT_NO_THROW(layer.backward_sequence(again.output));
}

}  // namespace
