// What the tasks share: task model files and the optimizer from the flags.
#include <cstdio>
#include <fstream>

#include "tasks.h"

namespace lstm::cli {

TaskModel load_task_model(const std::string& path, const std::string& expected_task) {
  const SafetensorsFile file = read_safetensors(path);
  const auto task = file.metadata.find("task");
  const auto config = file.metadata.find("task_config");
  if (task == file.metadata.end() || config == file.metadata.end())
    throw Error(path + ": not a model trained by `lstm train` (its metadata has no task); "
                       "`lstm run` runs any model on arrays");
  if (!expected_task.empty() && task->second != expected_task)
    throw Error(path + ": a model for --task " + task->second + ", not " + expected_task);
  return {Sequential::load(path), task->second, config->second, file.metadata};
}

void save_task_model(Sequential& model, const std::string& path, const std::string& task,
                     const std::string& config) {
  model.save(path, {{"task", task}, {"task_config", config}});
}

std::string file_fingerprint(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(path + ": cannot open");
  // FNV-1a: h = (h ⊕ byte) · 1099511628211, from 14695981039346656037.
  uint64_t hash = 14695981039346656037ull;
  uint64_t size = 0;
  char chunk[1 << 16];
  while (file.read(chunk, sizeof chunk) || file.gcount() > 0) {
    for (std::streamsize i = 0; i < file.gcount(); ++i) {
      hash ^= static_cast<unsigned char>(chunk[i]);
      hash *= 1099511628211ull;
    }
    size += static_cast<uint64_t>(file.gcount());
  }
  char text[64];
  std::snprintf(text, sizeof text, "%llu:%016llx", static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(hash));
  return text;
}

std::unique_ptr<Optimizer> make_task_optimizer(const TrainCommandOptions& options, double default_lr) {
  const double lr = options.lr.value_or(default_lr);
  if (options.optimizer == "adam") return std::make_unique<Adam>(AdamOptions{.lr = lr});
  if (options.optimizer == "adamw") return std::make_unique<AdamW>(AdamWOptions{.lr = lr});
  if (options.optimizer == "rmsprop") return std::make_unique<RMSprop>(RMSpropOptions{.lr = lr});
  if (options.optimizer == "adagrad") return std::make_unique<Adagrad>(AdagradOptions{.lr = lr});
  return std::make_unique<SGD>(SGDOptions{.lr = lr, .momentum = 0.9});  // checked by the flag
}

}  // namespace lstm::cli
