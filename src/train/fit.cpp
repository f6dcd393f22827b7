// Sequential::compile, fit and evaluate: the training loop of include/lstm/train.h.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <numeric>
#include <span>

#include "lstm/model.h"
#include "train/checkpoint.h"
#include "train/progress.h"
#include "train/training.h"

namespace lstm {

namespace {

// Rows `indices` of t along its first dimension: (indices.size(), ...).
Tensor gather_rows(const Tensor& t, std::span<const int64_t> indices) {
  Shape shape = t.shape();
  const int64_t row_size = t.numel() / shape[0];
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out(shape);
  for (std::size_t i = 0; i < indices.size(); ++i)
    std::memcpy(out.data() + static_cast<int64_t>(i) * row_size, t.data() + indices[i] * row_size,
                static_cast<std::size_t>(row_size) * sizeof(float));
  return out;
}

std::vector<int64_t> gather(const std::vector<int64_t>& values, std::span<const int64_t> indices) {
  std::vector<int64_t> out;
  if (values.empty()) return out;
  for (const int64_t i : indices) out.push_back(values[static_cast<std::size_t>(i)]);
  return out;
}

std::vector<int64_t> iota(int64_t begin, int64_t end) {
  std::vector<int64_t> out(static_cast<std::size_t>(end - begin));
  std::iota(out.begin(), out.end(), begin);
  return out;
}

// Fisher–Yates with the fit's generator: for i from n−1 down to 1, swap item i with a uniformly
// chosen j ≤ i (j = u mod (i+1) for a 64-bit draw u, whose bias, below (i+1)/2⁶⁴, is nil for
// any real sample count).
void shuffle(std::vector<int64_t>& items, Rng& rng) {
  for (std::size_t i = items.size(); i-- > 1;) std::swap(items[i], items[rng.next_u64() % (i + 1)]);
}

// Checks the samples of a data set: as many in y as in x, lengths (if any) one per sample, each
// in [1, T].
void check_dataset(const Tensor& x, const Tensor& y, const std::vector<int64_t>& lengths,
                   const std::string& what) {
  if (x.rank() < 1 || y.rank() < 1 || x.numel() == 0)
    throw Error(what + ": x and y must hold samples along their first dimension, got x " +
                x.shape_string() + " and y " + y.shape_string());
  if (x.dim(0) != y.dim(0))
    throw Error(what + ": x has " + std::to_string(x.dim(0)) + " samples " + x.shape_string() +
                " but y has " + std::to_string(y.dim(0)) + " samples " + y.shape_string());
  if (lengths.empty()) return;
  if (static_cast<int64_t>(lengths.size()) != x.dim(0))
    throw Error(what + ": " + std::to_string(lengths.size()) + " lengths for " +
                std::to_string(x.dim(0)) + " samples");
  const int64_t steps = x.rank() >= 2 ? x.dim(1) : 1;
  for (std::size_t i = 0; i < lengths.size(); ++i)
    if (lengths[i] < 1 || lengths[i] > steps)
      throw Error(what + ": length " + std::to_string(lengths[i]) + " of sample " +
                  std::to_string(i) + " is outside [1, " + std::to_string(steps) + "]");
}

// The name of the first parameter whose gradient holds a NaN or an infinity, or "".
std::string first_nonfinite_gradient(const std::vector<ParameterRef>& parameters) {
  for (const ParameterRef& p : parameters)
    for (const float g : *p.grad)
      if (!std::isfinite(g)) return p.name;
  return "";
}

bool is_terminal(std::ostream& out) {
  if (&out == &std::cerr) return ::isatty(STDERR_FILENO) == 1;
  if (&out == &std::cout) return ::isatty(STDOUT_FILENO) == 1;
  return false;
}

// The running loss and metrics of a pass over batches.
class Totals {
 public:
  Totals(const std::vector<Metric>& metrics, int64_t ignore_index) {
    for (const Metric m : metrics) accumulators_.emplace_back(m, ignore_index);
  }
  void add(double loss, int64_t batch_samples, const Tensor& prediction, const Tensor& target) {
    loss_sum_ += loss * static_cast<double>(batch_samples);
    samples_ += batch_samples;
    for (auto& a : accumulators_) a.add(prediction, target);
  }
  // {"loss": Σ loss·samples / Σ samples, "<metric>": ...}, each name after `prefix`.
  EpochLogs logs(const std::string& prefix = "") const {
    EpochLogs out;
    out[prefix + "loss"] = samples_ > 0 ? loss_sum_ / static_cast<double>(samples_)
                                        : std::numeric_limits<double>::quiet_NaN();
    for (const auto& a : accumulators_) out[prefix + metric_name(a.metric())] = a.value();
    return out;
  }

 private:
  double loss_sum_ = 0.0;
  int64_t samples_ = 0;
  std::vector<MetricAccumulator> accumulators_;
};

}  // namespace

void Sequential::compile(Loss loss, const Optimizer& optimizer, std::vector<Metric> metrics,
                         const CompileOptions& options) {
  if (options.clip_norm < 0.0 || options.clip_value < 0.0)
    throw Error("compile: clip_norm and clip_value must be ≥ 0 (0: no clipping)");
  auto training = std::make_unique<Training>();
  training->loss = loss;
  training->optimizer = optimizer.clone();
  training->metrics = std::move(metrics);
  training->options = options;
  training_ = std::move(training);
}

Optimizer& Sequential::optimizer() {
  if (!training_) throw Error("the model is not compiled: call compile(loss, optimizer) first");
  return *training_->optimizer;
}

EpochLogs Sequential::evaluate(const Tensor& x, const Tensor& y, int64_t batch_size,
                               const std::vector<int64_t>& lengths) {
  if (!training_) throw Error("evaluate: the model is not compiled: call compile(loss, optimizer) first");
  if (batch_size < 1) throw Error("evaluate: batch_size must be ≥ 1, got " + std::to_string(batch_size));
  check_dataset(x, y, lengths, "evaluate");
  Totals totals(training_->metrics, training_->options.loss_options.ignore_index);
  for (int64_t begin = 0; begin < x.dim(0); begin += batch_size) {
    const std::vector<int64_t> rows = iota(begin, std::min(begin + batch_size, x.dim(0)));
    const std::vector<int64_t> batch_lengths = gather(lengths, rows);
    const Tensor target = gather_rows(y, rows);
    const Tensor prediction = forward(
        gather_rows(x, rows),
        ForwardContext{.training = false, .lengths = lengths.empty() ? nullptr : &batch_lengths});
    const LossResult loss =
        compute_loss(training_->loss, prediction, target, training_->options.loss_options);
    totals.add(loss.value, static_cast<int64_t>(rows.size()), prediction, target);
  }
  return totals.logs();
}

History Sequential::fit(const Tensor& x, const Tensor& y, const FitOptions& options) {
  if (!training_) throw Error("fit: the model is not compiled: call compile(loss, optimizer) first");
  if (options.epochs < 1) throw Error("fit: epochs must be ≥ 1, got " + std::to_string(options.epochs));
  if (options.batch_size < 1)
    throw Error("fit: batch_size must be ≥ 1, got " + std::to_string(options.batch_size));
  if (!(options.validation_split >= 0.0 && options.validation_split < 1.0))
    throw Error("fit: validation_split must be in [0, 1), got " +
                std::to_string(options.validation_split));
  if (options.validation_split > 0.0 && options.validation_data)
    throw Error("fit: give validation_split or validation_data, not both");
  if (options.verbose < 0 || options.verbose > 2)
    throw Error("fit: verbose must be 0, 1 or 2, got " + std::to_string(options.verbose));
  check_dataset(x, y, options.lengths, "fit");
  Training& training = *training_;
  Optimizer& optimizer = *training.optimizer;
  const LossOptions& loss_options = training.options.loss_options;

  // As Keras: the last ⌊N·split⌋... samples validate, split off before any shuffling; the
  // training part is the first ⌊N·(1 − split)⌋.
  const int64_t samples = x.dim(0);
  const auto train_samples = options.validation_split > 0.0
                                 ? static_cast<int64_t>(std::floor(
                                       static_cast<double>(samples) * (1.0 - options.validation_split)))
                                 : samples;
  if (train_samples < 1 || (options.validation_split > 0.0 && train_samples == samples))
    throw Error("fit: validation_split " + std::to_string(options.validation_split) + " of " +
                std::to_string(samples) + " samples leaves " + std::to_string(train_samples) +
                " for training and " + std::to_string(samples - train_samples) +
                " for validation; both need at least one");
  std::optional<Dataset> validation = options.validation_data;
  if (options.validation_split > 0.0) {
    const std::vector<int64_t> rows = iota(train_samples, samples);
    validation = Dataset{gather_rows(x, rows), gather_rows(y, rows), gather(options.lengths, rows)};
  }
  if (validation) check_dataset(validation->x, validation->y, validation->lengths, "fit: validation data");

  std::vector<std::string> logged_names{"loss"};
  for (const Metric m : training.metrics) logged_names.push_back(metric_name(m));
  if (validation) {
    const std::size_t trained = logged_names.size();
    for (std::size_t i = 0; i < trained; ++i) logged_names.push_back("val_" + logged_names[i]);
  }
  logged_names.push_back("lr");

  Rng rng(options.seed);
  History history;
  int64_t first_epoch = 0;
  std::vector<Callback*> callbacks;
  for (const CallbackHandle& handle : options.callbacks) callbacks.push_back(&*handle);

  // Everything a checkpoint holds, as it is at the end of the current epoch.
  auto checkpoint_state = [&](int64_t epochs_done) {
    CheckpointState state{.epochs_done = epochs_done,
                          .optimizer_name = optimizer.name(),
                          .optimizer = optimizer.state(),
                          .rng = rng.state(),
                          .history = history,
                          .callbacks = {},
                          .train_samples = train_samples,
                          .batch_size = options.batch_size,
                          .shuffle = options.shuffle};
    for (const Callback* c : callbacks) state.callbacks.emplace_back(c->name(), c->state());
    return state;
  };

  TrainingState state{*this, optimizer};
  state.epochs = options.epochs;
  state.logged_names = logged_names;
  if (!options.resume_from.empty()) {
    const std::string& path = options.resume_from;
    CheckpointState saved = read_checkpoint(*this, path);
    if (saved.optimizer_name != optimizer.name())
      throw Error(path + ": the checkpoint's optimizer is " + saved.optimizer_name +
                  ", the model is compiled with " + optimizer.name());
    if (saved.train_samples != train_samples || saved.batch_size != options.batch_size ||
        saved.shuffle != options.shuffle)
      throw Error(path + ": the checkpoint was trained on " + std::to_string(saved.train_samples) +
                  " samples in batches of " + std::to_string(saved.batch_size) +
                  (saved.shuffle ? ", shuffled" : ", in order") + "; this fit has " +
                  std::to_string(train_samples) + " in batches of " +
                  std::to_string(options.batch_size) + (options.shuffle ? ", shuffled" : ", in order") +
                  ", so it cannot go on from there");
    if (saved.callbacks.size() != callbacks.size())
      throw Error(path + ": the checkpoint has " + std::to_string(saved.callbacks.size()) +
                  " callbacks, this fit " + std::to_string(callbacks.size()));
    for (std::size_t i = 0; i < callbacks.size(); ++i) {
      if (saved.callbacks[i].first != callbacks[i]->name())
        throw Error(path + ": callback " + std::to_string(i) + " is " + saved.callbacks[i].first +
                    " in the checkpoint but " + callbacks[i]->name() + " in this fit");
      callbacks[i]->load_state(saved.callbacks[i].second);
    }
    optimizer.load_state(saved.optimizer);
    rng.set_state(saved.rng);
    history = saved.history;
    first_epoch = saved.epochs_done;
    state.resumed = true;
  }
  state.save_checkpoint = [&](const std::string& path) {
    write_checkpoint(*this, path, checkpoint_state(state.epoch + 1));
  };

  std::ostream& out = options.progress_stream ? *options.progress_stream : std::cerr;
  Progress progress(out, options.progress_is_terminal.value_or(is_terminal(out)), options.verbose);
  for (Callback* c : callbacks) c->on_train_begin(state);

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto out_of_time = [&] {
    return options.max_seconds > 0.0 &&
           std::chrono::duration<double>(Clock::now() - start).count() >= options.max_seconds;
  };
  const int64_t batches = (train_samples + options.batch_size - 1) / options.batch_size;
  std::vector<ParameterRef> params = parameters();

  for (int64_t epoch = first_epoch; epoch < options.epochs && !state.stop_training; ++epoch) {
    state.epoch = epoch;
    const double lr = optimizer.lr();
    std::vector<int64_t> order = iota(0, train_samples);
    if (options.shuffle) shuffle(order, rng);
    progress.begin_epoch(epoch, options.epochs, batches);
    Totals totals(training.metrics, loss_options.ignore_index);
    bool time_is_up = false;

    for (int64_t batch = 0; batch < batches && !time_is_up; ++batch) {
      const std::span<const int64_t> rows(
          order.data() + batch * options.batch_size,
          static_cast<std::size_t>(std::min(options.batch_size, train_samples - batch * options.batch_size)));
      const std::vector<int64_t> batch_lengths = gather(options.lengths, rows);
      const Tensor target = gather_rows(y, rows);
      zero_grad();
      const Tensor prediction = forward(
          gather_rows(x, rows),
          ForwardContext{.training = true,
                         .lengths = options.lengths.empty() ? nullptr : &batch_lengths,
                         .rng = &rng});
      const LossResult loss = compute_loss(training.loss, prediction, target, loss_options);
      backward(loss.grad);

      // A NaN or an infinity stops training (or skips the batch) before it reaches the weights.
      std::string problem;
      if (!std::isfinite(loss.value)) {
        problem = "the loss is " + std::to_string(loss.value);
      } else if (const std::string bad = first_nonfinite_gradient(params); !bad.empty()) {
        problem = "the gradient of " + bad + " is not finite";
      }
      if (!problem.empty()) {
        const std::string where = "epoch " + std::to_string(epoch + 1) + "/" +
                                  std::to_string(options.epochs) + ", batch " +
                                  std::to_string(batch + 1) + "/" + std::to_string(batches);
        if (options.on_nonfinite == NonFinitePolicy::stop)
          throw NonFiniteError(where + ": " + problem +
                                   "; training stopped, the weights are those from before this "
                                   "batch and the last checkpoint written is kept",
                               epoch, batch);
        progress.note("warning: " + where + ": " + problem + "; batch skipped");
      } else {
        if (training.options.clip_norm > 0.0) clip_grad_norm(params, training.options.clip_norm);
        if (training.options.clip_value > 0.0) clip_grad_value(params, training.options.clip_value);
        optimizer.step(params);
        totals.add(loss.value, static_cast<int64_t>(rows.size()), prediction, target);
      }
      progress.end_batch(batch + 1, totals.logs());
      time_is_up = out_of_time();
    }

    EpochLogs logs = totals.logs();
    if (validation)
      for (const auto& [name, value] : evaluate(validation->x, validation->y, options.batch_size,
                                                validation->lengths))
        logs["val_" + name] = value;
    logs["lr"] = lr;
    state.logs = logs;
    history.epochs.push_back(epoch);
    for (const auto& [name, value] : logs) history.values[name].push_back(value);
    if (time_is_up) {
      state.stop_training = true;
      char limit[32];  // 600 s, 1.5 s: the shortest decimal form
      std::snprintf(limit, sizeof limit, "%g", options.max_seconds);
      state.stop_reason = std::string("the time limit of ") + limit + " s was reached in epoch " +
                          std::to_string(epoch + 1);
    }
    for (Callback* c : callbacks) c->on_epoch_end(state);
    for (Callback* c : callbacks) c->record_epoch(state);
    progress.end_epoch(logs);
  }
  history.stop_reason = state.stop_reason;
  for (Callback* c : callbacks) c->on_train_end(state);
  if (!state.stop_reason.empty()) progress.note("training stopped: " + state.stop_reason);
  return history;
}

const std::vector<double>& History::operator[](const std::string& key) const {
  const auto found = values.find(key);
  if (found != values.end()) return found->second;
  std::string names;
  for (const auto& [name, _] : values) names += (names.empty() ? "" : ", ") + name;
  throw Error("History: nothing logged as \"" + key + "\" (logged: " + names + ")");
}

}  // namespace lstm
