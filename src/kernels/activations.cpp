// The public sigmoid, tanh and fused cell steps: the active ISA's table; the scalar path uses
// libm.
#include <cmath>

#include "kernels/activations_impl.h"
#include "kernels/isa_table.h"
#include "kernels/simd_scalar.h"

namespace lstm::kernels {
namespace detail {
namespace {

struct ScalarFunctions {
  static float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
  static float tanh(float x) { return std::tanh(x); }
};

template <float (*f)(float)>
void map_scalar(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

using ScalarCells = Cells<simd::Scalar, ScalarFunctions>;

}  // namespace

const ActivationTable activations_scalar = {&map_scalar<&ScalarFunctions::sigmoid>,
                                            &map_scalar<&ScalarFunctions::tanh>,
                                            &ScalarCells::lstm, &ScalarCells::gru,
                                            &ScalarCells::lstm_backward,
                                            &ScalarCells::gru_backward};

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

void lstm_step(const LstmStep& step) { activations_for(active_isa()).lstm_step(step); }

void gru_step(const GruStep& step) { activations_for(active_isa()).gru_step(step); }

void lstm_backward_step(const LstmBackStep& step) {
  activations_for(active_isa()).lstm_backward_step(step);
}

void gru_backward_step(const GruBackStep& step) {
  activations_for(active_isa()).gru_backward_step(step);
}

}  // namespace lstm::kernels
