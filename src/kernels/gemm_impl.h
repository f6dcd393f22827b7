// The single-precision GEMM, written once over a vector type V (simd_*.h) and a tile shape;
// gemm_avx512.cpp, gemm_avx2.cpp and gemm.cpp (scalar) instantiate it, each compiled for its ISA.
//
// C = beta·C + op(A)·op(B) runs one of two ways:
//   blocked  the loops of a cache-blocked GEMM (n in blocks of NC, k in blocks of KC, m in blocks
//            of MC) around a register tile of up to MR × NR accumulators. op(A) is packed per
//            block into panels of at most MR rows (k-major), or read in place when it is A
//            itself with at most 3·MR rows; op(B) comes as panels of NR columns (k-major) —
//            packed per block (a panel at a time, as the tiles first reach it), packed once
//            beforehand (sgemm_packed), or read in place when trans_b = no and op(A) has at
//            most 3·MR rows (each element of B then serves at most three row panels, which
//            find it in cache, so copying B would cost more than it saves).
//   dots     trans_b = yes and few rows of op(A) (the per-step LSTM product h·W_hhᵀ, a GEMV at
//            m = 1): every C element is a dot product of a row of op(A) and a row of B, both
//            contiguous along k, so B streams through once as it lies.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/isa_table.h"

namespace lstm::kernels::detail {

// Shape: using V = <vector type>; static constexpr int mr (rows of the register tile),
// nv (vectors across it, so NR = nv·V::width columns), dot_rows (rows of a dot-product tile);
// static constexpr int64_t kc, mc, nc (cache blocks; mc a multiple of mr, nc of NR), dot_max_m
// (the most rows of op(A) that take the dot-product way).
template <class Shape>
struct Gemm {
  using V = typename Shape::V;
  using Reg = typename V::Reg;
  static constexpr int W = V::width;
  static constexpr int MR = Shape::mr, NR = Shape::nv * W, NV = Shape::nv;
  static constexpr int64_t KC = Shape::kc, MC = Shape::mc, NC = Shape::nc;
  static_assert(MC % MR == 0 && NC % NR == 0);
  // Independent accumulators needed to keep the FMA units busy: latency 4 × 2 pipes.
  static constexpr int min_accumulators = 8;

  static int64_t smaller(int64_t x, int64_t y) { return x < y ? x : y; }

  // ---------------------------------------------------------------- register tile (blocked)

  // acc (ROWS × NR) += a (ROWS) ⊗ b (NR): one step p of the tile's product, with element r of a
  // at a[r·a_row].
  template <int ROWS>
  static void multiply_add(Reg (&acc)[ROWS][NV], const float* a, int64_t a_row, const float* b) {
    Reg b_row[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b_row[v] = V::load(b + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
      const Reg a_r = V::broadcast(a[r * a_row]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(a_r, b_row[v], acc[r][v]);
    }
  }

  // beta·c + sum over `lanes` (≤ W) elements of c, or bias + sum where there is a bias (then
  // beta is 0); c is not read when beta = 0.
  static Reg with_beta(Reg sum, float beta, const float* bias, const float* c, int lanes) {
    if (bias) return V::add(lanes >= W ? V::load(bias) : V::load_first(bias, lanes), sum);
    if (beta == 0.0f) return sum;
    const Reg old = lanes >= W ? V::load(c) : V::load_first(c, lanes);
    return beta == 1.0f ? V::add(old, sum) : V::fma(V::broadcast(beta), old, sum);
  }

  // C (ROWS × cols, row stride ldc; cols ≤ NR) = beta·C + acc, or bias + acc for every row where
  // bias (cols) is not null.
  template <int ROWS>
  static void update_c(const Reg (&acc)[ROWS][NV], float beta, const float* bias, float* c,
                       int64_t ldc, int cols) {
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        const int lanes = cols - v * W;
        if (lanes <= 0) break;
        float* dst = c + r * ldc + v * W;
        const Reg x = with_beta(acc[r][v], beta, bias ? bias + v * W : nullptr, dst, lanes);
        if (lanes >= W)
          V::store(dst, x);
        else
          V::store_first(dst, x, lanes);
      }
    }
  }

  // C tile (ROWS × cols, row stride ldc; ROWS ≤ MR, cols ≤ NR) = beta·C + A·B (bias + A·B where
  // bias is not null) over depth k, with A either a packed panel (DIRECT false: k × ROWS,
  // element (p, r) at a[p·ROWS + r]) or rows of op(A) where they lie (DIRECT: element (p, r) at
  // a[r·a_row + p]), and B k × NR with row stride b_stride. The two read the same values in the
  // same order, so they give the same C. A tile too small to hide the FMA latency keeps several
  // accumulator sets (one per p mod sets), added up at the end.
  template <int ROWS, bool DIRECT>
  static void tile(int64_t k, const float* a, int64_t a_row, const float* b, int64_t b_stride,
                   float beta, const float* bias, float* c, int64_t ldc, int cols) {
    const int64_t a_step = DIRECT ? 1 : ROWS, a_lane = DIRECT ? a_row : 1;  // strides of p, r
    // C's lines, asked for now, are in cache by the time the products are stored: rows ldc
    // apart, which the hardware does not fetch ahead, and a miss on each would stall the store
    // (the weight gradients, k = T·B rows deep, add to a C that is larger than the caches).
#pragma GCC unroll 16
    for (int r = 0; r < ROWS; ++r) {
      __builtin_prefetch(c + r * ldc, 1, 3);
      __builtin_prefetch(c + r * ldc + cols - 1, 1, 3);
    }
    constexpr int per_set = ROWS * NV;
    constexpr int sets =
        per_set >= min_accumulators ? 1 : (min_accumulators + per_set - 1) / per_set;
    Reg acc[sets][ROWS][NV];
#pragma GCC unroll 4
    for (int s = 0; s < sets; ++s)
#pragma GCC unroll 16
      for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[s][r][v] = V::zero();
    int64_t p = 0;
    for (; p + sets <= k; p += sets)
#pragma GCC unroll 4
      for (int s = 0; s < sets; ++s)
        multiply_add<ROWS>(acc[s], a + (p + s) * a_step, a_lane, b + (p + s) * b_stride);
    for (; p < k; ++p) multiply_add<ROWS>(acc[0], a + p * a_step, a_lane, b + p * b_stride);
#pragma GCC unroll 4
    for (int s = 1; s < sets; ++s)
#pragma GCC unroll 16
      for (int r = 0; r < ROWS; ++r)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[0][r][v] = V::add(acc[0][r][v], acc[s][r][v]);
    update_c<ROWS>(acc[0], beta, bias, c, ldc, cols);
  }

  using TileFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, float,
                          const float*, float*, int64_t, int);
  template <bool DIRECT, int... R>
  static constexpr std::array<TileFn, sizeof...(R)> tile_table(std::integer_sequence<int, R...>) {
    return {&tile<R + 1, DIRECT>...};
  }
  // tiles[direct][rows − 1] is the tile for `rows` rows, A packed or (direct) read in place.
  static constexpr std::array<std::array<TileFn, MR>, 2> tiles = {
      tile_table<false>(std::make_integer_sequence<int, MR>{}),
      tile_table<true>(std::make_integer_sequence<int, MR>{})};

  // ---------------------------------------------------------------- packing

  // Packing stores whole vectors where it can: a masked store (V::store_first) is many times
  // slower than a whole one on this machine's AMD Zen cores (measured: 83% of the time spent
  // packing dAᵀ for a weight gradient went to them). A "spilling" copy stores a row of fewer
  // than W floats as a whole vector, whose extra lanes land on the floats after it: the next
  // row of the same panel, written after it, or the next panel, written after it, or the W
  // floats of room past the end of the packed block (kAPanelsRoom).
  static constexpr int64_t kAPanelsRoom = W;

  // The L1 data cache: the distance in bytes of two addresses in the same set (64 sets of
  // 64-byte lines: Zen 4, Zen 5 and most x86 cores), and the floats of a line. Its ways (Zen 4:
  // 8; Zen 5: 12) come from CPUID (cpu_facts).
  static constexpr int64_t kL1SetSpan = 4096, kLineFloats = 64 / sizeof(float);

  // out[p·out_stride + r] = src[r·src_stride + p] for p < count and r < lanes, where the rows
  // r ≥ rows (up to lanes) read as zero: a transposing copy, W × W blocks at a time in registers.
  // With `spill` (only where out_stride = lanes ≤ W: rows back to back, one vector each), each
  // row of out is stored as a whole vector, spilling as above.
  static void transpose_copy(const float* src, int64_t src_stride, int64_t rows, int64_t count,
                             float* out, int64_t out_stride, int64_t lanes, bool spill = false) {
    for (int64_t r0 = 0; r0 < lanes; r0 += W) {
      const int width = static_cast<int>(smaller(W, lanes - r0));  // lanes stored
      const bool whole_vectors = width == W || spill;
      const int64_t live = rows - r0;                              // rows with data (< W: fewer)
      int64_t p = 0;
      for (; p + W <= count; p += W) {
        Reg block[W];
#pragma GCC unroll 16
        for (int i = 0; i < W; ++i)
          block[i] = i < live ? V::load(src + (r0 + i) * src_stride + p) : V::zero();
        V::transpose(block);
#pragma GCC unroll 16
        for (int i = 0; i < W; ++i) {
          float* dst = out + (p + i) * out_stride + r0;
          if (whole_vectors)
            V::store(dst, block[i]);
          else
            V::store_first(dst, block[i], width);
        }
      }
      for (; p < count; ++p)
        for (int i = 0; i < width; ++i)
          out[p * out_stride + r0 + i] = i < live ? src[(r0 + i) * src_stride + p] : 0.0f;
    }
  }

  // dst[0, count) = src[0, count), whole vectors at a time, spilling up to W − 1 floats past
  // dst + count (see kAPanelsRoom): the floats after the piece where src has `readable` (≥ count)
  // floats to read, zeros where it ends sooner: a masked load (V::load_first) of each piece of
  // dAᵀ, whose rows lie G·H floats apart and miss the L1, made the packs of a weight gradient
  // take 11.5% of the product's time on Zen 5 (one core, 1024 × 1024 × 1600), whole loads 8.5%:
  // the product runs 1.08× faster (1.06× at 2048 × 1024 × 800).
  static void copy_spilling(const float* src, int64_t count, int64_t readable, float* dst) {
    int64_t j = 0;
    for (; j + W <= count; j += W) V::store(dst + j, V::load(src + j));
    if (j < count)
      V::store(dst + j, j + W <= readable ? V::load(src + j)
                                          : V::load_first(src + j, static_cast<int>(count - j)));
  }

  // dst[0, count) = src[0, count), then zeros up to `padded` (≥ count): a vector at a time.
  static void copy_padded(const float* src, int64_t count, float* dst, int64_t padded) {
    int64_t j = 0;
    for (; j + W <= count; j += W) V::store(dst + j, V::load(src + j));
    if (j < count) {
      const int rest = static_cast<int>(count - j);
      V::store_first(dst + j, V::load_first(src + j, rest), rest);
      j += rest;
    }
    for (; j < padded; ++j) dst[j] = 0.0f;
  }

  // How the rows of an m block are cut into register-tile panels: ceil(rows / MR) panels of
  // near-equal height (16 rows as 8 + 8, not 14 + 2, so no tile is left too thin to be fast).
  struct RowPanels {
    int64_t count, base, extra;  // the first `extra` panels have base + 1 rows, the rest base
    explicit RowPanels(int64_t rows)
        : count((rows + MR - 1) / MR), base(rows / count), extra(rows % count) {}
    int64_t first_row(int64_t q) const { return q * base + (q < extra ? q : extra); }
    int64_t height(int64_t q) const { return base + (q < extra ? 1 : 0); }
  };

  // Packs op(A)[i0, i0 + mc) × [p0, p0 + kc) into the row panels of RowPanels(mc): panel q,
  // holding rows = height(q) rows from first_row(q), is kc × rows (element (p, r) at p·rows + r)
  // at out + first_row(q)·kc. The panels are written in order, each spilling into the next, so
  // out needs mc·kc + kAPanelsRoom floats. op(A) has m rows (of which the block's are [i0, i0 +
  // mc)): where A is (k × m), each of its rows has m floats to read.
  static void pack_a_panels(Trans trans_a, const float* a, int64_t lda, int64_t m, int64_t i0,
                            int64_t mc, int64_t p0, int64_t kc, float* out) {
    const RowPanels panels(mc);
    for (int64_t q = 0; q < panels.count; ++q) {
      const int64_t first = panels.first_row(q), rows = panels.height(q);
      float* panel = out + first * kc;
      if (trans_a == Trans::no) {  // A is (m × k): row r of the panel is a row of A
        transpose_copy(a + (i0 + first) * lda + p0, lda, rows, kc, panel, rows, rows,
                       rows <= W);
      } else {  // A is (k × m): step p of the panel is part of a row of A
        for (int64_t p = 0; p < kc; ++p)
          copy_spilling(a + (p0 + p) * lda + i0 + first, rows, m - (i0 + first), panel + p * rows);
      }
    }
  }

  // Packs op(B)[p0, p0 + kc) × [j0, j0 + cols) (cols ≤ NR) into out as kc × NR (element (p, j)
  // at p·NR + j), zero in columns [cols, NR).
  static void pack_b_panel(Trans trans_b, const float* b, int64_t ldb, int64_t p0, int64_t kc,
                           int64_t j0, int64_t cols, float* out) {
    if (trans_b == Trans::no) {  // B is (k × n): step p of the panel is part of a row of B
      for (int64_t p = 0; p < kc; ++p) copy_padded(b + (p0 + p) * ldb + j0, cols, out + p * NR, NR);
    } else {  // B is (n × k): column j of the panel is a row of B
      transpose_copy(b + j0 * ldb + p0, ldb, cols, kc, out, NR, NR);
    }
  }

  // ---------------------------------------------------------------- sources of B panels

  // A k × NR panel of op(B) for the register tile: element (p, j) at data[p·stride + j].
  struct BPanel {
    const float* data;
    int64_t stride;
  };

  // Each kc × nc block of op(B) packed into the thread's scratch, a panel at a time as the tiles
  // first ask for it (the loops ask in order of jr), so that a panel is still in the L1 or L2
  // when its tiles read it, where the whole block would have gone out to the L3 or memory and
  // come back (a block of 1024 × 2048 is 8 MiB: the input projection of 25 rows at H = 1024).
  struct PackPerBlock {
    Trans trans_b;
    const float* b;
    int64_t ldb;
    float* buffer;  // depth block × NC (or n rounded up to NR where that is less)
    int64_t jc = 0, nc = 0;  // the block's columns [jc, jc + nc)
    int64_t pc = 0, kc = 0;  // and depth [pc, pc + kc)
    int64_t packed = 0;      // columns of the block packed so far
    void prepare(int64_t block_jc, int64_t block_nc, int64_t block_pc, int64_t block_kc) {
      jc = block_jc;
      nc = block_nc;
      pc = block_pc;
      kc = block_kc;
      packed = 0;
    }
    BPanel panel(int64_t jr) {
      for (; packed <= jr; packed += NR)
        pack_b_panel(trans_b, b, ldb, pc, kc, jc + packed, smaller(NR, nc - packed),
                     buffer + packed * kc);
      return {buffer + jr * kc, NR};
    }
  };

  // op(B) = B (k × n) read where it lies; only a last panel narrower than NR is copied (a full
  // width load there would run past the row).
  struct ReadInPlace {
    const float* b;
    int64_t ldb;
    float* edge_buffer;  // depth block × NR
    const float* block = nullptr;
    int64_t full_width = 0;  // columns of the block in whole panels
    void prepare(int64_t jc, int64_t nc, int64_t pc, int64_t kc) {
      block = b + pc * ldb + jc;
      full_width = nc - nc % NR;
      if (full_width < nc)
        pack_b_panel(Trans::no, b, ldb, pc, kc, jc + full_width, nc - full_width, edge_buffer);
    }
    BPanel panel(int64_t jr) const {
      return jr < full_width ? BPanel{block + jr, ldb} : BPanel{edge_buffer, NR};
    }
  };

  // op(B) packed beforehand by pack_b: panel j (columns j·NR …) is k × NR at data + j·NR·k.
  struct Prepacked {
    const float* data;
    int64_t k;
    const float* block = nullptr;
    void prepare(int64_t jc, int64_t, int64_t pc, int64_t) { block = data + jc * k + pc * NR; }
    BPanel panel(int64_t jr) const { return {block + jr * k, NR}; }
  };

  // ---------------------------------------------------------------- sources of A blocks

  static bool reads_a_in_place(Trans trans_a, int64_t m) {
    return trans_a == Trans::no && m <= 3 * MR;
  }
  // The depth of the k blocks of the blocked way, at most k.
  static int64_t depth_block(int64_t k) { return smaller(KC, k); }

  // How the tiles read op(A), which trans_a, m, k and lda decide alone (so that sgemm and
  // pack_a + sgemm_packed_ab read the same values in the same order: the same C). op(A) = A
  // with few rows (the per-step products, m = the batch) is read where it lies, by the tiles
  // that take rows in place: each of its elements meets every column of C, so a copy per block
  // would cost more than it saves and would be made once per chunk of columns. But rows of A
  // read in place whose stride is a multiple of kL1SetSpan (h_t of 1024 units, batch-first or
  // not) all fall into the same L1 set; a tile of more rows than the set has ways evicts them
  // at every step p: 14 such rows ran at 40 GFLOP/s where the tile does 100 (Zen 4). More than
  // half of the ways is already too many, as the lines of the B panel streaming through every
  // set take the rest: the per-step product of a batch of 32 (tiles of 11, 11 and 10 rows,
  // 12-way sets of Zen 5; 1024 × 2048 of W_hhᵀ packed, one core) ran at 170–175 GFLOP/s, with
  // rows a line apart from a set 198–202. Then they are first copied, a block at a time, to rows
  // a line longer than the depth block ("spread"). Otherwise op(A) is packed, a block at a
  // time, into row panels.
  enum class ALayout { in_place, spread, panels };
  struct AShape {
    int64_t m;           // rows of op(A)
    ALayout layout;
    int64_t depth;       // of the k blocks
    int64_t spread_row;  // the row stride of the spread copy
    AShape(Trans trans_a, int64_t m_, int64_t k, int64_t lda)
        : m(m_),
          layout(!reads_a_in_place(trans_a, m) ? ALayout::panels
                 : (lda * static_cast<int64_t>(sizeof(float))) % kL1SetSpan == 0 &&
                         RowPanels(m).height(0) > cpu_facts().l1d_ways / 2
                     ? ALayout::spread
                     : ALayout::in_place),
          depth(depth_block(k)),
          spread_row(depth + kLineFloats) {}
    // Floats that block rows [ic, ic + mc) × a depth block of kc take in a copy (packed
    // panels spill up to kAPanelsRoom floats beyond, onto whatever is written after them).
    int64_t block_floats(int64_t mc, int64_t kc) const {
      return layout == ALayout::spread ? mc * spread_row : layout == ALayout::panels ? mc * kc : 0;
    }
  };

  // Block rows [ic, ic + mc) × depth block [pc, pc + kc) of op(A) as the tiles read it: the
  // panel whose first row is `first` at data + first·row; `direct`: rows `row` apart (in place
  // or spread), or else packed (row = kc: each panel before it holds rows·kc floats).
  struct ABlock {
    const float* data;
    int64_t row;
    bool direct;
    const float* panel(int64_t first) const { return data + first * row; }
  };

  // The block, read in place or copied into out (shape.block_floats(mc, kc) + kAPanelsRoom).
  static ABlock a_block(const AShape& shape, Trans trans_a, const float* a, int64_t lda, int64_t ic,
                        int64_t mc, int64_t pc, int64_t kc, float* out) {
    switch (shape.layout) {
      case ALayout::in_place: return {a + ic * lda + pc, lda, true};
      case ALayout::spread:
        for (int64_t r = 0; r < mc; ++r)
          std::memcpy(out + r * shape.spread_row, a + (ic + r) * lda + pc,
                      static_cast<std::size_t>(kc) * sizeof(float));
        return {out, shape.spread_row, true};
      case ALayout::panels: break;
    }
    pack_a_panels(trans_a, a, lda, shape.m, ic, mc, pc, kc, out);
    return {out, kc, false};
  }

  // Each block of op(A) copied (where it is copied) into the thread's scratch when the loops
  // reach it.
  struct PackAPerBlock {
    Trans trans_a;
    const float* a;
    int64_t lda;
    AShape shape;
    float* buffer;
    PackAPerBlock(Trans trans_a_, int64_t m, int64_t k, const float* a_, int64_t lda_)
        : trans_a(trans_a_), a(a_), lda(lda_), shape(trans_a_, m, k, lda_),
          buffer(shape.layout == ALayout::in_place
                     ? nullptr
                     : scratch(Scratch::a_panels,
                               shape.block_floats(smaller(m, MC), shape.depth) + kAPanelsRoom)) {}
    ABlock block(int64_t ic, int64_t mc, int64_t pc, int64_t kc) const {
      return a_block(shape, trans_a, a, lda, ic, mc, pc, kc, buffer);
    }
  };

  // op(A) (m × k) copied beforehand (where it is copied), every block one after another in the
  // order of the loops (depth blocks, and row blocks in each): pack_a_all.
  static int64_t packed_a_size(Trans trans_a, int64_t m, int64_t k, int64_t lda) {
    const AShape shape(trans_a, m, k, lda);
    if (shape.layout == ALayout::in_place) return 0;
    const int64_t depth_blocks = (k + shape.depth - 1) / shape.depth;
    return depth_blocks * shape.block_floats(m, shape.depth) + kAPanelsRoom;
  }
  // Where block (ic, pc) starts in it: after pc / depth whole depth blocks of m rows, and ic rows
  // of this one.
  static int64_t packed_a_offset(const AShape& shape, int64_t m, int64_t ic, int64_t pc,
                                 int64_t kc) {
    return pc / shape.depth * shape.block_floats(m, shape.depth) + shape.block_floats(ic, kc);
  }
  static void pack_a_all(Trans trans_a, int64_t m, int64_t k, const float* a, int64_t lda,
                         float* out) {
    const AShape shape(trans_a, m, k, lda);
    if (shape.layout == ALayout::in_place) return;
    for (int64_t pc = 0; pc < k; pc += shape.depth) {
      const int64_t kc = smaller(shape.depth, k - pc);
      for (int64_t ic = 0; ic < m; ic += MC)
        a_block(shape, trans_a, a, lda, ic, smaller(MC, m - ic), pc, kc,
                out + packed_a_offset(shape, m, ic, pc, kc));
    }
  }
  struct PrepackedA {
    const PackedA& a;
    AShape shape;
    explicit PrepackedA(const PackedA& a_) : a(a_), shape(a_.trans_a, a_.m, a_.k, a_.lda) {}
    ABlock block(int64_t ic, int64_t, int64_t pc, int64_t kc) const {
      if (shape.layout == ALayout::in_place) return {a.data + ic * a.lda + pc, a.lda, true};
      const float* data = a.packed + packed_a_offset(shape, a.m, ic, pc, kc);
      return shape.layout == ALayout::spread ? ABlock{data, shape.spread_row, true}
                                             : ABlock{data, kc, false};
    }
  };

  // ---------------------------------------------------------------- the two ways

  // C (m × n, row stride ldc) = beta·C + op(A)·op(B), op(A) (m × k) from a_source, op(B) (k × n)
  // from b_source; with a bias (n; then beta = 0), C = bias + op(A)·op(B), the bias added to
  // every row.
  //
  // The tiles of a block go down its row panels for each B panel (jr, then q): the B panel stays
  // in L1 while the A block comes from L2. But in a shallow block (kc · nc at most
  // kShallowBlockFloats: 256 KiB, a quarter of an L2, which then holds all of B's block) of a
  // packed A (many rows: the weight gradients, k = T·B, into a C far larger than the caches), a
  // tile does so little work that C's traffic decides: there the tiles go along the rows of each
  // row panel (q, then jr), so that C streams in order, which the hardware prefetches, instead
  // of jumping a row panel at every tile. A weight gradient of k = 25 into a C of 8 MiB in
  // memory ran 1.35× faster so (medians 1.04 against 1.40 ms, one core). Each tile computes the
  // same sums either way.
  static constexpr int64_t kShallowBlockFloats = 64 * 1024;
  template <class ASource, class BSource>
  static void blocked(int64_t m, int64_t n, int64_t k, const ASource& a_source,
                      BSource& b_source, float beta, const float* bias, float* c, int64_t ldc) {
    const int64_t depth = a_source.shape.depth;
    for (int64_t jc = 0; jc < n; jc += NC) {
      const int64_t nc = smaller(NC, n - jc);
      for (int64_t pc = 0; pc < k; pc += depth) {
        const int64_t kc = smaller(depth, k - pc);
        const float block_beta = pc == 0 ? beta : 1.0f;  // later k blocks add to C
        const float* block_bias = pc == 0 ? bias : nullptr;
        b_source.prepare(jc, nc, pc, kc);
        for (int64_t ic = 0; ic < m; ic += MC) {
          const int64_t mc = smaller(MC, m - ic);
          const RowPanels panels(mc);
          const ABlock a_block = a_source.block(ic, mc, pc, kc);
          const auto run_tile = [&](int64_t q, int64_t jr) {  // row panel q, B panel jr
            const BPanel b_panel = b_source.panel(jr);
            const int64_t first = panels.first_row(q);
            tiles[a_block.direct][panels.height(q) - 1](
                kc, a_block.panel(first), a_block.row, b_panel.data, b_panel.stride, block_beta,
                block_bias ? block_bias + jc + jr : nullptr, c + (ic + first) * ldc + jc + jr, ldc,
                static_cast<int>(smaller(NR, nc - jr)));
          };
          if (!a_block.direct && kc * nc <= kShallowBlockFloats) {
            for (int64_t q = 0; q < panels.count; ++q)
              for (int64_t jr = 0; jr < nc; jr += NR) run_tile(q, jr);
          } else {
            for (int64_t jr = 0; jr < nc; jr += NR)
              for (int64_t q = 0; q < panels.count; ++q) run_tile(q, jr);
          }
        }
      }
    }
  }

  // acc (ROWS × COLS, acc[i·COLS + j]) += rows of A · rows of B over the W (or, by `load`,
  // fewer) elements at p.
  template <int ROWS, int COLS, class Load>
  static void dot_step(Reg (&acc)[ROWS * COLS], const float* a, int64_t lda,
                       const float* const (&b_rows)[COLS], int64_t p, Load load) {
    Reg b_p[COLS];
#pragma GCC unroll 8
    for (int j = 0; j < COLS; ++j) b_p[j] = load(b_rows[j] + p);
#pragma GCC unroll 8
    for (int i = 0; i < ROWS; ++i) {
      const Reg a_p = load(a + i * lda + p);
#pragma GCC unroll 8
      for (int j = 0; j < COLS; ++j) acc[i * COLS + j] = V::fma(a_p, b_p[j], acc[i * COLS + j]);
    }
  }

  // sums[i] = the sum of the lanes of acc[i], i < N: W accumulators at a time are transposed,
  // so that adding the rows of the block gives all W sums in one register.
  template <int N>
  static void lane_sums(const Reg (&acc)[N], float (&sums)[N]) {
#pragma GCC unroll 2
    for (int g = 0; g < N; g += W) {
      Reg block[W];
#pragma GCC unroll 16
      for (int i = 0; i < W; ++i) block[i] = g + i < N ? acc[g + i] : V::zero();
      V::transpose(block);
      Reg total = block[0];
#pragma GCC unroll 16
      for (int i = 1; i < W; ++i) total = V::add(total, block[i]);
      V::store_first(sums + g, total, N - g < W ? N - g : W);
    }
  }

  // C tile (ROWS × cols, row stride ldc; cols ≤ COLS) = beta·C + Σ_p A[i][p]·B[j][p] with rows
  // of A at a + i·lda and rows of B at b + j·ldb. Lane l of an accumulator sums the p ≡ l
  // (mod W); rows of B past cols repeat the last one and are computed but not stored.
  template <int ROWS, int COLS>
  static void dot_tile(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                       int cols, float beta, float* c, int64_t ldc) {
    const float* b_rows[COLS];
    for (int j = 0; j < COLS; ++j) b_rows[j] = b + (j < cols ? j : cols - 1) * ldb;
    Reg acc[ROWS * COLS];
#pragma GCC unroll 32
    for (int i = 0; i < ROWS * COLS; ++i) acc[i] = V::zero();
    int64_t p = 0;
    for (; p + W <= k; p += W)
      dot_step<ROWS, COLS>(acc, a, lda, b_rows, p, [](const float* x) { return V::load(x); });
    if (p < k) {
      const int rest = static_cast<int>(k - p);
      dot_step<ROWS, COLS>(acc, a, lda, b_rows, p,
                           [rest](const float* x) { return V::load_first(x, rest); });
    }
    float sums[ROWS * COLS];
    lane_sums(acc, sums);
    for (int i = 0; i < ROWS; ++i)
      for (int j = 0; j < cols; ++j) {
        float& out = c[i * ldc + j];
        out = beta == 0.0f ? sums[i * COLS + j] : beta * out + sums[i * COLS + j];
      }
  }

  using DotTileFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, int, float,
                             float*, int64_t);
  template <int... R>
  static constexpr std::array<DotTileFn, sizeof...(R)> dot_tile_table(
      std::integer_sequence<int, R...>) {
    return {&dot_tile<R + 1, 4>...};
  }
  // dot_tiles[rows − 1] is the dot-product tile for `rows` rows × 4 rows of B.
  static constexpr std::array<DotTileFn, Shape::dot_rows> dot_tiles =
      dot_tile_table(std::make_integer_sequence<int, Shape::dot_rows>{});

  // C (m × n, row stride ldc) = beta·C + A·Bᵀ with A (m × k, row stride lda) and B (n × k, row
  // stride ldb). The rows of B are taken a few at a time and met with every row of A, so each
  // is read from memory once.
  static void dots(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                   int64_t ldb, float beta, float* c, int64_t ldc) {
    if (m == 1) {  // a GEMV: enough rows of B at a time for 8 accumulators and whole transposes
      constexpr int cols = 8;
      for (int64_t j = 0; j < n; j += cols)
        dot_tile<1, cols>(k, a, lda, b + j * ldb, ldb, static_cast<int>(smaller(cols, n - j)), beta,
                          c + j, ldc);
      return;
    }
    for (int64_t j = 0; j < n; j += 4) {
      const int cols = static_cast<int>(smaller(4, n - j));
      for (int64_t i = 0; i < m; i += Shape::dot_rows) {
        const int64_t rows = smaller(Shape::dot_rows, m - i);
        dot_tiles[rows - 1](k, a + i * lda, lda, b + j * ldb, ldb, cols, beta, c + i * ldc + j,
                            ldc);
      }
    }
  }

  // ---------------------------------------------------------------- entry points (GemmTable)

  // C = beta·C + op(A)·op(B), or C = bias + op(A)·op(B) where bias is not null (beta = 0), as in
  // kernels.h (m, n, k ≥ 1), the way that suits the shape.
  static void product(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k,
                      const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                      const float* bias, float* c, int64_t ldc) {
    if (!same_as_packed(trans_b, m)) {
      if (bias) {  // the dot products add to C: start it as the bias
        for (int64_t i = 0; i < m; ++i) copy_padded(bias, n, c + i * ldc, n);
        beta = 1.0f;
      }
      if (trans_a == Trans::yes) {  // the dot products want rows of op(A): copy Aᵀ (m × k)
        float* a_rows = scratch(Scratch::a_rows, m * k);
        transpose_copy(a, lda, k, m, a_rows, k, k);
        a = a_rows;
        lda = k;
      }
      dots(m, n, k, a, lda, b, ldb, beta, c, ldc);
    } else if (trans_b == Trans::no && m <= 3 * MR) {
      ReadInPlace source{b, ldb, scratch(Scratch::b_panels, depth_block(k) * NR)};
      blocked(m, n, k, PackAPerBlock(trans_a, m, k, a, lda), source, beta, bias, c, ldc);
    } else {
      const int64_t block_width = smaller(NC, (n + NR - 1) / NR * NR);
      PackPerBlock source{trans_b, b, ldb,
                          scratch(Scratch::b_panels, depth_block(k) * block_width)};
      blocked(m, n, k, PackAPerBlock(trans_a, m, k, a, lda), source, beta, bias, c, ldc);
    }
  }
  static void sgemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, const float* a,
                    int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
    product(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, nullptr, c, ldc);
  }
  static void sgemm_bias(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k,
                         const float* a, int64_t lda, const float* b, int64_t ldb,
                         const float* bias, float* c, int64_t ldc) {
    product(trans_a, trans_b, m, n, k, a, lda, b, ldb, 0.0f, bias, c, ldc);
  }

  // op(B) (k × n) packed: ceil(n / NR) panels of k × NR.
  static int64_t packed_b_size(int64_t k, int64_t n) { return (n + NR - 1) / NR * NR * k; }

  // Packs op(B) (k × n) into out (packed_b_size floats): panel j (columns j·NR …) at j·NR·k.
  static void pack_b(Trans trans_b, int64_t k, int64_t n, const float* b, int64_t ldb, float* out) {
    for (int64_t j = 0; j < n; j += NR)
      pack_b_panel(trans_b, b, ldb, 0, k, j, smaller(NR, n - j), out + j * k);
  }

  // C = beta·C + op(A)·B, or bias + op(A)·B, with B packed by pack_b.
  static void sgemm_packed(Trans trans_a, int64_t m, const float* a, int64_t lda, const PackedB& b,
                           float beta, float* c, int64_t ldc) {
    Prepacked source{b.data, b.k};
    blocked(m, b.n, b.k, PackAPerBlock(trans_a, m, b.k, a, lda), source, beta, nullptr, c, ldc);
  }
  static void sgemm_packed_bias(Trans trans_a, int64_t m, const float* a, int64_t lda,
                                const PackedB& b, const float* bias, float* c, int64_t ldc) {
    Prepacked source{b.data, b.k};
    blocked(m, b.n, b.k, PackAPerBlock(trans_a, m, b.k, a, lda), source, 0.0f, bias, c, ldc);
  }
  // C = beta·C + op(A)·B, or bias + op(A)·B, with op(A) prepared by pack_a_all and B packed by
  // pack_b.
  static void sgemm_packed_ab(const PackedA& a, const PackedB& b, float beta, const float* bias,
                              float* c, int64_t ldc) {
    Prepacked source{b.data, b.k};
    blocked(a.m, b.n, b.k, PrepackedA(a), source, beta, bias, c, ldc);
  }

  // Whether product() takes the blocked way, as the packed entry points always do.
  static bool same_as_packed(Trans trans_b, int64_t m) {
    return !(trans_b == Trans::yes && m <= Shape::dot_max_m);
  }

  static constexpr GemmTable table() {
    return {&sgemm,         &sgemm_bias,        &packed_b_size,  &pack_b,
            &sgemm_packed,  &sgemm_packed_bias, &same_as_packed, MC,
            &packed_a_size, &pack_a_all,        &sgemm_packed_ab};
  }
};

}  // namespace lstm::kernels::detail
