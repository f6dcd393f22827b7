// Vectorized sigmoid and tanh, written once over a vector type V (simd_avx512.h, simd_avx2.h);
// activations_avx512.cpp and activations_avx2.cpp instantiate them, each compiled for its ISA.
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

  static constexpr ActivationTable table() { return {&map<&sigmoid>, &map<&tanh>}; }
};

}  // namespace lstm::kernels::detail
