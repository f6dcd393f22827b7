// The recurrent layers give bit-identical results whatever the number of threads (issue 3):
// forward outputs, final states and every gradient, compared with memcmp between 1 thread and
// 2, 3 and 5, for every cell, with stacked and bidirectional layers, projections, dropout,
// variable lengths, uneven chunks of hidden units and batch 1 (with the one-thread rule for small
// layers off, so that they are shared, and on). Also: layers used from several
// threads at once, set_num_threads' argument check, and the contract of run_phases (every chunk
// of every phase once, a phase only after the one before) with even work, with one member
// slower than the others (they take its chunks), and with members held up longer than the
// others spin before they sleep.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "lstm/nn.h"
#include "lstm/threads.h"
#include "recurrent_cases.h"
#include "threads.h"

namespace {

using namespace lstm;
using lstm::testing::bit_identical;
using lstm::testing::random_tensor;
using lstm::testing::recurrent_cases;
using lstm::testing::RecurrentCase;

// Everything one training step of a layer produces, in a fixed order.
std::vector<Tensor> train_step(const RecurrentConfig& config, int64_t batch, int64_t steps,
                               bool with_lengths) {
  Recurrent layer(config);
  Rng rng(7);
  layer.reset_parameters(rng);
  const int64_t LD = config.num_layers * config.directions(), H_out = config.output_size();
  const Tensor x = random_tensor({batch, steps, config.input_size}, rng);
  const Tensor h0 = random_tensor({LD, batch, H_out}, rng);
  const Tensor c0 = random_tensor({LD, batch, config.hidden_size}, rng);
  const bool is_lstm = config.cell == CellType::lstm;
  std::vector<int64_t> lengths;
  for (int64_t b = 0; b < batch; ++b) lengths.push_back(with_lengths ? 1 + (b * 5) % steps : steps);
  Rng dropout_rng(11);
  const RecurrentResult out =
      layer.forward_sequence(x, &h0, is_lstm ? &c0 : nullptr,
                             {.training = true, .lengths = &lengths, .rng = &dropout_rng});
  const Tensor d_out = random_tensor(out.output.shape(), rng);
  const Tensor d_h_n = random_tensor(out.h_n.shape(), rng);
  const Tensor d_c_n = is_lstm ? random_tensor(out.c_n.shape(), rng) : Tensor();
  const RecurrentGradients g =
      layer.backward_sequence(d_out, &d_h_n, is_lstm ? &d_c_n : nullptr);
  std::vector<Tensor> all = {out.output, out.h_n, out.c_n, g.d_input, g.d_h0, g.d_c0};
  for (const ParameterRef& p : layer.parameters()) all.push_back(*p.grad);
  return all;
}

TEST(Threads, ResultsAreBitIdenticalForAnyThreadCount) {
  const int original = num_threads();
  // These shapes are small enough to run on one thread by default: share them all the same.
  threads::set_small_work_on_one_thread(false);
  for (const RecurrentCase& c : recurrent_cases()) {
    SCOPED_TRACE(c.name + " cell " + std::to_string(static_cast<int>(c.config.cell)));
    set_num_threads(1);
    const std::vector<Tensor> one = train_step(c.config, c.batch, c.steps, c.lengths);
    for (int n : {2, 3, 5}) {
      set_num_threads(n);
      const std::vector<Tensor> many = train_step(c.config, c.batch, c.steps, c.lengths);
      ASSERT_EQ(one.size(), many.size());
      for (std::size_t i = 0; i < one.size(); ++i)
        EXPECT_TRUE(bit_identical(one[i], many[i])) << "result " << i << ", " << n << " threads";
    }
  }
  // And with the default: small layers alone, larger ones shared.
  threads::set_small_work_on_one_thread(true);
  for (const RecurrentCase& c : recurrent_cases()) {
    set_num_threads(1);
    const std::vector<Tensor> one = train_step(c.config, c.batch, c.steps, c.lengths);
    set_num_threads(2);
    const std::vector<Tensor> two = train_step(c.config, c.batch, c.steps, c.lengths);
    for (std::size_t i = 0; i < one.size(); ++i)
      EXPECT_TRUE(bit_identical(one[i], two[i])) << c.name << " result " << i << " (default)";
  }
  set_num_threads(original);
}

// LSTM and RNN compute both weight gradients in one product over blocks of the T·B rows (2048
// rows a member on 1 or 2 threads, 1024 on more): with 1200 rows, one block on 1 thread and two
// on 3, whose sums must still run over the GEMM's own depth blocks in the same order.
TEST(Threads, WeightGradientsOverSeveralBlocksOfRowsAreBitIdentical) {
  const int original = num_threads();
  threads::set_small_work_on_one_thread(false);
  for (CellType cell : {CellType::lstm, CellType::rnn_tanh}) {
    const RecurrentConfig config{.cell = cell, .input_size = 5, .hidden_size = 24};
    set_num_threads(1);
    const std::vector<Tensor> one = train_step(config, 4, 300, false);
    set_num_threads(3);
    const std::vector<Tensor> three = train_step(config, 4, 300, false);
    for (std::size_t i = 0; i < one.size(); ++i)
      EXPECT_TRUE(bit_identical(one[i], three[i])) << "cell " << static_cast<int>(cell)
                                                   << " result " << i;
  }
  threads::set_small_work_on_one_thread(true);
  set_num_threads(original);
}

TEST(Threads, LayersRunFromSeveralThreadsAtOnce) {
  // Regions started while another runs fall back to their caller's thread; results stay exact.
  const RecurrentConfig config{.cell = CellType::lstm, .input_size = 6, .hidden_size = 96};
  const std::vector<Tensor> expected = train_step(config, 3, 8, true);
  std::vector<std::vector<Tensor>> got(4);
  std::vector<std::thread> callers;
  for (auto& g : got) callers.emplace_back([&] { g = train_step(config, 3, 8, true); });
  for (std::thread& t : callers) t.join();
  for (const auto& g : got)
    for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(bit_identical(expected[i], g[i]));
}

TEST(Threads, ThreadsUsedFollowsTheLayersWork) {
  const int original = num_threads();
  set_num_threads(4);
  const Recurrent small(RecurrentConfig{.cell = CellType::lstm, .input_size = 3, .hidden_size = 64});
  const Recurrent wide(RecurrentConfig{.cell = CellType::lstm, .input_size = 8, .hidden_size = 512});
  EXPECT_EQ(small.threads_used(1), 1);    // a step of 33 kFLOP is not worth sharing
  EXPECT_EQ(small.threads_used(8), 1);    // nor one of 8 samples
  // W_hh fits in a core's L2: the batch in row blocks of at least 8 samples, a thread each
  EXPECT_EQ(small.threads_used(16), 2);
  EXPECT_EQ(small.threads_used(35), 4);
  EXPECT_EQ(small.threads_used(512), 4);  // at most 8 blocks, no more threads than there are
  EXPECT_EQ(small.threads_used(12), 1);   // blocks of 6 would step through 196 kFLOP: one block
  // 8–15 samples: two blocks where a block's step is 256 kFLOP or more and W_hh at most 512 KiB
  const Recurrent medium(RecurrentConfig{.cell = CellType::lstm, .input_size = 3, .hidden_size = 128});
  EXPECT_EQ(medium.threads_used(8), 2);
  EXPECT_EQ(medium.threads_used(15), 2);
  EXPECT_EQ(medium.threads_used(16), 2);  // blocks of 8 from 16 samples on
  EXPECT_EQ(medium.threads_used(24), 3);
  // With a projection, no row blocks: 64 units are two chunks of 32, so no more threads
  const Recurrent projected(RecurrentConfig{
      .cell = CellType::lstm, .input_size = 3, .hidden_size = 64, .proj_size = 16});
  EXPECT_EQ(projected.threads_used(512), 2);
  EXPECT_EQ(wide.threads_used(1), 4);     // 4 MiB of W_hh: worth the other cores' caches
  EXPECT_EQ(wide.threads_used(64), 4);
  threads::set_small_work_on_one_thread(false);
  EXPECT_EQ(small.threads_used(1), 2);
  threads::set_small_work_on_one_thread(true);
  set_num_threads(original);
}

// Chunks of at least 32 hidden units, at least 64 from 256 units on, and at most 8: they depend
// on the layer's size alone.
TEST(Threads, RecurrentChunksFollowTheLayersWidth) {
  EXPECT_EQ(threads::recurrent_chunks(1), 1);
  EXPECT_EQ(threads::recurrent_chunks(64), 2);
  EXPECT_EQ(threads::recurrent_chunks(72), 3);
  EXPECT_EQ(threads::recurrent_chunks(255), 8);  // chunks of 32 units (the last 31)
  EXPECT_EQ(threads::recurrent_chunks(256), 4);  // of 64 from here on
  EXPECT_EQ(threads::recurrent_chunks(300), 5);
  EXPECT_EQ(threads::recurrent_chunks(448), 7);
  EXPECT_EQ(threads::recurrent_chunks(512), 8);
  EXPECT_EQ(threads::recurrent_chunks(4096), 8);
}

TEST(Threads, SplitNearestCutsAtTheNearestGranules) {
  // 2048 rows in blocks of 112 between 2: the cut at 1024 goes to 1008 (9 blocks), not 1120.
  EXPECT_EQ(threads::split_nearest(2048, 2, 0, 112).begin, 0);
  EXPECT_EQ(threads::split_nearest(2048, 2, 0, 112).end, 1008);
  EXPECT_EQ(threads::split_nearest(2048, 2, 1, 112).begin, 1008);
  EXPECT_EQ(threads::split_nearest(2048, 2, 1, 112).end, 2048);
  // fewer granules than parts: some parts are empty, and together they cover [0, count) once
  for (int64_t parts : {1, 2, 3, 5, 8}) {
    int64_t next = 0;
    for (int64_t part = 0; part < parts; ++part) {
      const threads::Team::Range r = threads::split_nearest(150, parts, part, 112);
      EXPECT_EQ(r.begin, next);
      EXPECT_LE(r.begin, r.end);
      EXPECT_TRUE(r.end == 150 || r.end % 112 == 0);
      next = r.end;
    }
    EXPECT_EQ(next, 150);
  }
}

// Runs run_phases on `threads` threads with `delay(member, phase, chunk)` of busy waiting in
// each chunk, and checks that every chunk of every phase ran once, each after all the chunks of
// the phases before had finished.
template <class Delay>
void check_phases(int threads, int64_t phases, int64_t chunks, threads::ChunkOrder order,
                  Delay delay) {
  SCOPED_TRACE("threads " + std::to_string(threads) + ", chunks " + std::to_string(chunks));
  std::vector<std::atomic<int>> runs(static_cast<std::size_t>(phases * chunks));
  std::atomic<int64_t> finished{0};  // chunks finished, all phases
  std::atomic<int64_t> early{0};     // chunks started before the phases before had finished
  threads::run_phases(threads, phases, chunks, order,
                      [&](const threads::Team& team, int64_t phase, int64_t chunk) {
    if (finished.load() < phase * chunks) early.fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + delay(team.index(), phase, chunk);
    while (std::chrono::steady_clock::now() < until) {
    }
    runs[static_cast<std::size_t>(phase * chunks + chunk)].fetch_add(1);
    finished.fetch_add(1);
  });
  EXPECT_EQ(early.load(), 0);
  EXPECT_EQ(finished.load(), phases * chunks);
  for (int64_t i = 0; i < phases * chunks; ++i)
    ASSERT_EQ(runs[static_cast<std::size_t>(i)].load(), 1) << "phase " << i / chunks << " chunk "
                                                           << i % chunks;
}

TEST(Threads, RunPhasesRunsEveryChunkOncePhaseAfterPhase) {
  using std::chrono::microseconds;
  const int original = num_threads();
  set_num_threads(4);
  for (const auto order : {threads::ChunkOrder::same, threads::ChunkOrder::alternating})
    for (int threads : {1, 2, 3, 4}) {
      // even work
      check_phases(threads, 300, 8, order, [](int, int64_t, int64_t) { return microseconds(1); });
      // member 1 three times slower than the others: they take its chunks
      check_phases(threads, 200, 5, order, [](int member, int64_t, int64_t) {
        return microseconds(member == 1 ? 6 : 2);
      });
      // now and then a member held up longer than the others spin (200 µs: they sleep), and
      // fewer chunks than members
      check_phases(threads, 40, 3, order, [](int member, int64_t phase, int64_t) {
        return microseconds(phase % 7 == member ? 400 : 1);
      });
    }
  set_num_threads(original);
}

// Member 1 stops inside the first chunk it runs until every other chunk of the phase has
// finished: member 0 must take the rest of member 1's block, or the phase never ends (here it
// gives up after 10 s and fails). Member 0's own chunks take 100 µs each, so that member 1 has
// joined by the time they are done in most repeats; a repeat where it had not is counted out.
TEST(Threads, RunPhasesTakesTheChunksOfAMemberHeldUp) {
  using std::chrono::steady_clock;
  const int original = num_threads();
  set_num_threads(2);
  constexpr int64_t chunks = 8;
  int repeats_held = 0;
  bool failed = false;
  for (int repeat = 0; repeat < 20 && !failed; ++repeat) {
    std::vector<std::atomic<int>> runs(chunks);
    std::atomic<int64_t> finished{0};
    std::atomic<bool> held{false}, gave_up{false};
    threads::run_phases(2, 1, chunks, threads::ChunkOrder::same,
                        [&](const threads::Team& team, int64_t, int64_t chunk) {
      if (team.index() == 1 && !held.exchange(true)) {
        const auto deadline = steady_clock::now() + std::chrono::seconds(10);
        while (finished.load() < chunks - 1 && !gave_up.load())
          if (steady_clock::now() > deadline) gave_up.store(true);
      } else if (team.index() == 0) {
        const auto until = steady_clock::now() + std::chrono::microseconds(100);
        while (steady_clock::now() < until) {
        }
      }
      runs[static_cast<std::size_t>(chunk)].fetch_add(1);
      finished.fetch_add(1);
    });
    EXPECT_FALSE(gave_up.load()) << "repeat " << repeat;
    for (int64_t c = 0; c < chunks; ++c)
      EXPECT_EQ(runs[static_cast<std::size_t>(c)].load(), 1) << "repeat " << repeat << " chunk " << c;
    failed = ::testing::Test::HasFailure();
    repeats_held += held.load() ? 1 : 0;
  }
  set_num_threads(original);
  EXPECT_GT(repeats_held, 0);
}

TEST(Threads, SetNumThreadsChecksItsArgument) {
  const int original = num_threads();
  EXPECT_GE(original, 1);
  EXPECT_THROW(set_num_threads(0), Error);
  set_num_threads(3);
  EXPECT_EQ(num_threads(), 3);
  set_num_threads(original);
}

}  // namespace
