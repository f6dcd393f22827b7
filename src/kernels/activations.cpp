// The public sigmoid and tanh: the active ISA's table; the scalar path uses libm.
#include <cmath>

#include "kernels/isa_table.h"

namespace lstm::kernels {
namespace detail {
namespace {

void sigmoid_scalar(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

void tanh_scalar(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}

}  // namespace

const ActivationTable activations_scalar = {&sigmoid_scalar, &tanh_scalar};

}  // namespace detail

namespace {

const detail::ActivationTable& activations_for(Isa isa) {
  switch (isa) {
    case Isa::avx512: return detail::activations_avx512;
    case Isa::avx2: return detail::activations_avx2;
    case Isa::scalar: break;
  }
  return detail::activations_scalar;
}

}  // namespace

void sigmoid(float* y, const float* x, int64_t n) {
  activations_for(active_isa()).sigmoid(y, x, n);
}

void tanh(float* y, const float* x, int64_t n) { activations_for(active_isa()).tanh(y, x, n); }

}  // namespace lstm::kernels
