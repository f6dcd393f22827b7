// lstm bench: times the library's recurrent layers (lstm::Recurrent through the public API) on
// random data, one configuration from the flags or a list of them from a suite file.
//
//   infer: forward_sequence(x) with training = false
//   train: forward_sequence(x) with training = true, then backward_sequence(dy)
//
// Each configuration is warmed up, then run again and again for at least --min-time seconds (and
// at least --min-repeats times); the reported time is the median of those runs. GFLOP/s counts
// the multiply-adds of the gate products only: 8·T·B·H·(I_l + H) per layer and forward pass for
// an LSTM, 6·T·B·H·(I_l + H) for a GRU (I_l = I for the first layer, H after it), three times
// that for forward + backward. Peak memory is the process's peak resident set (getrusage),
// reset before each configuration where Linux allows it (/proc/self/clear_refs).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "kernels/kernels.h"
#include "lstm/threads.h"
#include "lstm/lstm.h"

namespace lstm::cli {

namespace {

struct BenchConfig {
  std::string name;
  int64_t input = 0, hidden = 0, batch = 0, steps = 0;
};

struct BenchOptions {
  BenchConfig single;
  std::string suite;
  std::string mode = "infer";
  std::string cell = "lstm";
  int64_t layers = 1;
  int threads = 0;  // 0: the library's default
  double min_time = 1.0;
  int min_repeats = 3;
  uint64_t seed = 0;
  bool json = false;
  bool bf16 = false;  // inference with bf16 weights (ForwardContext::bf16_weights)
  bool freeze = false;  // inference with the weights frozen (Recurrent::freeze_weights)
};

struct BenchResult {
  BenchConfig config;
  std::string mode;
  double ms = 0, ms_min = 0, ms_max = 0;
  double forward_ms = 0, backward_ms = 0;  // train: medians of the two parts of a run
  int repeats = 0;
  double faults_per_run = 0;  // minor page faults per timed run (memory mapped afresh)
  double gflop = 0;           // floating-point work of one run, 10⁹
  double peak_rss_mb = 0;     // peak resident set while this configuration ran
  double rss_before_mb = 0;   // resident set before its tensors were allocated
  double activations_mb = 0;  // train: what forward keeps for backward (docs/performance.md)
  int threads_used = 0;       // the threads the layer ran on (Recurrent::threads_used)
  bool peak_is_per_config = false;
};

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

// Resets the kernel's peak-RSS mark of this process to the current RSS (Linux ≥ 4.0); false
// where that is not possible, and then the peak is the process's since it started.
bool reset_peak_rss() {
  std::ofstream clear("/proc/self/clear_refs");
  if (!clear) return false;
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

double current_rss_mb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return mib(static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)));
}

// Minor page faults of this process so far: first touches of freshly mapped memory.
long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

// Multiply-add work of the gate products of one forward pass (see the top of this file).
double forward_flop(const BenchOptions& o, const BenchConfig& c) {
  const double per_gate = o.cell == "gru" ? 6.0 : 8.0;
  double flop = 0;
  for (int64_t layer = 0; layer < o.layers; ++layer) {
    const double in = static_cast<double>(layer == 0 ? c.input : c.hidden);
    flop += per_gate * static_cast<double>(c.steps) * static_cast<double>(c.batch) *
            static_cast<double>(c.hidden) * (in + static_cast<double>(c.hidden));
  }
  return flop;
}

// Bytes a training forward pass keeps for backward (src/nn/recurrent.cpp's traces), one
// direction, no projection: per layer its input (T·B·I_l), the activated gates (T·B·G·H), the
// entering state h_prev (T·B·H), and c_t (T·B·H) and the cell entering the first step (B·H) for
// an LSTM or W_hn h + b_hn (T·B·H) for a GRU.
double activation_bytes(const BenchOptions& o, const BenchConfig& c) {
  const double tb = static_cast<double>(c.steps) * static_cast<double>(c.batch);
  const double h = static_cast<double>(c.hidden);
  const bool gru = o.cell == "gru";
  const double per_step_state = gru ? (3 + 1 + 1) * h : (4 + 1 + 1) * h;
  const double c_first = gru ? 0.0 : static_cast<double>(c.batch) * h;
  double floats = 0;
  for (int64_t layer = 0; layer < o.layers; ++layer)
    floats += tb * (static_cast<double>(layer == 0 ? c.input : c.hidden) + per_step_state) + c_first;
  return 4.0 * floats;
}

Tensor random_tensor(Shape shape, Rng& rng) {
  Tensor t(std::move(shape));
  for (float& v : t) v = rng.uniform(-1.0f, 1.0f);
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

BenchResult run_one(const BenchOptions& o, const BenchConfig& c, const std::string& mode) {
  BenchResult r;
  r.config = c;
  r.mode = mode;
  r.peak_is_per_config = reset_peak_rss();
  r.rss_before_mb = current_rss_mb();

  Rng rng(o.seed);
  Recurrent layer(RecurrentConfig{.cell = o.cell == "gru" ? CellType::gru : CellType::lstm,
                                  .input_size = c.input,
                                  .hidden_size = c.hidden,
                                  .num_layers = o.layers});
  layer.reset_parameters(rng);
  const Tensor x = random_tensor({c.batch, c.steps, c.input}, rng);
  const bool train = mode == "train";
  if (o.freeze && !train) layer.freeze_weights();
  r.threads_used = layer.threads_used(c.batch);
  const Tensor dy = train ? random_tensor({c.batch, c.steps, c.hidden}, rng) : Tensor();

  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  volatile float sink = 0;  // keeps the results observable
  double forward_ms = 0;    // of the last run, train mode: the forward part
  const auto once = [&] {
    ForwardContext ctx;
    ctx.training = train;
    ctx.bf16_weights = o.bf16;
    const Clock::time_point t0 = Clock::now();
    RecurrentResult out = layer.forward_sequence(x, nullptr, nullptr, ctx);
    if (train) {
      forward_ms = seconds(Clock::now() - t0) * 1e3;
      RecurrentGradients g = layer.backward_sequence(dy);
      sink = sink + g.d_input[0];
    } else {
      sink = sink + out.output[0];
    }
  };
  // Warm-up: at least one run and a fifth of --min-time (at most 0.2 s), so that caches, page
  // tables and the clock frequency have settled.
  const double warm_time = std::min(0.2, o.min_time / 5);
  const Clock::time_point warm_start = Clock::now();
  do once();
  while (seconds(Clock::now() - warm_start) < warm_time);

  std::vector<double> times, forward_times;
  const long faults_before = minor_faults();
  const Clock::time_point start = Clock::now();
  while (static_cast<int>(times.size()) < o.min_repeats ||
         seconds(Clock::now() - start) < o.min_time) {
    const Clock::time_point t0 = Clock::now();
    once();
    times.push_back(seconds(Clock::now() - t0) * 1e3);
    forward_times.push_back(forward_ms);
  }
  r.repeats = static_cast<int>(times.size());
  r.faults_per_run = static_cast<double>(minor_faults() - faults_before) / r.repeats;
  r.ms = median(times);
  if (train) {
    // Medians of the two parts of the runs (they need not add up to the median run).
    r.forward_ms = median(forward_times);
    r.backward_ms = median([&] {
      std::vector<double> backward(times.size());
      for (std::size_t i = 0; i < times.size(); ++i) backward[i] = times[i] - forward_times[i];
      return backward;
    }());
  }
  r.ms_min = *std::min_element(times.begin(), times.end());
  r.ms_max = *std::max_element(times.begin(), times.end());
  r.gflop = forward_flop(o, c) * (train ? 3.0 : 1.0) / 1e9;
  r.activations_mb = train ? mib(activation_bytes(o, c)) : 0.0;
  r.peak_rss_mb = peak_rss_mb();
  return r;
}

// Suite file: one configuration per line, "name input hidden batch steps"; '#' starts a comment.
std::vector<BenchConfig> read_suite(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open the suite file");
  std::vector<BenchConfig> configs;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (const std::size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    BenchConfig c;
    if (!(fields >> c.name)) continue;  // blank or comment only
    std::string extra;
    if (!(fields >> c.input >> c.hidden >> c.batch >> c.steps) || (fields >> extra))
      throw Error(path + ":" + std::to_string(number) +
                  ": expected 'name input hidden batch steps' (four whole numbers after the "
                  "name), got '" + line + "'");
    if (c.input < 1 || c.hidden < 1 || c.batch < 1 || c.steps < 1)
      throw Error(path + ":" + std::to_string(number) + ": sizes must be ≥ 1, got '" + line +
                  "'");
    configs.push_back(c);
  }
  if (configs.empty()) throw Error(path + ": no configurations in the suite file");
  return configs;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

// v rounded to `decimals` places, so that the JSON does not print float noise.
double rounded(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

nlohmann::ordered_json to_json(const BenchOptions& o, const BenchResult& r) {
  nlohmann::ordered_json j;
  j["name"] = r.config.name;
  j["cell"] = o.cell;
  j["mode"] = r.mode;
  j["input"] = r.config.input;
  j["hidden"] = r.config.hidden;
  j["batch"] = r.config.batch;
  j["steps"] = r.config.steps;
  j["layers"] = o.layers;
  j["threads"] = num_threads();
  j["threads_used"] = r.threads_used;
  j["isa"] = kernels::isa_name(kernels::active_isa());
  j["bf16"] = o.bf16 && r.mode == "infer" && kernels::bf16_supported();
  j["frozen"] = o.freeze && r.mode == "infer";
  j["ms"] = rounded(r.ms, 6);
  j["ms_min"] = rounded(r.ms_min, 6);
  j["ms_max"] = rounded(r.ms_max, 6);
  if (r.mode == "train") {
    j["forward_ms"] = rounded(r.forward_ms, 6);
    j["backward_ms"] = rounded(r.backward_ms, 6);
  }
  j["repeats"] = r.repeats;
  j["page_faults_per_run"] = rounded(r.faults_per_run, 1);
  j["gflop"] = rounded(r.gflop, 9);
  j["gflops"] = rounded(r.gflop / (r.ms * 1e-3), 3);
  j["peak_rss_mb"] = rounded(r.peak_rss_mb, 3);
  j["rss_before_mb"] = rounded(r.rss_before_mb, 3);
  j["activations_mb"] = rounded(r.activations_mb, 3);
  j["peak_rss_per_config"] = r.peak_is_per_config;
  return j;
}

void print_table_header() {
  std::cout << std::left << std::setw(22) << "name" << std::right << std::setw(5) << "cell"
            << std::setw(6) << "mode" << std::setw(6) << "I" << std::setw(6) << "H"
            << std::setw(5) << "B" << std::setw(6) << "T" << std::setw(3) << "L" << std::setw(8)
            << "threads" << std::setw(11) << "ms(median)" << std::setw(10) << "ms(min)"
            << std::setw(6) << "runs" << std::setw(9) << "GFLOP/s" << std::setw(10)
            << "peak MiB" << '\n';
}

void print_table_row(const BenchOptions& o, const BenchResult& r) {
  const BenchConfig& c = r.config;
  std::cout << std::left << std::setw(22) << c.name << std::right << std::setw(5) << o.cell
            << std::setw(6) << r.mode << std::setw(6) << c.input << std::setw(6) << c.hidden
            << std::setw(5) << c.batch << std::setw(6) << c.steps << std::setw(3) << o.layers
            << std::setw(8)
            << (std::to_string(num_threads()) + "/" + std::to_string(r.threads_used))
            << std::setw(11) << fixed(r.ms, 3) << std::setw(10) << fixed(r.ms_min, 3)
            << std::setw(6) << r.repeats << std::setw(9) << fixed(r.gflop / (r.ms * 1e-3), 2)
            << std::setw(10) << fixed(r.peak_rss_mb, 1) << '\n'
            << std::flush;
}

void bench(const BenchOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  std::vector<BenchConfig> configs;
  if (!o.suite.empty()) {
    configs = read_suite(o.suite);
  } else {
    BenchConfig c = o.single;
    if (c.input < 1 || c.hidden < 1 || c.batch < 1 || c.steps < 1)
      throw Error("bench: --input, --hidden, --batch and --steps are required (each ≥ 1), or "
                  "--suite FILE");
    if (c.name.empty())
      c.name = o.cell + "-i" + std::to_string(c.input) + "-h" + std::to_string(c.hidden) + "-b" +
               std::to_string(c.batch) + "-t" + std::to_string(c.steps);
    configs.push_back(c);
  }
  const std::vector<std::string> modes =
      o.mode == "both" ? std::vector<std::string>{"infer", "train"}
                       : std::vector<std::string>{o.mode};
  if (!o.json) {
    std::cout << "lstm bench: " << kernels::isa_name(kernels::active_isa())
              << " kernels, threads requested/used; median of runs over >= " << o.min_time
              << " s after warm-up\n";
    print_table_header();
  }
  for (const BenchConfig& c : configs)
    for (const std::string& mode : modes) {
      const BenchResult r = run_one(o, c, mode);
      if (o.json)
        std::cout << to_json(o, r).dump() << '\n' << std::flush;
      else
        print_table_row(o, r);
    }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* command = app.add_subcommand(
      "bench", "Time the library's LSTM/GRU layers on random data (forward, or forward+backward)");
  auto* suite = command
                    ->add_option("--suite", o->suite,
                                 "Run every configuration of a suite file instead: one per "
                                 "line, 'name input hidden batch steps', '#' starts a comment "
                                 "(e.g. data/bench_suite.txt)")
                    ->type_name("FILE");
  const auto size_option = [&](const char* flag, int64_t& value, const char* what) {
    command->add_option(flag, value, what)
        ->type_name("N")
        ->check(CLI::PositiveNumber)
        ->excludes(suite);
  };
  size_option("--input", o->single.input, "Input features I (required without --suite)");
  size_option("--hidden", o->single.hidden, "Hidden units H (required without --suite)");
  size_option("--batch", o->single.batch, "Batch size B (required without --suite)");
  size_option("--steps", o->single.steps, "Time steps T (required without --suite)");
  command
      ->add_option("--name", o->single.name,
                   "Name of the configuration in the output (default: cell-iI-hH-bB-tT)")
      ->type_name("TEXT")
      ->excludes(suite);
  command
      ->add_option("--mode", o->mode,
                   "infer: forward_sequence with training=false; train: forward_sequence with "
                   "training=true then backward_sequence (all gradients); both: one after the "
                   "other (default: infer)")
      ->check(CLI::IsMember({"infer", "train", "both"}));
  command->add_option("--layers", o->layers, "Stacked layers L (default: 1)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  command->add_option("--cell", o->cell, "Recurrent cell: lstm or gru (default: lstm)")
      ->check(CLI::IsMember({"lstm", "gru"}));
  command
      ->add_option("--threads", o->threads,
                   "Threads the library may use (lstm::set_num_threads; default: the number of "
                   "hardware threads); threads_used is how many a layer of this size and batch runs on (up to one per row block where W_hh fits in a core's L2: blocks of 8+ samples from a batch of 16+, two blocks of a batch of 8-15 where W_hh is at most 512 KiB and a block's step 256 kFLOP or more; otherwise one where a step is too small to share)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--min-time", o->min_time,
                   "Time each configuration for at least this many seconds after the warm-up "
                   "(default: 1)")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber);
  command
      ->add_option("--min-repeats", o->min_repeats,
                   "Time at least this many runs, however long they take (default: 3)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  command->add_option("--seed", o->seed, "Seed of the random weights and data (default: 0)")
      ->type_name("N");
  command->add_flag("--bf16", o->bf16,
                    "Inference with W_hh and h rounded to bfloat16 in the recurrent product "
                    "(ForwardContext::bf16_weights; needs AVX-512 BF16, else ignored; bf16 in "
                    "the JSON says whether it was used); with --freeze, the bf16 W_hh is packed "
                    "once, at the warm-up call");
  command->add_flag("--freeze", o->freeze,
                    "Inference with the weights frozen (Recurrent::freeze_weights): W_hh and W_ih "
                    "packed once before the timing, as oneDNN's primitive takes its weights "
                    "reordered beforehand, instead of at every call (frozen in the JSON says "
                    "whether it was used)");
  command->add_flag(
      "--json", o->json,
      "One JSON object per configuration and mode per line: name, cell, mode, input, hidden, "
      "batch, steps, layers, threads, threads_used, isa, bf16, frozen, ms (median of one run: forward, or "
      "forward+backward in train mode), ms_min, ms_max, forward_ms and backward_ms (train: medians "
      "of the two parts), repeats, page_faults_per_run, gflop (work of one run), gflops "
      "(GFLOP/s at the median), peak_rss_mb (peak resident memory, getrusage), rss_before_mb, "
      "activations_mb (train: the formula's activation memory), peak_rss_per_config");
  command->footer(
      "Work counted: 8*T*B*H*(I_l+H) per layer and forward pass for LSTM, 6*T*B*H*(I_l+H) for "
      "GRU (I_l = I for the first layer, H after), three times that in train mode. Each "
      "configuration is warmed up (>= 1 run), then timed for --min-time seconds and at least "
      "--min-repeats runs; the time reported is the median run.\n"
      "Examples:\n"
      "  lstm bench --input 512 --hidden 512 --batch 64 --steps 25 --mode train\n"
      "  lstm bench --suite data/bench_suite.txt --mode both --json\n"
      "docs/performance.md compares these times with oneDNN and PyTorch (bench/compare).");
  command->callback([o] { bench(*o); });
}

}  // namespace lstm::cli
