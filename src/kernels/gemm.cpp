// The public GEMM entry points: empty products handled here, everything else by the active
// ISA's table; the scalar path (gemm_impl.h on single floats) and the per-thread scratch.
#include <algorithm>
#include <cstddef>
#include <new>

#include "kernels/gemm_impl.h"
#include "kernels/simd_scalar.h"

namespace lstm::kernels {
namespace detail {

// A 4 × 4 tile of single floats.
struct ScalarShape {
  using V = simd::Scalar;
  static constexpr int mr = 4, nv = 4, dot_rows = 2;
  static constexpr int64_t kc = 256, mc = 128, nc = 1024, dot_max_m = 8;
};

const GemmTable gemm_scalar = Gemm<ScalarShape>::table();

namespace {

struct ScratchBuffer {
  float* data = nullptr;
  int64_t capacity = 0;  // floats
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { release(); }
  void release() {
    if (data) ::operator delete (data, std::align_val_t{64});
    data = nullptr;
    capacity = 0;
  }
};

}  // namespace

float* scratch(Scratch slot, int64_t floats) {
  thread_local ScratchBuffer buffers[static_cast<int>(Scratch::count)];
  ScratchBuffer& buffer = buffers[static_cast<int>(slot)];
  if (buffer.capacity < floats) {
    buffer.release();
    buffer.data = static_cast<float*>(
        ::operator new (static_cast<std::size_t>(floats) * sizeof(float), std::align_val_t{64}));
    buffer.capacity = floats;
  }
  return buffer.data;
}

}  // namespace detail

namespace {

const detail::GemmTable& gemm_for(Isa isa) {
  switch (isa) {
    case Isa::avx512: return detail::gemm_avx512;
    case Isa::avx2: return detail::gemm_avx2;
    case Isa::scalar: break;
  }
  return detail::gemm_scalar;
}

// C (m × n, row stride ldc) = beta·C, without reading C when beta = 0.
void scale_rows(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

// Every row of C (m × n, row stride ldc) = bias (n).
void rows_from_bias(int64_t m, int64_t n, const float* bias, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) std::copy(bias, bias + n, c + i * ldc);
}

}  // namespace

void sgemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0)
    scale_rows(m, n, beta, c, ldc);
  else
    gemm_for(active_isa()).sgemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

void sgemm_bias(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* b, int64_t ldb, const float* bias, float* c,
                int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0)
    rows_from_bias(m, n, bias, c, ldc);
  else
    gemm_for(active_isa()).sgemm_bias(trans_a, trans_b, m, n, k, a, lda, b, ldb, bias, c, ldc);
}

int64_t packed_b_size(int64_t k, int64_t n, Isa isa) {
  return k <= 0 || n <= 0 ? 0 : gemm_for(isa).packed_b_size(k, n);
}

int64_t packed_b_panel_width(Isa isa) { return gemm_for(isa).packed_b_size(1, 1); }

int64_t gemm_row_block(Isa isa) { return gemm_for(isa).row_block; }

PackedB pack_b(Trans trans_b, int64_t k, int64_t n, const float* b, int64_t ldb, float* out,
               Isa isa) {
  if (k > 0 && n > 0) gemm_for(isa).pack_b(trans_b, k, n, b, ldb, out);
  return {out, k, n, isa};
}

void sgemm_packed(Trans trans_a, int64_t m, const float* a, int64_t lda, const PackedB& b,
                  float beta, float* c, int64_t ldc) {
  if (m <= 0 || b.n <= 0) return;
  if (b.k <= 0)
    scale_rows(m, b.n, beta, c, ldc);
  else
    gemm_for(b.isa).sgemm_packed(trans_a, m, a, lda, b, beta, c, ldc);
}

void sgemm_packed_bias(Trans trans_a, int64_t m, const float* a, int64_t lda, const PackedB& b,
                       const float* bias, float* c, int64_t ldc) {
  if (m <= 0 || b.n <= 0) return;
  if (b.k <= 0)
    rows_from_bias(m, b.n, bias, c, ldc);
  else
    gemm_for(b.isa).sgemm_packed_bias(trans_a, m, a, lda, b, bias, c, ldc);
}

int64_t packed_a_size(Trans trans_a, int64_t m, int64_t k, int64_t lda, Isa isa) {
  return m <= 0 || k <= 0 ? 0 : gemm_for(isa).packed_a_size(trans_a, m, k, lda);
}

PackedA pack_a(Trans trans_a, int64_t m, int64_t k, const float* a, int64_t lda, float* out,
               Isa isa) {
  if (m > 0 && k > 0) gemm_for(isa).pack_a(trans_a, m, k, a, lda, out);
  return {a, lda, out, m, k, trans_a, isa};
}

void sgemm_packed_ab(const PackedA& a, const PackedB& b, float beta, float* c, int64_t ldc) {
  if (a.m <= 0 || b.n <= 0) return;
  if (b.k <= 0)
    scale_rows(a.m, b.n, beta, c, ldc);
  else
    gemm_for(b.isa).sgemm_packed_ab(a, b, beta, nullptr, c, ldc);
}

void sgemm_packed_ab_bias(const PackedA& a, const PackedB& b, const float* bias, float* c,
                          int64_t ldc) {
  if (a.m <= 0 || b.n <= 0) return;
  if (b.k <= 0)
    rows_from_bias(a.m, b.n, bias, c, ldc);
  else
    gemm_for(b.isa).sgemm_packed_ab(a, b, 0.0f, bias, c, ldc);
}

bool sgemm_same_as_packed(Trans trans_b, int64_t m, Isa isa) {
  return gemm_for(isa).same_as_packed(trans_b, m);
}

bool bf16_supported() {
#if defined(__x86_64__)
  return active_isa() == Isa::avx512 && __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

int64_t packed_b_bf16_size(int64_t k, int64_t n) {
  return k <= 0 || n <= 0 ? 0 : (k + 1) / 2 * 2 * ((n + 15) / 16 * 16);
}

PackedBf16 pack_b_bf16(int64_t k, int64_t n, const float* b, int64_t ldb, uint16_t* out) {
  if (k > 0 && n > 0) detail::pack_b_bf16_avx512(k, n, b, ldb, out);
  return {out, k, n};
}

void gemm_bf16(int64_t m, const float* a, int64_t lda, const PackedBf16& b, float* c,
               int64_t ldc) {
  if (m <= 0 || b.n <= 0) return;
  if (b.k <= 0)
    scale_rows(m, b.n, 0.0f, c, ldc);
  else
    detail::gemm_bf16_avx512(m, a, lda, b, c, ldc);
}

}  // namespace lstm::kernels
