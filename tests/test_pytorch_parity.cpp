// PyTorch parity: every layer against the numbers PyTorch computed (float32) for the same
// inputs and weights — outputs, final states and every gradient — read from the fixtures that
// scripts/gen_reference.py writes under tests/fixtures/torch/ (see the script for what each file
// holds). One test per fixture, named after it; tolerance 1e-5 relative to the expected
// tensor's largest magnitude (PyTorch's own float32 result is within about 1e-6 of float64 on
// these cases, so this leaves room only for rounding-order differences).
//
// Set LSTM_PARITY_VERBOSE=1 to print the relative error of every compared tensor.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "lstm/io.h"
#include "lstm/model.h"
#include "lstm/nn.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using lstm::Tensor;
using nlohmann::json;

constexpr double kTolerance = 1e-5;

fs::path torch_dir() { return fs::path(LSTM_FIXTURE_DIR) / "torch"; }

bool verbose() {
  const char* v = std::getenv("LSTM_PARITY_VERBOSE");
  return v != nullptr && *v != '\0' && std::string(v) != "0";
}

// The fixtures of one family, by file stem (sorted, so test order is stable).
std::vector<std::string> fixture_names(const std::vector<std::string>& prefixes) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(torch_dir(), ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".safetensors") continue;
    const std::string stem = entry.path().stem().string();
    for (const auto& prefix : prefixes)
      if (stem.rfind(prefix, 0) == 0) {
        names.push_back(stem);
        break;
      }
  }
  std::sort(names.begin(), names.end());
  return names;
}

const std::vector<std::string> kRecurrentPrefixes = {"lstm_", "gru_", "rnn_tanh_", "rnn_relu_"};

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(torch_dir() / "models", ec))
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

// One fixture file: its tensors and its "config".
struct Fixture {
  std::string name;
  lstm::SafetensorsFile file;
  json config;

  explicit Fixture(const std::string& stem)
      : name(stem), file(lstm::read_safetensors((torch_dir() / (stem + ".safetensors")).string())) {
    const auto it = file.metadata.find("config");
    if (it == file.metadata.end()) throw std::runtime_error(stem + ": no \"config\" metadata");
    config = json::parse(it->second);
  }
  const Tensor* find(const std::string& tensor) const { return file.find(tensor); }
  const Tensor& get(const std::string& tensor) const {
    const Tensor* t = file.find(tensor);
    if (t == nullptr) throw std::runtime_error(name + ": no tensor \"" + tensor + "\"");
    return *t;
  }
  // "param.<name>" tensors, without the prefix.
  std::set<std::string> parameter_names() const {
    std::set<std::string> names;
    for (const auto& t : file.tensors)
      if (t.name.rfind("param.", 0) == 0) names.insert(t.name.substr(6));
    return names;
  }
};

// Largest relative error seen per kind of tensor, printed once at the end of the run.
std::map<std::string, double>& max_errors() {
  static std::map<std::string, double> errors;
  return errors;
}

class ErrorReport : public ::testing::Environment {
 public:
  void TearDown() override {
    if (max_errors().empty()) return;
    std::printf("[ parity ] largest relative error against PyTorch:\n");
    for (const auto& [kind, err] : max_errors())
      std::printf("[ parity ]   %-28s %.3g\n", kind.c_str(), err);
  }
};
[[maybe_unused]] ::testing::Environment* const kErrorReport =
    ::testing::AddGlobalTestEnvironment(new ErrorReport);

// Compares and records the error under `kind` ("recurrent forward", "dense grad", ...).
::testing::AssertionResult compare(const std::string& kind, const std::string& fixture,
                                   const std::string& what, const Tensor& actual,
                                   const Tensor& expected) {
  if (actual.shape() == expected.shape()) {
    const double err =
        lstm::testing::relative_error(actual.data(), expected.data(), actual.numel());
    double& worst = max_errors()[kind];
    worst = std::max(worst, err);
    if (verbose()) std::printf("  %-34s %-22s %.3g\n", fixture.c_str(), what.c_str(), err);
  }
  return lstm::testing::tensors_close(actual, expected, kTolerance, fixture + " " + what);
}

std::vector<int64_t> as_integers(const Tensor& t) {
  std::vector<int64_t> values;
  for (float v : t) {
    if (v != std::floor(v)) throw std::runtime_error("not a whole number in an integer tensor");
    values.push_back(static_cast<int64_t>(v));
  }
  return values;
}

// Copies each fixture "param.<name>" into the layer's parameter of that name, and checks that
// the layer has exactly PyTorch's parameter names and shapes.
void load_parameters(lstm::Layer& layer, const Fixture& fx) {
  std::set<std::string> ours;
  for (const lstm::ParameterRef& p : layer.parameters()) {
    ours.insert(p.name);
    const Tensor* expected = fx.find("param." + p.name);
    ASSERT_NE(expected, nullptr) << fx.name << ": the layer has a parameter \"" << p.name
                                 << "\" that PyTorch's module has not";
    ASSERT_EQ(p.value->shape(), expected->shape()) << fx.name << ": parameter " << p.name;
    std::copy(expected->begin(), expected->end(), p.value->begin());
    ASSERT_NE(p.grad, nullptr) << p.name;
  }
  EXPECT_EQ(ours, fx.parameter_names()) << fx.name << ": parameter names differ from PyTorch's";
}

// ---------------------------------------------------------------------------------------------
// Recurrent layers

lstm::CellType cell_type(const std::string& cell) {
  if (cell == "lstm") return lstm::CellType::lstm;
  if (cell == "gru") return lstm::CellType::gru;
  if (cell == "rnn_tanh") return lstm::CellType::rnn_tanh;
  if (cell == "rnn_relu") return lstm::CellType::rnn_relu;
  throw std::runtime_error("unknown cell " + cell);
}

// The layer the fixture describes, built through the public option structs.
std::unique_ptr<lstm::Recurrent> make_recurrent(const json& c, bool return_sequences) {
  const std::string cell = c.at("cell").get<std::string>();
  const auto input_size = c.at("input_size").get<int64_t>();
  const auto hidden_size = c.at("hidden_size").get<int64_t>();
  const auto num_layers = c.at("num_layers").get<int64_t>();
  const auto proj_size = c.at("proj_size").get<int64_t>();
  const bool bias = c.at("bias").get<bool>(), bidirectional = c.at("bidirectional").get<bool>();
  if (cell == "lstm")
    return std::make_unique<lstm::LSTM>(lstm::LSTMOptions{.input_size = input_size,
                                                          .hidden_size = hidden_size,
                                                          .num_layers = num_layers,
                                                          .bias = bias,
                                                          .bidirectional = bidirectional,
                                                          .proj_size = proj_size,
                                                          .return_sequences = return_sequences});
  if (proj_size != 0) throw std::runtime_error("proj_size for a " + cell);
  if (cell == "gru")
    return std::make_unique<lstm::GRU>(lstm::GRUOptions{.input_size = input_size,
                                                        .hidden_size = hidden_size,
                                                        .num_layers = num_layers,
                                                        .bias = bias,
                                                        .bidirectional = bidirectional,
                                                        .return_sequences = return_sequences});
  return std::make_unique<lstm::RNN>(lstm::RNNOptions{
      .input_size = input_size,
      .hidden_size = hidden_size,
      .num_layers = num_layers,
      .nonlinearity = cell == "rnn_relu" ? lstm::Nonlinearity::relu : lstm::Nonlinearity::tanh,
      .bias = bias,
      .bidirectional = bidirectional,
      .return_sequences = return_sequences});
}

class RecurrentParity : public ::testing::TestWithParam<std::string> {};

TEST_P(RecurrentParity, ForwardBackwardMatchPyTorch) {
  const Fixture fx(GetParam());
  const json& c = fx.config;
  ASSERT_EQ(c.at("layer"), "recurrent");
  const bool is_lstm = c.at("cell") == "lstm";

  auto layer = make_recurrent(c, /*return_sequences=*/true);
  const lstm::RecurrentConfig& rc = layer->config();
  EXPECT_EQ(rc.cell, cell_type(c.at("cell")));
  EXPECT_EQ(rc.input_size, c.at("input_size").get<int64_t>());
  EXPECT_EQ(rc.hidden_size, c.at("hidden_size").get<int64_t>());
  EXPECT_EQ(rc.num_layers, c.at("num_layers").get<int64_t>());
  EXPECT_EQ(rc.bidirectional, c.at("bidirectional").get<bool>());
  EXPECT_EQ(rc.proj_size, c.at("proj_size").get<int64_t>());

  // Every parameter through parameter(name), shape-checked; then the set of names.
  for (const std::string& name : fx.parameter_names()) {
    Tensor& p = layer->parameter(name);
    const Tensor& expected = fx.get("param." + name);
    ASSERT_EQ(p.shape(), expected.shape()) << fx.name << ": parameter " << name;
    std::copy(expected.begin(), expected.end(), p.begin());
  }
  std::set<std::string> ours;
  for (const auto& p : layer->parameters()) {
    ours.insert(p.name);
    ASSERT_NE(p.grad, nullptr) << p.name;
    ASSERT_EQ(p.grad->shape(), p.value->shape()) << p.name;
  }
  ASSERT_EQ(ours, fx.parameter_names()) << fx.name << ": parameter names differ from PyTorch's";
  layer->zero_grad();

  const Tensor& x = fx.get("input");
  const Tensor* h0 = fx.find("h0");
  const Tensor* c0 = fx.find("c0");
  std::vector<int64_t> lengths;
  if (const Tensor* l = fx.find("lengths")) lengths = as_integers(*l);
  lstm::ForwardContext train;
  train.training = true;
  train.lengths = lengths.empty() ? nullptr : &lengths;

  const std::string fwd = "recurrent forward", gin = "recurrent grad input/state",
                    gpar = "recurrent grad params";
  const lstm::RecurrentResult r = layer->forward_sequence(x, h0, c0, train);
  EXPECT_TRUE(compare(fwd, fx.name, "output", r.output, fx.get("output")));
  EXPECT_TRUE(compare(fwd, fx.name, "h_n", r.h_n, fx.get("h_n")));
  if (is_lstm) {
    EXPECT_TRUE(compare(fwd, fx.name, "c_n", r.c_n, fx.get("c_n")));
  }

  const Tensor& d_output = fx.get("d_output");
  const Tensor& d_h_n = fx.get("d_h_n");
  const Tensor* d_c_n = is_lstm ? &fx.get("d_c_n") : nullptr;
  const lstm::RecurrentGradients g = layer->backward_sequence(d_output, &d_h_n, d_c_n);
  EXPECT_TRUE(compare(gin, fx.name, "grad.input", g.d_input, fx.get("grad.input")));
  EXPECT_TRUE(compare(gin, fx.name, "grad.h0", g.d_h0, fx.get("grad.h0")));
  if (is_lstm) {
    EXPECT_TRUE(compare(gin, fx.name, "grad.c0", g.d_c0, fx.get("grad.c0")));
  }
  for (const auto& p : layer->parameters())
    EXPECT_TRUE(compare(gpar, fx.name, "grad." + p.name, *p.grad, fx.get("grad." + p.name)));

  // The inference path (which may take other kernels) gives the same forward.
  lstm::ForwardContext infer;
  infer.lengths = train.lengths;
  const lstm::RecurrentResult ri = layer->forward_sequence(x, h0, c0, infer);
  EXPECT_TRUE(compare(fwd, fx.name, "output (inference)", ri.output, fx.get("output")));
  EXPECT_TRUE(compare(fwd, fx.name, "h_n (inference)", ri.h_n, fx.get("h_n")));
  if (is_lstm) {
    EXPECT_TRUE(compare(fwd, fx.name, "c_n (inference)", ri.c_n, fx.get("c_n")));
  }

  // And with the weights frozen (packed once, Recurrent::freeze_weights).
  layer->freeze_weights();
  const lstm::RecurrentResult rf = layer->forward_sequence(x, h0, c0, infer);
  EXPECT_TRUE(compare(fwd, fx.name, "output (frozen)", rf.output, fx.get("output")));
  EXPECT_TRUE(compare(fwd, fx.name, "h_n (frozen)", rf.h_n, fx.get("h_n")));
  if (is_lstm) {
    EXPECT_TRUE(compare(fwd, fx.name, "c_n (frozen)", rf.c_n, fx.get("c_n")));
  }
}

// return_sequences = false: the forward direction's output at each sample's last valid step
// beside the reverse direction's at step 0 — taken from PyTorch's full output.
TEST_P(RecurrentParity, LastStepMatchesPyTorch) {
  const Fixture fx(GetParam());
  const json& c = fx.config;
  auto layer = make_recurrent(c, /*return_sequences=*/false);
  for (const std::string& name : fx.parameter_names()) {
    Tensor& p = layer->parameter(name);
    const Tensor& expected = fx.get("param." + name);
    ASSERT_EQ(p.shape(), expected.shape()) << fx.name << ": parameter " << name;
    std::copy(expected.begin(), expected.end(), p.begin());
  }
  const Tensor& x = fx.get("input");
  const Tensor& full = fx.get("output");
  const int64_t batch = x.dim(0), steps = x.dim(1);
  const int64_t out = c.at("proj_size").get<int64_t>() > 0 ? c.at("proj_size").get<int64_t>()
                                                           : c.at("hidden_size").get<int64_t>();
  const int64_t dirs = c.at("bidirectional").get<bool>() ? 2 : 1;
  std::vector<int64_t> lengths(static_cast<std::size_t>(batch), steps);
  const bool has_lengths = fx.find("lengths") != nullptr;
  if (has_lengths) lengths = as_integers(fx.get("lengths"));

  Tensor expected({batch, dirs * out});
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t d = 0; d < dirs; ++d) {
      const int64_t t = d == 0 ? lengths[static_cast<std::size_t>(b)] - 1 : 0;
      for (int64_t k = 0; k < out; ++k)
        expected[b * dirs * out + d * out + k] = full[(b * steps + t) * dirs * out + d * out + k];
    }
  lstm::ForwardContext ctx;
  ctx.lengths = has_lengths ? &lengths : nullptr;
  const lstm::RecurrentResult r = layer->forward_sequence(x, fx.find("h0"), fx.find("c0"), ctx);
  EXPECT_TRUE(compare("recurrent forward", fx.name, "last-step output", r.output, expected));
  EXPECT_TRUE(compare("recurrent forward", fx.name, "h_n (last step)", r.h_n, fx.get("h_n")));
}

INSTANTIATE_TEST_SUITE_P(Torch, RecurrentParity,
                         ::testing::ValuesIn(fixture_names(kRecurrentPrefixes)), param_name);

// ---------------------------------------------------------------------------------------------
// Dense, Embedding, LayerNorm

std::unique_ptr<lstm::Layer> make_layer(const json& c) {
  const auto kind = c.at("layer").get<std::string>();
  if (kind == "dense")
    return std::make_unique<lstm::Dense>(
        lstm::DenseOptions{.in_features = c.at("in_features").get<int64_t>(),
                           .out_features = c.at("out_features").get<int64_t>(),
                           .bias = c.at("bias").get<bool>()});
  if (kind == "embedding")
    return std::make_unique<lstm::Embedding>(
        lstm::EmbeddingOptions{.num_embeddings = c.at("num_embeddings").get<int64_t>(),
                               .embedding_dim = c.at("embedding_dim").get<int64_t>(),
                               .padding_idx = c.at("padding_idx").get<int64_t>()});
  if (kind == "layer_norm")
    return std::make_unique<lstm::LayerNorm>(
        lstm::LayerNormOptions{.features = c.at("features").get<int64_t>(),
                               .eps = c.at("eps").get<float>(),
                               .elementwise_affine = c.at("elementwise_affine").get<bool>()});
  throw std::runtime_error("unknown layer " + kind);
}

class LayerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(LayerParity, ForwardBackwardMatchPyTorch) {
  const Fixture fx(GetParam());
  const auto kind = fx.config.at("layer").get<std::string>();
  auto layer = make_layer(fx.config);
  load_parameters(*layer, fx);
  if (::testing::Test::HasFatalFailure()) return;
  layer->zero_grad();

  lstm::ForwardContext train;
  train.training = true;
  const Tensor y = layer->forward(fx.get("input"), train);
  EXPECT_TRUE(compare(kind + " forward", fx.name, "output", y, fx.get("output")));
  const Tensor dx = layer->backward(fx.get("d_output"));
  if (kind == "embedding") {
    EXPECT_TRUE(dx.empty()) << "ids have no gradient";
  } else {
    EXPECT_TRUE(compare(kind + " grad", fx.name, "grad.input", dx, fx.get("grad.input")));
  }
  for (const auto& p : layer->parameters())
    EXPECT_TRUE(
        compare(kind + " grad", fx.name, "grad." + p.name, *p.grad, fx.get("grad." + p.name)));

  const Tensor yi = layer->forward(fx.get("input"), lstm::ForwardContext{});
  EXPECT_TRUE(compare(kind + " forward", fx.name, "output (inference)", yi, fx.get("output")));
}

INSTANTIATE_TEST_SUITE_P(Torch, LayerParity,
                         ::testing::ValuesIn(fixture_names({"dense_", "embedding_", "layernorm_"})),
                         param_name);

// ---------------------------------------------------------------------------------------------
// Whole models: a plain PyTorch state_dict → Sequential::load → predict, against PyTorch's y on
// every valid step.

class ModelParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelParity, LoadAndPredictMatchPyTorch) {
  const fs::path dir = torch_dir() / "models" / GetParam();
  const std::string weights = (dir / "model.safetensors").string();
  lstm::Sequential model = lstm::Sequential::load(weights);

  // Loaded parameters: exactly the state_dict's names, bit-exact values.
  const lstm::SafetensorsFile file = lstm::read_safetensors(weights);
  std::set<std::string> names_in_file, names_loaded;
  for (const auto& t : file.tensors) names_in_file.insert(t.name);
  for (const auto& p : model.parameters()) {
    names_loaded.insert(p.name);
    const Tensor* t = file.find(p.name);
    ASSERT_NE(t, nullptr) << p.name;
    ASSERT_EQ(p.value->shape(), t->shape()) << p.name;
    EXPECT_TRUE(std::equal(t->begin(), t->end(), p.value->begin())) << p.name;
  }
  EXPECT_EQ(names_loaded, names_in_file);

  const Tensor x = lstm::read_npy((dir / "x.npy").string());
  const Tensor y = lstm::read_npy((dir / "y.npy").string());
  const int64_t batch = x.dim(0), steps = x.dim(1), out = y.dim(2);
  std::vector<int64_t> lengths(static_cast<std::size_t>(batch), steps);
  const bool has_lengths = fs::exists(dir / "lengths.npy");
  if (has_lengths) lengths = lstm::read_npy_integers((dir / "lengths.npy").string());
  ASSERT_EQ(static_cast<int64_t>(lengths.size()), batch);

  const Tensor y_hat = model.predict(x, has_lengths ? &lengths : nullptr);
  ASSERT_EQ(y_hat.shape(), y.shape());
  // Valid steps only, gathered into (Σ lengths, out) and compared as one tensor.
  int64_t valid = 0;
  for (int64_t l : lengths) valid += l;
  Tensor got({valid, out}), want({valid, out});
  int64_t row = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < lengths[static_cast<std::size_t>(b)]; ++t, ++row)
      for (int64_t k = 0; k < out; ++k) {
        got[row * out + k] = y_hat[(b * steps + t) * out + k];
        want[row * out + k] = y[(b * steps + t) * out + k];
      }
  EXPECT_TRUE(compare("model predict", GetParam(), "y (valid steps)", got, want));
}

INSTANTIATE_TEST_SUITE_P(Torch, ModelParity, ::testing::ValuesIn(model_names()), param_name);

// The fixtures are all there: a missing directory must fail, not run zero tests.
TEST(PyTorchParity, FixturesPresent) {
  EXPECT_GE(fixture_names(kRecurrentPrefixes).size(), 38u) << torch_dir();
  EXPECT_GE(fixture_names({"dense_"}).size(), 3u);
  EXPECT_GE(fixture_names({"embedding_"}).size(), 2u);
  EXPECT_GE(fixture_names({"layernorm_"}).size(), 3u);
  EXPECT_GE(model_names().size(), 5u);
}

}  // namespace
