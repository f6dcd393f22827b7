#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>

#include "lstm/tensor.h"

TEST(Tensor, ShapeAndErrors) {
  lstm::Tensor t({2, 3}, 1.5f);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dim(-1), 3);
  EXPECT_EQ(t.shape_string(), "(2, 3)");
  EXPECT_THROW(t.reshape({4, 2}), lstm::Error);
  EXPECT_THROW(t.check_shape({3, 2}, "x"), lstm::Error);
  EXPECT_NO_THROW(t.check_shape({-1, 3}, "x"));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
}

TEST(Rng, SameSeedSameSequence) {
  lstm::Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    if (i == 0) {
      EXPECT_NE(x, c.next_u64());
    }
  }
  for (int i = 0; i < 1000; ++i) {
    const float u = a.uniform();
    EXPECT_GE(u, 0.0f);
    EXPECT_LT(u, 1.0f);
  }
}

// Large tensor storage is kept when freed and handed to the next tensor of the same size, so a
// training loop that allocates the same shapes every step faults no pages in after the first.
TEST(Tensor, LargeStorageIsReused) {
  const lstm::Shape large{256, 1024};  // 1 MiB, above detail::kReusedBlockBytes
  const float* first = nullptr;
  {
    lstm::Tensor t(large);
    first = t.data();
  }
  const lstm::Tensor again = lstm::Tensor::uninitialized(large);
  EXPECT_EQ(again.data(), first);
  EXPECT_EQ(again.shape(), large);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(again.data()) % 64, 0u);
  // A reused block is cleared when the constructor asks for zeros.
  { lstm::Tensor ones(large, 1.0f); }
  const lstm::Tensor zeros(large);
  EXPECT_TRUE(std::all_of(zeros.begin(), zeros.end(), [](float v) { return v == 0.0f; }));
  lstm::release_reused_blocks();
}
