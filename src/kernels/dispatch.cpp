#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace lstm::kernels {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "unknown";
}

bool isa_supported(Isa isa) {
#if defined(__x86_64__)
  switch (isa) {
    case Isa::scalar: return true;
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  }
  return false;
#else
  return isa == Isa::scalar;
#endif
}

namespace {
Isa choose_isa() {
  if (const char* env = std::getenv("LSTM_ISA")) {
    for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512})
      if (std::strcmp(env, isa_name(isa)) == 0 && isa_supported(isa)) return isa;
  }
  for (Isa isa : {Isa::avx512, Isa::avx2})
    if (isa_supported(isa)) return isa;
  return Isa::scalar;
}
Isa& current_isa() {
  static Isa isa = choose_isa();
  return isa;
}
}  // namespace

Isa active_isa() { return current_isa(); }

bool force_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  current_isa() = isa;
  return true;
}

namespace {
#if defined(__x86_64__)
// What CPUID's deterministic cache parameters (leaf 4 on Intel, 0x8000001D on AMD) say of the
// level-1 data cache and the level-2 cache: subleaf i describes cache i, EAX[4:0] its type
// (1 = data, 3 = unified), EAX[7:5] its level, EBX[31:22] its ways − 1, EBX[21:12] its
// partitions − 1, EBX[11:0] its line size − 1, ECX its sets − 1. Fields stay 0 where the CPU
// does not describe its caches so.
struct CacheFacts {
  int l1d_ways = 0;
  int64_t l2_bytes = 0;
};
CacheFacts caches_from_cpuid(bool amd) {
  CacheFacts facts;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const unsigned leaf = amd ? 0x8000001Du : 4u;
  if (__get_cpuid_max(leaf & 0x80000000u, nullptr) < leaf) return facts;
  for (unsigned subleaf = 0; subleaf < 8; ++subleaf) {
    __cpuid_count(leaf, subleaf, eax, ebx, ecx, edx);
    const unsigned type = eax & 0x1fu, level = (eax >> 5) & 0x7u;
    if (type == 0) break;  // no more caches
    const int64_t ways = (ebx >> 22) + 1, partitions = ((ebx >> 12) & 0x3ffu) + 1,
                  line = (ebx & 0xfffu) + 1, sets = static_cast<int64_t>(ecx) + 1;
    if (type == 1 && level == 1) facts.l1d_ways = static_cast<int>(ways);
    if (type == 3 && level == 2) facts.l2_bytes = ways * partitions * line * sets;
  }
  return facts;
}

CpuFacts read_cpu_facts() {
  CpuFacts facts;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __cpuid(0, eax, ebx, ecx, edx);
  const bool amd = ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u;  // AuthenticAMD
  __cpuid(1, eax, ebx, ecx, edx);
  const unsigned base_family = (eax >> 8) & 0xfu, extended_family = (eax >> 20) & 0xffu;
  const unsigned family = base_family == 0xf ? base_family + extended_family : base_family;
  const CacheFacts caches = caches_from_cpuid(amd);
  if (caches.l1d_ways > 0) facts.l1d_ways = caches.l1d_ways;
  if (caches.l2_bytes > 0) facts.l2_bytes = caches.l2_bytes;
  facts.full_rate_avx512 = isa_supported(Isa::avx512) && !(amd && family == 0x19);
  return facts;
}
#else
CpuFacts read_cpu_facts() { return {}; }
#endif
}  // namespace

const CpuFacts& cpu_facts() {
  static const CpuFacts facts = read_cpu_facts();
  return facts;
}

// FTZ (bit 15) and DAZ (bit 6) of MXCSR, the SSE/AVX floating-point mode.
#if defined(__x86_64__) || defined(_M_X64)
DenormalsFlushed::DenormalsFlushed() : saved_mode_(_mm_getcsr()) {
  _mm_setcsr(saved_mode_ | 0x8040u);
}
DenormalsFlushed::~DenormalsFlushed() { _mm_setcsr(saved_mode_); }
#else
DenormalsFlushed::DenormalsFlushed() = default;
DenormalsFlushed::~DenormalsFlushed() = default;
#endif

}  // namespace lstm::kernels
