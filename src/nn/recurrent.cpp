// Recurrent layers: LSTM, GRU and RNN (tanh, relu), stacked, bidirectional, with projections
// (LSTM) and variable lengths, computing exactly what PyTorch's nn.LSTM / nn.GRU / nn.RNN compute.
//
// Shape of the computation (docs/math.md has the equations and the derivation of backward):
//   1. before the time loop, one GEMM gives the input projection of every step,
//        Gx (T·B, G·H) = X (T·B, I) · W_ihᵀ + b_ih (+ b_hh for LSTM and RNN)
//      (or, where the batch is large and the weights fit in the L3, each step computes its own
//      rows of Gx just before its recurrent product: input_in_steps);
//   2. per step the recurrent product h_{t−1} W_hhᵀ; one fused pass per row (kernels::lstm_step,
//      gru_step) adds it to the step's rows of Gx and runs the gate nonlinearities and the state
//      update (training keeps the activated gates, in place of Gx where Gx has a buffer);
//   3. backward runs the time loop in reverse for the pointwise gradients and dh_{t−1} = dG_t W_hh,
//      then three GEMMs over all T·B rows give dW_hh, dW_ih and dX.
// A layer whose W_hh fits in a core's L2, with 16 samples or more (8–15 where W_hh is smaller
// and a step large enough), runs its time loops in row blocks of samples instead, a thread per
// block (batch_blocks), with Gx and the GEMMs after the loop computed block by block.
// Work buffers and traces live in the layer from call to call (Buffer), so a warm call does not
// allocate or fault pages in. Internally everything is time-major (T, B, ·), so the rows of one
// step are contiguous; the API is batch-first (and in inference the first layer reads x where it
// lies wherever it reads it a step at a time: reads_input_by_step).

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/kernels.h"
#include "lstm/nn.h"
#include "lstm/threads.h"
#include "threads.h"

namespace lstm {

using kernels::sgemm;
using kernels::Trans;
using threads::Team;

int64_t RecurrentConfig::gate_count() const {
  switch (cell) {
    case CellType::lstm: return 4;
    case CellType::gru: return 3;
    case CellType::rnn_tanh:
    case CellType::rnn_relu: return 1;
  }
  return 1;
}

namespace {

// Storage that a layer keeps from call to call, so that a warm forward or backward pass
// neither allocates nor faults pages in: get(n) reallocates only when n exceeds every earlier
// request, and never clears (whoever uses a buffer writes it before reading it).
template <class T>
class BufferOf {
 public:
  T* get(int64_t n) {
    if (n > capacity_) {
      storage_.reset(static_cast<T*>(
          ::operator new (static_cast<std::size_t>(n) * sizeof(T), std::align_val_t{64})));
      capacity_ = n;
    }
    return storage_.get();
  }
  T* data() const { return storage_.get(); }

 private:
  struct Free {
    void operator()(T* p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  std::unique_ptr<T, Free> storage_;
  int64_t capacity_ = 0;
};
using Buffer = BufferOf<float>;

// What one direction of one layer remembers from a training forward pass for backward.
// Every buffer is indexed by the time step t it belongs to (also in the reverse direction); the
// (T, B, ·) ones hold sample b of step t at row RowBlock::row(t, b): time-major, but block by
// block where the time loop runs in row blocks.
struct DirectionTrace {
  Buffer gates;     // (T, B, G·H) activated gates: LSTM [i f g o], GRU [r z n], RNN [h_t]
  Buffer h_prev;    // (T, B, H_out) the state entering step t
  Buffer c_first;   // (B, H) LSTM: the cell entering the direction's first step
  Buffer c_new;     // (T, B, H) LSTM: the cell after step t (a finished sample's: the one it keeps)
  Buffer cell_out;  // (T, B, H) LSTM with projection: o_t ⊙ tanh(c_t), the input of W_hr
  Buffer hn;        // (T, B, H) GRU: W_hn h_{t−1} + b_hn
};

struct LayerTrace {
  Buffer input;          // (T, B, I_l) the layer's input, time-major, after dropout
  Buffer dropout_mask;   // (T, B, I_l) the mask applied to that input (layers > 0 with dropout)
  bool has_mask = false;
  DirectionTrace direction[2];
};

// x (d0, d1, f) → y (d1, d0, f): batch-first to time-major and back.
void swap_batch_and_time(const float* x, int64_t d0, int64_t d1, int64_t f, float* y) {
  for (int64_t i = 0; i < d0; ++i)
    for (int64_t j = 0; j < d1; ++j)
      std::memcpy(y + (j * d0 + i) * f, x + (i * d1 + j) * f,
                  static_cast<std::size_t>(f) * sizeof(float));
}

// sums (width,) += Σ_r rows[r] over n rows (row stride `stride`), each column summed in the
// rows' order, a block of columns at a time: the block's sums stay in registers from row to
// row instead of being stored and loaded back at every row (a chain through memory that made
// this 3% of ts-h64-b32-t50's training).
void add_column_sums(float* sums, const float* rows, int64_t n, int64_t width, int64_t stride) {
  constexpr int64_t block = 16;
  int64_t j0 = 0;
  for (; j0 + block <= width; j0 += block) {
    float acc[block];
    for (int64_t j = 0; j < block; ++j) acc[j] = sums[j0 + j];
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = 0; j < block; ++j) acc[j] += rows[r * stride + j0 + j];
    for (int64_t j = 0; j < block; ++j) sums[j0 + j] = acc[j];
  }
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = j0; j < width; ++j) sums[j] += rows[r * stride + j];
}

// y (n,) += x (n,)
void add_to(float* y, const float* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] += x[j];
}

void copy_floats(float* dst, const float* src, int64_t n) {
  std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
}

// dst (rows, n, row stride dst_row) = src (rows, n, row stride src_row)
void copy_rows(float* dst, int64_t dst_row, const float* src, int64_t src_row, int64_t rows,
               int64_t n) {
  for (int64_t r = 0; r < rows; ++r) copy_floats(dst + r * dst_row, src + r * src_row, n);
}

// Asks for the cache lines of rows × runs runs of n floats, run (r, q) at data + r·row +
// q·run_step, into L2 (where the work running meanwhile leaves them), to be read (and, where
// kWrite, written) soon.
template <bool kWrite>
void prefetch_runs(const float* data, int64_t rows, int64_t row, int64_t runs, int64_t run_step,
                   int64_t n) {
  constexpr int64_t line = 64 / sizeof(float);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t q = 0; q < runs; ++q) {
      const float* run = data + r * row + q * run_step;
      for (int64_t j = 0; j < n; j += line) __builtin_prefetch(run + j, kWrite, 2);
      __builtin_prefetch(run + n - 1, kWrite, 2);  // the last line, where the run is not aligned
    }
}

int64_t round_up(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

}  // namespace

struct Recurrent::Impl {
  // Indices into values/grads of one direction's parameters (−1: absent).
  struct DirectionParams {
    int w_ih = -1, w_hh = -1, b_ih = -1, b_hh = -1, w_hr = -1;
  };

  RecurrentConfig cfg;
  std::vector<std::string> names;
  std::vector<Tensor> values, grads;
  std::vector<DirectionParams> params;  // [layer · D + direction]

  // The last training forward pass.
  bool has_trace = false;
  int64_t batch = 0, steps = 0;
  bool bf16 = false;  // this call's h_{t−1} W_hhᵀ in bfloat16 (inference, ForwardContext)
  std::vector<int64_t> lengths;  // empty: every sample has all steps
  std::vector<LayerTrace> layer_traces;  // [layer], sized at construction

  // Work buffers, kept across calls (see Buffer). Those shared by the team are sized before a
  // parallel region starts, the per-member ones by their member.
  struct Workspace {
    Buffer layer_io[2];     // inference: (T, B, ·) layer inputs and outputs, alternating
    Buffer gates;           // inference: (T, B, G·H) the gates of the direction running
    Buffer gradient_io[2];  // backward: (T, B, ·) gradients of layer outputs and inputs, alternating
    Buffer d_gates;         // (T, B, G·H) ∂L/∂ pre-activation, input side (x W_ihᵀ + b_ih)
    Buffer d_recurrent;     // (T, B, G·H) GRU: ∂L/∂(W_hh h + b_hh), differs in n
    Buffer d_h_proj;        // (T, B, P) LSTM with projection: ∂L/∂h_t per step, for dW_hr
    // backward: (G·H) Σ over the steps and samples of dA_in and (GRU) dA_rec, the bias
    // gradients, summed by each chunk over its units' gate columns as it computes them
    Buffer d_bias_in, d_bias_rec;
    Buffer h_states;        // (2, B, H_out) h_{t−1} and h_t, alternating
    // Per step, (B, ·): h_t before the update of finished samples, o ⊙ tanh(c) before the
    // projection; backward ∂L/∂h_t from later steps and the output, dh_{t−1}, ∂L/∂(o ⊙ tanh c).
    Buffer h_new, cell_out, d_h_total, d_h_prev, d_cell_out;
    Buffer w_hh;  // W_hh packed per chunk for the per-step GEMM (forward/backward_direction)
    BufferOf<uint16_t> w_hh_bf16;  // W_hh packed per chunk in bfloat16 (ForwardContext::bf16_weights)
    Buffer bias;  // (G·H) the bias added to Gx (projection_bias)
    Buffer w_ih;  // W_ihᵀ packed for Gx in row blocks, or per chunk (input_in_steps)
    Buffer chunk_bias;  // (C, G·w_pad) the bias of Gx by chunk (bias_by_chunk; input_in_steps)
    Buffer block_gradients;  // (blocks, G·H, H_out + I) row blocks' [dW_hh | dW_ih] (backward)
  } work;

  // An A (m × k, row stride lda) prepared for the GEMM (kernels::pack_a) at step `step`: packed
  // holds the copy where the GEMM makes one.
  struct StepA {
    Buffer packed;
    kernels::PackedA view;
    int64_t step = -1;
    // A of step s, prepared unless it is already.
    const kernels::PackedA& prepare(int64_t s, int64_t m, int64_t k, const float* a, int64_t lda,
                                    kernels::Isa isa) {
      if (step != s) {
        float* out = packed.get(kernels::packed_a_size(Trans::no, m, k, lda, isa));
        view = kernels::pack_a(Trans::no, m, k, a, lda, out, isa);
        step = s;
      }
      return view;
    }
  };

  // What each team member keeps for itself, for the chunk it is working on.
  struct alignas(64) MemberWork {  // a line of its own: members write theirs at every step
    // (B, G·w_pad) forward: the chunk's columns of h_{t−1} W_hhᵀ (RNN: then h_t, in place)
    Buffer recurrent;
    Buffer cell;       // (B, n) LSTM: c_t of the chunk's units (forward, with variable lengths)
    // backward (accumulate), LSTM and RNN: rows of [H_prev | X] and the product dAᵀ [H_prev | X],
    // in the member's rows of the weights; in row blocks (block_gradients), every cell: the
    // block's rows of [H_prev | X] gathered
    Buffer stacked_inputs, stacked_product;
    Buffer dx_transposed;  // backward (accumulate), narrow inputs: (I, the member's rows) dXᵀ
    // backward in row blocks (block_gradients): the (rows, I) dX of a block's rows
    Buffer gathered_dx;
    // forward, where the steps compute their own Gx (input_in_steps): (B, G·w_pad) the chunk's
    // columns of x_t W_ihᵀ + bias
    Buffer input;
    // The A of the per-step products, h_{t−1} (forward) or dA_t (backward), and x_t (forward,
    // input_in_steps), each prepared for the GEMM by the member's first chunk of a step and used
    // by all its chunks of that step.
    StepA recurrent_a, input_a;
    void forget_prepared() { recurrent_a.step = input_a.step = -1; }
  };
  std::vector<MemberWork> member_work;  // [team member]
  // At the start of a direction's pass: one MemberWork a thread, none holding a prepared A.
  void start_members() {
    member_work.resize(static_cast<std::size_t>(num_threads()));
    for (MemberWork& member : member_work) member.forget_prepared();
  }

  // What freeze_weights() keeps: every parameter as it was then, and of each direction W_hh
  // packed per chunk for the per-step product (as phase 0 of forward_direction packs it) and
  // W_ih packed for Gx (and per chunk, where the steps may compute Gx: input_in_steps), all in
  // the layout of `isa`'s path.
  // W_hh in bfloat16 (as forward_direction packs it for bf16 weights) is packed at the first
  // call that uses bf16 weights while frozen, and kept.
  struct Frozen {
    std::vector<Tensor> values;  // as Impl::values
    std::vector<Buffer> w_hh;    // [layer · D + direction] (C · R · H_out)
    std::vector<Buffer> w_ih;    // [layer · D + direction] packed_b_size(I_l, G·H)
    // [layer · D + direction] (C · R · I_l) W_ih packed per chunk as W_hh, for layers whose
    // weights let the steps compute their own Gx (input_in_steps); empty for the others
    std::vector<Buffer> w_ih_chunks;
    std::vector<BufferOf<uint16_t>> w_hh_bf16;  // [layer · D + direction] C · packed_b_bf16_size
    std::vector<bool> has_w_hh_bf16;            // [layer · D + direction] w_hh_bf16 filled
    kernels::Isa isa = kernels::Isa::scalar;
  };
  std::unique_ptr<Frozen> frozen;  // null unless frozen

  explicit Impl(const RecurrentConfig& config)
      : cfg(config), layer_traces(static_cast<std::size_t>(config.num_layers)) {
    const int64_t G = cfg.gate_count(), H = cfg.hidden_size, P = cfg.proj_size,
                  H_out = cfg.output_size(), D = cfg.directions();
    for (int64_t layer = 0; layer < cfg.num_layers; ++layer) {
      const int64_t in = layer == 0 ? cfg.input_size : D * H_out;
      for (int64_t d = 0; d < D; ++d) {
        const std::string suffix =
            "_l" + std::to_string(layer) + (d == 1 ? std::string("_reverse") : std::string());
        DirectionParams p;
        p.w_ih = add("weight_ih" + suffix, {G * H, in});
        p.w_hh = add("weight_hh" + suffix, {G * H, H_out});
        if (cfg.bias) {
          p.b_ih = add("bias_ih" + suffix, {G * H});
          p.b_hh = add("bias_hh" + suffix, {G * H});
        }
        if (P > 0) p.w_hr = add("weight_hr" + suffix, {P, H});
        params.push_back(p);
      }
    }
  }

  int add(const std::string& name, Shape shape) {
    names.push_back(name);
    values.emplace_back(shape);
    grads.emplace_back(shape);
    return static_cast<int>(values.size()) - 1;
  }

  // The parameters a pass computes with: the frozen copy while frozen (only inference runs then).
  const float* value(int index) const {
    return index < 0 ? nullptr : (frozen ? frozen->values : values)[index].data();
  }
  float* grad(int index) { return index < 0 ? nullptr : grads[index].data(); }

  bool valid(int64_t b, int64_t t) const { return lengths.empty() || t < lengths[b]; }

  // Parallel work is cut into chunks that depend on the layer's size only (never on the number
  // of threads, so neither do the results): the hidden units in chunk_count() ranges of a
  // multiple of 16 units; the H_out outputs, the inputs and the G·H gate columns likewise.
  int64_t chunk_count() const { return threads::recurrent_chunks(cfg.hidden_size); }
  static constexpr int64_t granule = 16;
  Team::Range chunk_of(int64_t count, int64_t chunk) const {
    return threads::split(count, chunk_count(), chunk, granule);
  }

  // W_hhᵀ (and, where the steps compute their own Gx, W_ihᵀ) of each chunk's units, packed for
  // the per-step products on `isa`'s path: chunk k's gate q is panels [q·w_pad, (q + 1)·w_pad)
  // of its R = G·w_pad columns (w_pad: the chunk's width rounded up to the panel width,
  // zero-padded), so that one product gives rec (B, R).
  int64_t packed_chunk_width(kernels::Isa isa) const {  // w_pad
    return round_up(chunk_of(cfg.hidden_size, 0).size(), kernels::packed_b_panel_width(isa));
  }
  // Packs chunk `chunk` of w (G·H, depth) into packed + chunk·R·depth, zeros in the panels past
  // the chunk's own width (a last chunk narrower than the first).
  void pack_chunk(const float* w, int64_t depth, int64_t chunk, float* packed,
                  kernels::Isa isa) const {
    const int64_t G = cfg.gate_count(), H = cfg.hidden_size;
    const int64_t w_pad = packed_chunk_width(isa), R = G * w_pad;
    const Team::Range units = chunk_of(H, chunk);
    const int64_t own = kernels::packed_b_size(depth, units.size(), isa);  // a gate's panels
    for (int64_t q = 0; q < G; ++q) {
      float* gate = packed + chunk * R * depth + q * w_pad * depth;
      kernels::pack_b(Trans::yes, depth, units.size(), w + (q * H + units.begin) * depth, depth,
                      gate, isa);
      std::fill(gate + own, gate + w_pad * depth, 0.0f);
    }
  }
  // The bias (G·H) in the columns of the chunks' packed weights: (C, R), zero in the padding.
  void bias_by_chunk(const float* bias, float* out, kernels::Isa isa) const {
    const int64_t G = cfg.gate_count(), H = cfg.hidden_size;
    const int64_t w_pad = packed_chunk_width(isa), R = G * w_pad;
    std::fill(out, out + chunk_count() * R, 0.0f);
    for (int64_t chunk = 0; chunk < chunk_count(); ++chunk) {
      const Team::Range units = chunk_of(H, chunk);
      for (int64_t q = 0; q < G; ++q)
        copy_floats(out + chunk * R + q * w_pad, bias + q * H + units.begin, units.size());
    }
  }

  // The threads a direction runs on: one where its time steps are too small to share
  // (small_steps) and its batch too small for row blocks (batch_blocks); otherwise all. Which
  // thread computes a chunk or a block never changes a result, so neither does this.
  int threads_for(int64_t batch_size) const {
    return small_steps(batch_size) && batch_blocks(batch_size) == 1 &&
                   threads::small_work_on_one_thread()
               ? 1
               : num_threads();
  }
  // Whether a time step is too small to share between threads: its recurrent product
  // h_{t−1} W_hhᵀ is under a few µs of one core (a phase handed from core to core costs a
  // microsecond or more, far more when another process holds a core) and W_hh fits in half of
  // one core's 1 MiB L2 (so that a second core's cache gains nothing). A few µs is 0.4 MFLOP on
  // cores that run AVX-512 at half rate or AVX2 (Zen 4 at its 100 GFLOP/s: below it
  // ts-h64-b32-t50 ran 1.3–1.5× slower on one core than on two) and 1.2 MFLOP where two 512-bit
  // FMAs complete a cycle (Zen 5; 7 alternations of this bound and 0.4 MFLOP: at 1.05 MFLOP a
  // step, ts-h64-b32-t50 LSTM 1.28× / 1.26× faster on one thread (inference / training), GRU
  // (0.79 MFLOP) 1.19× / 1.59×, I = 32, H = 128, B = 8 0.98× / 1.10×; at 0.5 MFLOP (H = 64,
  // B = 16) 1.37× / 1.55×; and two threads lose 2–4× whenever the host holds up one of them).
  bool small_steps(int64_t batch_size) const {
    const int64_t G = cfg.gate_count(), H = cfg.hidden_size, H_out = cfg.output_size();
    const int64_t step_flop = 2 * batch_size * G * H * H_out;
    const int64_t w_hh_bytes = G * H * H_out * static_cast<int64_t>(sizeof(float));
    const bool full_rate = kernels::active_isa() == kernels::Isa::avx512 &&
                           kernels::cpu_facts().full_rate_avx512;
    const int64_t small_step_flop = full_rate ? 1'200'000 : 400'000;
    constexpr int64_t small_weights_bytes = 512 << 10;
    return step_flop < small_step_flop && w_hh_bytes <= small_weights_bytes;
  }
  int team_threads() const { return threads_for(batch); }  // for this call's batch

  // The samples of a batch never meet in the time loop: each runs its own recurrence, and
  // only the weights are shared. So a layer whose W_hh fits in one core's L2 (1 MiB, the size
  // of Zen 4's and Zen 5's, fixed rather than read off the CPU, since the blocks decide the
  // order of some sums) and whose batch has at least 2 × 8 samples runs its time loop in row
  // blocks of at least 8 samples (at most 8 blocks; smaller batches below), each thread taking
  // whole blocks, every phase of every chunk of a block one after the other, with no hand-over
  // between threads at all: each core reads W_hh from its own L2. Otherwise there is one
  // block of all samples, and the threads share each step's chunks of hidden units (each core
  // then reads its chunks' share of W_hh, which is what pays where W_hh is larger). The blocks
  // depend on the layer and the batch only, never on the number of threads or the CPU, and
  // what is summed over them (the weight and bias gradients) is added up in their order.
  // Measured (Zen 5, 2 threads, 7 alternations; inference / training): against the chunks of
  // units, I = 8, H = 64, B = 64 1.41× / 1.73×, I = 32, H = 128, B = 64 1.32× / 1.34×,
  // I = 32, H = 160, B = 32 1.21× / 1.30×, char-h256-b16-t150 (W_hh 1 MiB) 1.02–1.05× both;
  // db-h512-b16-t25 (W_hh 4 MiB) 1.06× / 0.88×, db-h1024-b32-t25 0.58× / 0.73×; inference
  // alone, again at 833b124 (LSTM / GRU, frozen, two blocks): db-h512-b16-t25 0.95× / 0.95×,
  // db-h512-b64-t25 0.94× / 0.99×, db-h1024-b32-t25 0.72× / 0.77×, so a W_hh over 1 MiB runs
  // in chunks of units in inference too. Blocks of 8 against 16 (ts-h64-b32-t50): LSTM 1.18× /
  // 1.10×, GRU 1.13× / 1.15×; against 4: 1.01× / 1.05×, 1.15× / 1.07×. With projections (whose
  // extra phase per step needs every unit) there are no row blocks.
  // A batch of 8–15 samples runs as two blocks (of ⌊B/2⌋ and ⌈B/2⌉ samples) where the smaller
  // block's step, 2·⌊B/2⌋·G·H·H_out FLOP, is at least 256 kFLOP (what a block of 8 samples of
  // ts-h64-b32-t50 does, whose blocks pay) and W_hh fits in half an L2 (512 KiB), so that a
  // core reading all of it for a few samples still finds it in cache. Measured against one
  // block (5 alternations): LSTM I = 32, B = 8, H = 96 (295 kFLOP) 1.32× / 1.11×, H = 128
  // 1.25× / 1.24×, H = 160 1.19× / 1.18×; I = 16, H = 112, B = 10 1.15× / 1.22×; I = 32,
  // H = 128, B = 12 1.10× / 1.16×; GRU I = 32, H = 128, B = 8 (393 kFLOP) 1.37× / 1.14×.
  // Outside: LSTM I = 8, H = 64, B = 12 (196 kFLOP) 1.08× / 0.95×; I = 32, H = 192, B = 8
  // (W_hh 576 KiB) 0.97× / 0.97×.
  int64_t batch_blocks(int64_t batch_size) const {
    constexpr int64_t least_rows = 8, most = 8, weights_bytes = 1 << 20;
    constexpr int64_t small_batch_weights_bytes = 512 << 10, least_block_step_flop = 256 << 10;
    const int64_t w_hh_floats = cfg.gate_count() * cfg.hidden_size * cfg.output_size();
    const int64_t w_hh_bytes = w_hh_floats * static_cast<int64_t>(sizeof(float));
    if (w_hh_bytes > weights_bytes || cfg.proj_size > 0) return 1;
    if (batch_size >= 2 * least_rows) return std::min(batch_size / least_rows, most);
    const bool two_blocks = batch_size >= least_rows &&
                            w_hh_bytes <= small_batch_weights_bytes &&
                            2 * (batch_size / 2) * w_hh_floats >= least_block_step_flop;
    return two_blocks ? 2 : 1;
  }
  // Whether each step computes its own rows of Gx = x_t W_ihᵀ + bias, chunk by chunk, just
  // before h_{t−1} W_hhᵀ (with W_ihᵀ packed per chunk as W_hhᵀ is), instead of one GEMM for all
  // T·B rows before the time loop, whose T·B·G·H floats (13 MiB at db-h512-b64-t25) leave the
  // caches before their step reads them back. It pays where a step's rows are enough to reuse
  // each weight they read (16 samples or more) and both weight matrices stay in the L3 from
  // step to step (together at most 16 MiB: half of Zen 4's and Zen 5's 32 MiB, fixed rather
  // than read off the CPU, since which GEMM computes Gx decides its depth blocks and so the
  // order of its sums where I is deeper than one block: 1024 on the AVX-512 path, 256 on the
  // others); not in row blocks, whose steps compute their rows of Gx already.
  // Measured (Zen 5, 2 threads, alternated with Gx before the loop; inference with frozen
  // weights / training): LSTM db-h512-b64-t25 1.06× (7 rounds, 1.05–1.13) and 1.06× (9) /
  // 1.01×, db-h512-b16-t25 1.05× / 1.02×; GRU 1.01× and 1.04× (9) / 0.99×, 1.00× / 0.98×;
  // inference with W_ihᵀ packed at every call 1.00–1.01×. Where the weights exceed the L3
  // (db-h1024-b32-t25, 32 MiB) 0.64×; at batch 4 0.98×, at batch 1 0.63×.
  bool input_in_steps(int64_t I, int64_t batch_size) const {
    constexpr int64_t least_rows = 16, weights_bytes = 16 << 20;
    const int64_t bytes = cfg.gate_count() * cfg.hidden_size * (I + cfg.output_size()) *
                          static_cast<int64_t>(sizeof(float));
    return batch_size >= least_rows && bytes <= weights_bytes && batch_blocks(batch_size) == 1;
  }
  // Whether a direction with inputs of I features reads them a step at a time (in row blocks,
  // or computing Gx in the steps), as a GEMM of the step's rows, which may lie anywhere.
  bool reads_input_by_step(int64_t I, int64_t batch_size) const {
    return batch_blocks(batch_size) > 1 || input_in_steps(I, batch_size);
  }
  struct RowBlock {
    int64_t index;
    Team::Range rows;  // the samples [rows.begin, rows.end) of the batch
    // The row of sample b at step t in the time loop's buffers of T·B rows (Gx, the trace, the
    // backward's dA), which hold each block's rows together, step after step: (T, rows, ·) a
    // block after the other, so that a block's weight gradients read its rows of dA where they
    // lie, and no member writes rows of a step between another's. With one block of all
    // samples that is t·B + b: (T, B, ·).
    int64_t row(int64_t t, int64_t b, int64_t steps) const {
      return rows.begin * steps + t * rows.size() + (b - rows.begin);
    }
  };
  // Row block k of batch_blocks(batch): its samples as even as whole samples allow.
  RowBlock row_block(int64_t k) const {
    return {k, threads::split_nearest(batch, batch_blocks(batch), k, 1)};
  }
  // Runs step(team, phase, chunk, block) for every chunk < chunk_count() of every phase <
  // phases of a direction's time loop, phase 0 (the packing of W_hh) for all samples, then the
  // rest in the row blocks of batch_blocks: one block of all samples, its phases' chunks shared
  // by the team (threads::run_phases); or several, each member running whole blocks alone and
  // calling block_done(team, block) after each.
  template <class Step, class BlockDone>
  void run_time_loop(int64_t phases, Step&& step, BlockDone&& block_done) {
    const int64_t C = chunk_count(), blocks = batch_blocks(batch);
    const RowBlock all{0, {0, batch}};
    // the phases whose chunks the team shares: all of them, or in row blocks the packing only
    threads::run_phases(team_threads(), blocks == 1 ? phases : 1, C, chunk_order(),
                        [&](const Team& team, int64_t phase, int64_t chunk) {
                          step(team, phase, chunk, all);
                        });
    if (blocks == 1) return;
    // The blocks as the chunks of one phase: each member takes its own share first (the same
    // at every call, so that a block's rows stay in one core's caches from Gx to the
    // gradients), then any block nobody has taken, so that a member the OS deschedules holds
    // up at most the block it is running.
    threads::run_phases(team_threads(), 1, blocks, threads::ChunkOrder::same,
                        [&](const Team& team, int64_t, int64_t k) {
      const RowBlock block = row_block(k);
      member_work[team.index()].forget_prepared();  // a step's A holds the block's rows
      for (int64_t phase = 1; phase < phases; ++phase)
        for (int64_t chunk = 0; chunk < C; ++chunk) step(team, phase, chunk, block);
      block_done(team, block);
    });
  }

  // The order in which a member runs its own chunks of the time loop's phases: alternating (its
  // block backward every other step, so that a step starts on the weights the step before left
  // in the core's L2) where a chunk's share of W_hh fits in half of the L2 (float32: 512 KiB of
  // 1 MiB; the other half for what else the step reads); else the same at every step. Against
  // the same order at every step (Zen 5, 7–9 alternations): db-h512-b1-t25 inference (frozen)
  // LSTM 1.11–1.13×, GRU 1.11×, training 1.02–1.12×; the other rows of the suite within noise;
  // at db-h1024-b1-t25, whose LSTM chunks of 2 MiB exceed the L2, alternating was 0.89×.
  threads::ChunkOrder chunk_order() const {
    const int64_t chunk_weight_bytes = cfg.gate_count() * chunk_of(cfg.hidden_size, 0).size() *
                                       cfg.output_size() * static_cast<int64_t>(sizeof(float));
    return chunk_weight_bytes <= kernels::cpu_facts().l2_bytes / 2 ? threads::ChunkOrder::alternating
                                                                  : threads::ChunkOrder::same;
  }

  // The bias of Gx: b_ih, plus b_hh where it adds straight to the gates (not GRU, whose b_hn
  // sits inside r ⊙ (W_hn h + b_hn)); null without biases.
  const float* projection_bias(const DirectionParams& p) {
    if (!cfg.bias) return nullptr;
    const int64_t GH = cfg.gate_count() * cfg.hidden_size;
    const bool add_b_hh = cfg.cell != CellType::gru;
    float* bias = work.bias.get(GH);  // (G·H) b_ih (+ b_hh)
    for (int64_t j = 0; j < GH; ++j)
      bias[j] = add_b_hh ? value(p.b_ih)[j] + value(p.b_hh)[j] : value(p.b_ih)[j];
    return bias;
  }

  // Gx (T·B, G·H) = X W_ihᵀ + bias for x (T·B, I): one GEMM per team member, each for its
  // range of columns (project). A GEMM computes each element the same way however its columns
  // are split, so this split may follow the team size without changing any result.
  // Frozen, W_ih comes packed (w_ih_packed, for `isa`), used where that gives the same bits.
  void input_projection(const DirectionParams& p, const float* x, int64_t I, const float* bias,
                        float* gx, const float* w_ih_packed, kernels::Isa isa) {
    const int64_t rows = steps * batch, GH = cfg.gate_count() * cfg.hidden_size;
    const bool packed = w_ih_packed && kernels::sgemm_same_as_packed(Trans::yes, rows, isa);
    threads::run(team_threads(), [&](const Team& team) {
      const Team::Range columns =
          threads::split(GH, team.size(), team.index(), kernels::packed_b_panel_width(isa));
      project(p, x, I, rows, I, bias, packed ? w_ih_packed : nullptr, columns, gx, isa);
    });
  }
  // gx (rows, G·H) = x (rows, I; row stride x_row) W_ihᵀ + bias, in columns `columns`, with
  // W_ih packed (w_ih_packed, for `isa`) or read as it lies (null); the bias added to every row
  // as the product stores it (kernels::sgemm_bias).
  void project(const DirectionParams& p, const float* x, int64_t x_row, int64_t rows, int64_t I,
               const float* bias, const float* w_ih_packed, Team::Range columns, float* gx,
               kernels::Isa isa) const {
    const int64_t GH = cfg.gate_count() * cfg.hidden_size;
    const int64_t j0 = columns.begin, width = columns.size();
    if (width <= 0) return;
    if (w_ih_packed) {
      const kernels::PackedB w_ih_t{w_ih_packed + j0 * I, I, width, isa};  // its columns
      if (bias)
        kernels::sgemm_packed_bias(Trans::no, rows, x, x_row, w_ih_t, bias + j0, gx + j0, GH);
      else
        kernels::sgemm_packed(Trans::no, rows, x, x_row, w_ih_t, 0.0f, gx + j0, GH);
    } else if (bias) {
      kernels::sgemm_bias(Trans::no, Trans::yes, rows, width, I, x, x_row,
                          value(p.w_ih) + j0 * I, I, bias + j0, gx + j0, GH);
    } else {
      sgemm(Trans::no, Trans::yes, rows, width, I, x, x_row, value(p.w_ih) + j0 * I, I, 0.0f,
            gx + j0, GH);
    }
  }

  // One direction of one layer over the whole sequence.
  //   x the input, x_t of sample b (I) at x + t·x_step + b·x_row: time-major (T, B, I) where
  //   Gx comes before the loop (reads_input_by_step false), else either way; h (B, H_out) and
  //   c (B, H) hold the initial state and receive the final one; y receives h_t of sample b at
  //   y + t·y_step + b·y_row, in columns [column, column + H_out), zero where a sample has ended
  //   (time-major (T, B, ·) or batch-first (B, T, ·) by the strides). trace (nullable) receives
  //   what backward needs.
  // Gx comes first (input_projection; or each step computes its own rows, input_in_steps, with
  // W_ih packed per chunk in phase 0); then phase 0 packs W_hh, and each step is a phase (two
  // with a projection) whose chunks each compute all G gates and the states of one range of
  // hidden units, after the phase before has completed h_{t−1}.
  void forward_direction(int64_t state, const float* x, int64_t x_step, int64_t x_row, int64_t I,
                         bool reverse, float* h, float* c, float* y, int64_t y_step, int64_t y_row,
                         int64_t column, DirectionTrace* trace) {
    const DirectionParams& p = params[state];
    const int64_t T = steps, B = batch, H = cfg.hidden_size, G = cfg.gate_count(), GH = G * H,
                  H_out = cfg.output_size(), C = chunk_count();
    const bool is_lstm = cfg.cell == CellType::lstm, is_gru = cfg.cell == CellType::gru;
    const bool projected = cfg.proj_size > 0;

    // Gx in the steps (input_in_steps), or before the loop into gates (T, B, G·H), which in
    // training receives the activated gates (inference then needs none)
    const bool in_steps = input_in_steps(I, B);
    float* gates = trace      ? trace->gates.get(T * B * GH)
                   : in_steps ? nullptr
                              : work.gates.get(T * B * GH);
    if (trace) {
      trace->h_prev.get(T * B * H_out);
      if (is_lstm) {
        trace->c_first.get(B * H);
        trace->c_new.get(T * B * H);
        if (projected) trace->cell_out.get(T * B * H);
      }
      if (is_gru) trace->hn.get(T * B * H);
    }
    // Where the states live. Every sample running all T steps and no projection ("straight"):
    // the cell writes h_t into y's rows of step t, and the product reads h_{t−1} from y's rows
    // of the step before (h_states holds only the initial state). Otherwise h_t goes to h_new,
    // then (update_h) to the alternating h_states and to y, a finished sample keeping its state
    // and giving zeros.
    const bool straight = lengths.empty() && !projected;
    const auto y_of = [&](int64_t step_t) { return y + step_t * y_step + column; };  // (B, ·)
    float* h_states = work.h_states.get(2 * B * H_out);  // h_{t−1} and h_t, alternating
    float* h_new = work.h_new.get(B * H_out);
    float* cell_out = work.cell_out.get(B * H);
    copy_floats(h_states, h, B * H_out);
    start_members();

    // W_hhᵀ packed per chunk (pack_chunk) in phase 0, or once by freeze_weights().
    const kernels::Isa isa = frozen ? frozen->isa : kernels::active_isa();
    const int64_t w_pad = packed_chunk_width(isa), R = G * w_pad;
    // The same in bfloat16 pairs (kernels::PackedBf16) when this call uses bf16 weights; frozen,
    // into the frozen copy at the first such call, which later ones read.
    const int64_t bf16_size = bf16 ? kernels::packed_b_bf16_size(H_out, R) : 0;  // per chunk
    const bool prepacked = frozen && (!bf16 || frozen->has_w_hh_bf16[state]);
    float* packed = bf16 ? nullptr
                    : prepacked ? frozen->w_hh[state].data()
                                : work.w_hh.get(C * R * H_out);
    uint16_t* packed_bf16 = !bf16   ? nullptr
                            : frozen ? frozen->w_hh_bf16[state].get(C * bf16_size)
                                     : work.w_hh_bf16.get(C * bf16_size);

    // Gx before the loop; in row blocks (batch_blocks), by the thread that runs each block, a
    // step at a time as the loop reaches it, so that no core reads what another wrote (its
    // cache lines then cross between the cores), with W_ih packed once (frozen: as it was).
    const bool in_blocks = batch_blocks(B) > 1;
    const float* bias = projection_bias(p);
    const float* w_ih_packed = frozen ? frozen->w_ih[state].data() : nullptr;
    if (in_blocks && !frozen) {
      float* out = work.w_ih.get(kernels::packed_b_size(I, GH, isa));
      w_ih_packed = kernels::pack_b(Trans::yes, I, GH, value(p.w_ih), I, out, isa).data;
    }
    if (!in_blocks && !in_steps) {
      assert(x_step == B * I && x_row == I);  // one matrix of T·B rows (reads_input_by_step)
      input_projection(p, x, I, bias, gates, w_ih_packed, isa);
    }
    // Gx in the steps: W_ihᵀ packed per chunk (with W_hhᵀ in phase 0, or by freeze_weights()),
    // (C, R) the bias in its columns
    float* w_ih_chunks = !in_steps ? nullptr
                         : frozen  ? frozen->w_ih_chunks[state].data()
                                   : work.w_ih.get(C * R * I);
    const float* chunk_bias = nullptr;
    if (in_steps && bias) {
      float* out = work.chunk_bias.get(C * R);
      bias_by_chunk(bias, out, isa);
      chunk_bias = out;
    }
    const int64_t parts = projected ? 2 : 1;  // phases per step
    run_time_loop(1 + T * parts, [&](const Team& team, int64_t phase, int64_t chunk,
                                     const RowBlock& block) {
      const Team::Range units = chunk_of(H, chunk), outs = projected ? chunk_of(H_out, chunk) : units;
      const int64_t u0 = units.begin, n = units.size(), o0 = outs.begin, n_out = outs.size();
      const int64_t b0 = block.rows.begin, rows = block.rows.size();  // the samples [b0, b0 + rows)
      const kernels::PackedB w_hh_t{bf16 ? nullptr : packed + chunk * R * H_out, H_out, R, isa};
      const kernels::PackedBf16 w_hh_bf16{bf16 ? packed_bf16 + chunk * bf16_size : nullptr,
                                          H_out, R};

      if (phase == 0) {
        if (prepacked) return;
        if (bf16) {
          const float* w_hh = value(p.w_hh) + u0 * H_out;  // gate q's rows at w_hh + q·H·H_out
          uint16_t* out = packed_bf16 + chunk * bf16_size;
          std::fill(out, out + bf16_size, uint16_t{0});  // the padding columns of each gate
          for (int64_t q = 0; q < G; ++q)
            kernels::pack_b_bf16(H_out, n, w_hh + q * H * H_out, H_out, out + q * bf16_size / G);
        } else {
          pack_chunk(value(p.w_hh), H_out, chunk, packed, isa);
        }
        if (in_steps && !frozen) pack_chunk(value(p.w_ih), I, chunk, w_ih_chunks, isa);
        return;
      }
      const int64_t s = (phase - 1) / parts;
      const int64_t t = reverse ? T - 1 - s : s;
      // the block's first row of step t in the buffers of T·B rows (Gx, the trace)
      const int64_t step_row = block.row(t, b0, T);
      // (B, H_out) h_{t−1}, row b at h_prev + b·h_prev_row (all rows: b is a sample's index)
      const bool from_y = straight && s > 0;
      const float* h_prev =
          from_y ? y_of(reverse ? t + 1 : t - 1) : h_states + (s % 2) * B * H_out;
      const int64_t h_prev_row = from_y ? y_row : H_out;
      float* h_t = h_states + ((s + 1) % 2) * B * H_out;  // (B, H_out) h_t, unless straight
      // where the cell (or the projection) writes h_t: row b at h_out + b·h_out_row
      float* h_out = straight ? y_of(t) : h_new;
      const int64_t h_out_row = straight ? y_row : H_out;

      // The trace of h_{t−1}, and unless straight h_t of the outputs [o0, o0 + n_out) from
      // h_new; a sample past its length keeps its state and outputs zeros.
      const auto update_h = [&] {
        for (int64_t b = b0; b < block.rows.end; ++b) {
          const float* h_prev_b = h_prev + b * h_prev_row + o0;
          if (trace)
            copy_floats(trace->h_prev.data() + block.row(t, b, T) * H_out + o0, h_prev_b, n_out);
          if (straight) continue;
          float* y_b = y_of(t) + b * y_row + o0;
          float* h_b = h_t + b * H_out + o0;
          if (valid(b, t)) {
            copy_floats(h_b, h_new + b * H_out + o0, n_out);
            copy_floats(y_b, h_b, n_out);
          } else {
            copy_floats(h_b, h_prev_b, n_out);
            std::fill(y_b, y_b + n_out, 0.0f);
          }
        }
      };
      if ((phase - 1) % parts == 1) {
        // h_t (B, P) = (o ⊙ tanh(c_t)) W_hrᵀ, from every unit's o ⊙ tanh(c_t)
        sgemm(Trans::no, Trans::yes, rows, n_out, H, cell_out + b0 * H, H, value(p.w_hr) + o0 * H,
              H, 0.0f, h_new + b0 * H_out + o0, H_out);
        update_h();
        return;
      }

      MemberWork& mine = member_work[team.index()];
      float* rec = mine.recurrent.get(rows * R);
      // (rows, G·H) this step's gates of the block's samples, from the chunk's units: Gx, and
      // in training the activated gates (null: inference with Gx in the steps)
      float* g = gates ? gates + step_row * GH + u0 : nullptr;
      kernels::InGates gx{g, GH, H};
      if (in_steps) {
        // (rows, R) Gx of the chunk's columns = x_t W_ihᵀ + bias
        float* input = mine.input.get(rows * R);
        const kernels::PackedA& x_t =
            mine.input_a.prepare(s, rows, I, x + t * x_step + b0 * x_row, x_row, isa);
        const kernels::PackedB w_ih_t{w_ih_chunks + chunk * R * I, I, R, isa};
        if (chunk_bias)
          kernels::sgemm_packed_ab_bias(x_t, w_ih_t, chunk_bias + chunk * R, input, R);
        else
          kernels::sgemm_packed_ab(x_t, w_ih_t, 0.0f, input, R);
        gx = {input, R, w_pad};
      } else if (in_blocks && chunk == 0) {  // the block's rows of Gx, all columns, for its chunks
        project(p, x + t * x_step + b0 * x_row, x_row, rows, I, bias, w_ih_packed, {0, GH},
                gates + step_row * GH, isa);
      }
      // Outside row blocks, this step's rows of g (Gx written before the loop, or where training
      // keeps the activated gates) have left the caches; asked for now, they arrive while the
      // product runs.
      if (!in_blocks && g) prefetch_runs<true>(g, rows, GH, G, H, n);
      // rec (rows, G·w_pad) = h_{t−1} W_hhᵀ, this chunk's units
      const float* h_prev_rows = h_prev + b0 * h_prev_row;
      if (bf16)
        kernels::gemm_bf16(rows, h_prev_rows, h_prev_row, w_hh_bf16, rec, R);
      else
        kernels::sgemm_packed_ab(
            mine.recurrent_a.prepare(s, rows, H_out, h_prev_rows, h_prev_row, isa), w_hh_t, 0.0f,
            rec, R);
      const kernels::InGates rec_gates{rec, R, w_pad};
      // Inference needs only the states; training keeps the activated gates (in g).
      const kernels::OutGates act{trace ? g : nullptr, GH, H};
      if (is_lstm) {
        // The fused step (kernels::lstm_step): gates, c_t, and h_t = o ⊙ tanh(c_t) (with a
        // projection, the phase after gives h_t = W_hr (o ⊙ tanh(c_t))). Training writes c_t
        // into the trace, where the next step reads it as its c_{t−1} (and so does backward;
        // c_first keeps the cell entering the first step); a finished sample's row there gets
        // the cell it keeps. Inference updates c in place, or, where some samples have
        // finished, through a side buffer, from which only the running samples' rows return.
        float* c_chunk = c + b0 * H + u0;  // (rows, H) c_{t−1}, to become c_t (inference)
        const int64_t t_before = reverse ? t + 1 : t - 1;
        const kernels::InRows c_prev =
            !trace || s == 0
                ? kernels::InRows{c_chunk, H}
                : kernels::InRows{trace->c_new.data() + block.row(t_before, b0, T) * H + u0, H};
        if (trace && s == 0) copy_rows(trace->c_first.data() + b0 * H + u0, H, c_chunk, H, rows, n);
        const kernels::OutRows c_new =
            trace ? kernels::OutRows{trace->c_new.data() + step_row * H + u0, H}
            : lengths.empty() ? kernels::OutRows{c_chunk, H}
                              : kernels::OutRows{mine.cell.get(rows * n), n};
        const kernels::OutRows out =
            projected ? kernels::OutRows{cell_out + b0 * H + u0, H}
                      : kernels::OutRows{h_out + b0 * h_out_row + u0, h_out_row};
        kernels::lstm_step({.rows = rows, .n = n, .gx = gx, .rec = rec_gates, .c_prev = c_prev,
                            .act = act, .c_new = c_new, .h = out});
        if (trace && projected)
          copy_rows(trace->cell_out.data() + step_row * H + u0, H, out.data, H, rows, n);
        if (!lengths.empty())
          for (int64_t r = 0; r < rows; ++r) {  // sample b0 + r
            if (trace && !valid(b0 + r, t))
              copy_floats(c_new.data + r * c_new.row, c_prev.data + r * c_prev.row, n);
            else if (!trace && valid(b0 + r, t))
              copy_floats(c_chunk + r * H, c_new.data + r * c_new.row, n);
          }
      } else if (is_gru) {
        // The fused step (kernels::gru_step): r, z, n and h_t; training keeps W_hn h + b_hn.
        kernels::gru_step({.rows = rows, .n = n, .gx = gx, .rec = rec_gates,
                           .b_hh = cfg.bias ? value(p.b_hh) + u0 : nullptr, .b_gate = H,
                           .h_prev = {h_prev_rows + u0, h_prev_row}, .act = act,
                           .hn = {trace ? trace->hn.data() + step_row * H + u0 : nullptr, H},
                           .h = {h_out + b0 * h_out_row + u0, h_out_row}});
      } else {
        for (int64_t r = 0; r < rows; ++r) {  // sample b0 + r
          const float* gx_r = gx.data + r * gx.row;
          float* h_r = rec + r * R;
          // h_t = tanh or relu(Gx_t + h_{t−1} W_hhᵀ), in rec's row; training keeps it in g
          for (int64_t j = 0; j < n; ++j) h_r[j] += gx_r[j];
          if (cfg.cell == CellType::rnn_tanh)
            kernels::tanh(h_r, h_r, n);
          else
            for (int64_t j = 0; j < n; ++j) h_r[j] = std::max(h_r[j], 0.0f);
          if (trace) copy_floats(g + r * GH, h_r, n);
          copy_floats(h_out + (b0 + r) * h_out_row + u0, h_r, n);
        }
      }
      if (!projected) update_h();
    }, [](const Team&, const RowBlock&) {});
    if (frozen && bf16) frozen->has_w_hh_bf16[state] = true;
    // the final cell, training: c_t of the last step (a finished sample's: the one it kept),
    // block by block
    if (trace && is_lstm)
      for (int64_t k = 0, blocks = batch_blocks(B); k < blocks; ++k) {
        const RowBlock block = row_block(k);
        const int64_t b0 = block.rows.begin;
        copy_floats(c + b0 * H, trace->c_new.data() + block.row(reverse ? 0 : T - 1, b0, T) * H,
                    block.rows.size() * H);
      }
    // the final state: h_t of the last step
    if (straight)
      copy_rows(h, H_out, y_of(reverse ? 0 : T - 1), y_row, B, H_out);
    else
      copy_floats(h, h_states + (T % 2) * B * H_out, B * H_out);
  }

  // Backward of forward_direction. x (T, B, I) is the direction's input; the gradient of the
  // layer output for sample b at step t is at dy + t·dy_step + b·dy_row, in columns
  // [column, column + H_out) (batch-first where it is the caller's d_output; dy null where the
  // steps' outputs have none: a layer that returns its final states only); dh (B, H_out)
  // and dc (B, H) hold the gradient of the final state and receive that of the initial state;
  // dx (T, B, I) = dx_beta·dx + the input gradient.
  // Phase 0 packs W_hh. Per step come the pointwise gradients of a range of units, then
  // dh_{t−1} = dA_t W_hh for a range of outputs, which needs all of dA_t (a phase boundary
  // between them). Without a projection a chunk's outputs are its units, and dh_{t−1} of a
  // chunk's outputs is all that the chunk's pointwise gradients of step t − 1 need: one phase
  // per step runs, chunk by chunk, dh of the step before and then the pointwise gradients of
  // this one. With a projection each step is three phases (∂L/∂h_t for a range of outputs
  // first). After the loop the GEMMs over all steps (accumulate) compute a range of output
  // columns each (the sums along T·B are never split).
  void backward_direction(const DirectionParams& p, const DirectionTrace& trace, const float* x,
                          int64_t I, bool reverse, const float* dy, int64_t dy_step,
                          int64_t dy_row, int64_t column, float* dh, float* dc, float* dx,
                          float dx_beta) {
    const int64_t T = steps, B = batch, H = cfg.hidden_size, G = cfg.gate_count(), GH = G * H,
                  H_out = cfg.output_size(), P = cfg.proj_size, C = chunk_count();
    const bool is_lstm = cfg.cell == CellType::lstm, is_gru = cfg.cell == CellType::gru;
    const bool projected = P > 0;

    float* d_gates = work.d_gates.get(T * B * GH);
    float* d_recurrent = is_gru ? work.d_recurrent.get(T * B * GH) : nullptr;
    // (blocks, G·H) Σ dA_in and Σ dA_rec over the samples of each row block (run_time_loop)
    const int64_t blocks = batch_blocks(B);
    float* d_bias_in = cfg.bias ? work.d_bias_in.get(blocks * GH) : nullptr;
    float* d_bias_rec = cfg.bias && is_gru ? work.d_bias_rec.get(blocks * GH) : nullptr;
    if (blocks > 1) work.block_gradients.get(blocks * GH * (H_out + I));
    float* d_h_proj = projected ? work.d_h_proj.get(T * B * P) : nullptr;
    float* d_h_total = work.d_h_total.get(B * H_out);    // ∂L/∂h_t
    float* d_h_prev = work.d_h_prev.get(B * H_out);      // dh_{t−1} through W_hh
    float* d_cell_out = work.d_cell_out.get(B * H);      // ∂L/∂(o ⊙ tanh c_t)
    start_members();

    // W_hh's columns of each chunk's outputs (GH × width), packed once for dh_{t−1} = dA W_hh.
    const kernels::Isa isa = kernels::active_isa();
    const int64_t packed_size = kernels::packed_b_size(GH, chunk_of(H_out, 0).size(), isa);
    float* packed = work.w_hh.get(C * packed_size);

    // Part 0: ∂L/∂h_t (outputs; with a projection only), 1: pointwise (units), 2: dh_{t−1}
    // (outputs), of step s (in backward order) for one chunk and the samples of one row block.
    const auto step_part = [&](MemberWork& mine, int64_t s, int64_t part, int64_t chunk,
                               const RowBlock& block) {
      const Team::Range units = chunk_of(H, chunk), outs = projected ? chunk_of(H_out, chunk) : units;
      const int64_t u0 = units.begin, n = units.size(), o0 = outs.begin, n_out = outs.size();
      const int64_t b0 = block.rows.begin, b_end = block.rows.end, n_rows = block.rows.size();
      float* packed_chunk = packed + chunk * packed_size;
      const int64_t t = reverse ? s : T - 1 - s;  // the forward order, reversed
      // sample b's row of this step in dA and in the trace's gates
      const auto dA_row = [&](int64_t b) { return block.row(t, b, T) * GH; };
      const auto g = [&](int64_t b) { return trace.gates.data() + dA_row(b); };

      if (part == 2) {
        // dh_{t−1} = dA_rec W_hh (+ dh ⊙ z for GRU), this chunk's outputs; a finished sample
        // passes dh through.
        const float* d_rec_t = (is_gru ? d_recurrent : d_gates) + dA_row(b0);
        kernels::sgemm_packed_ab(mine.recurrent_a.prepare(s, n_rows, GH, d_rec_t, GH, isa),
                                 kernels::PackedB{packed_chunk, GH, n_out, isa}, 0.0f,
                                 d_h_prev + b0 * H_out + o0, H_out);
        for (int64_t b = b0; b < b_end; ++b) {
          if (!valid(b, t)) continue;  // dh_b already holds the pass-through gradient
          float* dh_b = dh + b * H_out + o0;
          const float* dhp = d_h_prev + b * H_out + o0;
          if (is_gru) {
            const float* gz = g(b) + H + o0;
            const float* dht = d_h_total + b * H_out + o0;
            for (int64_t j = 0; j < n_out; ++j) dh_b[j] = dhp[j] + dht[j] * gz[j];
          } else {
            copy_floats(dh_b, dhp, n_out);
          }
        }
        return;
      }

      // ∂L/∂h_t = dh (from later steps) + dy_t, this chunk's outputs: in part 0 with a
      // projection (whose part 1 reads all of it), here otherwise
      if (part == 0 || !projected) {
        for (int64_t b = b0; b < b_end; ++b) {
          float* dht = d_h_total + b * H_out + o0;
          const float* dh_b = dh + b * H_out + o0;
          if (!valid(b, t)) {
            std::fill(dht, dht + n_out, 0.0f);
          } else if (dy) {
            const float* dy_tb = dy + t * dy_step + b * dy_row + column + o0;
            for (int64_t j = 0; j < n_out; ++j) dht[j] = dh_b[j] + dy_tb[j];
          } else {
            copy_floats(dht, dh_b, n_out);
          }
          if (projected) copy_floats(d_h_proj + (t * B + b) * P + o0, dht, n_out);
        }
        // The same rows of dy at the next step back, which in the caller's batch-first d_output
        // lie T·H_out floats apart (a page or more) and so are not fetched ahead by the hardware:
        // asked for now, they arrive while this step's work runs.
        if (dy && s + 1 < T) {
          const int64_t t_next = reverse ? t + 1 : t - 1;  // the step back's forward index
          prefetch_runs<false>(dy + t_next * dy_step + b0 * dy_row + column + o0, n_rows, dy_row,
                               1, 0, n_out);
        }
      }
      if (part == 0) return;
      if (projected) {
        // h_t = W_hr m_t:  ∂L/∂m_t (B, H) = ∂L/∂h_t W_hr, this chunk's units
        sgemm(Trans::no, Trans::no, n_rows, n, P, d_h_total + b0 * P, P, value(p.w_hr) + u0, H,
              0.0f, d_cell_out + b0 * H + u0, H);
      }

      // The fused pointwise backward (kernels::lstm_backward_step / gru_backward_step) over each
      // run of consecutive samples still running at t; a finished sample's gate gradients are 0
      // and its dc passes through.
      const float* dm_base = projected ? d_cell_out : d_h_total;  // ∂L/∂(o ⊙ tanh c_t) (LSTM)
      const int64_t dm_row = projected ? H : H_out;
      for (int64_t b = b0; b < b_end;) {
        float* dg_b = d_gates + dA_row(b) + u0;  // gate q of this chunk's units at dg_b + q·H
        float* drec_b = is_gru ? d_recurrent + dA_row(b) + u0 : nullptr;
        if (!valid(b, t)) {
          for (int64_t q = 0; q < G; ++q) {
            std::fill(dg_b + q * H, dg_b + q * H + n, 0.0f);
            if (is_gru) std::fill(drec_b + q * H, drec_b + q * H + n, 0.0f);
          }
          ++b;
          continue;
        }
        int64_t end = b + 1;
        while (end < b_end && valid(end, t)) ++end;
        const int64_t rows = end - b, row = block.row(t, b, T);
        // c_{t−1}: the cell entering the first step, or c_t of the step before
        const bool first_step = t == (reverse ? T - 1 : 0);
        const int64_t row_before = block.row(reverse ? t + 1 : t - 1, b, T);
        const float* c_before =
            first_step ? trace.c_first.data() + b * H : trace.c_new.data() + row_before * H;
        const kernels::InGates act{g(b) + u0, GH, H};
        const kernels::OutGates dg_view{dg_b, GH, H};
        if (is_lstm) {
          kernels::lstm_backward_step({.rows = rows, .n = n, .act = act,
                                       .dh = {dm_base + b * dm_row + u0, dm_row},
                                       .c_prev = {c_before + u0, H},
                                       .c_new = {trace.c_new.data() + row * H + u0, H},
                                       .dc = {dc + b * H + u0, H}, .d_gates = dg_view});
          b = end;
          continue;
        }
        if (is_gru) {
          kernels::gru_backward_step({.rows = rows, .n = n, .act = act,
                                      .hn = {trace.hn.data() + row * H + u0, H},
                                      .h_prev = {trace.h_prev.data() + row * H_out + u0, H_out},
                                      .dh = {d_h_total + b * H_out + u0, H_out},
                                      .d_gates = dg_view, .d_rec = {drec_b, GH, H}});
          b = end;
          continue;
        }
        for (; b < end; ++b) {
          float* dg_r = d_gates + dA_row(b) + u0;
          const float* gb = g(b) + u0;
          // h_t = φ(a):  da = dh ⊙ φ'(a), with tanh' = 1 − h², relu' = [h > 0]
          const bool is_tanh = cfg.cell == CellType::rnn_tanh;
          const float* dht = d_h_total + b * H_out + u0;
          for (int64_t j = 0; j < n; ++j)
            dg_r[j] = is_tanh ? dht[j] * (1.0f - gb[j] * gb[j]) : gb[j] > 0 ? dht[j] : 0.0f;
        }
      }
      // db_ih += Σ_b dA_in,t and db_hh += Σ_b dA_rec,t (the same sum but for GRU), this
      // chunk's gate columns and the block's samples, while the step's rows are in cache.
      for (int64_t q = 0; q < G && cfg.bias; ++q) {
        const int64_t sums = block.index * GH + q * H + u0, from = dA_row(b0) + q * H + u0;
        add_column_sums(d_bias_in + sums, d_gates + from, n_rows, n, GH);
        if (is_gru) add_column_sums(d_bias_rec + sums, d_recurrent + from, n_rows, n, GH);
      }
    };

    // Phases: the packing, then with a projection 3 per step; without, 1 + T + 1: phase j runs
    // dh of step j − 2 (j ≥ 2) and the pointwise part of step j − 1 (j ≤ T).
    const int64_t phases = projected ? 1 + 3 * T : T + 2;
    run_time_loop(phases, [&](const Team& team, int64_t phase, int64_t chunk,
                              const RowBlock& block) {
      MemberWork& mine = member_work[team.index()];
      if (phase == 0) {
        const Team::Range outs = chunk_of(H_out, chunk);
        kernels::pack_b(Trans::no, GH, outs.size(), value(p.w_hh) + outs.begin, H_out,
                        packed + chunk * packed_size, isa);
        const Team::Range units = chunk_of(H, chunk);
        for (int64_t k = 0; k < blocks && cfg.bias; ++k)
          for (int64_t q = 0; q < G; ++q) {
            std::fill_n(d_bias_in + k * GH + q * H + units.begin, units.size(), 0.0f);
            if (is_gru) std::fill_n(d_bias_rec + k * GH + q * H + units.begin, units.size(), 0.0f);
          }
      } else if (projected) {
        step_part(mine, (phase - 1) / 3, (phase - 1) % 3, chunk, block);
      } else {
        if (phase >= 2) step_part(mine, phase - 2, 2, chunk, block);
        if (phase <= T) step_part(mine, phase - 1, 1, chunk, block);
      }
    }, [&](const Team& team, const RowBlock& block) {
      block_gradients(p, trace, x, I, d_gates, d_recurrent, block, member_work[team.index()], dx,
                      dx_beta);
    });
    if (blocks > 1)
      add_block_gradients(p, I);
    else
      accumulate(p, trace, x, I, d_gates, is_gru ? d_recurrent : d_gates, d_h_proj, dx, dx_beta);
    // the blocks' bias gradients, added in the blocks' order
    for (int64_t k = 0; k < blocks && cfg.bias; ++k) {
      add_to(grad(p.b_ih), d_bias_in + k * GH, GH);
      add_to(grad(p.b_hh), (is_gru ? d_bias_rec : d_bias_in) + k * GH, GH);
    }
  }

  // stacked (count, H_out + I) = [H_prev | X] of count rows, from row h_from of the trace's
  // H_prev and row x_from of X (time-major, T·B rows)
  void stack_inputs(const DirectionTrace& trace, const float* x, int64_t I, int64_t h_from,
                    int64_t x_from, int64_t count, float* stacked) const {
    const int64_t H_out = cfg.output_size(), width = H_out + I;
    copy_rows(stacked, width, trace.h_prev.data() + h_from * H_out, H_out, count, H_out);
    copy_rows(stacked + H_out, width, x + x_from * I, I, count, I);
  }
  // dW_hh and dW_ih += the gate rows [g0, g1) of a product dAᵀ [H_prev | X] (rows `width`
  // apart, row g0 first)
  void add_weight_gradients(const DirectionParams& p, int64_t I, int64_t g0, int64_t g1,
                            const float* product, int64_t width) {
    const int64_t H_out = cfg.output_size();
    for (int64_t g = g0; g < g1; ++g) {
      const float* row = product + (g - g0) * width;
      add_to(grad(p.w_hh) + g * H_out, row, H_out);
      add_to(grad(p.w_ih) + g * I, row + H_out, I);
    }
  }
  // One element of dX = dx_beta·dX + computed (dX is not read where dx_beta = 0).
  static float input_gradient(float dx_beta, float old, float computed) {
    return dx_beta == 0.0f ? computed : dx_beta * old + computed;
  }

  // In row blocks (batch_blocks > 1) the products after the time loop go by blocks too, each
  // computed by the thread that ran the block as soon as it is done, on the block's rows of
  // every step, so that no core reads what another wrote:
  //   [dW_hh | dW_ih]_k = dA_kᵀ [H_prev | X]_k   (GRU: dA_rec,kᵀ H_prev,k and dA_in,kᵀ X_k),
  //   dX_k = dx_beta·dX_k + dA_in,k W_ih,
  // a few steps at a time, at most gathered_rows rows: dA's lie together (RowBlock::row),
  // [H_prev | X]'s are gathered side by side (X's rows are time-major, the caller's);
  // add_block_gradients then adds the blocks' weight gradients up in the blocks' order.
  static constexpr int64_t gathered_rows = 2048;
  void block_gradients(const DirectionParams& p, const DirectionTrace& trace, const float* x,
                       int64_t I, const float* d_gates, const float* d_recurrent,
                       const RowBlock& block, MemberWork& mine, float* dx, float dx_beta) {
    const int64_t T = steps, B = batch, GH = cfg.gate_count() * cfg.hidden_size,
                  H_out = cfg.output_size(), width = H_out + I;
    const int64_t b0 = block.rows.begin, rows = block.rows.size();
    const int64_t piece = std::max<int64_t>(1, gathered_rows / rows);  // steps gathered at once
    const int64_t most = std::min(T, piece) * rows;
    // (most, ·): the block's rows of [H_prev | X] and dX, step by step
    float* stacked = mine.stacked_inputs.get(most * width);
    float* d_x = mine.gathered_dx.get(most * I);
    float* product = work.block_gradients.data() + block.index * GH * width;  // (G·H, width)
    for (int64_t t0 = 0; t0 < T; t0 += piece) {
      const int64_t t1 = std::min(T, t0 + piece), n = (t1 - t0) * rows;
      for (int64_t t = t0; t < t1; ++t)  // the block's rows at step t
        stack_inputs(trace, x, I, block.row(t, b0, T), t * B + b0, rows,
                     stacked + (t - t0) * rows * width);
      // (n, G·H) dA_in and dA_rec (GRU) of these steps: the block's rows lie together
      const float* d_in = d_gates + block.row(t0, b0, T) * GH;
      const float* d_rec = d_recurrent ? d_recurrent + block.row(t0, b0, T) * GH : d_in;
      const float beta = t0 == 0 ? 0.0f : 1.0f;
      if (d_rec == d_in) {
        sgemm(Trans::yes, Trans::no, GH, width, n, d_in, GH, stacked, width, beta, product, width);
      } else {
        sgemm(Trans::yes, Trans::no, GH, H_out, n, d_rec, GH, stacked, width, beta, product,
              width);
        sgemm(Trans::yes, Trans::no, GH, I, n, d_in, GH, stacked + H_out, width, beta,
              product + H_out, width);
      }
      sgemm(Trans::no, Trans::no, n, I, GH, d_in, GH, value(p.w_ih), I, 0.0f, d_x, I);
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          float* dx_row = dx + (t * B + b0 + r) * I;
          const float* computed = d_x + ((t - t0) * rows + r) * I;
          for (int64_t i = 0; i < I; ++i)
            dx_row[i] = input_gradient(dx_beta, dx_row[i], computed[i]);
        }
    }
  }
  // dW_hh and dW_ih += the blocks' weight gradients (block_gradients), block 0 first, in 8
  // ranges of gate rows that the team claims as it goes.
  void add_block_gradients(const DirectionParams& p, int64_t I) {
    const int64_t GH = cfg.gate_count() * cfg.hidden_size, width = cfg.output_size() + I,
                  blocks = batch_blocks(batch);
    constexpr int64_t ranges = 8;
    threads::run_phases(team_threads(), 1, ranges, threads::ChunkOrder::same,
                        [&](const Team&, int64_t, int64_t range) {
      const Team::Range gate_rows = threads::split(GH, ranges, range, 1);
      for (int64_t k = 0; k < blocks; ++k)
        add_weight_gradients(p, I, gate_rows.begin, gate_rows.end,
                             work.block_gradients.data() + (k * GH + gate_rows.begin) * width,
                             width);
    });
  }

  // After the backward time loop, over all T·B rows at once, one GEMM per team member over its
  // range of each product's rows (the weight gradients: gate units, so that each member packs
  // only its part of dAᵀ) or columns (dX, dW_hr); the sums along T·B are never split, so the
  // split changes no element and the results do not depend on the team size:
  //   dW_hh += dA_recᵀ H_prev;  dW_ih += dA_inᵀ X;  dX = dx_beta·dX + dA_in W_ih;
  //   dW_hr += dH_tᵀ M
  // (the bias gradients are summed in the time loop).
  void accumulate(const DirectionParams& p, const DirectionTrace& trace, const float* x,
                  int64_t I, const float* d_gates, const float* d_rec, const float* d_h_proj,
                  float* dx, float dx_beta) {
    threads::run(team_threads(), [&](const Team& team) {
      accumulate_share(p, trace, x, I, team, d_gates, d_rec, d_h_proj, dx, dx_beta);
    });
  }
  void accumulate_share(const DirectionParams& p, const DirectionTrace& trace, const float* x,
                        int64_t I, const Team& team, const float* d_gates, const float* d_rec,
                        const float* d_h_proj, float* dx, float dx_beta) {
    const int64_t rows = steps * batch, H = cfg.hidden_size, GH = cfg.gate_count() * H,
                  H_out = cfg.output_size(), P = cfg.proj_size;
    const int64_t panel = kernels::packed_b_panel_width();
    const auto mine = [&](int64_t count) {
      return threads::split(count, team.size(), team.index(), panel);
    };
    // The weight gradients' gate rows in whole row blocks of the GEMM: each member's product
    // then computes its rows exactly as one product over all of them would.
    const Team::Range gate_rows =
        threads::split_nearest(GH, team.size(), team.index(), kernels::gemm_row_block());
    const Team::Range inputs = mine(I), units = mine(H);
    if (d_rec == d_gates && rows >= H_out + I) {
      accumulate_weight_gradients_together(p, trace, x, I, team, d_gates, gate_rows);
    } else {
      const int64_t g0 = gate_rows.begin, m = gate_rows.size();
      sgemm(Trans::yes, Trans::no, m, H_out, rows, d_rec + g0, GH, trace.h_prev.data(), H_out,
            1.0f, grad(p.w_hh) + g0 * H_out, H_out);
      sgemm(Trans::yes, Trans::no, m, I, rows, d_gates + g0, GH, x, I, 1.0f,
            grad(p.w_ih) + g0 * I, I);
    }
    if (I < panel)
      input_gradient_by_rows(p, I, team, d_gates, dx, dx_beta);
    else
      sgemm(Trans::no, Trans::no, rows, inputs.size(), GH, d_gates, GH,
            value(p.w_ih) + inputs.begin, I, dx_beta, dx + inputs.begin, I);
    if (P > 0)
      sgemm(Trans::yes, Trans::no, P, units.size(), rows, d_h_proj, P,
            trace.cell_out.data() + units.begin, H, 1.0f, grad(p.w_hr) + units.begin, H);
  }

  // dX = dx_beta·dX + dA W_ih where the input is narrower than one panel of the GEMM's tile (a
  // forecaster's few features): split by columns, one member would compute all of it with
  // tiles mostly of padding. Instead each member takes a range of the T·B rows and computes
  //   dXᵀ (I, its rows) = W_ihᵀ dA_rowsᵀ,
  // a few rows of dot products along G·H (or a thin product), then adds it, transposed, to its
  // rows of dX. Each element is the same sum however the rows are split.
  void input_gradient_by_rows(const DirectionParams& p, int64_t I, const Team& team,
                              const float* d_gates, float* dx, float dx_beta) {
    const int64_t GH = cfg.gate_count() * cfg.hidden_size;
    const Team::Range mine = threads::split(steps * batch, team.size(), team.index(), 1);
    const int64_t n = mine.size();
    if (n <= 0) return;
    float* dx_t = member_work[team.index()].dx_transposed.get(I * n);  // (I, n)
    sgemm(Trans::yes, Trans::yes, I, n, GH, value(p.w_ih), I, d_gates + mine.begin * GH, GH, 0.0f,
          dx_t, n);
    for (int64_t r = 0; r < n; ++r) {
      float* dx_r = dx + (mine.begin + r) * I;
      for (int64_t i = 0; i < I; ++i) dx_r[i] = input_gradient(dx_beta, dx_r[i], dx_t[i * n + r]);
    }
  }

  // LSTM and RNN differentiate W_hh and W_ih through the same dA, so one product gives both
  // weight gradients, and dA (T·B × G·H, the large operand, whose packing is much of a weight
  // gradient's time) is packed once instead of twice. Over the member's rows of each (gate
  // units: the members split dAᵀ, whose packing is strided and costs the most, and each reads
  // all of [H_prev | X], which is copied straight),
  //   [dW_hh | dW_ih] += dAᵀ [H_prev | X],
  // in blocks of rows of [H_prev | X] (copied side by side), so that the copies stay small:
  // 2048 rows a member on 1 or 2 threads, 1024 on more. A block is a multiple of every kernel
  // path's depth block (KC: 1024, 256), so each sum runs over the same blocks in the same order
  // as one product over all the rows: the gradients are bit for bit those of the two separate
  // products (from zero), whatever the block. The product goes to a scratch of the member's
  // rows of the weights and is then added to both gradients, which pays only where there are
  // more rows (T·B) than columns (H_out + I): the caller decides.
  static int64_t stacked_rows(int team_size) { return team_size <= 2 ? 2048 : 1024; }
  void accumulate_weight_gradients_together(const DirectionParams& p, const DirectionTrace& trace,
                                            const float* x, int64_t I, const Team& team,
                                            const float* d_gates, Team::Range gate_rows) {
    const int64_t rows = steps * batch, GH = cfg.gate_count() * cfg.hidden_size,
                  H_out = cfg.output_size();
    const int64_t width = H_out + I, m = gate_rows.size();
    if (m <= 0) return;
    MemberWork& mine = member_work[team.index()];
    const int64_t block_rows = stacked_rows(team.size());
    float* stacked = mine.stacked_inputs.get(std::min(rows, block_rows) * width);  // [H_prev | X]
    float* product = mine.stacked_product.get(m * width);  // (m, width) dAᵀ [H_prev | X]
    for (int64_t r0 = 0; r0 < rows; r0 += block_rows) {
      const int64_t block = std::min(block_rows, rows - r0);
      stack_inputs(trace, x, I, r0, r0, block, stacked);
      sgemm(Trans::yes, Trans::no, m, width, block, d_gates + r0 * GH + gate_rows.begin, GH,
            stacked, width, r0 == 0 ? 0.0f : 1.0f, product, width);
    }
    add_weight_gradients(p, I, gate_rows.begin, gate_rows.end, product, width);
  }
};

Recurrent::Recurrent(const RecurrentConfig& config) : config_(config) {
  const auto positive = [](int64_t v, const char* what) {
    if (v <= 0) throw Error(std::string("recurrent layer: ") + what + " must be > 0, got " +
                            std::to_string(v));
  };
  positive(config.input_size, "input_size");
  positive(config.hidden_size, "hidden_size");
  positive(config.num_layers, "num_layers");
  if (config.proj_size < 0 || (config.proj_size > 0 && config.proj_size >= config.hidden_size))
    throw Error("recurrent layer: proj_size must be in [0, hidden_size = " +
                std::to_string(config.hidden_size) + "), got " +
                std::to_string(config.proj_size));
  if (config.proj_size > 0 && config.cell != CellType::lstm)
    throw Error("recurrent layer: proj_size is supported only by LSTM");
  if (!(config.dropout >= 0.0f && config.dropout < 1.0f))
    throw Error("recurrent layer: dropout must be in [0, 1), got " +
                std::to_string(config.dropout));
  impl_ = std::make_unique<Impl>(config);
  Rng rng(0);
  reset_parameters(rng);
}

Recurrent::~Recurrent() = default;
Recurrent::Recurrent(Recurrent&&) noexcept = default;
Recurrent& Recurrent::operator=(Recurrent&&) noexcept = default;

LSTM::LSTM(const LSTMOptions& o)
    : Recurrent(RecurrentConfig{.cell = CellType::lstm,
                                .input_size = o.input_size,
                                .hidden_size = o.hidden_size,
                                .num_layers = o.num_layers,
                                .bias = o.bias,
                                .dropout = o.dropout,
                                .bidirectional = o.bidirectional,
                                .proj_size = o.proj_size,
                                .return_sequences = o.return_sequences}) {}

GRU::GRU(const GRUOptions& o)
    : Recurrent(RecurrentConfig{.cell = CellType::gru,
                                .input_size = o.input_size,
                                .hidden_size = o.hidden_size,
                                .num_layers = o.num_layers,
                                .bias = o.bias,
                                .dropout = o.dropout,
                                .bidirectional = o.bidirectional,
                                .proj_size = 0,
                                .return_sequences = o.return_sequences}) {}

RNN::RNN(const RNNOptions& o)
    : Recurrent(RecurrentConfig{
          .cell = o.nonlinearity == Nonlinearity::relu ? CellType::rnn_relu : CellType::rnn_tanh,
          .input_size = o.input_size,
          .hidden_size = o.hidden_size,
          .num_layers = o.num_layers,
          .bias = o.bias,
          .dropout = o.dropout,
          .bidirectional = o.bidirectional,
          .proj_size = 0,
          .return_sequences = o.return_sequences}) {}

void Recurrent::reset_parameters(Rng& rng) {
  // PyTorch: every weight and bias ~ U(−1/√H, 1/√H), H = hidden_size.
  const float bound = 1.0f / std::sqrt(static_cast<float>(config_.hidden_size));
  for (Tensor& v : impl_->values)
    for (float& w : v) w = rng.uniform(-bound, bound);
}

std::vector<ParameterRef> Recurrent::parameters() {
  std::vector<ParameterRef> refs;
  for (std::size_t i = 0; i < impl_->values.size(); ++i)
    refs.push_back({impl_->names[i], &impl_->values[i], &impl_->grads[i]});
  return refs;
}

void Recurrent::freeze_weights() {
  Impl& m = *impl_;
  const RecurrentConfig& cfg = config_;
  auto frozen = std::make_unique<Impl::Frozen>();
  frozen->values = m.values;
  frozen->isa = kernels::active_isa();
  const kernels::Isa isa = frozen->isa;
  const int64_t GH = cfg.gate_count() * cfg.hidden_size, H_out = cfg.output_size(),
                D = cfg.directions(), C = m.chunk_count();
  const int64_t R = cfg.gate_count() * m.packed_chunk_width(isa);
  frozen->w_hh.resize(m.params.size());
  frozen->w_ih.resize(m.params.size());
  frozen->w_ih_chunks.resize(m.params.size());
  frozen->w_hh_bf16.resize(m.params.size());
  frozen->has_w_hh_bf16.assign(m.params.size(), false);
  for (std::size_t state = 0; state < m.params.size(); ++state) {
    const Impl::DirectionParams& p = m.params[state];
    const int64_t I = state < static_cast<std::size_t>(D) ? cfg.input_size : D * H_out;
    float* w_hh = frozen->w_hh[state].get(C * R * H_out);
    for (int64_t chunk = 0; chunk < C; ++chunk)
      m.pack_chunk(frozen->values[p.w_hh].data(), H_out, chunk, w_hh, isa);
    kernels::pack_b(Trans::yes, I, GH, frozen->values[p.w_ih].data(), I,
                    frozen->w_ih[state].get(kernels::packed_b_size(I, GH, isa)), isa);
    // (the largest batch computes Gx in the steps wherever any batch does)
    if (m.input_in_steps(I, std::numeric_limits<int64_t>::max())) {
      float* w_ih = frozen->w_ih_chunks[state].get(C * R * I);
      for (int64_t chunk = 0; chunk < C; ++chunk)
        m.pack_chunk(frozen->values[p.w_ih].data(), I, chunk, w_ih, isa);
    }
  }
  m.frozen = std::move(frozen);
  m.has_trace = false;  // a training pass's trace is not for a frozen layer to go back through
}

void Recurrent::unfreeze_weights() { impl_->frozen.reset(); }

bool Recurrent::weights_frozen() const { return impl_->frozen != nullptr; }

int Recurrent::threads_used(int64_t batch) const {
  // the time loop's parallel parts: row blocks, or chunks of hidden units
  const int64_t blocks = impl_->batch_blocks(batch);
  const int64_t parts = blocks > 1 ? blocks : threads::recurrent_chunks(impl_->cfg.hidden_size);
  return static_cast<int>(std::min<int64_t>({impl_->threads_for(batch), parts, num_threads()}));
}

Tensor& Recurrent::parameter(const std::string& name) {
  for (std::size_t i = 0; i < impl_->names.size(); ++i)
    if (impl_->names[i] == name) return impl_->values[i];
  throw Error(describe() + " has no parameter '" + name + "'");
}

std::string Recurrent::kind() const {
  switch (config_.cell) {
    case CellType::lstm: return "lstm";
    case CellType::gru: return "gru";
    case CellType::rnn_tanh:
    case CellType::rnn_relu: return "rnn";
  }
  return "rnn";
}

std::string Recurrent::config_json() const {
  nlohmann::ordered_json j;
  j["type"] = kind();
  j["input_size"] = config_.input_size;
  j["hidden_size"] = config_.hidden_size;
  j["num_layers"] = config_.num_layers;
  if (kind() == "rnn") j["nonlinearity"] = config_.cell == CellType::rnn_relu ? "relu" : "tanh";
  j["bias"] = config_.bias;
  j["dropout"] = config_.dropout;
  j["bidirectional"] = config_.bidirectional;
  if (config_.cell == CellType::lstm) j["proj_size"] = config_.proj_size;
  j["return_sequences"] = config_.return_sequences;
  return j.dump();
}

std::string Recurrent::describe() const {
  std::ostringstream out;
  const std::string name = kind() == "lstm" ? "LSTM" : kind() == "gru" ? "GRU" : "RNN";
  out << name << "(input_size=" << config_.input_size << ", hidden_size=" << config_.hidden_size
      << ", num_layers=" << config_.num_layers;
  if (config_.cell == CellType::rnn_relu) out << ", nonlinearity=relu";
  if (!config_.bias) out << ", bias=false";
  if (config_.dropout > 0) out << ", dropout=" << config_.dropout;
  if (config_.bidirectional) out << ", bidirectional=true";
  if (config_.proj_size > 0) out << ", proj_size=" << config_.proj_size;
  if (!config_.return_sequences) out << ", return_sequences=false";
  out << ')';
  return out.str();
}

int64_t Recurrent::output_features(int64_t features_in) const {
  if (features_in != config_.input_size)
    throw Error(describe() + ": expected " + std::to_string(config_.input_size) +
                " input features, got " + std::to_string(features_in));
  return config_.directions() * config_.output_size();
}

RecurrentResult Recurrent::forward_sequence(const Tensor& x, const Tensor* h0, const Tensor* c0,
                                            const ForwardContext& ctx) {
  Impl& m = *impl_;
  const RecurrentConfig& cfg = config_;
  const std::string name = describe();
  if (x.rank() != 3 || x.dim(2) != cfg.input_size || x.dim(0) < 1 || x.dim(1) < 1)
    throw Error(name + ": expected input (batch, time, " + std::to_string(cfg.input_size) +
                ") with batch, time ≥ 1, got " + x.shape_string());
  const int64_t B = x.dim(0), T = x.dim(1), L = cfg.num_layers, D = cfg.directions(),
                H = cfg.hidden_size, H_out = cfg.output_size();
  const bool is_lstm = cfg.cell == CellType::lstm;
  if (h0) h0->check_shape({L * D, B, H_out}, name + ": h0");
  if (c0) {
    if (!is_lstm) throw Error(name + ": c0 is given, but only an LSTM has a cell state");
    c0->check_shape({L * D, B, H}, name + ": c0");
  }
  std::vector<int64_t> lengths;
  if (ctx.lengths) {
    if (static_cast<int64_t>(ctx.lengths->size()) != B)
      throw Error(name + ": expected " + std::to_string(B) + " lengths (one per sample), got " +
                  std::to_string(ctx.lengths->size()));
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = (*ctx.lengths)[b];
      if (len < 1 || len > T)
        throw Error(name + ": length of sample " + std::to_string(b) + " must be in [1, " +
                    std::to_string(T) + "], got " + std::to_string(len));
    }
    if (std::any_of(ctx.lengths->begin(), ctx.lengths->end(), [T](int64_t n) { return n < T; }))
      lengths = *ctx.lengths;
  }
  const bool training = ctx.training;
  if (training && m.frozen)
    throw Error(name + ": its weights are frozen for inference (freeze_weights); call "
                       "unfreeze_weights() before training it");
  const bool dropout_active = training && cfg.dropout > 0.0f && L > 1;
  if (dropout_active && !ctx.rng)
    throw Error(name + ": training with dropout needs a random generator (ForwardContext::rng)");

  m.batch = B;
  m.steps = T;
  m.bf16 = ctx.bf16_weights && !training && kernels::bf16_supported();
  m.lengths = std::move(lengths);
  m.has_trace = false;

  RecurrentResult result;
  result.h_n = h0 ? *h0 : Tensor({L * D, B, H_out});
  result.c_n = is_lstm ? (c0 ? *c0 : Tensor({L * D, B, H})) : Tensor();

  // The input of layer l (T, B, I_l): in training the trace of that layer keeps it, in
  // inference two buffers alternate. Index L is the output of the last layer where only its
  // final states are returned.
  const auto layer_input = [&](int64_t layer, int64_t features) {
    Buffer& buffer = training && layer < L ? m.layer_traces[layer].input : m.work.layer_io[layer % 2];
    return buffer.get(T * B * features);
  };
  // Layer 0 reads x (B, T, I) where it lies where it reads its input a step at a time
  // (inference), and otherwise a time-major copy (training keeps it for the weight gradients).
  int64_t I = cfg.input_size;
  const float* input = x.data();
  int64_t x_step = I, x_row = T * I;  // t → t + 1, b → b + 1
  if (training || !m.reads_input_by_step(I, B)) {
    float* copy = layer_input(0, I);
    swap_batch_and_time(x.data(), B, T, I, copy);
    input = copy;
    x_step = B * I;
    x_row = I;
  }
  // The last layer's outputs go straight into the batch-first output (B, T, D·H_out) where one
  // is returned; the others' are time-major (T, B, D·H_out), the next layer's input.
  if (cfg.return_sequences) result.output = Tensor::uninitialized({B, T, D * H_out});
  for (int64_t layer = 0; layer < L; ++layer) {
    const bool batch_first = cfg.return_sequences && layer == L - 1;
    float* y = batch_first ? result.output.data() : layer_input(layer + 1, D * H_out);
    const int64_t y_step = batch_first ? D * H_out : B * D * H_out;  // t → t + 1
    const int64_t y_row = batch_first ? T * D * H_out : D * H_out;   // b → b + 1
    for (int64_t d = 0; d < D; ++d) {
      const int64_t state = layer * D + d;
      m.forward_direction(state, input, x_step, x_row, I, d == 1,
                          result.h_n.data() + state * B * H_out,
                          is_lstm ? result.c_n.data() + state * B * H : nullptr, y, y_step,
                          y_row, d * H_out,
                          training ? &m.layer_traces[layer].direction[d] : nullptr);
    }
    // Dropout on the output of every layer but the last: the mask is drawn in the batch-first
    // order (b, t, feature), keep = uniform ≥ p, kept values scaled by 1/(1 − p).
    if (training && layer + 1 < L) {
      LayerTrace& next = m.layer_traces[layer + 1];
      next.has_mask = dropout_active;
      if (dropout_active) {
        const float scale = 1.0f / (1.0f - cfg.dropout);
        float* mask = next.dropout_mask.get(T * B * D * H_out);
        for (int64_t b = 0; b < B; ++b)
          for (int64_t t = 0; t < T; ++t)
            for (int64_t f = 0; f < D * H_out; ++f) {
              const int64_t at = (t * B + b) * D * H_out + f;
              mask[at] = ctx.rng->uniform() >= cfg.dropout ? scale : 0.0f;
              y[at] *= mask[at];
            }
      }
    }
    input = y;
    I = D * H_out;
    x_step = B * I;
    x_row = I;
  }
  m.has_trace = training;

  if (!cfg.return_sequences) {
    // The last layer's final states, [forward, reverse]: (B, D·H_out).
    result.output = Tensor::uninitialized({B, D * H_out});
    for (int64_t d = 0; d < D; ++d)
      for (int64_t b = 0; b < B; ++b)
        copy_floats(result.output.data() + (b * D + d) * H_out,
                    result.h_n.data() + (((L - 1) * D + d) * B + b) * H_out, H_out);
  }
  return result;
}

RecurrentGradients Recurrent::backward_sequence(const Tensor& d_output, const Tensor* d_h_n,
                                                const Tensor* d_c_n) {
  Impl& m = *impl_;
  const RecurrentConfig& cfg = config_;
  const std::string name = describe();
  if (!m.has_trace)
    throw Error(name + ": backward needs a forward pass with training = true before it");
  const int64_t B = m.batch, T = m.steps, L = cfg.num_layers, D = cfg.directions(),
                H = cfg.hidden_size, H_out = cfg.output_size();
  const bool is_lstm = cfg.cell == CellType::lstm;

  RecurrentGradients grads;
  grads.d_h0 = d_h_n ? *d_h_n : Tensor({L * D, B, H_out});
  grads.d_h0.check_shape({L * D, B, H_out}, name + ": d_h_n");
  if (is_lstm) {
    grads.d_c0 = d_c_n ? *d_c_n : Tensor({L * D, B, H});
    grads.d_c0.check_shape({L * D, B, H}, name + ": d_c_n");
  }

  // The gradient of the current layer's output: the last layer's read where it lies, batch-first
  // (B, T, D·H_out), or none at the steps where it returns its final states only (those get
  // d_output through d_h0); the others' time-major (T, B, D·H_out); step t of sample b at
  // dy + t·dy_step + b·dy_row.
  const float* dy = nullptr;
  int64_t dy_step = 0, dy_row = 0;
  if (cfg.return_sequences) {
    d_output.check_shape({B, T, D * H_out}, name + ": d_output");
    dy = d_output.data();
    dy_step = D * H_out;
    dy_row = T * D * H_out;
  } else {
    d_output.check_shape({B, D * H_out}, name + ": d_output");
    for (int64_t d = 0; d < D; ++d)
      for (int64_t b = 0; b < B; ++b) {
        float* dh = grads.d_h0.data() + (((L - 1) * D + d) * B + b) * H_out;
        const float* src = d_output.data() + (b * D + d) * H_out;
        for (int64_t j = 0; j < H_out; ++j) dh[j] += src[j];
      }
  }

  for (int64_t layer = L - 1; layer >= 0; --layer) {
    LayerTrace& lt = m.layer_traces[layer];
    const int64_t I = layer == 0 ? cfg.input_size : D * H_out;
    float* dx = m.work.gradient_io[(L - layer) % 2].get(T * B * I);  // (T, B, I_l)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t state = layer * D + d;
      m.backward_direction(m.params[state], lt.direction[d], lt.input.data(), I, d == 1, dy,
                           dy_step, dy_row, d * H_out, grads.d_h0.data() + state * B * H_out,
                           is_lstm ? grads.d_c0.data() + state * B * H : nullptr, dx,
                           d == 0 ? 0.0f : 1.0f);
    }
    if (layer > 0 && lt.has_mask) {
      const float* mask = lt.dropout_mask.data();
      for (int64_t i = 0; i < T * B * I; ++i) dx[i] *= mask[i];
    }
    dy = dx;
    dy_step = B * I;
    dy_row = I;
  }
  grads.d_input = Tensor::uninitialized({B, T, cfg.input_size});
  swap_batch_and_time(dy, T, B, cfg.input_size, grads.d_input.data());
  return grads;
}

Tensor Recurrent::forward(const Tensor& x, const ForwardContext& ctx) {
  return forward_sequence(x, nullptr, nullptr, ctx).output;
}

Tensor Recurrent::backward(const Tensor& d_y) { return backward_sequence(d_y).d_input; }

}  // namespace lstm
