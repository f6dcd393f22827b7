// Sequential and the model file: save → load is bit-exact, a plain PyTorch state_dict's
// architecture is inferred from its names and shapes, and bad files are rejected clearly.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "lstm/io.h"
#include "lstm/model.h"
#include "test_util.h"

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / ("model_test_" + name)).string();
}

void randomize(lstm::Sequential& model, uint64_t seed) {
  lstm::Rng rng(seed);
  for (auto& p : model.parameters())
    for (float& v : *p.value) v = rng.uniform(-1.0f, 1.0f);
}

lstm::Tensor random_tensor(lstm::Shape shape, uint64_t seed) {
  lstm::Rng rng(seed);
  lstm::Tensor t(std::move(shape));
  for (float& v : t) v = rng.uniform(-1.0f, 1.0f);
  return t;
}

using lstm::testing::error_of;

TEST(Model, SaveLoadIsBitExactForEveryLayerKind) {
  lstm::Sequential model;
  model.add(lstm::Embedding({.num_embeddings = 11, .embedding_dim = 6, .padding_idx = 0}));
  model.add(lstm::LSTM({.input_size = 6, .hidden_size = 9, .num_layers = 2, .dropout = 0.25f,
                        .bidirectional = true, .proj_size = 4}));
  model.add(lstm::LayerNorm({.features = 8}));
  model.add(lstm::GRU({.input_size = 8, .hidden_size = 5, .bias = false}));
  model.add(lstm::Dropout({.p = 0.1f}));
  model.add(lstm::RNN({.input_size = 5, .hidden_size = 7, .nonlinearity = lstm::Nonlinearity::relu,
                       .return_sequences = false}));
  model.add(lstm::Dense({.in_features = 7, .out_features = 3}));
  randomize(model, 1);
  const std::string path = temp_path("every_kind.safetensors");
  model.save(path, {{"note", "kept"}});

  lstm::Sequential loaded = lstm::Sequential::load(path);
  EXPECT_EQ(loaded.architecture_json(), model.architecture_json());
  auto a = model.parameters(), b = loaded.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    ASSERT_EQ(a[i].value->shape(), b[i].value->shape());
    EXPECT_EQ(0, std::memcmp(a[i].value->data(), b[i].value->data(),
                             static_cast<std::size_t>(a[i].value->numel()) * sizeof(float)))
        << a[i].name;
  }
  lstm::Tensor ids({2, 5});
  for (int64_t i = 0; i < ids.numel(); ++i) ids[i] = static_cast<float>(i % 11);
  const lstm::Tensor y1 = model.predict(ids), y2 = loaded.predict(ids);
  ASSERT_EQ(y1.shape(), (lstm::Shape{2, 3}));
  EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), sizeof(float) * 6));
  EXPECT_EQ(lstm::read_safetensors(path).metadata.at("note"), "kept");
}

TEST(Model, PlainStateDictOfABareLstmLoads) {
  // nn.LSTM(3, 5, num_layers=2, bidirectional=True).state_dict(): names without a prefix.
  lstm::LSTM reference({.input_size = 3, .hidden_size = 5, .num_layers = 2,
                        .bidirectional = true});
  std::vector<lstm::NamedTensor> tensors;
  lstm::Rng rng(7);
  for (auto& p : reference.parameters()) {
    for (float& v : *p.value) v = rng.uniform(-1.0f, 1.0f);
    tensors.push_back({p.name, *p.value});
  }
  const std::string path = temp_path("bare_lstm.safetensors");
  lstm::write_safetensors(path, tensors);
  lstm::Sequential model = lstm::Sequential::load(path);
  ASSERT_EQ(model.size(), 1u);
  EXPECT_EQ(model.layer(0).describe(), reference.describe());
  const lstm::Tensor x = random_tensor({2, 4, 3}, 3);
  const lstm::Tensor y1 = model.predict(x), y2 = reference.forward(x, {});
  EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), sizeof(float) * y1.numel()));
}

TEST(Model, InfersCellKindProjectionAndEmbedding) {
  struct Case {
    std::function<void(lstm::Sequential&)> build;
    std::string expected_first;
  };
  const std::vector<Case> cases = {
      {[](lstm::Sequential& m) {
         m.add(lstm::LSTM({.input_size = 4, .hidden_size = 6, .proj_size = 2}));
         m.add(lstm::Dense({.in_features = 2, .out_features = 1}));
       },
       "LSTM(input_size=4, hidden_size=6, num_layers=1, proj_size=2)"},
      {[](lstm::Sequential& m) {
         m.add(lstm::GRU({.input_size = 4, .hidden_size = 6, .num_layers = 3, .bias = false}));
       },
       "GRU(input_size=4, hidden_size=6, num_layers=3, bias=false)"},
      {[](lstm::Sequential& m) { m.add(lstm::RNN({.input_size = 4, .hidden_size = 6})); },
       "RNN(input_size=4, hidden_size=6, num_layers=1)"},
      {[](lstm::Sequential& m) {
         m.add(lstm::Embedding({.num_embeddings = 30, .embedding_dim = 4}));
         m.add(lstm::LSTM({.input_size = 4, .hidden_size = 6}));
       },
       "Embedding"},
  };
  for (const Case& c : cases) {
    lstm::Sequential model;
    c.build(model);
    randomize(model, 5);
    std::vector<lstm::NamedTensor> tensors;
    for (auto& p : model.parameters()) tensors.push_back({p.name, *p.value});
    const std::string path = temp_path("inferred.safetensors");
    lstm::write_safetensors(path, tensors);  // no metadata: a plain state_dict
    lstm::Sequential loaded = lstm::Sequential::load(path);
    ASSERT_EQ(loaded.size(), model.size());
    EXPECT_EQ(loaded.layer(0).describe().substr(0, c.expected_first.size()), c.expected_first);
    EXPECT_EQ(loaded.architecture_json(), model.architecture_json());
  }
}

TEST(Model, RejectsFilesThatDoNotFitTheArchitecture) {
  lstm::Sequential model;
  model.add(lstm::LSTM({.input_size = 2, .hidden_size = 3}));
  model.add(lstm::Dense({.in_features = 3, .out_features = 1}));
  const std::string path = temp_path("arch.safetensors");
  model.save(path);
  lstm::SafetensorsFile file = lstm::read_safetensors(path);

  const auto rewrite = [&](std::vector<lstm::NamedTensor> tensors,
                           std::map<std::string, std::string> metadata) {
    const std::string p = temp_path("broken.safetensors");
    lstm::write_safetensors(p, tensors, metadata);
    return error_of([&] { lstm::Sequential::load(p); });
  };
  // A tensor missing.
  auto tensors = file.tensors;
  tensors.pop_back();
  EXPECT_NE(rewrite(tensors, file.metadata).find("missing tensor '1.bias'"), std::string::npos);
  // A wrong shape.
  tensors = file.tensors;
  tensors[0].tensor = lstm::Tensor({12, 3});
  EXPECT_NE(rewrite(tensors, file.metadata).find("has shape (12, 3), the architecture needs (12, 2)"),
            std::string::npos);
  // A tensor too many.
  tensors = file.tensors;
  tensors.push_back({"2.weight", lstm::Tensor({1, 1})});
  EXPECT_NE(rewrite(tensors, file.metadata).find("'2.weight' is not a parameter"),
            std::string::npos);
  // Metadata from a future version, and broken architecture JSON.
  auto metadata = file.metadata;
  metadata["format_version"] = "99";
  EXPECT_NE(rewrite(file.tensors, metadata).find("format_version 99"), std::string::npos);
  metadata = file.metadata;
  metadata["architecture"] = "{\"layers\": [";
  EXPECT_NE(rewrite(file.tensors, metadata).find("not valid JSON"), std::string::npos);
  metadata["architecture"] = R"({"layers": [{"type": "transformer"}]})";
  EXPECT_NE(rewrite(file.tensors, metadata).find("unknown layer type \"transformer\""),
            std::string::npos);
  metadata["architecture"] = R"({"layers": [{"type": "lstm", "input_size": 2}]})";
  EXPECT_NE(rewrite(file.tensors, metadata).find("no \"hidden_size\""), std::string::npos);
}

TEST(Model, PlainStateDictErrorsNameTheLayer) {
  const std::string path = temp_path("gap.safetensors");
  lstm::write_safetensors(path, {{"0.weight", lstm::Tensor({3, 2})},
                                 {"0.bias", lstm::Tensor({3})},
                                 {"2.weight", lstm::Tensor({1, 3})}});
  EXPECT_NE(error_of([&] { lstm::Sequential::load(path); }).find("layer 1 has no tensors"),
            std::string::npos);
  lstm::write_safetensors(path, {{"0.weight_ih_l0", lstm::Tensor({10, 2})},
                                 {"0.weight_hh_l0", lstm::Tensor({10, 5})}});
  EXPECT_NE(error_of([&] { lstm::Sequential::load(path); }).find("weight_hh_l0 (10, 5)"),
            std::string::npos);
  lstm::write_safetensors(path, {{"0.running_mean", lstm::Tensor({3})}});
  EXPECT_NE(error_of([&] { lstm::Sequential::load(path); }).find("cannot tell the layer"),
            std::string::npos);
}

TEST(Model, ForwardChecksTheInputShape) {
  lstm::Sequential model;
  model.add(lstm::LSTM({.input_size = 2, .hidden_size = 3}));
  const std::string message = error_of([&] { model.predict(lstm::Tensor({1, 4, 5})); });
  EXPECT_NE(message.find("expected input (batch, time, 2)"), std::string::npos) << message;
  EXPECT_NE(message.find("got (1, 4, 5)"), std::string::npos) << message;
}

}  // namespace
