// Model-file pieces shared by Sequential::save/load and training checkpoints (src/train/).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lstm/io.h"
#include "lstm/model.h"

namespace lstm {

// A checkpoint's tensors beside the model's: "optimizer.<optimizer state name>" and
// "callbacks.<index>.<name>".
inline constexpr const char* kOptimizerTensorPrefix = "optimizer.";
inline constexpr const char* kCallbackTensorPrefix = "callbacks.";

// Writes the model's parameters and architecture (docs/format.md) with more tensors and metadata
// (atomic).
void write_model_file(Sequential& model, const std::string& path,
                      const std::vector<NamedTensor>& extra_tensors,
                      const std::map<std::string, std::string>& extra_metadata);

// Copies the file's tensors (by parameter name "N.name") into the model's parameters: every
// parameter present with its shape, nothing left over; errors start with `path`.
void assign_parameters(Sequential& model, const std::map<std::string, const Tensor*>& by_name,
                       const std::string& path);

// True for a checkpoint's optimizer and callback tensors.
bool is_training_state_tensor(const std::string& name);

}  // namespace lstm
