// --task classify: labelling texts. Being written; see issue 4.
#include "tasks.h"

namespace lstm::cli {

void train_classifier(const TrainCommandOptions&) {
  throw Error("--task classify is not available yet");
}
void evaluate_classifier(const EvaluateCommandOptions&, TaskModel&) {
  throw Error("classifiers cannot be evaluated yet");
}

}  // namespace lstm::cli
