// Speed of the kernels on each ISA path: GFLOP/s of sgemm on square and LSTM-shaped products
// (input projection, one recurrent step with and without pre-packed W_hh, the backward GEMMs),
// sigmoid / tanh throughput, and the core's FMA peak for reference. Timings on a shared machine
// are noisy: run with --benchmark_repetitions=5 --benchmark_report_aggregates_only=true and read
// the medians.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

using lstm::kernels::Isa;
using lstm::kernels::Trans;
namespace kernels = lstm::kernels;

std::vector<float> random_floats(int64_t count) {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& x : v) x = uniform(rng);
  return v;
}

struct GemmShape {
  const char* name;
  Trans trans_a, trans_b;
  int64_t m, n, k;
};

// C (m × n) = op(A)·op(B), packed rows (no padding).
void bench_sgemm(benchmark::State& state, Isa isa, GemmShape s) {
  kernels::force_isa(isa);
  const std::vector<float> a = random_floats(s.m * s.k), b = random_floats(s.k * s.n);
  std::vector<float> c(static_cast<size_t>(s.m * s.n));
  const int64_t lda = s.trans_a == Trans::no ? s.k : s.m;
  const int64_t ldb = s.trans_b == Trans::no ? s.n : s.k;
  for (auto _ : state) {
    kernels::sgemm(s.trans_a, s.trans_b, s.m, s.n, s.k, a.data(), lda, b.data(), ldb, 0.0f,
                   c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(s.m * s.n * s.k) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// The same product with op(B) packed once before the loop (W_hh in a recurrent layer).
void bench_sgemm_packed(benchmark::State& state, Isa isa, GemmShape s) {
  const std::vector<float> a = random_floats(s.m * s.k), b = random_floats(s.k * s.n);
  std::vector<float> c(static_cast<size_t>(s.m * s.n));
  std::vector<float> packed(static_cast<size_t>(kernels::packed_b_size(s.k, s.n, isa)));
  const int64_t lda = s.trans_a == Trans::no ? s.k : s.m;
  const int64_t ldb = s.trans_b == Trans::no ? s.n : s.k;
  const kernels::PackedB packed_b =
      kernels::pack_b(s.trans_b, s.k, s.n, b.data(), ldb, packed.data(), isa);
  for (auto _ : state) {
    kernels::sgemm_packed(s.trans_a, s.m, a.data(), lda, packed_b, 0.0f, c.data(), s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(s.m * s.n * s.k) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void bench_activation(benchmark::State& state, Isa isa, void (*f)(float*, const float*, int64_t)) {
  kernels::force_isa(isa);
  const int64_t n = 4096;
  std::vector<float> x = random_floats(n), y(static_cast<size_t>(n));
  for (float& v : x) v *= 8.0f;
  for (auto _ : state) {
    f(y.data(), x.data(), n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["Gelem/s"] = benchmark::Counter(static_cast<double>(n) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

#if defined(__x86_64__)
// The core's single-precision FMA peak: 24 independent chains of 16-float FMAs, 1000 steps.
__attribute__((target("avx512f"))) void bench_fma_peak(benchmark::State& state) {
  constexpr int chains = 24, steps = 1000;
  for (auto _ : state) {
    __m512 acc[chains];
#pragma GCC unroll 24
    for (int i = 0; i < chains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-4f);
    for (int s = 0; s < steps; ++s)
#pragma GCC unroll 24
      for (int i = 0; i < chains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
#pragma GCC unroll 24
    for (int i = 0; i < chains; ++i) benchmark::DoNotOptimize(acc[i]);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * 16 * chains * steps * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  const GemmShape shapes[] = {
      {"square_512", Trans::no, Trans::no, 512, 512, 512},
      {"square_2048", Trans::no, Trans::no, 2048, 2048, 2048},
      {"lstm_input_projection_TB1024_4H2048_I256", Trans::no, Trans::yes, 1024, 2048, 256},
      {"lstm_step_B16_4H2048_H512", Trans::no, Trans::yes, 16, 2048, 512},
      {"lstm_step_B1_4H2048_H512", Trans::no, Trans::yes, 1, 2048, 512},
      {"lstm_step_B4_4H2048_H512", Trans::no, Trans::yes, 4, 2048, 512},
      {"lstm_step_B8_4H2048_H512", Trans::no, Trans::yes, 8, 2048, 512},
      {"lstm_step_B16_4H1024_H256", Trans::no, Trans::yes, 16, 1024, 256},
      {"lstm_step_B1_4H1024_H256", Trans::no, Trans::yes, 1, 1024, 256},
      {"lstm_backward_dW_4H2048_I256_TB1024", Trans::yes, Trans::no, 2048, 256, 1024},
      {"lstm_backward_dX_TB1024_I256_4H2048", Trans::no, Trans::no, 1024, 256, 2048},
      {"lstm_backward_dh_B16_H512_4H2048", Trans::no, Trans::no, 16, 512, 2048},
      {"lstm_backward_dh_B8_H512_4H2048", Trans::no, Trans::no, 8, 512, 2048},
      {"lstm_backward_dh_B32_H512_4H2048", Trans::no, Trans::no, 32, 512, 2048},
      {"lstm_backward_dh_B40_H2048_4H2048", Trans::no, Trans::no, 40, 2048, 2048},
      {"lstm_backward_dh_B16_H2048_4H2048", Trans::no, Trans::no, 16, 2048, 2048},
  };
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!kernels::isa_supported(isa)) continue;
    const std::string prefix = kernels::isa_name(isa);
    for (const GemmShape& s : shapes) {
      if (isa == Isa::scalar && s.m * s.n * s.k > 600'000'000) continue;  // seconds per run
      benchmark::RegisterBenchmark((prefix + "/sgemm/" + s.name).c_str(), bench_sgemm, isa, s)
          ->Unit(benchmark::kMicrosecond);
      if (s.m <= 16)
        benchmark::RegisterBenchmark((prefix + "/sgemm_packed/" + s.name).c_str(),
                                     bench_sgemm_packed, isa, s)
            ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark((prefix + "/sigmoid/4096").c_str(), bench_activation, isa,
                                 kernels::sigmoid);
    benchmark::RegisterBenchmark((prefix + "/tanh/4096").c_str(), bench_activation, isa,
                                 kernels::tanh);
  }
#if defined(__x86_64__)
  if (kernels::isa_supported(Isa::avx512))
    benchmark::RegisterBenchmark("avx512/fma_peak", bench_fma_peak);
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
