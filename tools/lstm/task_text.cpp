// --task text: a character-level language model. Being written; see issue 4.
#include "tasks.h"

namespace lstm::cli {

void train_text(const TrainCommandOptions&) { throw Error("--task text is not available yet"); }
void evaluate_text(const EvaluateCommandOptions&, TaskModel&) {
  throw Error("text models cannot be evaluated yet");
}

}  // namespace lstm::cli
