// The kernels (src/kernels) on every ISA path this CPU has, each forced in turn, against
// double-precision references: sgemm and the pre-packed GEMM on random shapes (odd sizes, every
// transpose, padded leading dimensions, beta 0 over NaN, 1 and others, empty products), and
// sigmoid / tanh on dense sweeps, tiny and extreme inputs; the fused backward cell steps.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/kernels.h"
#include "test_util.h"

namespace {

using lstm::kernels::Isa;
using lstm::kernels::Trans;
namespace kernels = lstm::kernels;

constexpr float nan_value = std::numeric_limits<float>::quiet_NaN();
constexpr float inf_value = std::numeric_limits<float>::infinity();

// Runs body(isa) with each ISA the CPU supports forced active, then restores the active one.
void for_each_isa(const std::function<void(Isa)>& body) {
  const Isa original = kernels::active_isa();
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!kernels::isa_supported(isa)) continue;
    EXPECT_TRUE(kernels::force_isa(isa));
    SCOPED_TRACE(std::string("isa ") + kernels::isa_name(isa));
    body(isa);
  }
  kernels::force_isa(original);
}

TEST(KernelsDispatch, ForceIsaSwitchesAndRestores) {
  const Isa original = kernels::active_isa();
  EXPECT_TRUE(kernels::isa_supported(Isa::scalar));
  for_each_isa([](Isa isa) { EXPECT_EQ(kernels::active_isa(), isa); });
  EXPECT_EQ(kernels::active_isa(), original);
}

// The L1 ways and the L2 size read with CPUID are those Linux reads off the same CPU (its sysfs
// cache description), where Linux has one; the rate flag holds only where AVX-512 does.
TEST(KernelsDispatch, CpuFactsAgreeWithTheKernel) {
  const kernels::CpuFacts& facts = kernels::cpu_facts();
  EXPECT_GE(facts.l1d_ways, 1);
  EXPECT_LE(facts.l1d_ways, 64);
  EXPECT_GE(facts.l2_bytes, int64_t{64} << 10);
  if (facts.full_rate_avx512) EXPECT_TRUE(kernels::isa_supported(Isa::avx512));
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index);
    std::ifstream level(dir + "/level"), type(dir + "/type"), ways(dir + "/ways_of_associativity"),
        size(dir + "/size");
    int level_number = 0, way_count = 0;
    int64_t kib = 0;
    std::string type_name;
    if (!(level >> level_number) || !(type >> type_name)) continue;
    if (level_number == 1 && type_name == "Data" && (ways >> way_count))
      EXPECT_EQ(facts.l1d_ways, way_count);
    if (level_number == 2 && type_name == "Unified" && (size >> kib))  // "1024K"
      EXPECT_EQ(facts.l2_bytes, kib << 10);
  }
}

std::vector<float> random_floats(int64_t count, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(count));
  for (float& x : v) x = uniform(rng);
  return v;
}

// One product C = beta·C + op(A)·op(B) with every row of A, B and C padded by a few floats.
struct GemmCase {
  Trans trans_a = Trans::no, trans_b = Trans::no;
  int64_t m = 0, n = 0, k = 0;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;
  float beta = 0.0f;

  int64_t a_rows() const { return trans_a == Trans::no ? m : k; }
  int64_t a_cols() const { return trans_a == Trans::no ? k : m; }
  int64_t b_rows() const { return trans_b == Trans::no ? k : n; }
  int64_t b_cols() const { return trans_b == Trans::no ? n : k; }
  int64_t lda() const { return a_cols() + pad_a; }
  int64_t ldb() const { return b_cols() + pad_b; }
  int64_t ldc() const { return n + pad_c; }

  std::string describe() const {
    return "m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
           " trans_a=" + (trans_a == Trans::yes ? "yes" : "no") +
           " trans_b=" + (trans_b == Trans::yes ? "yes" : "no") + " lda=" + std::to_string(lda()) +
           " ldb=" + std::to_string(ldb()) + " ldc=" + std::to_string(ldc()) +
           " beta=" + std::to_string(beta);
  }
};

// The operands of a case: A and B random, C random (NaN when beta = 0, which must not be read);
// the padding of C holds a sentinel that must survive.
struct GemmOperands {
  std::vector<float> a, b, c;
  static constexpr float sentinel = 12345.0f;

  GemmOperands(const GemmCase& g, std::mt19937& rng)
      : a(random_floats(g.a_rows() * g.lda(), rng)),
        b(random_floats(g.b_rows() * g.ldb(), rng)),
        c(random_floats(g.m * g.ldc(), rng)) {
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.ldc(); ++j) {
        float& x = c[static_cast<size_t>(i * g.ldc() + j)];
        if (j >= g.n)
          x = sentinel;
        else if (g.beta == 0.0f)
          x = nan_value;
      }
  }
};

// expected (m × n) = beta·C + op(A)·op(B), in double, from the operands before the product, and
// the size of a typical entry: max over C of (|beta·c| + Σ_p |a_ip·b_pj|) / √k, the scale of
// the terms before they cancel (float rounding is relative to it).
struct GemmReference {
  std::vector<double> expected;
  double typical_size = 0.0;
};

GemmReference reference_gemm(const GemmCase& g, const GemmOperands& x) {
  GemmReference ref{std::vector<double>(static_cast<size_t>(g.m * g.n)), 0.0};
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      double sum = 0.0, magnitude = 0.0;
      for (int64_t p = 0; p < g.k; ++p) {
        const double a_ip = g.trans_a == Trans::no ? x.a[static_cast<size_t>(i * g.lda() + p)]
                                                   : x.a[static_cast<size_t>(p * g.lda() + i)];
        const double b_pj = g.trans_b == Trans::no ? x.b[static_cast<size_t>(p * g.ldb() + j)]
                                                   : x.b[static_cast<size_t>(j * g.ldb() + p)];
        sum += a_ip * b_pj;
        magnitude += std::abs(a_ip * b_pj);
      }
      const double c_ij = x.c[static_cast<size_t>(i * g.ldc() + j)];
      if (g.beta != 0.0f) {
        sum += g.beta * c_ij;
        magnitude += std::abs(g.beta * c_ij);
      }
      ref.expected[static_cast<size_t>(i * g.n + j)] = sum;
      ref.typical_size =
          std::max(ref.typical_size, magnitude / std::sqrt(std::max<double>(g.k, 1)));
    }
  return ref;
}

// Checks C after the product against the reference, relative to the result's scale (its largest
// entry, but at least a typical entry, so that a lone entry cancelling to near 0 does not count
// rounding as error), and that the padding of C is untouched.
::testing::AssertionResult gemm_result_close(const GemmCase& g, const std::vector<float>& c,
                                             const GemmReference& ref, double tolerance) {
  std::vector<float> actual(static_cast<size_t>(g.m * g.n));
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.ldc(); ++j) {
      const float value = c[static_cast<size_t>(i * g.ldc() + j)];
      if (j < g.n)
        actual[static_cast<size_t>(i * g.n + j)] = value;
      else if (value != GemmOperands::sentinel)
        return ::testing::AssertionFailure()
               << g.describe() << ": wrote into the padding of C at row " << i << ", column " << j;
    }
  const double error = lstm::testing::relative_error(actual.data(), ref.expected.data(), g.m * g.n,
                                                     std::max(ref.typical_size, 1e-6));
  if (error <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << g.describe() << ": relative error " << error << " > " << tolerance;
}

// Each entry of C is a float sum of k products; its rounding error grows like ε·√k relative to
// the result's scale (measured up to about 1e−6 at k of a few hundred, on every path).
double gemm_tolerance(int64_t k) { return 2e-6 * std::max(1.0, std::sqrt(k / 1024.0)); }

::testing::AssertionResult sgemm_matches_reference(const GemmCase& g, std::mt19937& rng) {
  GemmOperands x(g, rng);
  const GemmReference ref = reference_gemm(g, x);
  kernels::sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, x.a.data(), g.lda(), x.b.data(), g.ldb(),
                 g.beta, x.c.data(), g.ldc());
  return gemm_result_close(g, x.c, ref, gemm_tolerance(g.k));
}

::testing::AssertionResult packed_matches_reference(const GemmCase& g, Isa isa, std::mt19937& rng) {
  GemmOperands x(g, rng);
  const GemmReference ref = reference_gemm(g, x);
  std::vector<float> packed(static_cast<size_t>(kernels::packed_b_size(g.k, g.n, isa)), nan_value);
  if (static_cast<int64_t>(packed.size()) < g.k * g.n)
    return ::testing::AssertionFailure() << g.describe() << ": packed size " << packed.size();
  const kernels::PackedB packed_b =
      kernels::pack_b(g.trans_b, g.k, g.n, x.b.data(), g.ldb(), packed.data(), isa);
  if (packed_b.k != g.k || packed_b.n != g.n || packed_b.isa != isa)
    return ::testing::AssertionFailure() << g.describe() << ": wrong PackedB description";
  kernels::sgemm_packed(g.trans_a, g.m, x.a.data(), g.lda(), packed_b, g.beta, x.c.data(), g.ldc());
  return gemm_result_close(g, x.c, ref, gemm_tolerance(g.k));
}

const Trans both[] = {Trans::no, Trans::yes};
const float betas[] = {0.0f, 1.0f, -0.75f};

TEST(KernelsGemm, AllTransposesAndBetasOnOddSizes) {
  for_each_isa([](Isa) {
    std::mt19937 rng(1);
    const int64_t sizes[] = {1, 3, 7, 17, 33, 65, 130};
    for (Trans ta : both)
      for (Trans tb : both)
        for (float beta : betas)
          for (int64_t m : sizes)
            for (int64_t n : sizes) {
              const int64_t k = sizes[(m + 3 * n) % 7];  // a spread of k for each (m, n)
              EXPECT_TRUE(sgemm_matches_reference({ta, tb, m, n, k, 0, 0, 0, beta}, rng));
            }
  });
}

TEST(KernelsGemm, RandomShapesWithPaddedRows) {
  for_each_isa([](Isa) {
    std::mt19937 rng(2);
    std::uniform_int_distribution<int64_t> size(1, 150), pad(0, 9), pick(0, 1), pick_beta(0, 2);
    for (int trial = 0; trial < 150; ++trial) {
      const GemmCase g{both[pick(rng)], both[pick(rng)], size(rng),
                       size(rng),       size(rng),       pad(rng),
                       pad(rng),        pad(rng),        betas[pick_beta(rng)]};
      EXPECT_TRUE(sgemm_matches_reference(g, rng));
    }
  });
}

// m = 1 … 16 rows (one LSTM step of a small batch; m = 1 is a GEMV), every transpose.
TEST(KernelsGemm, FewRows) {
  for_each_isa([](Isa) {
    std::mt19937 rng(3);
    for (Trans ta : both)
      for (Trans tb : both)
        for (int64_t m = 1; m <= 16; ++m)
          for (int64_t n : {1, 5, 40, 97})
            EXPECT_TRUE(sgemm_matches_reference({ta, tb, m, n, 13 * m + 5, 2, 1, 3, 0.0f}, rng));
  });
}

// Larger than one cache block in every direction (m > MC, n > NC, k > 2·KC: 256 on the
// scalar and AVX2 paths, 1024 on AVX-512), and the LSTM shapes: input projection X·W_ihᵀ, a
// step h·W_hhᵀ, backward dW = dGᵀ·X and dX = dG·W.
TEST(KernelsGemm, BeyondCacheBlocksAndLstmShapes) {
  for_each_isa([](Isa) {
    std::mt19937 rng(4);
    EXPECT_TRUE(
        sgemm_matches_reference({Trans::no, Trans::yes, 170, 2085, 530, 1, 0, 2, 0.0f}, rng));
    EXPECT_TRUE(
        sgemm_matches_reference({Trans::yes, Trans::no, 150, 2060, 520, 0, 3, 0, 1.0f}, rng));
    EXPECT_TRUE(
        sgemm_matches_reference({Trans::no, Trans::yes, 120, 70, 2100, 0, 1, 0, 1.0f}, rng));
    EXPECT_TRUE(
        sgemm_matches_reference({Trans::yes, Trans::no, 120, 70, 2100, 2, 0, 1, 0.0f}, rng));
    EXPECT_TRUE(
        sgemm_matches_reference({Trans::no, Trans::yes, 16, 1024, 256, 0, 0, 0, 1.0f}, rng));
    EXPECT_TRUE(sgemm_matches_reference({Trans::no, Trans::yes, 1, 2048, 512, 0, 0, 0, 1.0f}, rng));
    EXPECT_TRUE(sgemm_matches_reference({Trans::yes, Trans::no, 256, 32, 400, 0, 0, 0, 1.0f}, rng));
    // a weight gradient at batch 1 (k = T·B = 25): shallow blocks, whose tiles go along C's
    // rows, in two column blocks
    EXPECT_TRUE(
        sgemm_matches_reference({Trans::yes, Trans::no, 300, 2100, 25, 5, 0, 1, 1.0f}, rng));
    EXPECT_TRUE(sgemm_matches_reference({Trans::no, Trans::no, 400, 32, 256, 0, 0, 0, 0.0f}, rng));
    // a deep product: float accumulation over k = 3000
    for (Trans ta : both)
      for (Trans tb : both)
        EXPECT_TRUE(sgemm_matches_reference({ta, tb, 19, 35, 3000, 0, 0, 0, 0.0f}, rng));
  });
}

// Rows of A read in place 4 KiB apart (lda a multiple of 1024 floats) share one L1 set; the GEMM
// copies them to spread rows first where a tile has more rows than half of a set's ways (with 12
// ways, m = 5 stays in place). The product must match the reference, and be bit for bit the
// product of the same A with rows that do not alias (the copy changes only where the values lie).
TEST(KernelsGemm, RowsOfAInOneCacheSet) {
  for_each_isa([](Isa) {
    std::mt19937 rng(6);
    for (int64_t m : {5, 9, 14, 20, 33, 42})
      for (int64_t k : {700, 1100})
        for (Trans tb : both) {
          const int64_t lda = k <= 1024 ? 1024 : 2048;
          const GemmCase aliasing{Trans::no, tb, m, 70, k, lda - k, 1, 0, 0.0f};
          EXPECT_TRUE(sgemm_matches_reference(aliasing, rng));
          // the same A with rows 3 floats longer
          GemmOperands x(aliasing, rng);
          const GemmCase spread{Trans::no, tb, m, 70, k, lda - k + 3, 1, 0, 0.0f};
          std::vector<float> a_spread(static_cast<size_t>(m * spread.lda()));
          for (int64_t i = 0; i < m; ++i)
            std::copy_n(x.a.begin() + i * lda, k, a_spread.begin() + i * spread.lda());
          std::vector<float> c_aliasing(static_cast<size_t>(m * 70)), c_spread(c_aliasing.size());
          kernels::sgemm(Trans::no, tb, m, 70, k, x.a.data(), lda, x.b.data(), aliasing.ldb(), 0.0f,
                         c_aliasing.data(), 70);
          kernels::sgemm(Trans::no, tb, m, 70, k, a_spread.data(), spread.lda(), x.b.data(),
                         aliasing.ldb(), 0.0f, c_spread.data(), 70);
          EXPECT_EQ(0, std::memcmp(c_aliasing.data(), c_spread.data(),
                                   c_aliasing.size() * sizeof(float)))
              << aliasing.describe();
        }
  });
}

// Floats whose last one is the last before a page that cannot be read: a read past their end
// stops the test with a fault.
class FloatsBeforeAGuardPage {
 public:
  explicit FloatsBeforeAGuardPage(const std::vector<float>& values) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = values.size() * sizeof(float);
    mapped_bytes_ = (bytes + page - 1) / page * page + page;
    void* mapped = mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    if (mapped == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<char*>(mapped);
    char* guard = base_ + mapped_bytes_ - page;
    if (mprotect(guard, page, PROT_NONE) != 0) throw std::runtime_error("mprotect failed");
    data_ = reinterpret_cast<float*>(guard - bytes);
    std::copy(values.begin(), values.end(), data_);
  }
  ~FloatsBeforeAGuardPage() { munmap(base_, mapped_bytes_); }
  FloatsBeforeAGuardPage(const FloatsBeforeAGuardPage&) = delete;
  FloatsBeforeAGuardPage& operator=(const FloatsBeforeAGuardPage&) = delete;
  const float* data() const { return data_; }

 private:
  char* base_ = nullptr;
  size_t mapped_bytes_ = 0;
  float* data_ = nullptr;
};

// The packing of op(A) = Aᵀ loads whole vectors where a row of A has that many floats left to
// read: it must not read past the m floats of the last row, at any width of the last panel.
TEST(KernelsGemm, TransposedAIsNotReadPastItsLastRow) {
  for_each_isa([](Isa isa) {
    std::mt19937 rng(10);
    for (int64_t m : {1, 5, 14, 15, 16, 17, 29, 113, 130})
      for (int64_t k : {3, 530}) {
        const GemmCase g{Trans::yes, Trans::no, m, 40, k, 0, 1, 2, 1.0f};
        GemmOperands x(g, rng);
        const GemmReference ref = reference_gemm(g, x);
        const FloatsBeforeAGuardPage a(x.a);
        std::vector<float> c = x.c;
        kernels::sgemm(Trans::yes, Trans::no, m, g.n, k, a.data(), g.lda(), x.b.data(), g.ldb(),
                       1.0f, c.data(), g.ldc());
        EXPECT_TRUE(gemm_result_close(g, c, ref, gemm_tolerance(k)));
        // pack_a reads A as sgemm does (its values: PackedAGivesTheSameBits); here, its reads
        std::vector<float> packed(
            static_cast<size_t>(kernels::packed_a_size(Trans::yes, m, k, g.lda(), isa)));
        kernels::pack_a(Trans::yes, m, k, a.data(), g.lda(), packed.data(), isa);
      }
  });
}

TEST(KernelsGemm, EmptyProducts) {
  for_each_isa([](Isa) {
    std::mt19937 rng(5);
    // k = 0: C = beta·C, and 0 without reading C when beta = 0.
    for (float beta : {0.0f, 1.0f, 2.5f})
      for (Trans ta : both)
        for (Trans tb : both)
          EXPECT_TRUE(sgemm_matches_reference({ta, tb, 5, 9, 0, 1, 1, 2, beta}, rng));
    // m = 0 or n = 0: nothing is touched (null C would crash otherwise).
    kernels::sgemm(Trans::no, Trans::no, 0, 7, 3, nullptr, 3, nullptr, 7, 0.0f, nullptr, 7);
    kernels::sgemm(Trans::no, Trans::no, 4, 0, 3, nullptr, 3, nullptr, 0, 0.0f, nullptr, 0);
  });
}

// sgemm_bias gives bit for bit what sgemm with beta = 1 gives on rows of C that hold the bias,
// on every path: the dot products (few rows, trans_b), B read in place, packed blocks, k beyond
// one cache block; and it writes nothing into the padding of C, which it never reads (NaN there
// would show).
TEST(KernelsGemm, BiasRowsAreBetaOneOnBiasRows) {
  for_each_isa([](Isa) {
    std::mt19937 rng(7);
    for (Trans ta : both)
      for (Trans tb : both)
        for (const auto& [m, n, k] : {std::array<int64_t, 3>{1, 37, 19}, {5, 64, 130},
                                      {20, 33, 7}, {150, 70, 530}}) {
          const GemmCase g{ta, tb, m, n, k, 1, 2, 3, 1.0f};
          GemmOperands x(g, rng);
          const std::vector<float> bias = random_floats(n, rng);
          std::vector<float> with_beta = x.c, with_bias = x.c;
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              with_beta[static_cast<size_t>(i * g.ldc() + j)] = bias[static_cast<size_t>(j)];
              with_bias[static_cast<size_t>(i * g.ldc() + j)] = nan_value;
            }
          kernels::sgemm(ta, tb, m, n, k, x.a.data(), g.lda(), x.b.data(), g.ldb(), 1.0f,
                         with_beta.data(), g.ldc());
          kernels::sgemm_bias(ta, tb, m, n, k, x.a.data(), g.lda(), x.b.data(), g.ldb(),
                              bias.data(), with_bias.data(), g.ldc());
          EXPECT_EQ(std::memcmp(with_beta.data(), with_bias.data(), with_beta.size() * sizeof(float)),
                    0)
              << g.describe();
        }
  });
}

// Mutation check on the checker itself: a wrong product must be reported.
TEST(KernelsGemm, CheckerRejectsAWrongProduct) {
  std::mt19937 rng(6);
  const GemmCase g{Trans::no, Trans::no, 9, 11, 13, 0, 0, 0, 0.0f};
  GemmOperands x(g, rng);
  GemmReference ref = reference_gemm(g, x);
  kernels::sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, x.a.data(), g.lda(), x.b.data(), g.ldb(),
                 g.beta, x.c.data(), g.ldc());
  EXPECT_TRUE(gemm_result_close(g, x.c, ref, gemm_tolerance(g.k)));
  ref.expected[17] += 1e-4;
  EXPECT_FALSE(gemm_result_close(g, x.c, ref, gemm_tolerance(g.k)));
}

TEST(KernelsPackedGemm, MatchesReference) {
  for_each_isa([](Isa isa) {
    std::mt19937 rng(7);
    for (Trans ta : both)
      for (Trans tb : both)
        for (int64_t m : {1, 2, 5, 16, 37})
          for (int64_t n : {1, 31, 70})
            for (float beta : betas)
              EXPECT_TRUE(
                  packed_matches_reference({ta, tb, m, n, 3 * n + m, 1, 2, 3, beta}, isa, rng));
    // several k blocks and n blocks
    EXPECT_TRUE(
        packed_matches_reference({Trans::no, Trans::yes, 16, 2085, 600, 0, 0, 0, 1.0f}, isa, rng));
    EXPECT_TRUE(
        packed_matches_reference({Trans::no, Trans::yes, 1, 300, 777, 0, 0, 0, 0.0f}, isa, rng));
  });
}

// Where sgemm_same_as_packed says so, sgemm_bias and sgemm_packed_bias (B packed beforehand) give
// the same C bit for bit, and sgemm and sgemm_packed likewise; it says so everywhere except for
// few rows with trans_b (the dot products). Shapes: dot-product rows, B read in place, packed
// blocks, k and n beyond one cache block.
TEST(KernelsPackedGemm, SameAsUnpackedWhereSaid) {
  for_each_isa([](Isa isa) {
    EXPECT_FALSE(kernels::sgemm_same_as_packed(Trans::yes, 1, isa));
    EXPECT_FALSE(kernels::sgemm_same_as_packed(Trans::yes, 8, isa));
    EXPECT_TRUE(kernels::sgemm_same_as_packed(Trans::yes, 9, isa));
    EXPECT_TRUE(kernels::sgemm_same_as_packed(Trans::no, 1, isa));
    std::mt19937 rng(8);
    for (Trans ta : both)
      for (Trans tb : both)
        for (const auto& [m, n, k] : {std::array<int64_t, 3>{1, 37, 19}, {9, 64, 130},
                                      {20, 33, 7}, {50, 2085, 600}, {150, 70, 530}}) {
          if (!kernels::sgemm_same_as_packed(tb, m, isa)) continue;
          const GemmCase g{ta, tb, m, n, k, 1, 2, 3, 0.0f};
          GemmOperands x(g, rng);
          const std::vector<float> bias = random_floats(n, rng);
          std::vector<float> packed(static_cast<size_t>(kernels::packed_b_size(k, n, isa)));
          const kernels::PackedB b =
              kernels::pack_b(tb, k, n, x.b.data(), g.ldb(), packed.data(), isa);
          std::vector<float> plain = x.c, prepacked = x.c, plain_bias = x.c, prepacked_bias = x.c;
          kernels::sgemm(ta, tb, m, n, k, x.a.data(), g.lda(), x.b.data(), g.ldb(), 0.0f,
                         plain.data(), g.ldc());
          kernels::sgemm_packed(ta, m, x.a.data(), g.lda(), b, 0.0f, prepacked.data(), g.ldc());
          kernels::sgemm_bias(ta, tb, m, n, k, x.a.data(), g.lda(), x.b.data(), g.ldb(),
                              bias.data(), plain_bias.data(), g.ldc());
          kernels::sgemm_packed_bias(ta, m, x.a.data(), g.lda(), b, bias.data(),
                                     prepacked_bias.data(), g.ldc());
          const auto bytes = plain.size() * sizeof(float);
          EXPECT_EQ(std::memcmp(plain.data(), prepacked.data(), bytes), 0) << g.describe();
          EXPECT_EQ(std::memcmp(plain_bias.data(), prepacked_bias.data(), bytes), 0)
              << g.describe();
          // and the products are right (the bias one against the plain one plus the bias)
          const GemmReference ref = reference_gemm(g, x);
          EXPECT_TRUE(gemm_result_close(g, prepacked, ref, gemm_tolerance(k))) << g.describe();
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              const auto at = static_cast<size_t>(i * g.ldc() + j);
              EXPECT_NEAR(prepacked_bias[at], prepacked[at] + bias[static_cast<size_t>(j)],
                          1e-5f * (1.0f + std::abs(prepacked[at])));
            }
        }
  });
}

// op(A) prepared once by pack_a gives, with sgemm_packed_ab and sgemm_packed_ab_bias, C bit for
// bit as sgemm_packed and sgemm_packed_bias (which prepare it block by block), for every way of
// reading A: in place (few rows), in place from rows a line longer (few rows 1024 floats apart,
// whose rows pack_a copies), packed panels (more rows, either trans_a), over several depth and
// row blocks; and several B use one packed A (as the chunks of a time step do).
TEST(KernelsPackedGemm, PackedAGivesTheSameBits) {
  for_each_isa([](Isa isa) {
    std::mt19937 rng(9);
    for (Trans ta : both)
      for (const auto& [m, k, pad_a] :
           {std::array<int64_t, 3>{1, 37, 0}, {14, 600, 3}, {42, 1100, 0}, {40, 1024, 0},
            {42, 700, 1024 - 700}, {43, 530, 5}, {64, 2048, 0}, {300, 1300, 1}}) {
        const int64_t n = 70;
        const GemmCase g{ta, Trans::no, m, n, k, pad_a, 2, 3, 1.0f};
        GemmOperands x(g, rng);
        std::vector<float> packed_b(static_cast<size_t>(kernels::packed_b_size(k, n, isa)));
        const kernels::PackedB b =
            kernels::pack_b(Trans::no, k, n, x.b.data(), g.ldb(), packed_b.data(), isa);
        std::vector<float> packed_a(
            static_cast<size_t>(kernels::packed_a_size(ta, m, k, g.lda(), isa)), nan_value);
        const kernels::PackedA a =
            kernels::pack_a(ta, m, k, x.a.data(), g.lda(), packed_a.data(), isa);
        EXPECT_TRUE(a.m == m && a.k == k && a.isa == isa && a.trans_a == ta) << g.describe();
        if (ta == Trans::yes || m > 42)  // rows not read in place: packed
          EXPECT_GE(static_cast<int64_t>(packed_a.size()), m * k) << g.describe();
        for (int product = 0; product < 2; ++product) {  // the same A, another C
          std::vector<float> expected = x.c, actual = x.c;
          kernels::sgemm_packed(ta, m, x.a.data(), g.lda(), b, 1.0f, expected.data(), g.ldc());
          kernels::sgemm_packed_ab(a, b, 1.0f, actual.data(), g.ldc());
          EXPECT_EQ(std::memcmp(expected.data(), actual.data(), expected.size() * sizeof(float)), 0)
              << g.describe() << ", product " << product;
          const GemmReference ref = reference_gemm(g, x);
          EXPECT_TRUE(gemm_result_close(g, actual, ref, gemm_tolerance(k)));
        }
        std::vector<float> bias(static_cast<size_t>(n));
        for (float& v : bias) v = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
        std::vector<float> expected = x.c, actual = x.c;
        kernels::sgemm_packed_bias(ta, m, x.a.data(), g.lda(), b, bias.data(), expected.data(),
                                   g.ldc());
        kernels::sgemm_packed_ab_bias(a, b, bias.data(), actual.data(), g.ldc());
        EXPECT_EQ(std::memcmp(expected.data(), actual.data(), expected.size() * sizeof(float)), 0)
            << g.describe() << ", with a bias";
      }
  });
}

// ---------------------------------------------------------------- activations

using ActivationFn = void (*)(float* y, const float* x, int64_t n);
using ReferenceFn = double (*)(double x);

double sigmoid_reference(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double tanh_reference(double x) { return std::tanh(x); }

// The largest error of f over xs, relative to the reference. Where the reference is subnormal
// (sigmoid far left) the result may be flushed to zero: an absolute error of FLT_MIN there
// counts as 1e−6.
double activation_error(ActivationFn f, ReferenceFn reference, const std::vector<float>& xs,
                        float* worst_x) {
  std::vector<float> ys(xs.size());
  f(ys.data(), xs.data(), static_cast<int64_t>(xs.size()));
  double worst = 0.0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const double expected = reference(xs[i]);
    const double diff = std::abs(static_cast<double>(ys[i]) - expected);
    const double scale = std::abs(expected) >= FLT_MIN ? std::abs(expected) : FLT_MIN * 1e6;
    const double error = diff / scale;
    if (!(error <= worst)) {  // NaN counts as the worst
      worst = std::isnan(error) ? INFINITY : error;
      *worst_x = xs[i];
    }
  }
  return worst;
}

// Every 1e−4 over [−20, 20], the interesting constants, every float where sigmoid leaves the
// normal range, and tiny inputs of both signs.
std::vector<float> activation_inputs() {
  std::vector<float> xs;
  for (int i = -200000; i <= 200000; ++i) xs.push_back(static_cast<float>(i * 1e-4));
  for (float x : {0.0f, -0.0f, 1e-8f, -1e-8f, 88.0f, -88.0f, 87.3f, -87.3f, 87.5f, -87.5f, 100.0f,
                  -100.0f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN})
    xs.push_back(x);
  // sigmoid(x) crosses FLT_MIN at x = −87.3365
  for (float x = -87.2f; x > -87.5f; x = std::nextafter(x, -100.0f)) xs.push_back(x);
  for (double x = 1e-30; x < 30.0; x *= 1.01) {
    xs.push_back(static_cast<float>(x));
    xs.push_back(static_cast<float>(-x));
  }
  return xs;
}

TEST(KernelsActivations, SigmoidMatchesDouble) {
  const std::vector<float> xs = activation_inputs();
  for_each_isa([&](Isa) {
    float worst_x = 0.0f;
    const double error = activation_error(kernels::sigmoid, sigmoid_reference, xs, &worst_x);
    EXPECT_LE(error, 1e-6) << "worst at x = " << worst_x;
  });
}

TEST(KernelsActivations, TanhMatchesDouble) {
  const std::vector<float> xs = activation_inputs();
  for_each_isa([&](Isa) {
    float worst_x = 0.0f;
    const double error = activation_error(kernels::tanh, tanh_reference, xs, &worst_x);
    EXPECT_LE(error, 1e-6) << "worst at x = " << worst_x;
  });
}

// Random bit patterns: every exponent of the float range, both signs.
TEST(KernelsActivations, RandomFloatsOfEveryMagnitude) {
  std::mt19937 rng(8);
  std::vector<float> xs;
  while (xs.size() < 200000) {
    const uint32_t bits = static_cast<uint32_t>(rng());
    float x;
    std::memcpy(&x, &bits, sizeof x);
    if (std::isfinite(x) && (x == 0.0f || std::abs(x) >= FLT_MIN)) xs.push_back(x);
  }
  for_each_isa([&](Isa) {
    float worst_x = 0.0f;
    EXPECT_LE(activation_error(kernels::sigmoid, sigmoid_reference, xs, &worst_x), 1e-6)
        << "sigmoid, worst at x = " << worst_x;
    EXPECT_LE(activation_error(kernels::tanh, tanh_reference, xs, &worst_x), 1e-6)
        << "tanh, worst at x = " << worst_x;
  });
}

TEST(KernelsActivations, InfinitiesAndRange) {
  const std::vector<float> xs = activation_inputs();
  for_each_isa([&](Isa) {
    const float special[] = {inf_value, -inf_value, 0.0f};
    float y[3];
    kernels::sigmoid(y, special, 3);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], 0.0f);
    EXPECT_EQ(y[2], 0.5f);
    kernels::tanh(y, special, 3);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[1], -1.0f);
    EXPECT_EQ(y[2], 0.0f);

    std::vector<float> ys(xs.size());
    kernels::sigmoid(ys.data(), xs.data(), static_cast<int64_t>(xs.size()));
    for (float v : ys) ASSERT_TRUE(v >= 0.0f && v <= 1.0f) << v;
    kernels::tanh(ys.data(), xs.data(), static_cast<int64_t>(xs.size()));
    for (size_t i = 0; i < xs.size(); ++i) {
      ASSERT_TRUE(ys[i] >= -1.0f && ys[i] <= 1.0f) << ys[i];
      ASSERT_FALSE(std::signbit(ys[i]) != std::signbit(xs[i])) << xs[i];  // odd, −0 included
    }
  });
}

// Every length up to a few vectors: the partial last vector is computed and nothing past the
// end is written; y = x in place works.
TEST(KernelsActivations, AnyLengthAndInPlace) {
  std::mt19937 rng(9);
  for_each_isa([&](Isa) {
    for (int64_t n = 0; n <= 40; ++n) {
      std::vector<float> x = random_floats(n, rng);
      for (float& v : x) v *= 6.0f;
      const std::pair<ActivationFn, ReferenceFn> activations[] = {
          {kernels::sigmoid, sigmoid_reference}, {kernels::tanh, tanh_reference}};
      for (auto [f, reference] : activations) {
        std::vector<float> y(static_cast<size_t>(n) + 1, 7.0f), in_place = x;
        f(y.data(), x.data(), n);
        f(in_place.data(), in_place.data(), n);
        EXPECT_EQ(y[static_cast<size_t>(n)], 7.0f) << "n = " << n;
        for (int64_t i = 0; i < n; ++i) {
          const size_t s = static_cast<size_t>(i);
          EXPECT_NEAR(y[s], reference(x[s]), 1e-6) << "n = " << n << ", i = " << i;
          EXPECT_EQ(in_place[s], y[s]) << "n = " << n << ", i = " << i;
        }
      }
    }
  });
}

// The fused backward steps (lstm_backward_step, gru_backward_step) against the formulas in
// double on every length up to a few vectors, over rows with padded strides: nothing past n of
// a row or gate is written.
TEST(KernelsCells, BackwardStepsMatchDouble) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> unit(0.02f, 0.98f), sym(-1.0f, 1.0f);
  const auto fill = [&](int64_t count, auto& dist) {
    std::vector<float> v(static_cast<size_t>(count));
    for (float& x : v) x = dist(rng);
    return v;
  };
  constexpr float sentinel = 7.0f;
  for_each_isa([&](Isa) {
    for (int64_t n : {1, 5, 8, 16, 17, 33, 64, 70}) {
      const int64_t rows = 3, gate = n + 3, row = 4 * gate + 1;  // 4 gates, padded
      std::vector<float> act = fill(rows * row, unit), dh = fill(rows * gate, sym),
                         c_prev = fill(rows * gate, sym), c_new = fill(rows * gate, sym),
                         hn = fill(rows * gate, sym), h_prev = fill(rows * gate, sym);
      for (int64_t r = 0; r < rows; ++r)  // LSTM's g and GRU's n are tanh outputs
        for (int64_t j = 0; j < n; ++j) act[r * row + 2 * gate + j] = sym(rng);
      std::vector<float> dc = fill(rows * gate, sym), dc_in = dc;
      std::vector<float> dg(static_cast<size_t>(rows * row), sentinel), drec = dg;
      kernels::lstm_backward_step({.rows = rows, .n = n, .act = {act.data(), row, gate},
                                   .dh = {dh.data(), gate}, .c_prev = {c_prev.data(), gate},
                                   .c_new = {c_new.data(), gate}, .dc = {dc.data(), gate},
                                   .d_gates = {dg.data(), row, gate}});
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < gate; ++j) {
          const auto at = [&](const std::vector<float>& v, int64_t q) {
            return static_cast<double>(v[static_cast<size_t>(r * row + q * gate + j)]);
          };
          const size_t k = static_cast<size_t>(r * gate + j);
          if (j >= n) {
            EXPECT_EQ(dc[k], dc_in[k]);
            for (int q = 0; q < 4; ++q) EXPECT_EQ(at(dg, q), sentinel);
            continue;
          }
          const double i = at(act, 0), f = at(act, 1), g = at(act, 2), o = at(act, 3);
          const double dm = dh[k], th = std::tanh(static_cast<double>(c_new[k]));
          const double d_c = dc_in[k] + dm * o * (1 - th * th);
          EXPECT_NEAR(dc[k], d_c * f, 1e-5);
          EXPECT_NEAR(at(dg, 0), d_c * g * i * (1 - i), 1e-5);
          EXPECT_NEAR(at(dg, 1), d_c * c_prev[k] * f * (1 - f), 1e-5);
          EXPECT_NEAR(at(dg, 2), d_c * i * (1 - g * g), 1e-5);
          EXPECT_NEAR(at(dg, 3), dm * th * o * (1 - o), 1e-5);
        }
      std::fill(dg.begin(), dg.end(), sentinel);
      kernels::gru_backward_step({.rows = rows, .n = n, .act = {act.data(), row, gate},
                                  .hn = {hn.data(), gate}, .h_prev = {h_prev.data(), gate},
                                  .dh = {dh.data(), gate}, .d_gates = {dg.data(), row, gate},
                                  .d_rec = {drec.data(), row, gate}});
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < gate; ++j) {
          const auto at = [&](const std::vector<float>& v, int64_t q) {
            return static_cast<double>(v[static_cast<size_t>(r * row + q * gate + j)]);
          };
          if (j >= n) {
            for (int q = 0; q < 3; ++q) EXPECT_EQ(at(dg, q), sentinel);
            for (int q = 0; q < 3; ++q) EXPECT_EQ(at(drec, q), sentinel);
            continue;
          }
          const size_t k = static_cast<size_t>(r * gate + j);
          const double rg = at(act, 0), z = at(act, 1), nn = at(act, 2), d = dh[k];
          const double d_an = d * (1 - z) * (1 - nn * nn);
          const double dr = d_an * hn[k] * rg * (1 - rg), dz = d * (h_prev[k] - nn) * z * (1 - z);
          EXPECT_NEAR(at(dg, 0), dr, 1e-5);
          EXPECT_NEAR(at(drec, 0), dr, 1e-5);
          EXPECT_NEAR(at(dg, 1), dz, 1e-5);
          EXPECT_NEAR(at(drec, 1), dz, 1e-5);
          EXPECT_NEAR(at(dg, 2), d_an, 1e-5);
          EXPECT_NEAR(at(drec, 2), d_an * rg, 1e-5);
        }
    }
  });
}

}  // namespace

namespace {

// ctest runs the exactness tests again with LSTM_ISA=avx2 and LSTM_ISA=scalar
// (tests/CMakeLists.txt). Dispatch falls back to the best path when the CPU lacks the one named;
// then those runs would only repeat the default one, so they are skipped instead.
class ForcedIsaEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* forced = std::getenv("LSTM_ISA");
    if (forced && std::string(forced) != kernels::isa_name(kernels::active_isa()))
      GTEST_SKIP() << "LSTM_ISA=" << forced << ": this CPU lacks that path";
  }
};

const auto* const forced_isa_environment =
    ::testing::AddGlobalTestEnvironment(new ForcedIsaEnvironment);

}  // namespace
