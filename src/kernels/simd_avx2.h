// AVX2 + FMA vector operations (8 floats a register) that the generic kernels in gemm_impl.h
// and activations_impl.h are written in. Include only from files compiled with -mavx2 -mfma.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace lstm::kernels::simd {

struct Avx2 {
  using Reg = __m256;
  using Mask = __m256;  // all-ones lanes where true
  static constexpr int width = 8;

  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg broadcast(float x) { return _mm256_set1_ps(x); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg x) { _mm256_storeu_ps(p, x); }
  // Lanes [0, count) from p[0 .. count), the others zero; touches no memory past p[count − 1].
  static Reg load_first(const float* p, int count) {
    return _mm256_maskload_ps(p, first_lanes(count));
  }
  // Stores lanes [0, count) of x to p[0 .. count).
  static void store_first(float* p, Reg x, int count) {
    _mm256_maskstore_ps(p, first_lanes(count), x);
  }

  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }  // a·b + c
  static Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static Reg negative_abs(Reg x) { return _mm256_or_ps(x, _mm256_set1_ps(-0.0f)); }  // −|x|
  // |magnitude| with the sign of `sign`.
  static Reg copy_sign(Reg magnitude, Reg sign) {
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign_bit, magnitude), _mm256_and_ps(sign_bit, sign));
  }
  static Reg round(Reg x) {
    return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // 2^n for integral n in [−126, 127].
  static Reg exp2_int(Reg n) {
    const __m256i biased = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(biased, 23));
  }
  static Mask less(Reg a, Reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static Reg select(Mask m, Reg if_true, Reg if_false) {
    return _mm256_blendv_ps(if_false, if_true, m);
  }
  // Transposes the 8 × 8 block rows[0..8): afterwards rows[i] holds what was column i.
  static void transpose(Reg (&rows)[width]) {
    Reg pairs[width];  // 128-bit lane l of pairs[2g], pairs[2g+1]: rows 2g, 2g+1 interleaved
    for (int g = 0; g < 4; ++g) {
      pairs[2 * g] = _mm256_unpacklo_ps(rows[2 * g], rows[2 * g + 1]);
      pairs[2 * g + 1] = _mm256_unpackhi_ps(rows[2 * g], rows[2 * g + 1]);
    }
    Reg quads[width];  // 128-bit lane l of quads[4g + c]: rows 4g … 4g+3 of column 4l + c
    for (int g = 0; g < 2; ++g) {
      quads[4 * g] = unpack_pairs_lo(pairs[4 * g], pairs[4 * g + 2]);
      quads[4 * g + 1] = unpack_pairs_hi(pairs[4 * g], pairs[4 * g + 2]);
      quads[4 * g + 2] = unpack_pairs_lo(pairs[4 * g + 1], pairs[4 * g + 3]);
      quads[4 * g + 3] = unpack_pairs_hi(pairs[4 * g + 1], pairs[4 * g + 3]);
    }
    for (int c = 0; c < 4; ++c) {
      rows[c] = _mm256_permute2f128_ps(quads[c], quads[4 + c], 0x20);
      rows[4 + c] = _mm256_permute2f128_ps(quads[c], quads[4 + c], 0x31);
    }
  }

  static float sum(Reg x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

 private:
  // Per 128-bit lane, the low (high) 64-bit halves of a and b: (a0 a1 b0 b1) ((a2 a3 b2 b3)).
  static Reg unpack_pairs_lo(Reg a, Reg b) {
    return _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)));
  }
  static Reg unpack_pairs_hi(Reg a, Reg b) {
    return _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a), _mm256_castps_pd(b)));
  }
  static __m256i first_lanes(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
};

}  // namespace lstm::kernels::simd
