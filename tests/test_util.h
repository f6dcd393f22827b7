// Shared helpers for the tests: closeness measured relative to the expected tensor's scale.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "lstm/tensor.h"

namespace lstm::testing {

// max_i |actual_i − expected_i| / max(max_i |expected_i|, floor): the error relative to the
// size of the expected values, so near-zero elements do not make it meaningless.
template <class A, class E>
double relative_error(const A* actual, const E* expected, int64_t n, double floor = 1e-6) {
  double max_diff = 0.0, max_expected = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double a = static_cast<double>(actual[i]), e = static_cast<double>(expected[i]);
    if (std::isnan(a) || std::isnan(e)) return INFINITY;
    max_diff = std::max(max_diff, std::abs(a - e));
    max_expected = std::max(max_expected, std::abs(e));
  }
  return max_diff / std::max(max_expected, floor);
}

inline ::testing::AssertionResult tensors_close(const Tensor& actual, const Tensor& expected,
                                                double tolerance, const std::string& what) {
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << what << ": shape " << actual.shape_string()
                                         << ", expected " << expected.shape_string();
  const double err = relative_error(actual.data(), expected.data(), actual.numel());
  if (err <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": relative error " << err << " > "
                                       << tolerance;
}

// The message of the lstm::Error that `f` throws, or "" if it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const lstm::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace lstm::testing
