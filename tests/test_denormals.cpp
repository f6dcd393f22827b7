// Denormals cannot slow a run down (issue 5, item 7): the library computes with flush-to-zero
// and denormals-are-zero on, in every member of a region of its thread team and in the work it
// does outside regions (Dense, LayerNorm, the optimizers' step), and gives the calling thread
// its own floating-point mode back afterwards. Each test starts from a mode with both off, so
// that a subnormal input or result shows whether they were on: read as zero, or flushed to zero,
// where IEEE arithmetic would keep it.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>

#include "lstm/nn.h"
#include "lstm/optim.h"
#include "lstm/threads.h"
#include "threads.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

using namespace lstm;

#if defined(__x86_64__)
constexpr unsigned kFlushBits = 0x8040u;  // FTZ (bit 15) | DAZ (bit 6) of MXCSR

// The calling thread's mode with FTZ and DAZ off for the test, then as it was.
class DenormalsKept {
 public:
  DenormalsKept() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ & ~kFlushBits); }
  ~DenormalsKept() { _mm_setcsr(saved_); }
  unsigned mode() const { return saved_ & ~kFlushBits; }

 private:
  unsigned saved_;
};

constexpr float kSubnormal = 1e-40f;
static_assert(kSubnormal > 0.0f && kSubnormal < std::numeric_limits<float>::min());

TEST(Denormals, EveryMemberOfARegionFlushesThemAndTheCallerGetsItsModeBack) {
  const DenormalsKept kept;
  constexpr int most = 4;
  const int threads_before = num_threads();
  set_num_threads(most);
  for (int team_size = 1; team_size <= most; ++team_size) {
    std::array<std::atomic<unsigned>, most> member_mode{};
    std::array<std::atomic<bool>, most> ran{};
    threads::run(team_size, [&](const threads::Team& team) {
      member_mode[static_cast<std::size_t>(team.index())] = _mm_getcsr() & kFlushBits;
      ran[static_cast<std::size_t>(team.index())] = true;
    });
    EXPECT_TRUE(ran[0]) << team_size << " threads";
    for (int m = 0; m < most; ++m)
      if (ran[static_cast<std::size_t>(m)])
        EXPECT_EQ(member_mode[static_cast<std::size_t>(m)], kFlushBits)
            << "member " << m << " of " << team_size;
    EXPECT_EQ(_mm_getcsr(), kept.mode()) << team_size << " threads";

    std::atomic<int> flushed_chunks{0};
    threads::run_phases(team_size, 2, 8, threads::ChunkOrder::same,
                        [&](const threads::Team&, int64_t, int64_t) {
                          if ((_mm_getcsr() & kFlushBits) == kFlushBits) ++flushed_chunks;
                        });
    EXPECT_EQ(flushed_chunks, 16) << team_size << " threads";
    EXPECT_EQ(_mm_getcsr(), kept.mode()) << team_size << " threads";
  }
  set_num_threads(threads_before);
}

TEST(Denormals, DenseReadsThemAsZero) {
  const DenormalsKept kept;
  Dense dense({.in_features = 1, .out_features = 1, .bias = false});
  dense.weight = Tensor({1, 1}, {1e20f});
  dense.weight_grad = Tensor({1, 1}, {0.0f});
  // y = x W: 1e−40 · 1e20 = 1e−20 in IEEE arithmetic, 0 with x read as zero
  const Tensor y = dense.forward(Tensor({1, 1}, {kSubnormal}), ForwardContext{.training = true});
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(_mm_getcsr(), kept.mode());
  // dX = dY W and dW = dYᵀ X with dY and X subnormal
  const Tensor d_x = dense.backward(Tensor({1, 1}, {kSubnormal}));
  EXPECT_EQ(d_x[0], 0.0f);
  EXPECT_EQ(dense.weight_grad[0], 0.0f);
  EXPECT_EQ(_mm_getcsr(), kept.mode());
}

TEST(Denormals, LayerNormReadsThemAsZero) {
  const DenormalsKept kept;
  LayerNorm norm({.features = 2});
  // x = [a, −a]: mean 0, variance a² (0 in float), y = x / √(0 + eps) = ±3.2e−37 in IEEE
  // arithmetic, 0 with x read as zero
  const Tensor y =
      norm.forward(Tensor({1, 2}, {kSubnormal, -kSubnormal}), ForwardContext{.training = true});
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_EQ(_mm_getcsr(), kept.mode());
  norm.backward(Tensor({1, 2}, {1.0f, 1.0f}));
  EXPECT_EQ(_mm_getcsr(), kept.mode());
}

TEST(Denormals, AnOptimizerStepReadsThemAsZero) {
  const DenormalsKept kept;
  Tensor value({1}, {0.0f}), grad({1}, {kSubnormal});
  SGD sgd({.lr = 1e20});
  // w ← w − lr·g = −1e−20 in IEEE arithmetic, 0 with g read as zero
  sgd.step({{"w", &value, &grad}});
  EXPECT_EQ(value[0], 0.0f);
  EXPECT_EQ(_mm_getcsr(), kept.mode());
}
#else
TEST(Denormals, OnlyOnX86) {
  GTEST_SKIP() << "the floating-point mode checked here is x86's MXCSR";
}
#endif

}  // namespace
