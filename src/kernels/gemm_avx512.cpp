// The AVX-512 GEMM: gemm_impl.h with 16-float vectors, compiled with the AVX-512 flags; and the
// product with bfloat16 weights (gemm_bf16), compiled for AVX-512 BF16 too.
#include <algorithm>
#include <array>

#include "kernels/gemm_impl.h"
#include "kernels/simd_avx512.h"

namespace lstm::kernels::detail {

// A 14 × 32 register tile: 28 accumulators, 2 vectors of B and a broadcast of A use 31 of the
// 32 registers. Cache blocks as measured best on Zen 5 (48 KiB L1, 1 MiB L2): a B panel is
// 1024 × 32 floats (128 KiB, read from L2), the A block 112 × 1024 (448 KiB) stays in L2.
// Depth blocks of 1024, so that no product of k ≤ 1024 is cut along k: where A is read in place
// (the per-step products, at most 42 rows), 4–10% faster than blocks of 384 (B = 4 to 32, k =
// 512 and 1024); where A is packed, against blocks of 512 (2 threads, each its half of the
// columns), the input projection of 800 × 3072 × 1024 (GRU db-h1024-b32-t25's Gx) ran 1.08–1.12×
// faster (medians of 7–9 rounds), and in the layer (alternations of 5–11 rounds) db-h1024-b32
// 0.98–1.08× (GRU inference 1.00–1.08×, training 1.01–1.04×; LSTM 1.00–1.01× / 0.98–1.04×),
// the training rows whose dX or dW is deeper than 512 0.97–1.03× (their dX alone 1.01–1.05×,
// dW 0.99–1.01×). Blocks of 512 had been 2–6% faster than 384 (LSTM/GRU inference of H = 512
// and 1024). On Zen 4 (32 KiB L1) 512 was the best depth for sgemm on 2048² (96 GFLOP/s on one
// core against 91 with 384 and 88 with 256); 1024 has not been measured there.
struct Avx512Shape {
  using V = simd::Avx512;
  static constexpr int mr = 14, nv = 2, dot_rows = 4;
  static constexpr int64_t kc = 1024, mc = 112, nc = 2048, dot_max_m = 8;
};

const GemmTable gemm_avx512 = Gemm<Avx512Shape>::table();

}  // namespace lstm::kernels::detail

// ---------------------------------------------------------------- bf16 weights (kernels.h)
// Compiled for AVX-512 BF16 as well; called only where bf16_supported().
#pragma GCC push_options
#pragma GCC target("avx512bf16")

namespace lstm::kernels::detail {
namespace {

constexpr int64_t panel_width = 16;  // columns of a packed bf16 panel: one register of floats

// Rows [0, m) of A (row stride lda, k columns) rounded to bf16 (to nearest, ties to even) as
// pairs: pair i of row r, (A[r][2i], A[r][2i + 1]) with a zero past k, is the 32-bit word at
// out[r·stride + i] (held in a float's bits, never computed with).
void round_rows_to_bf16_pairs(int64_t m, int64_t k, const float* a, int64_t lda, float* out,
                              int64_t stride) {
  const auto first = [](int64_t count) {
    return static_cast<__mmask16>(count >= 16 ? 0xffffu : (1u << count) - 1u);
  };
  for (int64_t r = 0; r < m; ++r)
    for (int64_t p = 0; p < k; p += 32) {
      const int64_t rest = k - p;
      const __m512 low = _mm512_maskz_loadu_ps(first(rest), a + r * lda + p);
      const __m512 high = _mm512_maskz_loadu_ps(first(rest - 16 > 0 ? rest - 16 : 0),
                                                a + r * lda + p + 16);
      const __m512bh pairs = _mm512_cvtne2ps_pbh(high, low);  // 32 values, in order
      _mm512_mask_storeu_ps(out + r * stride + p / 2, first((rest + 1) / 2),
                            reinterpret_cast<__m512>(pairs));
    }
}

// C tile (ROWS × cols, row stride ldc; cols ≤ 16·PANELS) = A·B over `pairs` pairs of k, with A
// as round_rows_to_bf16_pairs gives it (row stride a_stride) and B PANELS consecutive packed
// panels from b. A tile too small to hide the latency of vdpbf16ps keeps two accumulator sets
// (even and odd pairs), added at the end.
template <int ROWS, int PANELS>
void bf16_tile(int64_t pairs, const float* a, int64_t a_stride, const uint16_t* b, float* c,
               int64_t ldc, int64_t cols) {
  constexpr int sets = ROWS * PANELS >= 8 ? 1 : 2;
  const int64_t panel_stride = pairs * 2 * panel_width;  // uint16 values per panel
  __m512 acc[sets][ROWS][PANELS];
  for (auto& set : acc)
    for (auto& row : set)
      for (__m512& x : row) x = _mm512_setzero_ps();
  // acc[set] += the products of pair i
  const auto step = [&](int set, int64_t i) {
    __m512bh w[PANELS];
#pragma GCC unroll 4
    for (int v = 0; v < PANELS; ++v)
      w[v] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + v * panel_stride + i * 2 * panel_width));
#pragma GCC unroll 4
    for (int r = 0; r < ROWS; ++r) {
      const __m512bh a_pair = reinterpret_cast<__m512bh>(_mm512_set1_ps(a[r * a_stride + i]));
#pragma GCC unroll 4
      for (int v = 0; v < PANELS; ++v) acc[set][r][v] = _mm512_dpbf16_ps(acc[set][r][v], w[v], a_pair);
    }
  };
  int64_t i = 0;
  for (; i + sets <= pairs; i += sets)
#pragma GCC unroll 2
    for (int s = 0; s < sets; ++s) step(s, i + s);
  for (; i < pairs; ++i) step(0, i);
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < PANELS; ++v) {
      const __m512 sum = sets == 1 ? acc[0][r][v] : _mm512_add_ps(acc[0][r][v], acc[sets - 1][r][v]);
      const int64_t lanes = cols - v * panel_width;
      if (lanes <= 0) break;
      _mm512_mask_storeu_ps(c + r * ldc + v * panel_width,
                            static_cast<__mmask16>(lanes >= 16 ? 0xffffu : (1u << lanes) - 1u), sum);
    }
}

constexpr int max_rows = 4, max_panels = 4;
using Bf16TileFn = void (*)(int64_t, const float*, int64_t, const uint16_t*, float*, int64_t,
                            int64_t);
template <int ROWS>
constexpr std::array<Bf16TileFn, max_panels> bf16_tiles_of_height() {
  return {&bf16_tile<ROWS, 1>, &bf16_tile<ROWS, 2>, &bf16_tile<ROWS, 3>, &bf16_tile<ROWS, 4>};
}
// bf16_tiles[rows − 1][panels − 1]
constexpr std::array<std::array<Bf16TileFn, max_panels>, max_rows> bf16_tiles = {
    bf16_tiles_of_height<1>(), bf16_tiles_of_height<2>(), bf16_tiles_of_height<3>(),
    bf16_tiles_of_height<4>()};

}  // namespace

// Bᵀ packed: 16 rows of B (the panel's columns) at a time rounded to pairs, (16, pairs), then
// transposed 16 × 16 words at a time into the panel, (pairs, 16).
void pack_b_bf16_avx512(int64_t k, int64_t n, const float* b, int64_t ldb, uint16_t* out) {
  using V = simd::Avx512;
  const int64_t pairs = (k + 1) / 2, panels = (n + panel_width - 1) / panel_width;
  float* rows = scratch(Scratch::a_bf16, panel_width * pairs);  // (16, pairs) words
  float* words = reinterpret_cast<float*>(out);  // the panel's pairs as 32-bit words
  for (int64_t panel = 0; panel < panels; ++panel) {
    const int64_t live = std::min(panel_width, n - panel * panel_width);
    round_rows_to_bf16_pairs(live, k, b + panel * panel_width * ldb, ldb, rows, pairs);
    std::fill(rows + live * pairs, rows + panel_width * pairs, 0.0f);
    for (int64_t i0 = 0; i0 < pairs; i0 += panel_width) {
      const int count = static_cast<int>(std::min(panel_width, pairs - i0));
      V::Reg block[panel_width];
      for (int64_t j = 0; j < panel_width; ++j) block[j] = V::load_first(rows + j * pairs + i0, count);
      V::transpose(block);
      for (int i = 0; i < count; ++i)
        V::store(words + (panel * pairs + i0 + i) * panel_width, block[i]);
    }
  }
}

// C = A·B: A rounded to bf16 pairs once into the thread's scratch, then for every group of up
// to 4 panels (64 columns) every group of up to 4 rows, so that a group of panels is read from
// memory once and then from cache.
void gemm_bf16_avx512(int64_t m, const float* a, int64_t lda, const PackedBf16& b, float* c,
                      int64_t ldc) {
  const int64_t pairs = (b.k + 1) / 2, panels = (b.n + panel_width - 1) / panel_width;
  float* a_pairs = scratch(Scratch::a_bf16, m * pairs);  // (m, pairs)
  round_rows_to_bf16_pairs(m, b.k, a, lda, a_pairs, pairs);
  for (int64_t panel = 0; panel < panels; panel += max_panels) {
    const int64_t group = std::min<int64_t>(max_panels, panels - panel);
    const int64_t j0 = panel * panel_width, cols = std::min(group * panel_width, b.n - j0);
    for (int64_t i = 0; i < m; i += max_rows) {
      const int64_t rows = std::min<int64_t>(max_rows, m - i);
      bf16_tiles[rows - 1][group - 1](pairs, a_pairs + i * pairs, pairs,
                                      b.data + panel * pairs * 2 * panel_width, c + i * ldc + j0,
                                      ldc, cols);
    }
  }
}

}  // namespace lstm::kernels::detail

#pragma GCC pop_options
