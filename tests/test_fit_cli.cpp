// `lstm fit` against PyTorch: tests/fixtures/fit (scripts/gen_fit_reference.py) holds, per case, a
// plain state_dict, the data, the command's flags and the weights the same PyTorch loop ends with
// (computed in float64). And the command's own behaviour: resuming, a kill while writing a
// checkpoint, bad flags, bad files.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "lstm/lstm.h"
#include "test_util.h"
#include "tool_test.h"

namespace {

namespace fs = std::filesystem;
using lstm::Tensor;
using lstm::testing::contains;
using lstm::testing::fails_with;
using lstm::testing::quoted;

class FitCli : public lstm::testing::ToolTest {};

const fs::path kFixtures = fs::path(LSTM_FIXTURE_DIR) / "fit";

// The weights of a model file by name.
std::map<std::string, Tensor> tensors_of(const std::string& path) {
  std::map<std::string, Tensor> out;
  for (auto& t : lstm::read_safetensors(path).tensors) out[t.name] = t.tensor;
  return out;
}

// ‖a − b‖ over all tensors together.
double distance(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  double sum = 0.0;
  for (const auto& [name, t] : a)
    for (int64_t i = 0; i < t.numel(); ++i) sum += std::pow(double(t[i]) - b.at(name)[i], 2);
  return std::sqrt(sum);
}

double norm(const std::map<std::string, Tensor>& a) {
  double sum = 0.0;
  for (const auto& [name, t] : a)
    for (const float v : t) sum += double(v) * v;
  return std::sqrt(sum);
}

TEST_F(FitCli, EndsWithTheWeightsOfThePyTorchLoop) {
  std::ifstream manifest(kFixtures / "cases.json");
  ASSERT_TRUE(manifest) << "missing " << (kFixtures / "cases.json") << ": run scripts/gen_fit_reference.py";
  const auto cases = nlohmann::json::parse(manifest);
  ASSERT_GE(cases.size(), 10u);
  double worst_of_norm = 0.0, worst_of_change = 0.0, worst_tensor = 0.0;
  for (const auto& c : cases) {
    const std::string name = c.at("name");
    const fs::path dir = kFixtures / name;
    std::string args = "fit --verbose 0 --model " + quoted(dir / "model.safetensors") + " --x " +
                       quoted(dir / "x.npy") + " --y " + quoted(dir / "y.npy") + " --out " +
                       quoted(path(name + ".safetensors"));
    if (fs::exists(dir / "lengths.npy")) args += " --lengths " + quoted(dir / "lengths.npy");
    for (const auto& a : c.at("args")) args += " " + a.get<std::string>();
    const auto result = lstm(args);
    ASSERT_EQ(result.exit_code, 0) << name << ": " << result.err;

    const auto trained = tensors_of(path(name + ".safetensors"));
    const auto expected = tensors_of(dir / "expected.safetensors");
    const auto initial = tensors_of(dir / "model.safetensors");
    ASSERT_EQ(trained.size(), expected.size()) << name;
    // The measure: within 1e-5 of the weights' norm and 1e-3 of the change's norm.
    const double error = distance(trained, expected);
    const double of_norm = error / norm(expected), of_change = error / distance(expected, initial);
    EXPECT_LE(of_norm, 1e-5) << name;
    EXPECT_LE(of_change, 1e-3) << name;
    // And every tensor within 1e-5 of its own largest element.
    for (const auto& [tensor_name, t] : expected) {
      const double e = lstm::testing::relative_error(trained.at(tensor_name).data(), t.data(), t.numel());
      EXPECT_LE(e, 1e-5) << name << " " << tensor_name;
      worst_tensor = std::max(worst_tensor, e);
    }
    worst_of_norm = std::max(worst_of_norm, of_norm);
    worst_of_change = std::max(worst_of_change, of_change);
  }
  std::cout << cases.size() << " cases: worst ‖Δ‖/‖w‖ " << worst_of_norm << ", ‖Δ‖/‖w − w0‖ "
            << worst_of_change << ", per-tensor " << worst_tensor << "\n";
}

// x (12, 5, 3), y (12, 5, 2) and an LSTM (dropout between its two layers) + Dense model, as files
// named by `path`.
void write_problem(const std::function<std::string(const std::string&)>& path) {
  lstm::Sequential model;
  model.add(lstm::LSTM({.input_size = 3, .hidden_size = 6, .num_layers = 2, .dropout = 0.2f}));
  model.add(lstm::Dense({.in_features = 6, .out_features = 2}));
  model.save(path("model.safetensors"));
  Tensor x({12, 5, 3}), y({12, 5, 2});
  lstm::Rng rng(3);
  for (float& v : x) v = rng.uniform(-1.0f, 1.0f);
  for (float& v : y) v = rng.uniform(-1.0f, 1.0f);
  lstm::write_npy(path("x.npy"), x);
  lstm::write_npy(path("y.npy"), y);
}

TEST_F(FitCli, ResumingEndsAsAnUnbrokenRunWould) {
  write_problem([&](const std::string& n) { return path(n); });
  const std::string common = "fit --model " + quoted(path("model.safetensors")) +
                             " --x " + quoted(path("x.npy")) + " --y " + quoted(path("y.npy")) +
                             " --optimizer rmsprop --momentum 0.5 --batch-size 5 --seed 9";
  ASSERT_EQ(lstm(common + " --verbose 0 --epochs 4 --out " + quoted(path("unbroken.safetensors"))).exit_code, 0);
  // Two epochs, "crash", then --resume to four.
  ASSERT_EQ(lstm(common + " --verbose 0 --epochs 2 --out " + quoted(path("half.safetensors")) +
                 " --checkpoint " + quoted(path("ckpt.safetensors")))
                .exit_code,
            0);
  const auto resumed = lstm(common + " --verbose 0 --epochs 4 --out " + quoted(path("resumed.safetensors")) +
                            " --checkpoint " + quoted(path("ckpt.safetensors")) + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto a = tensors_of(path("unbroken.safetensors")), b = tensors_of(path("resumed.safetensors"));
  for (const auto& [name, t] : a)
    EXPECT_EQ(std::memcmp(t.data(), b.at(name).data(), sizeof(float) * t.numel()), 0) << name;
  EXPECT_NE(distance(a, tensors_of(path("half.safetensors"))), 0.0);

  // --resume without a checkpoint on disk starts afresh, and says so.
  const auto fresh = lstm(common + " --epochs 1 --verbose 1 --out " + quoted(path("fresh.safetensors")) +
                          " --checkpoint " + quoted(path("none.safetensors")) + " --resume");
  EXPECT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_TRUE(contains(fresh.err, "starting afresh")) << fresh.err;
  EXPECT_TRUE(contains(fresh.err, "Epoch 1/1 - 3/3 - ")) << fresh.err;
}

TEST_F(FitCli, BadFlagsAndFilesAreClearErrors) {
  write_problem([&](const std::string& n) { return path(n); });
  const std::string base = "fit --model " + quoted(path("model.safetensors")) + " --x " +
                           quoted(path("x.npy")) + " --out " + quoted(path("out.safetensors"));
  const std::string y = " --y " + quoted(path("y.npy"));
  EXPECT_TRUE(fails_with(lstm(base + y + " --optimizer adam --momentum 0.9"), 1,
                         {"--momentum applies to --optimizer sgd and rmsprop, not adam"}));
  EXPECT_TRUE(fails_with(lstm(base + y + " --loss hinge"), 2, {"--loss", "hinge"}));
  EXPECT_TRUE(fails_with(lstm(base + y + " --resume"), 1, {"--resume", "--checkpoint"}));
  EXPECT_TRUE(fails_with(lstm(base + y + " --loss cross_entropy"), 1,
                         {"y.npy", "class indices as int32 or int64, got F32"}));
  EXPECT_TRUE(fails_with(lstm(base), 2, {"--y is required"}));
  lstm::write_npy(path("short.npy"), Tensor({11, 5, 2}));
  EXPECT_TRUE(fails_with(lstm(base + " --y " + quoted(path("short.npy"))), 1,
                         {"short.npy", "expected 12 samples"}));
  lstm::write_npy(path("wide.npy"), Tensor({12, 5, 3}));
  EXPECT_TRUE(fails_with(lstm(base + " --y " + quoted(path("wide.npy"))), 1, {"(12, 5, 3)"}));
  EXPECT_FALSE(fs::exists(path("out.safetensors")));
}

TEST_F(FitCli, ANaNInTheTargetsStopsWithEpochAndBatch) {
  write_problem([&](const std::string& n) { return path(n); });
  Tensor y = lstm::read_npy(path("y.npy"));
  y[7 * 10] = NAN;  // sample 7: batch 2 of 3 with batches of 5
  lstm::write_npy(path("y.npy"), y);
  const auto result = lstm("fit --model " + quoted(path("model.safetensors")) + " --x " +
                           quoted(path("x.npy")) + " --y " + quoted(path("y.npy")) + " --out " +
                           quoted(path("out.safetensors")) + " --no-shuffle --batch-size 5 --verbose 0");
  EXPECT_TRUE(fails_with(result, 1, {"epoch 1/1, batch 2/3: the loss is nan"}));
  EXPECT_FALSE(fs::exists(path("out.safetensors")));
}

// `lstm fit --checkpoint` on a large model writes a checkpoint every epoch; each round it is
// killed (SIGKILL) as soon as a write has begun (its temporary file is there), after a random
// 0-5 ms more. Each time, the checkpoint on disk must load whole, and the next round resumes from
// it (--resume; a torn file would make that round fail instead of being killed).
TEST_F(FitCli, AProcessKilledWhileWritingLeavesALoadableCheckpoint) {
  lstm::Sequential model;
  model.add(lstm::LSTM({.input_size = 256, .hidden_size = 512}));  // 1.6 M parameters, 6 MB
  model.save(path("model.safetensors"));                          // 19 MB with Adam's buffers
  lstm::write_npy(path("x.npy"), Tensor({2, 2, 256}, 0.5f));
  lstm::write_npy(path("y.npy"), Tensor({2, 2, 512}, 0.25f));
  const std::string checkpoint = path("ckpt.safetensors");
  const auto temporary_file = [&]() -> std::string {
    for (const auto& entry : fs::directory_iterator(dir_))
      if (entry.path().filename().string().starts_with("ckpt.safetensors.tmp.")) return entry.path();
    return "";
  };
  const std::string fit = "fit --verbose 0 --model " + quoted(path("model.safetensors")) + " --x " +
                          quoted(path("x.npy")) + " --y " + quoted(path("y.npy")) + " --out " +
                          quoted(path("out.safetensors")) + " --checkpoint " + quoted(checkpoint);
  ASSERT_EQ(lstm(fit + " --epochs 1").exit_code, 0);  // the first checkpoint
  lstm::Rng rng(4);
  int kills_mid_write = 0;
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::execl(LSTM_TOOL_PATH, "lstm", "fit", "--verbose", "0", "--epochs", "1000000", "--model",
              path("model.safetensors").c_str(), "--x", path("x.npy").c_str(), "--y",
              path("y.npy").c_str(), "--out", path("out.safetensors").c_str(), "--checkpoint",
              checkpoint.c_str(), "--resume", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (temporary_file().empty() && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int>(rng.uniform() * 5000)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
    // The torn temporary file the kill left, as a crash leaves it.
    if (const std::string torn = temporary_file(); !torn.empty()) {
      ++kills_mid_write;
      fs::remove(torn);
    }
    EXPECT_EQ(lstm::Sequential::load(checkpoint).parameter_count(), model.parameter_count());
    const auto info = lstm("info --model " + quoted(checkpoint));
    EXPECT_EQ(info.exit_code, 0) << info.err;
  }
  // The test means something only if kills landed mid-write.
  EXPECT_GE(kills_mid_write, kRounds / 2);
  std::cout << "killed mid-write in " << kills_mid_write << " of " << kRounds << " rounds\n";
}

}  // namespace
