// Reading a command's input arrays and checking them against the model: shared by `lstm run`
// and `lstm fit`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lstm/lstm.h"

namespace lstm::cli {

// What the model's first layer that reads the input wants: token ids (batch, time) for an
// Embedding, otherwise (batch, time, features), the feature count under the layer's own name
// for it ("input_size 8").
struct ExpectedInput {
  bool token_ids = false;
  int64_t features = -1;  // -1: any count (a model of Dropout layers only)
  std::string option;
};

ExpectedInput expected_input(const Sequential& model);

// x: (batch, time, features), or token ids (batch, time); at least one sample and one step.
Tensor read_input(const std::string& path, const ExpectedInput& expected);

// lengths: (batch,), each in [1, time].
std::vector<int64_t> read_lengths(const std::string& path, const Tensor& x,
                                  const std::string& x_path);

}  // namespace lstm::cli
