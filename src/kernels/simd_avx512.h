// AVX-512 vector operations (16 floats a register) that the generic kernels in gemm_impl.h and
// activations_impl.h are written in. Include only from files compiled with the AVX-512 flags.
#pragma once

// GCC 12 warns about its own _mm512_undefined_ps (inside many AVX-512 intrinsics) as "(may be)
// used uninitialized" (GCC bug 105593); the false alarm is silenced for the files including this.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstdint>

namespace lstm::kernels::simd {

struct Avx512 {
  using Reg = __m512;
  using Mask = __mmask16;
  static constexpr int width = 16;

  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg broadcast(float x) { return _mm512_set1_ps(x); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg x) { _mm512_storeu_ps(p, x); }
  // Lanes [0, count) from p[0 .. count), the others zero; touches no memory past p[count − 1].
  static Reg load_first(const float* p, int count) {
    return _mm512_maskz_loadu_ps(first_lanes(count), p);
  }
  // Stores lanes [0, count) of x to p[0 .. count).
  static void store_first(float* p, Reg x, int count) {
    _mm512_mask_storeu_ps(p, first_lanes(count), x);
  }

  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }  // a·b + c
  static Reg max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static Reg negative_abs(Reg x) { return _mm512_or_ps(x, _mm512_set1_ps(-0.0f)); }  // −|x|
  // |magnitude| with the sign of `sign`.
  static Reg copy_sign(Reg magnitude, Reg sign) {
    const __m512 sign_bit = _mm512_set1_ps(-0.0f);
    return _mm512_or_ps(_mm512_andnot_ps(sign_bit, magnitude), _mm512_and_ps(sign_bit, sign));
  }
  static Reg round(Reg x) {
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // 2^n for integral n in [−126, 127].
  static Reg exp2_int(Reg n) {
    const __m512i biased = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(biased, 23));
  }
  static Mask less(Reg a, Reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static Reg select(Mask m, Reg if_true, Reg if_false) {
    return _mm512_mask_blend_ps(m, if_false, if_true);
  }
  // Transposes the 16 × 16 block rows[0..16): afterwards rows[i] holds what was column i.
  static void transpose(Reg (&rows)[width]) {
    Reg pairs[width];  // 128-bit lane l of pairs[2g], pairs[2g+1]: rows 2g, 2g+1 interleaved
    for (int g = 0; g < 8; ++g) {
      pairs[2 * g] = _mm512_unpacklo_ps(rows[2 * g], rows[2 * g + 1]);
      pairs[2 * g + 1] = _mm512_unpackhi_ps(rows[2 * g], rows[2 * g + 1]);
    }
    Reg quads[width];  // 128-bit lane l of quads[4g + c]: rows 4g … 4g+3 of column 4l + c
    for (int g = 0; g < 4; ++g) {
      quads[4 * g] = unpack_pairs_lo(pairs[4 * g], pairs[4 * g + 2]);
      quads[4 * g + 1] = unpack_pairs_hi(pairs[4 * g], pairs[4 * g + 2]);
      quads[4 * g + 2] = unpack_pairs_lo(pairs[4 * g + 1], pairs[4 * g + 3]);
      quads[4 * g + 3] = unpack_pairs_hi(pairs[4 * g + 1], pairs[4 * g + 3]);
    }
    for (int c = 0; c < 4; ++c) {  // gather 128-bit lane l of quads[c], [4+c], [8+c], [12+c]
      const Reg even01 = _mm512_shuffle_f32x4(quads[c], quads[4 + c], 0x88);  // lanes 0, 2
      const Reg odd01 = _mm512_shuffle_f32x4(quads[c], quads[4 + c], 0xdd);   // lanes 1, 3
      const Reg even23 = _mm512_shuffle_f32x4(quads[8 + c], quads[12 + c], 0x88);
      const Reg odd23 = _mm512_shuffle_f32x4(quads[8 + c], quads[12 + c], 0xdd);
      rows[c] = _mm512_shuffle_f32x4(even01, even23, 0x88);
      rows[4 + c] = _mm512_shuffle_f32x4(odd01, odd23, 0x88);
      rows[8 + c] = _mm512_shuffle_f32x4(even01, even23, 0xdd);
      rows[12 + c] = _mm512_shuffle_f32x4(odd01, odd23, 0xdd);
    }
  }

  static float sum(Reg x) {
    const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

 private:
  static Mask first_lanes(int count) { return static_cast<Mask>((1u << count) - 1u); }
  // Per 128-bit lane, the low (high) 64-bit halves of a and b: (a0 a1 b0 b1) ((a2 a3 b2 b3)).
  static Reg unpack_pairs_lo(Reg a, Reg b) {
    return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
  }
  static Reg unpack_pairs_hi(Reg a, Reg b) {
    return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)));
  }
};

}  // namespace lstm::kernels::simd
