// What Sequential::compile sets up; private to the library.
#pragma once

#include <memory>
#include <vector>

#include "lstm/model.h"

namespace lstm {

struct Sequential::Training {
  Loss loss = Loss::mse;
  std::unique_ptr<Optimizer> optimizer;
  std::vector<Metric> metrics;
  CompileOptions options;
};

}  // namespace lstm
