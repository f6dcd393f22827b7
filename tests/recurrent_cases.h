// Recurrent layer configurations that the bit-identity tests (test_threads.cpp, test_freeze.cpp)
// run through: every cell, uneven chunks of hidden units, stacked bidirectional layers with
// dropout, batch 1 with many chunks, narrow inputs over many rows, gate rows that do not split
// evenly, more rows than one block of the weight gradients, row blocks (of 16 or more samples,
// and two of a smaller batch), steps that compute their own rows of Gx, a projection, and a GRU
// without bias returning only its last step; and the helpers they share.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "lstm/nn.h"

namespace lstm::testing {

// Uniform in [−1, 1).
inline Tensor random_tensor(const Shape& shape, Rng& rng) {
  Tensor t(shape);
  for (float& v : t) v = rng.uniform(-1.0f, 1.0f);
  return t;
}

inline bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(float)) ==
             0;
}

struct RecurrentCase {
  std::string name;
  RecurrentConfig config;
  int64_t batch, steps;
  bool lengths;  // samples of different lengths
};

inline std::vector<RecurrentCase> recurrent_cases() {
  const auto cfg = [](CellType cell, int64_t input, int64_t hidden) {
    return RecurrentConfig{.cell = cell, .input_size = input, .hidden_size = hidden};
  };
  std::vector<RecurrentCase> all;
  for (CellType cell : {CellType::lstm, CellType::gru, CellType::rnn_tanh, CellType::rnn_relu}) {
    RecurrentConfig c = cfg(cell, 5, 72);  // chunks of 48 and 24 units
    all.push_back({"uneven", c, 3, 6, true});
    c.num_layers = 2;
    c.bidirectional = true;
    c.dropout = 0.3f;
    all.push_back({"stacked_bidirectional_dropout", c, 4, 5, true});
    // 5 chunks of units, the last of 44
    all.push_back({"batch1_many_chunks", cfg(cell, 33, 300), 1, 4, false});
    // inputs narrower than a panel, over enough rows that each thread's part of dX is a product
    // of its own
    all.push_back({"narrow_input_many_rows", cfg(cell, 3, 64), 16, 12, false});
    // G·33 gate rows: the members' shares of the weight gradients' rows end in a few rows
    // (RNN: 32 + 1 on 2 threads; GRU: 3 · 32 + 3 on 5)
    all.push_back({"odd_gate_rows", cfg(cell, 5, 33), 3, 6, false});
    // T·B = 1125 rows: the weight gradients' copies of [H_prev | X] come in blocks of rows that
    // depend on the thread count (2048 on 1–2 threads: one block; 1024 on more: two)
    all.push_back({"rows_in_blocks", cfg(cell, 3, 64), 15, 75, false});
    // a small layer with 19 samples: its time loop runs in row blocks of 9 and 10 samples
    // (Recurrent's batch_blocks), both directions, with lengths
    c = cfg(cell, 5, 40);
    c.bidirectional = true;
    all.push_back({"row_blocks", c, 19, 6, true});
    c.num_layers = 2;  // and stacked, with dropout between the layers
    c.dropout = 0.3f;
    all.push_back({"row_blocks_stacked_dropout", c, 20, 4, true});
    // 9 samples, W_hh under 512 KiB, a step of 4 samples over 256 kFLOP: two row blocks of 4
    // and 5 samples
    c = cfg(cell, 5, cell == CellType::lstm || cell == CellType::gru ? 128 : 200);
    c.bidirectional = true;
    all.push_back({"two_row_blocks", c, 9, 5, true});
    // 16 samples, W_hh over 1 MiB: one block whose steps compute their own rows of Gx
    // (Recurrent's input_in_steps), both directions, with lengths
    c = cfg(cell, 5, cell == CellType::lstm ? 260 : cell == CellType::gru ? 300 : 520);
    c.bidirectional = true;
    all.push_back({"input_in_steps", c, 16, 3, true});
  }
  RecurrentConfig projected = cfg(CellType::lstm, 7, 100);
  projected.proj_size = 37;
  projected.num_layers = 2;
  all.push_back({"lstm_projection", projected, 3, 5, true});
  all.push_back({"lstm_projection_input_in_steps", projected, 16, 3, true});
  RecurrentConfig no_bias = cfg(CellType::gru, 9, 64);
  no_bias.bias = false;
  no_bias.return_sequences = false;
  all.push_back({"gru_no_bias_last_step", no_bias, 2, 4, false});
  return all;
}

}  // namespace lstm::testing
