// Vectorized sigmoid and tanh, written once over a vector type V (simd_avx512.h, simd_avx2.h),
// and the fused pointwise steps of the recurrent cells built on them (Cells, also instantiated
// for single floats with libm's functions in activations.cpp); activations_avx512.cpp and
// activations_avx2.cpp instantiate them, each compiled for its ISA.
//
// Both rest on e^y for y ≤ 0, split as e^y = 2^n·(1 + q): n = round(y / ln 2), r = y − n·ln 2
// (|r| ≤ ln2 / 2, ln 2 in two parts so r is exact to a few ulp), q = e^r − 1 by its Taylor
// polynomial to r⁷/7! (truncation < 2e−8 relative). Then
//   e^y     = 2^n·q + 2^n
//   e^y − 1 = 2^n·q + (2^n − 1)     (2^n − 1 is exact for n ≥ −24; below, e^y − 1 rounds to −1)
// each with one rounding in an FMA, so both stay accurate relative to their own size: e^y − 1 has
// no cancellation near y = 0, which is what tanh needs for tiny |x|.
//   σ(x)    = 1 / (1 + t) for x ≥ 0 and t / (1 + t) for x < 0, t = e^−|x| ∈ (0, 1]
//   tanh(x) = sign(x)·(−u / (2 + u)), u = e^−2|x| − 1 ∈ (−1, 0]
// Neither can overflow, the quotients lie in [0, 1], and the error is a few ulp (< 1e−6 relative).
#pragma once

#include <cstdint>

#include "kernels/isa_table.h"

namespace lstm::kernels::detail {

// kernels.h's lstm_step and gru_step over a vector type V, with F::sigmoid and F::tanh on one
// register: every row in one pass, a register of units at a time, from the step's gates to h_t.
template <class V, class F>
struct Cells {
  using Reg = typename V::Reg;
  static constexpr int W = V::width;

  // The live lanes of a register of units: W, or fewer at the end of a row.
  struct Lanes {
    int count;
    Reg load(const float* p) const { return count == W ? V::load(p) : V::load_first(p, count); }
    void store(float* p, Reg x) const {
      if (count == W)
        V::store(p, x);
      else
        V::store_first(p, x, count);
    }
  };

  // body(j, lanes) for the units [j, j + lanes.count) of a row of n: whole registers, then the rest.
  template <class Body>
  static void over_units(int64_t n, Body body) {
    int64_t j = 0;
    for (; j + W <= n; j += W) body(j, Lanes{W});
    if (j < n) body(j, Lanes{static_cast<int>(n - j)});
  }

  static void lstm(const LstmStep& s) {
    for (int64_t r = 0; r < s.rows; ++r) {
      const float* gx = s.gx.data + r * s.gx.row;
      const float* rec = s.rec.data + r * s.rec.row;
      const float* c_prev = s.c_prev.data + r * s.c_prev.row;
      float* act = s.act.data ? s.act.data + r * s.act.row : nullptr;
      float* c_new = s.c_new.data + r * s.c_new.row;
      float* h = s.h.data + r * s.h.row;
      over_units(s.n, [&](int64_t j, Lanes lanes) {
        // gate q before its nonlinearity: gx + rec
        const auto pre = [&](int q) {
          return V::add(lanes.load(gx + q * s.gx.gate + j), lanes.load(rec + q * s.rec.gate + j));
        };
        // [i f g o] = [σ σ tanh σ](gx + rec)
        const Reg i = F::sigmoid(pre(0)), f = F::sigmoid(pre(1)), g = F::tanh(pre(2)),
                  o = F::sigmoid(pre(3));
        // c_t = f ⊙ c_{t−1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
        const Reg c = V::fma(f, lanes.load(c_prev + j), V::mul(i, g));
        if (act) {
          lanes.store(act + j, i);
          lanes.store(act + s.act.gate + j, f);
          lanes.store(act + 2 * s.act.gate + j, g);
          lanes.store(act + 3 * s.act.gate + j, o);
        }
        lanes.store(c_new + j, c);
        lanes.store(h + j, V::mul(o, F::tanh(c)));
      });
    }
  }

  static void gru(const GruStep& s) {
    for (int64_t r = 0; r < s.rows; ++r) {
      const float* gx = s.gx.data + r * s.gx.row;
      const float* rec = s.rec.data + r * s.rec.row;
      const float* h_prev = s.h_prev.data + r * s.h_prev.row;
      float* act = s.act.data ? s.act.data + r * s.act.row : nullptr;
      float* hn_out = s.hn.data ? s.hn.data + r * s.hn.row : nullptr;
      float* h = s.h.data + r * s.h.row;
      over_units(s.n, [&](int64_t j, Lanes lanes) {
        // gate q of W_hh h_{t−1} + b_hh
        const auto recurrent = [&](int q) {
          const Reg product = lanes.load(rec + q * s.rec.gate + j);
          return s.b_hh ? V::add(product, lanes.load(s.b_hh + q * s.b_gate + j)) : product;
        };
        const auto input = [&](int q) { return lanes.load(gx + q * s.gx.gate + j); };
        // r = σ(gx_r + rec_r + b_hr);  z = σ(gx_z + rec_z + b_hz);  hn = rec_n + b_hn
        const Reg r_gate = F::sigmoid(V::add(input(0), recurrent(0)));
        const Reg z = F::sigmoid(V::add(input(1), recurrent(1)));
        const Reg hn = recurrent(2);
        // n = tanh(gx_n + r ⊙ hn);  h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
        const Reg n = F::tanh(V::fma(r_gate, hn, input(2)));
        const Reg h_t = V::fma(z, lanes.load(h_prev + j), V::mul(V::sub(V::broadcast(1.0f), z), n));
        if (act) {
          lanes.store(act + j, r_gate);
          lanes.store(act + s.act.gate + j, z);
          lanes.store(act + 2 * s.act.gate + j, n);
        }
        if (hn_out) lanes.store(hn_out + j, hn);
        lanes.store(h + j, h_t);
      });
    }
  }

  // kernels.h's lstm_backward_step: the products in the order of the formulas, no FMA.
  static void lstm_backward(const LstmBackStep& s) {
    const Reg one = V::broadcast(1.0f);
    for (int64_t r = 0; r < s.rows; ++r) {
      const float* act = s.act.data + r * s.act.row;
      const float* dh = s.dh.data + r * s.dh.row;
      const float* c_prev = s.c_prev.data + r * s.c_prev.row;
      const float* c_new = s.c_new.data + r * s.c_new.row;
      float* dc = s.dc.data + r * s.dc.row;
      float* dg = s.d_gates.data + r * s.d_gates.row;
      const int64_t ag = s.act.gate, dgg = s.d_gates.gate;
      over_units(s.n, [&](int64_t j, Lanes lanes) {
        const Reg i = lanes.load(act + j), f = lanes.load(act + ag + j),
                  g = lanes.load(act + 2 * ag + j), o = lanes.load(act + 3 * ag + j);
        const Reg dm = lanes.load(dh + j);
        const Reg th = F::tanh(lanes.load(c_new + j));
        const Reg d_o = V::mul(dm, th);
        const Reg d_c =
            V::add(lanes.load(dc + j), V::mul(V::mul(dm, o), V::sub(one, V::mul(th, th))));
        const Reg d_i = V::mul(d_c, g), d_f = V::mul(d_c, lanes.load(c_prev + j)),
                  d_g = V::mul(d_c, i);
        lanes.store(dc + j, V::mul(d_c, f));
        lanes.store(dg + j, V::mul(V::mul(d_i, i), V::sub(one, i)));
        lanes.store(dg + dgg + j, V::mul(V::mul(d_f, f), V::sub(one, f)));
        lanes.store(dg + 2 * dgg + j, V::mul(d_g, V::sub(one, V::mul(g, g))));
        lanes.store(dg + 3 * dgg + j, V::mul(V::mul(d_o, o), V::sub(one, o)));
      });
    }
  }

  // kernels.h's gru_backward_step, likewise.
  static void gru_backward(const GruBackStep& s) {
    const Reg one = V::broadcast(1.0f);
    for (int64_t r = 0; r < s.rows; ++r) {
      const float* act = s.act.data + r * s.act.row;
      const float* hn = s.hn.data + r * s.hn.row;
      const float* h_prev = s.h_prev.data + r * s.h_prev.row;
      const float* dh = s.dh.data + r * s.dh.row;
      float* dg = s.d_gates.data + r * s.d_gates.row;
      float* drec = s.d_rec.data + r * s.d_rec.row;
      const int64_t ag = s.act.gate, dgg = s.d_gates.gate, drg = s.d_rec.gate;
      over_units(s.n, [&](int64_t j, Lanes lanes) {
        const Reg r_gate = lanes.load(act + j), z = lanes.load(act + ag + j),
                  n = lanes.load(act + 2 * ag + j);
        const Reg d = lanes.load(dh + j);
        const Reg d_n = V::mul(d, V::sub(one, z));
        const Reg d_z = V::mul(d, V::sub(lanes.load(h_prev + j), n));
        const Reg d_an = V::mul(d_n, V::sub(one, V::mul(n, n)));
        const Reg d_r = V::mul(d_an, lanes.load(hn + j));
        const Reg dr_pre = V::mul(V::mul(d_r, r_gate), V::sub(one, r_gate));
        const Reg dz_pre = V::mul(V::mul(d_z, z), V::sub(one, z));
        lanes.store(dg + j, dr_pre);
        lanes.store(drec + j, dr_pre);
        lanes.store(dg + dgg + j, dz_pre);
        lanes.store(drec + drg + j, dz_pre);
        lanes.store(dg + 2 * dgg + j, d_an);
        lanes.store(drec + 2 * drg + j, V::mul(d_an, r_gate));
      });
    }
  }
};

template <class V>
struct Activations {
  using Reg = typename V::Reg;
  static constexpr int W = V::width;

  // e^y = 2^n·(1 + q), for y in [−87.3366, 0] (so that 2^n is a normal float).
  struct ExpParts {
    Reg scale;  // 2^n
    Reg q;      // e^r − 1
  };
  static ExpParts exp_parts(Reg y) {
    const Reg n = V::round(V::mul(y, V::broadcast(1.44269504088896341f)));  // y / ln 2
    // ln 2 = 0.693145751953125 (16 bits, so n times it is exact) + 1.42860682e−6
    Reg r = V::fma(n, V::broadcast(-0.693145751953125f), y);
    r = V::fma(n, V::broadcast(-1.42860682e-06f), r);
    // q = r + r²·(1/2! + r·(1/3! + … + r·1/7!))
    Reg poly = V::broadcast(1.0f / 5040.0f);
    poly = V::fma(poly, r, V::broadcast(1.0f / 720.0f));
    poly = V::fma(poly, r, V::broadcast(1.0f / 120.0f));
    poly = V::fma(poly, r, V::broadcast(1.0f / 24.0f));
    poly = V::fma(poly, r, V::broadcast(1.0f / 6.0f));
    poly = V::fma(poly, r, V::broadcast(0.5f));
    return {V::exp2_int(n), V::fma(V::mul(r, r), poly, r)};
  }

  // σ(x) for one register.
  static Reg sigmoid(Reg x) {
    // Below ln(FLT_MIN) = −87.33654… the result is subnormal; it is given as 0 (as flush-to-zero
    // would). `lowest` is the float just below ln(FLT_MIN), where 2^n is still 2^−126.
    const Reg lowest = V::broadcast(-87.3365478515625f);
    const ExpParts e = exp_parts(V::max(V::negative_abs(x), lowest));
    const Reg t = V::fma(e.scale, e.q, e.scale);  // e^−|x|
    const Reg one = V::broadcast(1.0f);
    const Reg zero = V::broadcast(0.0f);
    const Reg numerator = V::select(V::less(x, zero), t, one);
    return V::select(V::less(x, lowest), zero, V::div(numerator, V::add(one, t)));
  }

  // tanh(x) for one register.
  static Reg tanh(Reg x) {
    // Beyond |x| = 10, tanh rounds to ±1; clamping there also keeps 2^n normal.
    const ExpParts e =
        exp_parts(V::max(V::mul(V::negative_abs(x), V::broadcast(2.0f)), V::broadcast(-20.0f)));
    const Reg u = V::fma(e.scale, e.q, V::add(e.scale, V::broadcast(-1.0f)));  // e^−2|x| − 1
    const Reg magnitude = V::div(V::mul(u, V::broadcast(-1.0f)), V::add(V::broadcast(2.0f), u));
    return V::copy_sign(magnitude, x);
  }

  // y[i] = f(x[i]) for i < n, whole registers and then a partial one.
  template <Reg (*f)(Reg)>
  static void map(float* y, const float* x, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) V::store(y + i, f(V::load(x + i)));
    if (i < n) {
      const int rest = static_cast<int>(n - i);
      V::store_first(y + i, f(V::load_first(x + i, rest)), rest);
    }
  }

  static constexpr ActivationTable table() {
    return {&map<&sigmoid>, &map<&tanh>, &Cells<V, Activations>::lstm, &Cells<V, Activations>::gru,
            &Cells<V, Activations>::lstm_backward, &Cells<V, Activations>::gru_backward};
  }
};

}  // namespace lstm::kernels::detail
