// What each ISA path provides, as tables of plain functions. Each table is defined in the files
// compiled for that ISA (gemm_avx512.cpp, activations_avx2.cpp, …); the public functions in
// gemm.cpp and activations.cpp pick the table of the active path.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace lstm::kernels::detail {

struct GemmTable {
  // sgemm for m, n, k ≥ 1 (the public sgemm deals with empty products).
  void (*sgemm)(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
  // sgemm_bias for m, n, k ≥ 1.
  void (*sgemm_bias)(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k,
                     const float* a, int64_t lda, const float* b, int64_t ldb, const float* bias,
                     float* c, int64_t ldc);
  int64_t (*packed_b_size)(int64_t k, int64_t n);
  // pack_b for k, n ≥ 1 into out (packed_b_size(k, n) floats).
  void (*pack_b)(Trans trans_b, int64_t k, int64_t n, const float* b, int64_t ldb, float* out);
  // sgemm_packed for m, b.n, b.k ≥ 1.
  void (*sgemm_packed)(Trans trans_a, int64_t m, const float* a, int64_t lda, const PackedB& b,
                       float beta, float* c, int64_t ldc);
  // sgemm_packed_bias for m, b.n, b.k ≥ 1.
  void (*sgemm_packed_bias)(Trans trans_a, int64_t m, const float* a, int64_t lda,
                            const PackedB& b, const float* bias, float* c, int64_t ldc);
  bool (*same_as_packed)(Trans trans_b, int64_t m);
  int64_t row_block;  // gemm_row_block: the rows of an A block (MC)
  int64_t (*packed_a_size)(Trans trans_a, int64_t m, int64_t k, int64_t lda);
  // pack_a for m, k ≥ 1 into out (packed_a_size floats).
  void (*pack_a)(Trans trans_a, int64_t m, int64_t k, const float* a, int64_t lda, float* out);
  // sgemm_packed_ab (bias null) and sgemm_packed_ab_bias (beta 0) for a.m, b.n, b.k ≥ 1.
  void (*sgemm_packed_ab)(const PackedA& a, const PackedB& b, float beta, const float* bias,
                          float* c, int64_t ldc);
};

struct ActivationTable {
  void (*sigmoid)(float* y, const float* x, int64_t n);
  void (*tanh)(float* y, const float* x, int64_t n);
  void (*lstm_step)(const LstmStep& step);
  void (*gru_step)(const GruStep& step);
  void (*lstm_backward_step)(const LstmBackStep& step);
  void (*gru_backward_step)(const GruBackStep& step);
};

extern const GemmTable gemm_scalar, gemm_avx2, gemm_avx512;
// pack_b_bf16 and gemm_bf16 for k, n (b.k, b.n), m ≥ 1 (gemm_avx512.cpp, for AVX-512 BF16).
void pack_b_bf16_avx512(int64_t k, int64_t n, const float* b, int64_t ldb, uint16_t* out);
void gemm_bf16_avx512(int64_t m, const float* a, int64_t lda, const PackedBf16& b, float* c,
                      int64_t ldc);
extern const ActivationTable activations_scalar, activations_avx2, activations_avx512;

// The calling thread's scratch buffer number `slot` with room for at least `floats` floats,
// 64-byte aligned: allocated on first use and reallocated only to grow, so a warm kernel does
// not allocate. The contents do not survive a call that asks for more room.
enum class Scratch { a_panels, b_panels, a_rows, a_bf16, count };
float* scratch(Scratch slot, int64_t floats);

}  // namespace lstm::kernels::detail
