// The AVX2 + FMA GEMM: gemm_impl.h with 8-float vectors, compiled with -mavx2 -mfma.
#include "kernels/gemm_impl.h"
#include "kernels/simd_avx2.h"

namespace lstm::kernels::detail {

// A 6 × 16 register tile: 12 accumulators, 2 vectors of B and a broadcast of A use 15 of the
// 16 registers.
struct Avx2Shape {
  using V = simd::Avx2;
  static constexpr int mr = 6, nv = 2, dot_rows = 2;
  static constexpr int64_t kc = 256, mc = 144, nc = 2048, dot_max_m = 8;
};

const GemmTable gemm_avx2 = Gemm<Avx2Shape>::table();

}  // namespace lstm::kernels::detail
