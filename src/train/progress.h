// The progress line of fit (FitOptions::verbose). On a terminal, verbose 1 redraws a bar in
// place, Keras-like:
//
//     Epoch 3/20
//     12/32 [=========>....................] - ETA: 1s - loss: 0.01234 - rmse: 0.1111
//
// ending as "32/32 [==============================] - 1s 45ms/step - loss: ... - val_loss: ...".
// Otherwise (verbose 2, or output not a terminal) each epoch is one line:
//
//     Epoch 3/20 - 32/32 - 1s 45ms/step - loss: 0.01234 - rmse: 0.1111 - val_loss: 0.02
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "lstm/train.h"

namespace lstm {

class Progress {
 public:
  Progress(std::ostream& out, bool terminal, int verbose);

  void begin_epoch(int64_t epoch, int64_t epochs, int64_t batches);
  // After each batch, with the running means so far in the epoch.
  void end_batch(int64_t batches_done, const EpochLogs& running);
  // The epoch's final numbers ("lr" is not shown).
  void end_epoch(const EpochLogs& logs);
  // A line of its own (a skipped batch, say), shown unless verbose is 0.
  void note(const std::string& line);

 private:
  using Clock = std::chrono::steady_clock;
  // "[=========>....................]"
  std::string bar(int64_t done) const;
  // " - loss: 0.01234 - rmse: 0.1111"
  static std::string numbers(const EpochLogs& logs);

  std::ostream& out_;
  bool redraw_;  // a bar redrawn in place
  int verbose_;
  int64_t epoch_ = 0, epochs_ = 0, batches_ = 0, batches_done_ = 0;
  Clock::time_point epoch_start_, last_draw_;
  bool line_open_ = false;  // a bar is on the current line
};

}  // namespace lstm
