// The AVX-512 GEMM: gemm_impl.h with 16-float vectors, compiled with the AVX-512 flags.
#include "kernels/gemm_impl.h"
#include "kernels/simd_avx512.h"

namespace lstm::kernels::detail {

// A 14 × 32 register tile: 28 accumulators, 2 vectors of B and a broadcast of A use 31 of the
// 32 registers. Cache blocks as measured best on Zen 5 (48 KiB L1, 1 MiB L2): a B panel is
// 384 × 32 floats, the A block 112 × 384 (168 KiB) stays in L2.
struct Avx512Shape {
  using V = simd::Avx512;
  static constexpr int mr = 14, nv = 2, dot_rows = 4;
  static constexpr int64_t kc = 384, mc = 112, nc = 2048, dot_max_m = 8;
};

const GemmTable gemm_avx512 = Gemm<Avx512Shape>::table();

}  // namespace lstm::kernels::detail
