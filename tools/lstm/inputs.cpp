#include "inputs.h"

namespace lstm::cli {

ExpectedInput expected_input(const Sequential& model) {
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer& layer = model.layer(i);
    if (const auto* recurrent = dynamic_cast<const Recurrent*>(&layer))
      return {.features = recurrent->config().input_size, .option = "input_size"};
    if (const auto* dense = dynamic_cast<const Dense*>(&layer))
      return {.features = dense->options().in_features, .option = "in_features"};
    if (const auto* norm = dynamic_cast<const LayerNorm*>(&layer))
      return {.features = norm->options().features, .option = "features"};
    if (dynamic_cast<const Embedding*>(&layer) != nullptr)
      return {.token_ids = true, .features = -1, .option = "token ids"};
  }
  return {};
}

Tensor read_input(const std::string& path, const ExpectedInput& expected) {
  Tensor x = read_npy(path);
  if (expected.token_ids) {
    if (x.rank() != 2)
      throw Error(path + ": expected token ids (batch, time) for a model that starts with an " +
                  "embedding, got " + x.shape_string());
  } else if (x.rank() != 3 || (expected.features >= 0 && x.dim(2) != expected.features)) {
    const std::string features =
        expected.features >= 0 ? std::to_string(expected.features) : "features";
    const std::string model =
        expected.features >= 0 ? " for a model with " + expected.option + " " + features : "";
    throw Error(path + ": expected (batch, time, " + features + ")" + model + ", got " +
                x.shape_string());
  }
  if (x.dim(0) < 1 || x.dim(1) < 1)
    throw Error(path + ": expected at least one sample and one time step, got " + x.shape_string());
  return x;
}

std::vector<int64_t> read_lengths(const std::string& path, const Tensor& x,
                                  const std::string& x_path) {
  Shape shape;
  std::vector<int64_t> lengths = read_npy_integers(path, &shape);
  const int64_t batch = x.dim(0), time = x.dim(1);
  if (shape != Shape{batch})
    throw Error(path + ": expected shape " + shape_string({batch}) + ", one length per sample of " +
                x_path + ", got " + shape_string(shape));
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t length = lengths[static_cast<std::size_t>(i)];
    if (length < 1 || length > time)
      throw Error(path + ": length of sample " + std::to_string(i) + " is " +
                  std::to_string(length) + ", expected a length in [1, " + std::to_string(time) +
                  "] (the time steps of " + x_path + ")");
  }
  return lengths;
}

}  // namespace lstm::cli
