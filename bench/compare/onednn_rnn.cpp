// onednn_rnn: times oneDNN's LSTM (vanilla_lstm) or linear-before-reset GRU (lbr_gru, PyTorch's
// formula) primitive on random data, the same way `lstm bench` times the library.
//
//   infer: forward_inference
//   train: forward_training, then backward (all gradients: data, states, weights, bias)
//
// f32, time-major src/dst (tnc, the primitive's native layout), initial states given (zeros) and
// final states produced, as the library does. Weights are created in PyTorch-like ldigo and
// reordered ONCE, outside the timing, into the layout each primitive prefers (format_tag::any);
// the backward primitive gets its own copy in its own preferred layout. Those reorders are then
// timed on their own ("reorder_ms"): what a training step whose weights change at every step
// would add (the library's training packs its weights inside its timing). Threads: oneDNN as
// Debian builds it uses OpenMP (DNNL_CPU_RUNTIME = OMP); --threads calls omp_set_num_threads.
//
// Prints one JSON object: {"contender":"onednn", ..., "ms": median, ..., "reorder_ms": ...}.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

struct Options {
  std::string cell = "lstm", mode = "infer", name;
  memory::dim input = 0, hidden = 0, batch = 0, steps = 0, layers = 1;
  int threads = 2;
  double min_time = 1.0;
  int min_repeats = 3;
};

[[noreturn]] void usage(const char* message) {
  std::fprintf(stderr,
               "onednn_rnn: %s\n"
               "usage: onednn_rnn --input I --hidden H --batch B --steps T [--layers L]\n"
               "                  [--cell lstm|gru] [--mode infer|train] [--threads N]\n"
               "                  [--min-time S] [--min-repeats N] [--name TEXT]\n",
               message);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") usage("times oneDNN's LSTM / lbr_gru primitive");
    if (i + 1 >= argc) usage(("missing value after " + flag).c_str());
    const std::string value = argv[++i];
    if (flag == "--cell") o.cell = value;
    else if (flag == "--mode") o.mode = value;
    else if (flag == "--name") o.name = value;
    else if (flag == "--input") o.input = std::stol(value);
    else if (flag == "--hidden") o.hidden = std::stol(value);
    else if (flag == "--batch") o.batch = std::stol(value);
    else if (flag == "--steps") o.steps = std::stol(value);
    else if (flag == "--layers") o.layers = std::stol(value);
    else if (flag == "--threads") o.threads = std::stoi(value);
    else if (flag == "--min-time") o.min_time = std::stod(value);
    else if (flag == "--min-repeats") o.min_repeats = std::stoi(value);
    else usage(("unknown flag " + flag).c_str());
  }
  if (o.input < 1 || o.hidden < 1 || o.batch < 1 || o.steps < 1 || o.layers < 1)
    usage("--input, --hidden, --batch, --steps (and --layers) must be >= 1");
  if (o.cell != "lstm" && o.cell != "gru") usage("--cell must be lstm or gru");
  if (o.mode != "infer" && o.mode != "train") usage("--mode must be infer or train");
  if (o.layers > 1 && o.input != o.hidden)
    usage("oneDNN stacks layers in one primitive only when input == hidden");
  return o;
}

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

void fill_random(memory& m, std::mt19937& rng, float scale) {
  std::uniform_real_distribution<float> u(-scale, scale);
  float* p = static_cast<float*>(m.get_data_handle());
  const std::size_t n = m.get_desc().get_size() / sizeof(float);
  for (std::size_t i = 0; i < n; ++i) p[i] = u(rng);
}

void fill_zero(memory& m) { std::memset(m.get_data_handle(), 0, m.get_desc().get_size()); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Milliseconds of each run of `run`, after a warm-up of a fifth of min_time (at most 0.2 s): as
// many runs as last min_time seconds, at least min_repeats.
template <class Run>
std::vector<double> timed_runs(Run&& run, double min_time, int min_repeats) {
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  const Clock::time_point warm_start = Clock::now();
  do run();
  while (seconds(Clock::now() - warm_start) < std::min(0.2, min_time / 5));
  std::vector<double> times;
  const Clock::time_point start = Clock::now();
  while (static_cast<int>(times.size()) < min_repeats || seconds(Clock::now() - start) < min_time) {
    const Clock::time_point t0 = Clock::now();
    run();
    times.push_back(seconds(Clock::now() - t0) * 1e3);
  }
  return times;
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse(argc, argv);
  omp_set_num_threads(o.threads);
  const bool lstm = o.cell == "lstm", train = o.mode == "train";
  const memory::dim T = o.steps, B = o.batch, I = o.input, H = o.hidden, L = o.layers, D = 1;
  // Gates per unit; biases per unit: 4 for both (lbr_gru keeps b_hn apart from b_in).
  const memory::dim G = lstm ? 4 : 3, G_bias = 4;

  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  std::mt19937 rng(0);
  const float scale = 1.0f / std::sqrt(static_cast<float>(H));

  const memory::desc src_layer({T, B, I}, dt::f32, tag::tnc);
  const memory::desc dst_layer({T, B, H}, dt::f32, tag::tnc);
  const memory::desc state({L, D, B, H}, dt::f32, tag::ldnc);
  const memory::desc w_layer_any({L, D, I, G, H}, dt::f32, tag::any);
  const memory::desc w_iter_any({L, D, H, G, H}, dt::f32, tag::any);
  const memory::desc bias({L, D, G_bias, H}, dt::f32, tag::ldgo);
  const memory::desc none;
  const auto direction = dnnl::rnn_direction::unidirectional_left2right;
  const auto fwd_kind = train ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;

  // Forward primitive descriptor (weights: format_tag::any).
  dnnl::primitive fwd, bwd;
  memory::desc fwd_w_layer, fwd_w_iter, workspace_md, bwd_w_layer, bwd_w_iter, bwd_dw_layer,
      bwd_dw_iter, bwd_db;
  dnnl::lstm_forward::primitive_desc lstm_fwd_pd;
  dnnl::lbr_gru_forward::primitive_desc gru_fwd_pd;
  if (lstm) {
    lstm_fwd_pd = dnnl::lstm_forward::primitive_desc(
        dnnl::lstm_forward::desc(fwd_kind, direction, src_layer, state, state, w_layer_any,
                                 w_iter_any, bias, dst_layer, state, state),
        eng);
    fwd = dnnl::lstm_forward(lstm_fwd_pd);
    fwd_w_layer = lstm_fwd_pd.weights_layer_desc();
    fwd_w_iter = lstm_fwd_pd.weights_iter_desc();
    workspace_md = lstm_fwd_pd.workspace_desc();
  } else {
    gru_fwd_pd = dnnl::lbr_gru_forward::primitive_desc(
        dnnl::lbr_gru_forward::desc(fwd_kind, direction, src_layer, state, w_layer_any,
                                    w_iter_any, bias, dst_layer, state),
        eng);
    fwd = dnnl::lbr_gru_forward(gru_fwd_pd);
    fwd_w_layer = gru_fwd_pd.weights_layer_desc();
    fwd_w_iter = gru_fwd_pd.weights_iter_desc();
    workspace_md = gru_fwd_pd.workspace_desc();
  }
  if (train) {
    if (lstm) {
      dnnl::lstm_backward::primitive_desc pd(
          dnnl::lstm_backward::desc(dnnl::prop_kind::backward, direction, src_layer, state, state,
                                    w_layer_any, w_iter_any, bias, dst_layer, state, state,
                                    src_layer, state, state, w_layer_any, w_iter_any, bias,
                                    dst_layer, state, state),
          eng, lstm_fwd_pd);
      bwd = dnnl::lstm_backward(pd);
      bwd_w_layer = pd.weights_layer_desc();
      bwd_w_iter = pd.weights_iter_desc();
      bwd_dw_layer = pd.diff_weights_layer_desc();
      bwd_dw_iter = pd.diff_weights_iter_desc();
      bwd_db = pd.diff_bias_desc();
    } else {
      dnnl::lbr_gru_backward::primitive_desc pd(
          dnnl::lbr_gru_backward::desc(dnnl::prop_kind::backward, direction, src_layer, state,
                                       w_layer_any, w_iter_any, bias, dst_layer, state,
                                       src_layer, state, w_layer_any, w_iter_any, bias,
                                       dst_layer, state),
          eng, gru_fwd_pd);
      bwd = dnnl::lbr_gru_backward(pd);
      bwd_w_layer = pd.weights_layer_desc();
      bwd_w_iter = pd.weights_iter_desc();
      bwd_dw_layer = pd.diff_weights_layer_desc();
      bwd_dw_iter = pd.diff_weights_iter_desc();
      bwd_db = pd.diff_bias_desc();
    }
  }

  // User weights (ldigo, like PyTorch's gate-stacked matrices), reordered once; the reorders are
  // kept to be timed after the primitives.
  memory user_w_layer({{L, D, I, G, H}, dt::f32, tag::ldigo}, eng);
  memory user_w_iter({{L, D, H, G, H}, dt::f32, tag::ldigo}, eng);
  fill_random(user_w_layer, rng, scale);
  fill_random(user_w_iter, rng, scale);
  struct WeightReorder {
    dnnl::reorder primitive;
    memory from, to;
  };
  std::vector<WeightReorder> weight_reorders;
  const auto reordered = [&](memory& from, const memory::desc& md) {
    memory to(md, eng);
    weight_reorders.push_back({dnnl::reorder(from, to), from, to});
    weight_reorders.back().primitive.execute(strm, from, to);
    strm.wait();
    return to;
  };
  memory w_layer = reordered(user_w_layer, fwd_w_layer);
  memory w_iter = reordered(user_w_iter, fwd_w_iter);
  memory b(bias, eng), x(src_layer, eng), h0(state, eng), c0(state, eng), y(dst_layer, eng),
      hn(state, eng), cn(state, eng);
  fill_random(b, rng, scale);
  fill_random(x, rng, 1.0f);
  fill_zero(h0);
  fill_zero(c0);
  memory workspace = train ? memory(workspace_md, eng) : memory();

  std::unordered_map<int, memory> fwd_args = {
      {DNNL_ARG_SRC_LAYER, x},        {DNNL_ARG_SRC_ITER, h0},  {DNNL_ARG_WEIGHTS_LAYER, w_layer},
      {DNNL_ARG_WEIGHTS_ITER, w_iter}, {DNNL_ARG_BIAS, b},       {DNNL_ARG_DST_LAYER, y},
      {DNNL_ARG_DST_ITER, hn}};
  if (lstm) {
    fwd_args[DNNL_ARG_SRC_ITER_C] = c0;
    fwd_args[DNNL_ARG_DST_ITER_C] = cn;
  }
  if (train) fwd_args[DNNL_ARG_WORKSPACE] = workspace;

  std::unordered_map<int, memory> bwd_args;
  if (train) {
    memory bw_layer = reordered(user_w_layer, bwd_w_layer);
    memory bw_iter = reordered(user_w_iter, bwd_w_iter);
    memory dx(src_layer, eng), dh0(state, eng), dc0(state, eng), dw_layer(bwd_dw_layer, eng),
        dw_iter(bwd_dw_iter, eng), db(bwd_db, eng), dy(dst_layer, eng), dhn(state, eng),
        dcn(state, eng);
    fill_random(dy, rng, 1.0f);
    fill_zero(dhn);
    fill_zero(dcn);
    // oneDNN accumulates into the weight gradients, as the library does.
    fill_zero(dw_layer);
    fill_zero(dw_iter);
    fill_zero(db);
    bwd_args = {{DNNL_ARG_SRC_LAYER, x},          {DNNL_ARG_SRC_ITER, h0},
                {DNNL_ARG_WEIGHTS_LAYER, bw_layer}, {DNNL_ARG_WEIGHTS_ITER, bw_iter},
                {DNNL_ARG_BIAS, b},               {DNNL_ARG_DST_LAYER, y},
                {DNNL_ARG_DST_ITER, hn},          {DNNL_ARG_WORKSPACE, workspace},
                {DNNL_ARG_DIFF_SRC_LAYER, dx},    {DNNL_ARG_DIFF_SRC_ITER, dh0},
                {DNNL_ARG_DIFF_WEIGHTS_LAYER, dw_layer}, {DNNL_ARG_DIFF_WEIGHTS_ITER, dw_iter},
                {DNNL_ARG_DIFF_BIAS, db},         {DNNL_ARG_DIFF_DST_LAYER, dy},
                {DNNL_ARG_DIFF_DST_ITER, dhn}};
    if (lstm) {
      bwd_args[DNNL_ARG_SRC_ITER_C] = c0;
      bwd_args[DNNL_ARG_DST_ITER_C] = cn;
      bwd_args[DNNL_ARG_DIFF_SRC_ITER_C] = dc0;
      bwd_args[DNNL_ARG_DIFF_DST_ITER_C] = dcn;
    }
  }

  const auto once = [&] {
    fwd.execute(strm, fwd_args);
    if (train) bwd.execute(strm, bwd_args);
    strm.wait();
  };

  const auto reorder_weights = [&] {
    for (WeightReorder& r : weight_reorders) r.primitive.execute(strm, r.from, r.to);
    strm.wait();
  };

  const std::vector<double> times = timed_runs(once, o.min_time, o.min_repeats);
  const std::vector<double> reorder_times =
      timed_runs(reorder_weights, std::min(0.2, o.min_time), o.min_repeats);

  const double per_gate = lstm ? 8.0 : 6.0;
  const double flop = per_gate * static_cast<double>(T * B * H) * static_cast<double>(I + H) +
                      per_gate * static_cast<double>(L - 1) * static_cast<double>(T * B * H) *
                          static_cast<double>(2 * H);
  const double gflop = flop * (train ? 3.0 : 1.0) / 1e9;
  const double ms = median(times);
  const dnnl_version_t* v = dnnl_version();
  std::printf(
      "{\"contender\":\"onednn\",\"name\":\"%s\",\"cell\":\"%s\",\"mode\":\"%s\",\"input\":%ld,"
      "\"hidden\":%ld,\"batch\":%ld,\"steps\":%ld,\"layers\":%ld,\"threads\":%d,"
      "\"ms\":%.6f,\"ms_min\":%.6f,\"repeats\":%zu,\"gflop\":%.6f,\"gflops\":%.3f,"
      "\"reorder_ms\":%.6f,\"isa\":\"%s\",\"version\":\"%d.%d.%d\"}\n",
      o.name.c_str(), o.cell.c_str(), o.mode.c_str(), static_cast<long>(I), static_cast<long>(H),
      static_cast<long>(B), static_cast<long>(T), static_cast<long>(L), omp_get_max_threads(), ms,
      *std::min_element(times.begin(), times.end()), times.size(), gflop, gflop / (ms * 1e-3),
      median(reorder_times), isa_name(dnnl::get_effective_cpu_isa()), v->major, v->minor, v->patch);
  return 0;
} catch (const dnnl::error& e) {
  std::fprintf(stderr, "onednn_rnn: oneDNN error %d: %s\n", static_cast<int>(e.status), e.what());
  return 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "onednn_rnn: %s\n", e.what());
  return 1;
}
