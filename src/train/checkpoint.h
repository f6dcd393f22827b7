// Training checkpoints (docs/format.md): a model file whose metadata also holds "training" (JSON:
// epochs done, optimizer step and learning rate, random state, history, callbacks' numbers, the
// fit's set-up) and whose tensors also hold the optimizer's buffers ("optimizer.<name>") and the
// callbacks' tensors ("callbacks.<index>.<name>"). Written atomically.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lstm/model.h"
#include "lstm/train.h"

namespace lstm {

struct CheckpointState {
  int64_t epochs_done = 0;
  std::string optimizer_name;
  OptimizerState optimizer;
  std::vector<uint64_t> rng;
  History history;
  std::vector<std::pair<std::string, CallbackState>> callbacks;  // (name, state) in fit's order
  // The fit's set-up, which a resumed fit must share to go on as if never stopped.
  int64_t train_samples = 0;
  int64_t batch_size = 0;
  bool shuffle = false;
};

void write_checkpoint(Sequential& model, const std::string& path, const CheckpointState& state);
// Reads a checkpoint, copies its weights into `model` (same architecture) and returns the rest.
CheckpointState read_checkpoint(Sequential& model, const std::string& path);

}  // namespace lstm
