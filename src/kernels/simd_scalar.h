// One float as a "vector", so that the scalar path runs the same generic GEMM as the vector
// paths (gemm_impl.h), compiled for the baseline ISA.
#pragma once

namespace lstm::kernels::simd {

struct Scalar {
  using Reg = float;
  static constexpr int width = 1;

  static Reg zero() { return 0.0f; }
  static Reg broadcast(float x) { return x; }
  static Reg load(const float* p) { return *p; }
  static void store(float* p, Reg x) { *p = x; }
  // width 1: count is 0 or 1.
  static Reg load_first(const float* p, int count) { return count > 0 ? *p : 0.0f; }
  static void store_first(float* p, Reg x, int count) {
    if (count > 0) *p = x;
  }
  static Reg add(Reg a, Reg b) { return a + b; }
  static Reg sub(Reg a, Reg b) { return a - b; }
  static Reg mul(Reg a, Reg b) { return a * b; }
  static Reg fma(Reg a, Reg b, Reg c) { return a * b + c; }  // a·b + c, rounded twice
  static void transpose(Reg (&)[width]) {}                   // a 1 × 1 block is its own transpose
  static float sum(Reg x) { return x; }
};

}  // namespace lstm::kernels::simd
