// Argument checks shared by the losses, optimizers and schedules.
#pragma once

#include <charconv>
#include <string>

#include "lstm/tensor.h"

namespace lstm::optim_detail {

// The shortest text that reads back as `value` ("0.001", "1e-08", "inf").
inline std::string number(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

// Throws lstm::Error(message) unless `ok`.
inline void require(bool ok, const std::string& message) {
  if (!ok) throw Error(message);
}

}  // namespace lstm::optim_detail
