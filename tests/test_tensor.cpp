#include <gtest/gtest.h>

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
