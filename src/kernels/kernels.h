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

// What the tuning of the kernels and the layers reads off the CPU (CPUID), once. Only speed
// depends on it, never a result.
struct CpuFacts {
  int l1d_ways = 8;  // ways of a set of the L1 data cache (8 where CPUID does not say)
  int64_t l2_bytes = 1 << 20;  // size of a core's L2 cache (1 MiB where CPUID does not say)
  // Whether a core completes two 16-lane FMAs a cycle: true where AVX-512 is there, except on
  // AMD's CPU family 0x19 (Zen 4), whose cores run 512-bit FMAs on 256-bit units.
  bool full_rate_avx512 = false;
};
const CpuFacts& cpu_facts();

// Flush-to-zero and denormals-are-zero on the calling thread while the object lives, then the
// thread's floating-point mode as it was: so that tiny values never slow a run down (on Zen 5
// Adam's step took 4× as long without it on gradients of 10⁻²¹, whose squares are subnormal:
// 11.7–12.1 against 2.8–2.9 ns a parameter), at the price of values below 2⁻¹²⁶ read and
// written as zero. Every region of the thread pool runs under one, and so does the work the
// library does outside them (Dense, LayerNorm, the optimizers' step); the caller's own code
// keeps its mode.
class DenormalsFlushed {
 public:
  DenormalsFlushed();
  ~DenormalsFlushed();
  DenormalsFlushed(const DenormalsFlushed&) = delete;
  DenormalsFlushed& operator=(const DenormalsFlushed&) = delete;

 private:
  unsigned saved_mode_ = 0;
};

enum class Trans { no, yes };

// C = beta·C + op(A)·op(B), all row-major.
//   op(A) is (m × k): A itself (m × k, row stride lda), or Aᵀ where A is (k × m, row stride lda).
//   op(B) is (k × n): B itself (k × n, row stride ldb), or Bᵀ where B is (n × k, row stride ldb).
//   C is (m × n, row stride ldc). beta = 0 overwrites C without reading it.
void sgemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// C = bias + op(A)·op(B), with bias (n) added to every row of C: the same, bit for bit, as
// sgemm with beta = 1 on a C whose rows hold the bias, without writing those rows first (the
// input projection Gx = X W_ihᵀ + b of a recurrent layer).
void sgemm_bias(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                int64_t lda, const float* b, int64_t ldb, const float* bias, float* c,
                int64_t ldc);

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
// The rows of op(A) that `isa`'s sgemm packs and multiplies as one block. With trans_a = yes
// and trans_b = no (op(A) = Aᵀ, always packed; the weight gradients), a product over rows
// [i0, i1) of op(A), with i0 a multiple of it, cuts them into the same blocks and register
// tiles as the product over all rows does: its rows of C are bit for bit the same. Not so for
// other cuts (a tile of very few rows sums in another order, to hide the FMA latency), nor
// where a product of few rows takes another way: A read in place (trans_a = no), or dot
// products (trans_b = yes).
int64_t gemm_row_block(Isa isa = active_isa());
// Packs op(B) (k × n), with op and ldb as in sgemm, into `out` (packed_b_size(k, n, isa) floats).
PackedB pack_b(Trans trans_b, int64_t k, int64_t n, const float* b, int64_t ldb, float* out,
               Isa isa = active_isa());
// C = beta·C + op(A)·B for B = b packed (k × n): sgemm with m, n = b.n, k = b.k, but no packing of
// B. `isa` must be supported, as it is whenever pack_b made b on this machine.
void sgemm_packed(Trans trans_a, int64_t m, const float* a, int64_t lda, const PackedB& b,
                  float beta, float* c, int64_t ldc);
// C = bias + op(A)·B for B = b packed: sgemm_bias without packing B.
void sgemm_packed_bias(Trans trans_a, int64_t m, const float* a, int64_t lda, const PackedB& b,
                       const float* bias, float* c, int64_t ldc);
// op(A) (m × k) prepared once for `isa`'s GEMM, as sgemm_packed prepares it block by block:
// packed into the row panels of its tiles, or, where it reads rows of A as they lie (A with
// few rows), A itself (or a copy of it with rows a line longer, where A's rows would fall into
// one L1 set). So that a product of the same A with several packed B (a time step's h_{t−1} or
// dA_t with each chunk of W_hh) prepares A once instead of once per product.
struct PackedA {
  const float* data = nullptr;    // A itself, rows lda apart
  int64_t lda = 0;
  const float* packed = nullptr;  // its copy, packed_a_size floats (none where A is read as it lies)
  int64_t m = 0, k = 0;
  Trans trans_a = Trans::no;
  Isa isa = Isa::scalar;
};
// Floats that pack_a needs for op(A) (m × k) with this lda; 0 where the GEMM reads A as it lies.
int64_t packed_a_size(Trans trans_a, int64_t m, int64_t k, int64_t lda, Isa isa = active_isa());
// Prepares op(A) (m × k), with op and lda as in sgemm, into `out` (packed_a_size floats).
PackedA pack_a(Trans trans_a, int64_t m, int64_t k, const float* a, int64_t lda, float* out,
               Isa isa = active_isa());
// C = beta·C + op(A)·B with both prepared (a.k = b.k, a.isa = b.isa): bit for bit the C of
// sgemm_packed(a.trans_a, a.m, a.data, a.lda, b, beta, c, ldc).
void sgemm_packed_ab(const PackedA& a, const PackedB& b, float beta, float* c, int64_t ldc);
// C = bias + op(A)·B with both prepared, bias (b.n) added to every row: bit for bit the C of
// sgemm_packed_bias(a.trans_a, a.m, a.data, a.lda, b, bias, c, ldc).
void sgemm_packed_ab_bias(const PackedA& a, const PackedB& b, const float* bias, float* c,
                          int64_t ldc);
// Whether sgemm and sgemm_bias with this trans_b and m rows compute C as sgemm_packed and
// sgemm_packed_bias do on `isa`'s path (the same tiles over the same values in the same order,
// so the same bits), so that a caller holding B packed may use it instead: true except where a
// few rows take dot products with the rows of B as they lie (trans_b = yes and m ≤ 8).
bool sgemm_same_as_packed(Trans trans_b, int64_t m, Isa isa = active_isa());

// bfloat16 weights for inference (issue 5, item 8). op(B) = Bᵀ (k × n; B is n × k, as W_hh is
// stored) rounded to bf16 (to nearest, ties to even) and packed once into the layout of AVX-512
// BF16's pair dot product (vdpbf16ps): panels of 16 columns; in a panel, pair i of rows
// (2i, 2i + 1) is 16 × 2 values, column by column: (B[j][2i], B[j][2i + 1]) for j = 0 … 15.
// k is padded with zeros to even, n to 16.
struct PackedBf16 {
  const uint16_t* data = nullptr;
  int64_t k = 0, n = 0;
};
// Whether gemm_bf16 can run: the CPU has AVX-512 BF16 and the AVX-512 path is active.
bool bf16_supported();
// uint16 values needed for op(B) (k × n) packed: k rounded up to even × n rounded up to 16.
int64_t packed_b_bf16_size(int64_t k, int64_t n);
// Packs Bᵀ (k × n), B (n × k, row stride ldb), into out (packed_b_bf16_size(k, n) values).
// Needs bf16_supported().
PackedBf16 pack_b_bf16(int64_t k, int64_t n, const float* b, int64_t ldb, uint16_t* out);
// C (m × b.n, row stride ldc) = A·B: A (m × b.k, row stride lda) rounded to bf16 like B, every
// product exact in float32 and summed in float32. Needs bf16_supported().
void gemm_bf16(int64_t m, const float* a, int64_t lda, const PackedBf16& b, float* c,
               int64_t ldc);

// y[i] = σ(x[i]) = 1 / (1 + e^(−x[i])); y may equal x.
void sigmoid(float* y, const float* x, int64_t n);
// y[i] = tanh(x[i]); y may equal x.
void tanh(float* y, const float* x, int64_t n);

// Views of the rows of a matrix: element j of row r at data[r·row + j]; with gates, element j of
// gate q of row r at data[r·row + q·gate + j].
struct InRows {
  const float* data;
  int64_t row;
};
struct OutRows {
  float* data;
  int64_t row;
};
struct InGates {
  const float* data;
  int64_t row, gate;
};
struct OutGates {
  float* data;  // null: not stored
  int64_t row, gate;
};

// The pointwise part of one LSTM time step, fused into one pass over each row: for `rows`
// samples and n hidden units, with gx = x W_ihᵀ + b and rec = h_{t−1} W_hhᵀ,
//   [i f g o] = [σ σ tanh σ](gx + rec)
//   c_t = f ⊙ c_{t−1} + i ⊙ g;   h_t = o ⊙ tanh(c_t)
// act receives the activated gates (its data may be gx's: in place). c_new may be c_prev.
struct LstmStep {
  int64_t rows, n;
  InGates gx, rec;
  InRows c_prev;
  OutGates act;
  OutRows c_new, h;
};
void lstm_step(const LstmStep& step);

// The pointwise part of one GRU time step (PyTorch's formula), fused likewise: with gx as above
// (b_ih only) and rec = h_{t−1} W_hhᵀ, b_hh (gate q at b_hh + q·b_gate; null: no bias),
//   r = σ(gx_r + rec_r + b_hr);  z = σ(gx_z + rec_z + b_hz);  hn = rec_n + b_hn
//   n = tanh(gx_n + r ⊙ hn);     h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
// act receives [r z n] (its data may be gx's), hn (data nullable) W_hn h_{t−1} + b_hn.
struct GruStep {
  int64_t rows, n;
  InGates gx, rec;
  const float* b_hh;
  int64_t b_gate;
  InRows h_prev;
  OutGates act;
  OutRows hn, h;
};
void gru_step(const GruStep& step);

// The pointwise part of one LSTM step of backward, fused likewise, for `rows` samples and n units:
// with act = [i f g o] (activated, as lstm_step stores them), dh = ∂L/∂(o ⊙ tanh c_t) and dc
// holding ∂L/∂c_t from later steps,
//   do = dh ⊙ tanh(c_t);  dc_t = dc + dh ⊙ o ⊙ (1 − tanh²(c_t))
//   d_gates = [dc_t ⊙ g ⊙ i(1 − i), dc_t ⊙ c_{t−1} ⊙ f(1 − f), dc_t ⊙ i ⊙ (1 − g²), do ⊙ o(1 − o)]
//   dc ← dc_t ⊙ f   (∂L/∂c_{t−1})
struct LstmBackStep {
  int64_t rows, n;
  InGates act;
  InRows dh, c_prev, c_new;
  OutRows dc;  // read and written
  OutGates d_gates;
};
void lstm_backward_step(const LstmBackStep& step);

// The pointwise part of one GRU step of backward: with act = [r z n], hn = W_hn h_{t−1} + b_hn
// and dh = ∂L/∂h_t,
//   dn = dh ⊙ (1 − z);  dz = dh ⊙ (h_{t−1} − n);  da_n = dn ⊙ (1 − n²)
//   d_gates = [da_n ⊙ hn ⊙ r(1 − r), dz ⊙ z(1 − z), da_n]
//   d_rec   = [the same,             the same,      da_n ⊙ r]
struct GruBackStep {
  int64_t rows, n;
  InGates act;
  InRows hn, h_prev, dh;
  OutGates d_gates, d_rec;
};
void gru_backward_step(const GruBackStep& step);

}  // namespace lstm::kernels
