// Placeholder activations (scalar libm); replaced by the vectorized kernels.
#include <cmath>

#include "kernels/kernels.h"

namespace lstm::kernels {

void sigmoid(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void tanh(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

}  // namespace lstm::kernels
