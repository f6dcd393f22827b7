#include "train/progress.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace lstm {

namespace {

constexpr int kBarWidth = 30;
// Redraws of the bar at most this often.
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

// "850ms", "12s", "3m05s"
std::string duration_text(double seconds) {
  std::ostringstream text;
  if (seconds < 1.0) {
    text << std::lround(seconds * 1000.0) << "ms";
  } else if (seconds < 60.0) {
    text << std::lround(seconds) << "s";
  } else {
    const long total = std::lround(seconds);
    text << total / 60 << "m" << std::setw(2) << std::setfill('0') << total % 60 << "s";
  }
  return text.str();
}

}  // namespace

Progress::Progress(std::ostream& out, bool terminal, int verbose)
    : out_(out), redraw_(terminal && verbose == 1), verbose_(verbose) {}

std::string Progress::bar(int64_t done) const {
  const int64_t filled = batches_ > 0 ? done * kBarWidth / batches_ : kBarWidth;
  std::string text = "[";
  for (int64_t i = 0; i < kBarWidth; ++i)
    text += i < filled ? '=' : (i == filled && done < batches_ ? '>' : '.');
  return text + "]";
}

std::string Progress::numbers(const EpochLogs& logs) {
  std::ostringstream text;
  text << std::setprecision(4);
  // The loss, then the metrics; the training numbers, then the validation ones, as Keras shows
  // them.
  for (const std::string prefix : {"", "val_"}) {
    if (const auto loss = logs.find(prefix + "loss"); loss != logs.end())
      text << " - " << loss->first << ": " << loss->second;
    for (const auto& [name, value] : logs)
      if (name != "lr" && name != prefix + "loss" && name.starts_with("val_") == !prefix.empty())
        text << " - " << name << ": " << value;
  }
  return text.str();
}

void Progress::begin_epoch(int64_t epoch, int64_t epochs, int64_t batches) {
  epoch_ = epoch;
  epochs_ = epochs;
  batches_ = batches;
  batches_done_ = 0;
  epoch_start_ = last_draw_ = Clock::now();
  if (redraw_) out_ << "Epoch " << epoch + 1 << "/" << epochs << '\n' << std::flush;
}

void Progress::end_batch(int64_t batches_done, const EpochLogs& running) {
  batches_done_ = batches_done;
  if (!redraw_) return;
  const auto now = Clock::now();
  if (now - last_draw_ < kRedrawInterval && batches_done < batches_) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - epoch_start_).count();
  const double eta = elapsed / static_cast<double>(batches_done) *
                     static_cast<double>(batches_ - batches_done);
  out_ << "\r\x1b[K" << batches_done << "/" << batches_ << " " << bar(batches_done)
       << " - ETA: " << duration_text(eta) << numbers(running) << std::flush;
  line_open_ = true;
}

void Progress::end_epoch(const EpochLogs& logs) {
  if (verbose_ == 0) return;
  const double elapsed = std::chrono::duration<double>(Clock::now() - epoch_start_).count();
  const double per_step = batches_done_ > 0 ? elapsed / static_cast<double>(batches_done_) : 0.0;
  const std::string timing = duration_text(elapsed) + " " + duration_text(per_step) + "/step";
  if (redraw_)
    out_ << "\r\x1b[K" << batches_done_ << "/" << batches_ << " " << bar(batches_done_) << " - "
         << timing << numbers(logs) << '\n';
  else
    out_ << "Epoch " << epoch_ + 1 << "/" << epochs_ << " - " << batches_done_ << "/" << batches_
         << " - " << timing << numbers(logs) << '\n';
  out_ << std::flush;
  line_open_ = false;
}

void Progress::note(const std::string& line) {
  if (verbose_ == 0) return;
  if (line_open_) out_ << '\n';
  line_open_ = false;
  out_ << line << '\n' << std::flush;
}

}  // namespace lstm
