// gemm_roof: the machine's single-precision GEMM peak, measured with oneDNN's dnnl_sgemm on large
// square matrices (row-major C = A·B, beta = 0), with 1 and 2 threads (OpenMP, as Debian builds
// oneDNN), alternating the thread counts within each round.
//
// Prints one JSON object per size and thread count with the median GFLOP/s over the rounds (and
// the best), then a summary line {"roof_gflops_1t": ..., "roof_gflops_2t": ..., "median_1t": ...,
// "median_2t": ...}: the roofs are the best round over all sizes (the peak the machine reached;
// on a shared machine the medians sink with the load), the medians the largest median over the
// sizes. docs/performance.md uses the 2-thread roof.
//
// Then the other roof, of the layers whose steps are products with few rows (batch 1), which
// read each weight once a step: the read bandwidth of 2 threads, each summing a buffer of its
// own over and over (0.5 MiB a thread: the LSTM W_hh of H = 256 split between the cores, in
// their L2s; 2 MiB: that of H = 512, beyond them; 8 MiB: that of H = 1024), one JSON object
// per size {"stream_mib_per_thread": ..., "threads": 2, "gbs": median, "gbs_best": ...}.
//
// And the least a time step shared by the two cores can cost beyond its work: the time for a
// write on one core to be seen by the other, {"handover_ns": median, "handover_ns_best": ...}.
//
// Last, the cores' FMA peak, which sets how close to its limit the GEMM roof itself is: twelve
// independent chains of fused multiply-adds on the widest vectors this build has, on 1 and 2
// threads, {"fma_peak_gflops_1t": best, "fma_peak_gflops_2t": best, "fma_vector_bits": ...}.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "oneapi/dnnl/dnnl.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// GFLOP/s of one timed burst of sgemm calls lasting at least `min_time` seconds (median call).
double burst(int threads, dnnl_dim_t n, const std::vector<float>& a, const std::vector<float>& b,
             std::vector<float>& c, double min_time) {
  omp_set_num_threads(threads);
  using Clock = std::chrono::steady_clock;
  const auto call = [&] {
    if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n) !=
        dnnl_success) {
      std::fprintf(stderr, "gemm_roof: dnnl_sgemm failed\n");
      std::exit(1);
    }
  };
  call();  // warm-up: thread pool, packing buffers, clock
  std::vector<double> gflops;
  const Clock::time_point start = Clock::now();
  while (gflops.size() < 3 ||
         std::chrono::duration<double>(Clock::now() - start).count() < min_time) {
    const Clock::time_point t0 = Clock::now();
    call();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    gflops.push_back(2.0 * static_cast<double>(n) * static_cast<double>(n) *
                     static_cast<double>(n) / s / 1e9);
  }
  return median(gflops);
}

// GB/s of 2 threads each reading its own `mib` MiB (a multiple of 512 bytes) over and over,
// 160 MiB a burst (the median of `rounds` bursts, and the best). The sums go into 128 lanes,
// eight vectors of AVX-512 or more of narrower ones, so that the latency of an addition does
// not bound reads from the L2, as one vector of sums would (one addition of 64 bytes every 3–4
// cycles).
std::pair<double, double> read_bandwidth(double mib, int rounds) {
  const std::size_t n = static_cast<std::size_t>(mib * (1 << 20) / sizeof(float));
  constexpr int threads = 2, lane_count = 128;
  const int passes = static_cast<int>(160 / mib);
  std::vector<std::vector<float>> buffers(threads, std::vector<float>(n, 1.0f));
  std::vector<double> gbs;
  std::vector<float> totals(threads);
  omp_set_num_threads(threads);
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      const std::size_t me = static_cast<std::size_t>(omp_get_thread_num());
      const float* x = buffers[me].data();
      float lanes[lane_count] = {};  // independent sums, which the compiler vectorizes
      for (int pass = 0; pass < passes; ++pass)
        for (std::size_t i = 0; i < n; i += lane_count)
#pragma omp simd
          for (int l = 0; l < lane_count; ++l) lanes[l] += x[i + static_cast<std::size_t>(l)];
      float total = 0;
      for (float v : lanes) total += v;
      totals[me] = total;
    }
    if (!(totals[0] > 0 && totals[1] > 0)) {  // the buffers hold ones: the sums are used
      std::fprintf(stderr, "gemm_roof: wrong sums while reading\n");
      std::exit(1);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    gbs.push_back(threads * passes * static_cast<double>(n * sizeof(float)) / s / 1e9);
  }
  return {median(gbs), *std::max_element(gbs.begin(), gbs.end())};
}

// Nanoseconds from a write on one core to its sight on the other: two threads pass a counter
// back and forth `passes` times (each waits for the other's increment, then increments it),
// so one way takes the time of the burst / (2·passes) (the median of `rounds` bursts, and the
// least).
std::pair<double, double> handover_ns(int rounds) {
  constexpr long passes = 100000;
  alignas(64) std::atomic<long> counter{0};
  std::vector<double> ns;
  for (int r = 0; r < rounds; ++r) {
    counter.store(0);
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(2)
    {
      const long me = omp_get_thread_num();  // thread 0 moves the counter from even to odd
      for (long value = me; value < 2 * passes; value += 2) {
        while (counter.load(std::memory_order_acquire) != value) {
        }
        counter.store(value + 1, std::memory_order_release);
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ns.push_back(s / (2.0 * passes) * 1e9);
  }
  return {median(ns), *std::min_element(ns.begin(), ns.end())};
}

// The widest vector of floats this build has, and a fused multiply-add of it.
#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kVecBits = 512;
Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
Vec broadcast(float x) { return _mm512_set1_ps(x); }
#elif defined(__FMA__)
using Vec = __m256;
constexpr int kVecBits = 256;
Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
Vec broadcast(float x) { return _mm256_set1_ps(x); }
#else
#error "gemm_roof needs FMA (built with -march=native on an x86-64 CPU that has it)"
#endif
float lane_sum(Vec v) {
  float lanes[kVecBits / 32];
  std::memcpy(lanes, &v, sizeof v);
  float total = 0;
  for (float x : lanes) total += x;
  return total;
}

// GFLOP/s of `threads` threads each running twelve chains x ← x·m + a of `iterations` steps
// (twelve, so that the latency of an FMA (4 cycles) times the two FMA units is covered), the
// best of `rounds` bursts.
double fma_peak(int threads, int rounds) {
  constexpr int chains = 12;
  constexpr long iterations = 50'000'000;
  constexpr double floats_per_vec = kVecBits / 32;
  std::vector<double> gflops;
  std::vector<float> sums(static_cast<std::size_t>(threads));
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      Vec x[chains];
      for (int i = 0; i < chains; ++i) x[i] = broadcast(static_cast<float>(i));
      const Vec m = broadcast(0.999999f), a = broadcast(1e-6f);
      for (long it = 0; it < iterations; ++it)
#pragma GCC unroll 12
        for (int i = 0; i < chains; ++i) x[i] = fma(x[i], m, a);
      float total = 0;
      for (const Vec& v : x) total += lane_sum(v);
      sums[static_cast<std::size_t>(omp_get_thread_num())] = total;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    gflops.push_back(threads * 2.0 * chains * floats_per_vec * iterations / s / 1e9);
  }
  if (!(sums[0] > 0)) {  // the chains start at 0…11 and stay positive: their sums are used
    std::fprintf(stderr, "gemm_roof: wrong sums in the FMA chains\n");
    std::exit(1);
  }
  return *std::max_element(gflops.begin(), gflops.end());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<dnnl_dim_t> sizes = {1024, 2048, 3072};
  int rounds = 3;
  double min_time = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (flag == "--min-time") min_time = std::atof(argv[i + 1]);
    else if (flag == "--size") sizes = {std::atol(argv[i + 1])};
    else {
      std::fprintf(stderr, "usage: gemm_roof [--rounds N] [--min-time S] [--size N]\n");
      return 2;
    }
  }
  double roof[3] = {0, 0, 0}, roof_median[3] = {0, 0, 0};
  for (const dnnl_dim_t n : sizes) {
    std::mt19937 rng(0);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> a(static_cast<std::size_t>(n * n)), b(a.size()), c(a.size());
    for (float& v : a) v = u(rng);
    for (float& v : b) v = u(rng);
    std::vector<double> results[3];
    for (int r = 0; r < rounds; ++r)
      for (int t : (r % 2 == 0 ? std::vector<int>{1, 2} : std::vector<int>{2, 1}))
        results[t].push_back(burst(t, n, a, b, c, min_time));
    for (int t = 1; t <= 2; ++t) {
      const double med = median(results[t]);
      const double best = *std::max_element(results[t].begin(), results[t].end());
      roof_median[t] = std::max(roof_median[t], med);
      roof[t] = std::max(roof[t], best);
      std::printf("{\"size\":%ld,\"threads\":%d,\"gflops\":%.2f,\"gflops_best\":%.2f}\n",
                  static_cast<long>(n), t, med, best);
      std::fflush(stdout);
    }
  }
  std::printf(
      "{\"roof_gflops_1t\":%.2f,\"roof_gflops_2t\":%.2f,\"median_1t\":%.2f,\"median_2t\":%.2f}\n",
      roof[1], roof[2], roof_median[1], roof_median[2]);
  for (const double mib : {0.5, 2.0, 8.0}) {
    const auto [gbs, best] = read_bandwidth(mib, 5 * rounds);
    std::printf("{\"stream_mib_per_thread\":%g,\"threads\":2,\"gbs\":%.1f,\"gbs_best\":%.1f}\n",
                mib, gbs, best);
  }
  const auto [ns, least] = handover_ns(5 * rounds);
  std::printf("{\"handover_ns\":%.0f,\"handover_ns_best\":%.0f}\n", ns, least);
  const double peak_1t = fma_peak(1, rounds), peak_2t = fma_peak(2, rounds);
  std::printf("{\"fma_peak_gflops_1t\":%.1f,\"fma_peak_gflops_2t\":%.1f,\"fma_vector_bits\":%d}\n",
              peak_1t, peak_2t, kVecBits);
  return 0;
}
