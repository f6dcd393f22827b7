// One fixture file of tests/fixtures/optim/ (written by scripts/gen_optim_reference.py) and its
// "config" metadata; shared by the loss and optimizer parity tests.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "lstm/io.h"

namespace lstm::testing {

struct OptimFixture {
  std::string name;
  SafetensorsFile file;
  nlohmann::json config;

  explicit OptimFixture(const std::string& stem)
      : name(stem),
        file(read_safetensors(
            (std::filesystem::path(LSTM_FIXTURE_DIR) / "optim" / (stem + ".safetensors"))
                .string())),
        config(nlohmann::json::parse(file.metadata.at("config"))) {}

  const Tensor& get(const std::string& tensor) const {
    const Tensor* t = file.find(tensor);
    if (t == nullptr) throw std::runtime_error(name + ": no tensor \"" + tensor + "\"");
    return *t;
  }
};

}  // namespace lstm::testing
