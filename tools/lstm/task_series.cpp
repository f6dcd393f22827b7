// --task series. Being written.
#include "tasks.h"

namespace lstm::cli {

void train_series(const TrainCommandOptions&) { throw Error("--task series is not available yet"); }
void evaluate_series(const EvaluateCommandOptions&, TaskModel&) { throw Error("not yet"); }
void forecast_series(const std::string&, const std::string&, int64_t) { throw Error("not yet"); }

}  // namespace lstm::cli
