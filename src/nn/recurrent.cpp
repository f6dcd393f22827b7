// Recurrent layers: LSTM, GRU and RNN (tanh, relu), stacked, bidirectional, with projections
// (LSTM) and variable lengths, computing exactly what PyTorch's nn.LSTM / nn.GRU / nn.RNN compute.
//
// Shape of the computation (docs/math.md has the equations and the derivation of backward):
//   1. before the time loop, one GEMM gives the input projection of every step,
//        Gx (T·B, G·H) = X (T·B, I) · W_ihᵀ + b_ih (+ b_hh for LSTM and RNN);
//   2. per step only the recurrent product h_{t−1} W_hhᵀ remains; it is added into the step's
//      rows of Gx, and the gate nonlinearities and the state update run on those rows in place;
//   3. backward runs the time loop in reverse for the pointwise gradients and dh_{t−1} = dG_t W_hh,
//      then three GEMMs over all T·B rows give dW_hh, dW_ih and dX.
// Work buffers and traces live in the layer from call to call (Buffer), so a warm call does not
// allocate or fault pages in. Internally everything is time-major (T, B, ·), so the rows of one
// step are contiguous; the API is batch-first.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kernels/kernels.h"
#include "lstm/nn.h"

namespace lstm {

using kernels::sgemm;
using kernels::Trans;

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

// Float storage that a layer keeps from call to call, so that a warm forward or backward pass
// neither allocates nor faults pages in: get(n) reallocates only when n exceeds every earlier
// request, and never clears (whoever uses a buffer writes it before reading it).
class Buffer {
 public:
  float* get(int64_t n) {
    if (n > capacity_) {
      storage_.reset(static_cast<float*>(
          ::operator new (static_cast<std::size_t>(n) * sizeof(float), std::align_val_t{64})));
      capacity_ = n;
    }
    return storage_.get();
  }
  float* data() const { return storage_.get(); }

 private:
  struct Free {
    void operator()(float* p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  std::unique_ptr<float, Free> storage_;
  int64_t capacity_ = 0;
};

// What one direction of one layer remembers from a training forward pass for backward.
// Every buffer is indexed by the time step t it belongs to (also in the reverse direction).
struct DirectionTrace {
  Buffer gates;     // (T, B, G·H) activated gates: LSTM [i f g o], GRU [r z n], RNN [h_t]
  Buffer h_prev;    // (T, B, H_out) the state entering step t
  Buffer c_prev;    // (T, B, H) LSTM: the cell entering step t
  Buffer c_new;     // (T, B, H) LSTM: the cell after step t
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

// rows (n, width) += bias (width,) on every row.
void add_bias_rows(float* rows, int64_t n, int64_t width, const float* bias) {
  for (int64_t r = 0; r < n; ++r) {
    float* row = rows + r * width;
    for (int64_t j = 0; j < width; ++j) row[j] += bias[j];
  }
}

// bias_grad (width,) += Σ_r rows[r] over n rows.
void accumulate_column_sums(float* bias_grad, const float* rows, int64_t n, int64_t width) {
  for (int64_t r = 0; r < n; ++r) {
    const float* row = rows + r * width;
    for (int64_t j = 0; j < width; ++j) bias_grad[j] += row[j];
  }
}

void copy_floats(float* dst, const float* src, int64_t n) {
  std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(float));
}

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
  std::vector<int64_t> lengths;  // empty: every sample has all steps
  std::vector<LayerTrace> layer_traces;  // [layer], sized at construction

  // Work buffers, kept across calls (see Buffer).
  struct Workspace {
    Buffer layer_io[2];     // inference: (T, B, ·) layer inputs and outputs, alternating
    Buffer gates;           // inference: (T, B, G·H) the gates of the direction running
    Buffer gradient_io[2];  // backward: (T, B, ·) gradients of layer outputs and inputs, alternating
    Buffer d_gates;         // (T, B, G·H) ∂L/∂ pre-activation, input side (x W_ihᵀ + b_ih)
    Buffer d_recurrent;     // (T, B, G·H) GRU: ∂L/∂(W_hh h + b_hh), differs in n
    Buffer d_h_proj;        // (T, B, P) LSTM with projection: ∂L/∂h_t per step, for dW_hr
    // Per step, (B, ·): the state after the step, LSTM c_t and tanh(c_t), o ⊙ tanh(c) before
    // the projection, GRU W_hh h + b_hh; backward ∂L/∂h_t from later steps and the output,
    // dh_{t−1}, ∂L/∂(o ⊙ tanh c).
    Buffer h_next, c_next, tanh_c, cell_out, recurrent, d_h_total, d_h_prev, d_cell_out;
  } work;

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

  const float* value(int index) const { return index < 0 ? nullptr : values[index].data(); }
  float* grad(int index) { return index < 0 ? nullptr : grads[index].data(); }

  bool valid(int64_t b, int64_t t) const { return lengths.empty() || t < lengths[b]; }

  // One direction of one layer over the whole sequence.
  //   x (T, B, I) input; h (B, H_out) and c (B, H) hold the initial state and receive the
  //   final one; y (T, B, Y_width) receives h_t in columns [column, column + H_out), zero where
  //   a sample has ended. trace (nullable) receives what backward needs.
  void forward_direction(const DirectionParams& p, const float* x, int64_t I, bool reverse,
                         float* h, float* c, float* y, int64_t Y_width, int64_t column,
                         DirectionTrace* trace) {
    const int64_t T = steps, B = batch, H = cfg.hidden_size, G = cfg.gate_count(), GH = G * H,
                  H_out = cfg.output_size();
    const bool is_lstm = cfg.cell == CellType::lstm, is_gru = cfg.cell == CellType::gru;
    const bool projected = cfg.proj_size > 0;
    const float* w_hh = value(p.w_hh);

    // Gx (T·B, G·H) = X W_ihᵀ + b_ih, plus b_hh where it adds straight to the gates (not GRU,
    // whose b_hn sits inside r ⊙ (W_hn h + b_hn)). Per step it becomes the activated gates.
    float* gates = (trace ? trace->gates : work.gates).get(T * B * GH);
    sgemm(Trans::no, Trans::yes, T * B, GH, I, x, I, value(p.w_ih), I, 0.0f, gates, GH);
    if (cfg.bias) {
      add_bias_rows(gates, T * B, GH, value(p.b_ih));
      if (!is_gru) add_bias_rows(gates, T * B, GH, value(p.b_hh));
    }
    float* h_next = work.h_next.get(B * H_out);
    float* c_next = work.c_next.get(B * H);
    float* tanh_c = work.tanh_c.get(B * H);
    float* cell_out = work.cell_out.get(B * H);
    float* recurrent = work.recurrent.get(B * GH);
    if (trace) {
      trace->h_prev.get(T * B * H_out);
      if (is_lstm) {
        trace->c_prev.get(T * B * H);
        trace->c_new.get(T * B * H);
        if (projected) trace->cell_out.get(T * B * H);
      }
      if (is_gru) trace->hn.get(T * B * H);
    }

    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = reverse ? T - 1 - s : s;
      float* g = gates + t * B * GH;  // (B, G·H) this step's gates
      if (trace) {
        copy_floats(trace->h_prev.data() + t * B * H_out, h, B * H_out);
        if (is_lstm) copy_floats(trace->c_prev.data() + t * B * H, c, B * H);
      }

      if (is_lstm) {
        // [i f g o] = σ/tanh(Gx_t + h_{t−1} W_hhᵀ)
        // c_t = f ⊙ c_{t−1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)  (then h_t = W_hr h_t with projection)
        sgemm(Trans::no, Trans::yes, B, GH, H_out, h, H_out, w_hh, H_out, 1.0f, g, GH);
        for (int64_t b = 0; b < B; ++b) {
          float* gi = g + b * GH;
          float *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
          kernels::sigmoid(gi, gi, 2 * H);
          kernels::tanh(gg, gg, H);
          kernels::sigmoid(go, go, H);
          const float* c_prev = c + b * H;
          float* c_t = c_next + b * H;
          for (int64_t j = 0; j < H; ++j) c_t[j] = gf[j] * c_prev[j] + gi[j] * gg[j];
          float* th = tanh_c + b * H;
          kernels::tanh(th, c_t, H);
          float* out = projected ? cell_out + b * H : h_next + b * H_out;
          for (int64_t j = 0; j < H; ++j) out[j] = go[j] * th[j];
        }
        if (projected) {
          // h_t (B, P) = (o ⊙ tanh(c_t)) W_hrᵀ
          sgemm(Trans::no, Trans::yes, B, H_out, H, cell_out, H, value(p.w_hr), H, 0.0f, h_next,
                H_out);
          if (trace) copy_floats(trace->cell_out.data() + t * B * H, cell_out, B * H);
        }
      } else if (is_gru) {
        // r = σ(Gx_r + W_hr h + b_hr);  z = σ(Gx_z + W_hz h + b_hz)
        // n = tanh(Gx_n + r ⊙ (W_hn h + b_hn));  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
        float* rec = recurrent;
        if (cfg.bias) {
          for (int64_t b = 0; b < B; ++b) copy_floats(rec + b * GH, value(p.b_hh), GH);
        }
        sgemm(Trans::no, Trans::yes, B, GH, H_out, h, H_out, w_hh, H_out, cfg.bias ? 1.0f : 0.0f,
              rec, GH);
        for (int64_t b = 0; b < B; ++b) {
          float* gr = g + b * GH;
          float *gz = gr + H, *gn = gr + 2 * H;
          const float* rec_b = rec + b * GH;
          const float* rec_n = rec_b + 2 * H;
          for (int64_t j = 0; j < 2 * H; ++j) gr[j] += rec_b[j];
          kernels::sigmoid(gr, gr, 2 * H);
          for (int64_t j = 0; j < H; ++j) gn[j] += gr[j] * rec_n[j];
          kernels::tanh(gn, gn, H);
          const float* h_prev = h + b * H_out;
          float* h_t = h_next + b * H_out;
          for (int64_t j = 0; j < H; ++j) h_t[j] = (1.0f - gz[j]) * gn[j] + gz[j] * h_prev[j];
          if (trace) copy_floats(trace->hn.data() + (t * B + b) * H, rec_n, H);
        }
      } else {
        // h_t = tanh or relu(Gx_t + h_{t−1} W_hhᵀ)
        sgemm(Trans::no, Trans::yes, B, GH, H_out, h, H_out, w_hh, H_out, 1.0f, g, GH);
        if (cfg.cell == CellType::rnn_tanh)
          kernels::tanh(g, g, B * H);
        else
          for (int64_t j = 0; j < B * H; ++j) g[j] = std::max(g[j], 0.0f);
        copy_floats(h_next, g, B * H);
      }

      // A sample past its length keeps its state and outputs zeros.
      for (int64_t b = 0; b < B; ++b) {
        float* y_row = y + (t * B + b) * Y_width + column;
        if (valid(b, t)) {
          copy_floats(h + b * H_out, h_next + b * H_out, H_out);
          if (is_lstm) copy_floats(c + b * H, c_next + b * H, H);
          copy_floats(y_row, h + b * H_out, H_out);
        } else {
          std::fill(y_row, y_row + H_out, 0.0f);
        }
      }
      if (trace && is_lstm) copy_floats(trace->c_new.data() + t * B * H, c_next, B * H);
    }
  }

  // Backward of forward_direction. x (T, B, I) is the direction's input; dy (T, B, Y_width)
  // holds the gradient of the layer output in columns [column, column + H_out); dh (B, H_out)
  // and dc (B, H) hold the gradient of the final state and receive that of the initial state;
  // dx (T, B, I) = dx_beta·dx + the input gradient.
  void backward_direction(const DirectionParams& p, const DirectionTrace& trace, const float* x,
                          int64_t I, bool reverse, const float* dy, int64_t Y_width,
                          int64_t column, float* dh, float* dc, float* dx, float dx_beta) {
    const int64_t T = steps, B = batch, H = cfg.hidden_size, G = cfg.gate_count(), GH = G * H,
                  H_out = cfg.output_size(), P = cfg.proj_size;
    const bool is_lstm = cfg.cell == CellType::lstm, is_gru = cfg.cell == CellType::gru;
    const bool projected = P > 0;
    const float* w_hh = value(p.w_hh);

    float* d_gates = work.d_gates.get(T * B * GH);
    float* d_recurrent = is_gru ? work.d_recurrent.get(T * B * GH) : nullptr;
    float* d_h_proj = projected ? work.d_h_proj.get(T * B * P) : nullptr;
    float* d_h_total = work.d_h_total.get(B * H_out);
    float* d_h_prev = work.d_h_prev.get(B * H_out);
    float* d_cell_out = work.d_cell_out.get(B * H);
    float* tanh_c = work.tanh_c.get(B * H);  // tanh(c_t), recomputed

    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = reverse ? s : T - 1 - s;  // the forward order, reversed
      const float* g = trace.gates.data() + t * B * GH;
      float* dg = d_gates + t * B * GH;

      for (int64_t b = 0; b < B; ++b) {
        const float* dy_row = dy + (t * B + b) * Y_width + column;
        float* dht = d_h_total + b * H_out;
        const float* dh_b = dh + b * H_out;
        if (valid(b, t))
          for (int64_t j = 0; j < H_out; ++j) dht[j] = dh_b[j] + dy_row[j];
        else
          std::fill(dht, dht + H_out, 0.0f);
      }

      if (is_lstm) {
        if (projected) {
          // h_t = W_hr m_t:  ∂L/∂m_t (B, H) = ∂L/∂h_t W_hr
          sgemm(Trans::no, Trans::no, B, H, P, d_h_total, P, value(p.w_hr), H, 0.0f, d_cell_out,
                H);
          copy_floats(d_h_proj + t * B * P, d_h_total, B * P);
        }
        // m = o ⊙ tanh(c_t):   do = dm ⊙ tanh(c_t);  dc_t += dm ⊙ o ⊙ (1 − tanh²(c_t))
        // c_t = f ⊙ c_{t−1} + i ⊙ g:  di = dc_t ⊙ g;  df = dc_t ⊙ c_{t−1};  dg = dc_t ⊙ i;
        //                             dc_{t−1} = dc_t ⊙ f
        // through σ: dpre = d ⊙ s(1 − s);  through tanh: dpre = d ⊙ (1 − g²)
        for (int64_t b = 0; b < B; ++b) {
          float* dg_b = dg + b * GH;
          float* dc_b = dc + b * H;
          if (!valid(b, t)) {
            std::fill(dg_b, dg_b + GH, 0.0f);
            continue;
          }
          const float* gi = g + b * GH;
          const float *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
          const float* dm = projected ? d_cell_out + b * H : d_h_total + b * H_out;
          const float* c_prev = trace.c_prev.data() + (t * B + b) * H;
          const float* c_t = trace.c_new.data() + (t * B + b) * H;
          float* th_b = tanh_c + b * H;
          kernels::tanh(th_b, c_t, H);
          for (int64_t j = 0; j < H; ++j) {
            const float th = th_b[j];
            const float d_o = dm[j] * th;
            const float d_c = dc_b[j] + dm[j] * go[j] * (1.0f - th * th);
            const float d_i = d_c * gg[j], d_f = d_c * c_prev[j], d_g = d_c * gi[j];
            dc_b[j] = d_c * gf[j];
            dg_b[j] = d_i * gi[j] * (1.0f - gi[j]);
            dg_b[H + j] = d_f * gf[j] * (1.0f - gf[j]);
            dg_b[2 * H + j] = d_g * (1.0f - gg[j] * gg[j]);
            dg_b[3 * H + j] = d_o * go[j] * (1.0f - go[j]);
          }
        }
      } else if (is_gru) {
        // h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}:  dn = dh ⊙ (1 − z);  dz = dh ⊙ (h_{t−1} − n);
        //   direct dh_{t−1} = dh ⊙ z
        // n = tanh(a_n + r ⊙ hn):  da_n = dn ⊙ (1 − n²);  dhn = da_n ⊙ r;  dr = da_n ⊙ hn
        float* drec = d_recurrent + t * B * GH;
        for (int64_t b = 0; b < B; ++b) {
          float* dg_b = dg + b * GH;
          float* drec_b = drec + b * GH;
          if (!valid(b, t)) {
            std::fill(dg_b, dg_b + GH, 0.0f);
            std::fill(drec_b, drec_b + GH, 0.0f);
            continue;
          }
          const float* gr = g + b * GH;
          const float *gz = gr + H, *gn = gr + 2 * H;
          const float* hn = trace.hn.data() + (t * B + b) * H;
          const float* h_prev = trace.h_prev.data() + (t * B + b) * H_out;
          const float* dht = d_h_total + b * H_out;
          for (int64_t j = 0; j < H; ++j) {
            const float d_n = dht[j] * (1.0f - gz[j]);
            const float d_z = dht[j] * (h_prev[j] - gn[j]);
            const float d_an = d_n * (1.0f - gn[j] * gn[j]);
            const float d_r = d_an * hn[j];
            dg_b[j] = drec_b[j] = d_r * gr[j] * (1.0f - gr[j]);
            dg_b[H + j] = drec_b[H + j] = d_z * gz[j] * (1.0f - gz[j]);
            dg_b[2 * H + j] = d_an;
            drec_b[2 * H + j] = d_an * gr[j];
          }
        }
      } else {
        // h_t = φ(a):  da = dh ⊙ φ'(a), with tanh' = 1 − h², relu' = [h > 0]
        const bool is_tanh = cfg.cell == CellType::rnn_tanh;
        for (int64_t b = 0; b < B; ++b) {
          float* dg_b = dg + b * GH;
          const float* h_t = g + b * GH;
          const float* dht = d_h_total + b * H_out;
          const bool ok = valid(b, t);
          for (int64_t j = 0; j < H; ++j)
            dg_b[j] = !ok         ? 0.0f
                      : is_tanh   ? dht[j] * (1.0f - h_t[j] * h_t[j])
                      : h_t[j] > 0 ? dht[j]
                                   : 0.0f;
        }
      }

      // dh_{t−1} = dA_rec W_hh (+ dh ⊙ z for GRU); a finished sample passes dh through.
      const float* d_rec_t = is_gru ? d_recurrent + t * B * GH : dg;
      sgemm(Trans::no, Trans::no, B, H_out, GH, d_rec_t, GH, w_hh, H_out, 0.0f, d_h_prev, H_out);
      for (int64_t b = 0; b < B; ++b) {
        float* dh_b = dh + b * H_out;
        const float* dhp = d_h_prev + b * H_out;
        if (!valid(b, t)) continue;  // dh_b already holds the pass-through gradient
        if (is_gru) {
          const float* gz = g + b * GH + H;
          const float* dht = d_h_total + b * H_out;
          for (int64_t j = 0; j < H_out; ++j) dh_b[j] = dhp[j] + dht[j] * gz[j];
        } else {
          copy_floats(dh_b, dhp, H_out);
        }
      }
    }

    // After the loop, over all T·B rows at once:
    //   dW_hh += dA_recᵀ H_prev;  db_hh += Σ dA_rec;  dW_ih += dA_inᵀ X;  db_ih += Σ dA_in;
    //   dX += dA_in W_ih;  dW_hr += dH_tᵀ M
    const int64_t rows = T * B;
    const float* d_rec_all = is_gru ? d_recurrent : d_gates;
    sgemm(Trans::yes, Trans::no, GH, H_out, rows, d_rec_all, GH, trace.h_prev.data(), H_out,
          1.0f, grad(p.w_hh), H_out);
    sgemm(Trans::yes, Trans::no, GH, I, rows, d_gates, GH, x, I, 1.0f, grad(p.w_ih), I);
    if (cfg.bias) {
      accumulate_column_sums(grad(p.b_hh), d_rec_all, rows, GH);
      accumulate_column_sums(grad(p.b_ih), d_gates, rows, GH);
    }
    sgemm(Trans::no, Trans::no, rows, I, GH, d_gates, GH, value(p.w_ih), I, dx_beta, dx, I);
    if (projected)
      sgemm(Trans::yes, Trans::no, P, H, rows, d_h_proj, P, trace.cell_out.data(), H, 1.0f,
            grad(p.w_hr), H);
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
  const bool dropout_active = training && cfg.dropout > 0.0f && L > 1;
  if (dropout_active && !ctx.rng)
    throw Error(name + ": training with dropout needs a random generator (ForwardContext::rng)");

  m.batch = B;
  m.steps = T;
  m.lengths = std::move(lengths);
  m.has_trace = false;

  RecurrentResult result;
  result.h_n = h0 ? *h0 : Tensor({L * D, B, H_out});
  result.c_n = is_lstm ? (c0 ? *c0 : Tensor({L * D, B, H})) : Tensor();

  // The input of layer l (T, B, I_l): in training the trace of that layer keeps it, in
  // inference two buffers alternate. Index L is the output of the last layer.
  const auto layer_input = [&](int64_t layer, int64_t features) {
    Buffer& buffer = training && layer < L ? m.layer_traces[layer].input : m.work.layer_io[layer % 2];
    return buffer.get(T * B * features);
  };
  float* input = layer_input(0, cfg.input_size);
  swap_batch_and_time(x.data(), B, T, cfg.input_size, input);
  int64_t I = cfg.input_size;
  for (int64_t layer = 0; layer < L; ++layer) {
    float* y = layer_input(layer + 1, D * H_out);
    for (int64_t d = 0; d < D; ++d) {
      const int64_t state = layer * D + d;
      m.forward_direction(m.params[state], input, I, d == 1, result.h_n.data() + state * B * H_out,
                          is_lstm ? result.c_n.data() + state * B * H : nullptr, y, D * H_out,
                          d * H_out, training ? &m.layer_traces[layer].direction[d] : nullptr);
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
  }
  m.has_trace = training;

  if (cfg.return_sequences) {
    result.output = Tensor({B, T, D * H_out});
    swap_batch_and_time(input, T, B, D * H_out, result.output.data());
  } else {
    // The last layer's final states, [forward, reverse]: (B, D·H_out).
    result.output = Tensor({B, D * H_out});
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

  // (T, B, D·H_out) the gradient of the current layer's output
  float* dy = m.work.gradient_io[0].get(T * B * D * H_out);
  if (cfg.return_sequences) {
    d_output.check_shape({B, T, D * H_out}, name + ": d_output");
    swap_batch_and_time(d_output.data(), B, T, D * H_out, dy);
  } else {
    d_output.check_shape({B, D * H_out}, name + ": d_output");
    std::fill(dy, dy + T * B * D * H_out, 0.0f);
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
                           D * H_out, d * H_out, grads.d_h0.data() + state * B * H_out,
                           is_lstm ? grads.d_c0.data() + state * B * H : nullptr, dx,
                           d == 0 ? 0.0f : 1.0f);
    }
    if (layer > 0 && lt.has_mask) {
      const float* mask = lt.dropout_mask.data();
      for (int64_t i = 0; i < T * B * I; ++i) dx[i] *= mask[i];
    }
    dy = dx;
  }
  grads.d_input = Tensor({B, T, cfg.input_size});
  swap_batch_and_time(dy, T, B, cfg.input_size, grads.d_input.data());
  return grads;
}

Tensor Recurrent::forward(const Tensor& x, const ForwardContext& ctx) {
  return forward_sequence(x, nullptr, nullptr, ctx).output;
}

Tensor Recurrent::backward(const Tensor& d_y) { return backward_sequence(d_y).d_input; }

}  // namespace lstm
