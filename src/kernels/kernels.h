// Kernels: pure functions on raw pointers. A kernel never allocates and never throws.
// Each has a scalar, an AVX2 and an AVX-512 path; the path is chosen once at run time
// (the best the CPU supports, or the one named by the LSTM_ISA environment variable or
// force_isa(), which the tests use to check every path).
#pragma once

#include <cstdint>

namespace lstm::kernels {

enum class Isa { scalar, avx2, avx512 };

const char* isa_name(Isa isa);
bool isa_supported(Isa isa);
// The path in use.
Isa active_isa();
// Use `isa` from now on; returns false (and changes nothing) if the CPU lacks it.
bool force_isa(Isa isa);

// Set flush-to-zero and denormals-are-zero on the calling thread, so that tiny values can
// never slow a run down.
void flush_denormals();

enum class Trans { no, yes };

// C = beta·C + op(A)·op(B), all row-major.
//   op(A) is (m × k): A itself (m × k, row stride lda), or Aᵀ where A is (k × m, row stride lda).
//   op(B) is (k × n): B itself (k × n, row stride ldb), or Bᵀ where B is (n × k, row stride ldb).
//   C is (m × n, row stride ldc). beta = 0 overwrites C without reading it.
void sgemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// op(B) (k × n) rearranged once into the panel layout that one ISA's GEMM micro-kernel reads,
// so that products with the same B at every time step (W_hhᵀ) skip the packing. The caller owns
// the storage: packed_b_size() floats, filled by pack_b(), which returns this view of it.
struct PackedB {
  const float* data = nullptr;
  int64_t k = 0, n = 0;
  Isa isa = Isa::scalar;  // the path it was packed for, and the one sgemm_packed then uses
};

// Floats needed to hold op(B) (k × n) packed for `isa`: k · (n rounded up to the panel width).
int64_t packed_b_size(int64_t k, int64_t n, Isa isa = active_isa());
// The panel width of `isa`'s packed layout. Matrices packed with the same k and n a multiple of
// it can be laid end to end: together they are the packed matrix of their columns side by side.
// pack_b zero-fills the columns it pads.
int64_t packed_b_panel_width(Isa isa = active_isa());
// Packs op(B) (k × n), with op and ldb as in sgemm, into `out` (packed_b_size(k, n, isa) floats).
PackedB pack_b(Trans trans_b, int64_t k, int64_t n, const float* b, int64_t ldb, float* out,
               Isa isa = active_isa());
// C = beta·C + op(A)·B for B = b packed (k × n): sgemm with m, n = b.n, k = b.k, but no packing of
// B. `isa` must be supported, as it is whenever pack_b made b on this machine.
void sgemm_packed(Trans trans_a, int64_t m, const float* a, int64_t lda, const PackedB& b,
                  float beta, float* c, int64_t ldc);

// y[i] = σ(x[i]) = 1 / (1 + e^(−x[i])); y may equal x.
void sigmoid(float* y, const float* x, int64_t n);
// y[i] = tanh(x[i]); y may equal x.
void tanh(float* y, const float* x, int64_t n);

}  // namespace lstm::kernels
