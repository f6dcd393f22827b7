// Gradient clipping, as torch.nn.utils.clip_grad_norm_ and clip_grad_value_.
#include <algorithm>
#include <cmath>

#include "lstm/optim.h"
#include "optim/check.h"

namespace lstm {

using optim_detail::number;
using optim_detail::require;

namespace {

void require_gradients(const std::vector<ParameterRef>& parameters, const char* function) {
  for (const ParameterRef& p : parameters)
    require(p.grad != nullptr,
            std::string(function) + ": parameter '" + p.name + "' has no gradient");
}

}  // namespace

// Over all gradients g together:
//   ‖g‖ = √(Σ g²)
//   c = max_norm / (‖g‖ + 10⁻⁶)
//   g ← c g  when c < 1 (or c is NaN, which PyTorch spreads to every gradient too)
double clip_grad_norm(const std::vector<ParameterRef>& parameters, double max_norm) {
  require(max_norm >= 0.0,
          "clip_grad_norm: invalid max_norm " + number(max_norm) + " (must be >= 0)");
  require_gradients(parameters, "clip_grad_norm");
  double sum_of_squares = 0.0;
  for (const ParameterRef& p : parameters)
    for (const float g : *p.grad) sum_of_squares += static_cast<double>(g) * g;
  const double total_norm = std::sqrt(sum_of_squares);
  const double clip_coefficient = max_norm / (total_norm + 1e-6);
  if (!(clip_coefficient >= 1.0)) {
    const float c = static_cast<float>(clip_coefficient);
    for (const ParameterRef& p : parameters)
      for (float& g : *p.grad) g *= c;
  }
  return total_norm;
}

// g ← min(max(g, −clip_value), clip_value), element by element.
void clip_grad_value(const std::vector<ParameterRef>& parameters, double clip_value) {
  require(clip_value >= 0.0,
          "clip_grad_value: invalid clip_value " + number(clip_value) + " (must be >= 0)");
  require_gradients(parameters, "clip_grad_value");
  const float limit = static_cast<float>(clip_value);
  for (const ParameterRef& p : parameters)
    for (float& g : *p.grad) g = std::clamp(g, -limit, limit);
}

}  // namespace lstm
