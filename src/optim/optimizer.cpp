// The optimizer base: argument checks, buffers per parameter name, the state for checkpoints;
// and zero_grad.
#include <algorithm>
#include <set>
#include <utility>

#include "kernels/kernels.h"
#include "lstm/optim.h"
#include "optim/check.h"

namespace lstm {

using optim_detail::number;
using optim_detail::require;

Optimizer::Optimizer(double lr) : lr_(lr) {}

void Optimizer::set_lr(double lr) {
  require(lr >= 0.0, name() + ": invalid learning rate " + number(lr) + " (must be >= 0)");
  lr_ = lr;
}

void Optimizer::step(const std::vector<ParameterRef>& parameters) {
  // Everything is checked before anything changes, so a bad argument leaves the parameters and
  // the state as they were.
  std::set<std::string> seen;
  for (const ParameterRef& p : parameters) {
    require(p.value != nullptr && p.grad != nullptr,
            name() + ": parameter '" + p.name + "' has no value or no gradient");
    require(p.grad->shape() == p.value->shape(), name() + ": gradient of '" + p.name +
                                                     "' has shape " + p.grad->shape_string() +
                                                     ", the parameter " + p.value->shape_string());
    require(seen.insert(p.name).second, name() + ": parameter '" + p.name + "' given twice");
    const auto found = buffers_.find(p.name);
    if (found == buffers_.end()) continue;
    for (const auto& [buffer, tensor] : found->second)
      require(tensor.shape() == p.value->shape(),
              name() + ": state '" + buffer + "' of '" + p.name + "' has shape " +
                  tensor.shape_string() + ", the parameter " + p.value->shape_string());
  }
  ++step_count_;
  const kernels::DenormalsFlushed flushed;
  for (const ParameterRef& p : parameters) update(p, buffers_[p.name], step_count_);
}

OptimizerState Optimizer::state() const {
  OptimizerState state{.step = step_count_, .lr = lr_, .tensors = {}};
  for (const auto& [parameter, buffers] : buffers_)
    for (const auto& [buffer, tensor] : buffers)
      state.tensors.push_back({name() + "." + buffer + "." + parameter, tensor});
  return state;
}

void Optimizer::load_state(const OptimizerState& state) {
  require(state.step >= 0, name() + ": invalid step count " + std::to_string(state.step));
  require(state.lr >= 0.0, name() + ": invalid learning rate " + number(state.lr));
  const std::vector<std::string> known = buffer_names();
  const std::string prefix = name() + ".";
  std::map<std::string, Buffers> loaded;
  for (const auto& [tensor_name, tensor] : state.tensors) {
    // "<optimizer>.<buffer>.<parameter>"; parameter names may hold dots, buffer names do not.
    const std::size_t dot = tensor_name.find('.', prefix.size());
    require(
        tensor_name.starts_with(prefix) && dot != std::string::npos && dot + 1 < tensor_name.size(),
        name() + ": state tensor '" + tensor_name + "' is not named '" + prefix +
            "<buffer>.<parameter>'");
    const std::string buffer = tensor_name.substr(prefix.size(), dot - prefix.size());
    const std::string parameter = tensor_name.substr(dot + 1);
    require(std::find(known.begin(), known.end(), buffer) != known.end(),
            name() + ": state tensor '" + tensor_name + "' is no buffer of this optimizer");
    require(loaded[parameter].emplace(buffer, tensor).second,
            name() + ": state tensor '" + tensor_name + "' given twice");
  }
  for (const auto& [parameter, buffers] : loaded)
    for (const std::string& buffer : known)
      require(buffers.contains(buffer), name() + ": state of '" + parameter + "' lacks '" + prefix +
                                            buffer + "." + parameter + "'");
  buffers_ = std::move(loaded);
  step_count_ = state.step;
  lr_ = state.lr;
}

void zero_grad(const std::vector<ParameterRef>& parameters) {
  for (const ParameterRef& p : parameters)
    if (p.grad != nullptr) p.grad->fill(0.0f);
}

}  // namespace lstm
