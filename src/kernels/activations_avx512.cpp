// The AVX-512 sigmoid and tanh: activations_impl.h compiled with the AVX-512 flags.
#include "kernels/activations_impl.h"
#include "kernels/isa_table.h"
#include "kernels/simd_avx512.h"

namespace lstm::kernels::detail {

const ActivationTable activations_avx512 = Activations<simd::Avx512>::table();

}  // namespace lstm::kernels::detail
