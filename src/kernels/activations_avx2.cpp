// The AVX2 + FMA sigmoid and tanh: activations_impl.h compiled with -mavx2 -mfma.
#include "kernels/activations_impl.h"
#include "kernels/isa_table.h"
#include "kernels/simd_avx2.h"

namespace lstm::kernels::detail {

const ActivationTable activations_avx2 = Activations<simd::Avx2>::table();

}  // namespace lstm::kernels::detail
