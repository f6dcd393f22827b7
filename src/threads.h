// The library's thread team: the calling thread and up to num_threads() − 1 persistent workers
// run a parallel region together. Inside it, work is a sequence of phases (the time steps of a
// recurrent layer), each cut into chunks that any member may take: a member that the OS
// deschedules holds up at most the chunk it took, the others go on with the rest, so the team
// does not stall at every step on a busy machine. No allocation, no thread creation and no
// system call on the way in or out or between phases while the team is busy: waiting threads
// spin briefly, then sleep.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <type_traits>

namespace lstm::threads {

class Team {
 public:
  struct Range {
    int64_t begin, end;
    int64_t size() const { return end - begin; }
  };

  int index() const { return index_; }
  int size() const { return size_; }
  Team(int index, int size) : index_(index), size_(size) {}

 private:
  int index_, size_;
};

// The chunks a recurrent layer with `units` hidden units cuts its parallel work into (never
// more threads than that work on it): at most 8, at least 32 units each, and at least 64 from
// 256 units on. Measured on Zen 5, 2 threads, 5–7 alternations against chunks of 32 or more
// (inference frozen and training): H = 256 1.05–1.12× at batch 1 and 1.01–1.05× at batch 16
// (LSTM and GRU), LSTM H = 320 at batch 1 1.29–1.37× and H = 384 at batch 16 1.17–1.32×: fewer,
// wider chunks, whose packed W_hh also needs no padding to whole panels where chunks of 40 or
// 48 units did. Chunks of 128 units at H = 512 (4 chunks instead of 8) were slower: LSTM
// 0.87–0.89× at batch 1.
int64_t recurrent_chunks(int64_t units);

// Whether a layer too small to share its steps runs on one thread (the default; see
// Recurrent's team_threads). The tests turn it off so that small shapes still exercise the
// team; results are the same either way.
void set_small_work_on_one_thread(bool on);
bool small_work_on_one_thread();

// Part `part` of [0, count) cut into `parts` ranges of equal length, a multiple of `granule`
// (the last ones shorter or empty).
Team::Range split(int64_t count, int64_t parts, int64_t part, int64_t granule);
// Part `part` of [0, count) cut into `parts` ranges whose ends are the multiples of `granule`
// nearest to an even cut (and count): as even as whole granules allow.
Team::Range split_nearest(int64_t count, int64_t parts, int64_t part, int64_t granule);

using RegionFn = void (*)(void* body, const Team& team);
// Whether every member must run a region's body (its work split by member), or a member may
// skip it when the caller has finished before that member could join (the members claim the
// work as they go, so the caller has done it all then): a worker the OS has descheduled then
// costs the region nothing.
enum class Joining { every, optional };
void run_region(int threads, RegionFn fn, void* body, Joining joining = Joining::every);

// Runs body(team) on min(threads, num_threads()) threads, the caller being member 0, and
// returns when every member that joined (`joining`) has returned from it. Flush-to-zero and
// denormals-are-zero are on inside (denormals cannot slow a run down) and the caller's
// floating-point mode is restored afterwards. A region started while another one runs (from
// another thread, or from inside a region) runs on its caller alone: the work is split so that
// the results do not depend on it.
template <class Body>
void run(int threads, Body&& body, Joining joining = Joining::every) {
  using Fn = std::remove_reference_t<Body>;
  run_region(
      threads, [](void* b, const Team& team) { (*static_cast<Fn*>(b))(team); },
      const_cast<void*>(static_cast<const void*>(&body)), joining);
}

// Runs body(team, phase, chunk) once for every chunk < chunks of every phase < phases, on
// min(threads, chunks, num_threads()) threads: the chunks of a phase in any order and on any
// member, each only after every chunk of the phases before has finished. So that the results
// do not depend on the number of threads, what a chunk computes must depend on its phase and
// number only. Member m runs its own block of chunks (split(chunks, size, m, 1)), the same in
// every phase, so that what a chunk reads again at every phase (its packed weights) stays in
// that member's cache. With ChunkOrder::alternating it runs its block backward in odd phases,
// so that a phase starts on the chunks whose data the phase before left in the core's cache
// (where a chunk's data fits in it and the whole block's does not). A member that has run its
// block and finds the phase unfinished after steal_grace (at once if it took chunks of others
// in the phase before) takes the chunks of the others that nobody has claimed yet, so that a
// member the OS deschedules holds up at most the chunk it is running. A worker that has not
// joined by the time the caller has run every chunk stays out (the OS had descheduled it: it
// would only hold the caller up). chunks ≤ max_phase_chunks, phases < 2³².
constexpr int64_t max_phase_chunks = 64;
enum class ChunkOrder { same, alternating };
// How long a member that has run its own chunks of a phase waits for the others to finish
// theirs before it takes them: longer than members usually lag one another at a step of batch 1
// (1–2 µs at db-h256-b1-t150), far shorter than the OS's time slices (milliseconds). Each
// block's claims are counted on a cache line of its own, which stays in its member's cache
// while nobody takes from the block; taking a chunk moves that line between the cores, and at
// a step of batch 1 the chunk's weights are in the other core's L2, so it costs more than the
// member's lag. Against a claim counter a chunk (all on one line) and the others' chunks taken
// at once (Zen 5, 2 threads, 11 alternations): training of db-h256-b1-t150 1.06× LSTM, 1.08×
// GRU, of db-h512-b1-t25 1.04× and 1.03×; GRU inference of db-h256-b1 0.98×; the rest of the
// suite within noise, under load too.
constexpr std::chrono::nanoseconds steal_grace{10'000};
template <class Body>
void run_phases(int threads, int64_t phases, int64_t chunks, ChunkOrder order, Body&& body);

namespace detail {
// Waits until word ≥ target (spinning briefly, then sleeping); bump() adds to word and releases
// such waits.
void await_at_least(const std::atomic<uint32_t>& word, uint32_t target);
void bump(std::atomic<uint32_t>& word, uint32_t by);
// Spins until word ≥ target or `limit` has passed; returns whether word reached target.
bool await_at_least_for(const std::atomic<uint32_t>& word, uint32_t target,
                        std::chrono::nanoseconds limit);
}  // namespace detail

template <class Body>
void run_phases(int threads, int64_t phases, int64_t chunks, ChunkOrder order, Body&& body) {
  // claimed[m] = the chunks of member m's block (n of them) claimed so far, all phases: in phase
  // p the claims p·n … (p + 1)·n − 1, each of the chunk that whoever moves the count on runs.
  struct alignas(64) Count {
    std::atomic<uint32_t> value{0};
  };
  std::array<Count, max_phase_chunks> claimed;
  Count finished;  // chunks finished, all phases
  const int size = static_cast<int>(std::min<int64_t>(threads, chunks));
  const auto member = [&](const Team& team) {
    // Runs the chunks of member m's block that nobody has claimed in this phase; returns how many.
    const auto run_block = [&](int m, uint32_t phase) {
      const Team::Range block = split(chunks, team.size(), m, 1);
      const auto n = static_cast<uint32_t>(block.size());
      const bool backward = order == ChunkOrder::alternating && phase % 2 == 1;
      std::atomic<uint32_t>& count = claimed[static_cast<std::size_t>(m)].value;
      uint32_t ran = 0;
      for (uint32_t c = count.load(std::memory_order_relaxed); c < (phase + 1) * n;) {
        if (!count.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) continue;
        const int64_t i = c - phase * n;
        body(team, static_cast<int64_t>(phase), backward ? block.end - 1 - i : block.begin + i);
        ++ran;
        c = count.load(std::memory_order_relaxed);
      }
      return ran;
    };
    bool took_last_phase = false;  // whether this member ran chunks of others in the phase before
    const auto per_phase = static_cast<uint32_t>(chunks);
    for (uint32_t phase = 0; phase < static_cast<uint32_t>(phases); ++phase) {
      detail::await_at_least(finished.value, phase * per_phase);
      const uint32_t own = run_block(team.index(), phase);
      if (own > 0) detail::bump(finished.value, own);
      const bool wait = own > 0 && !took_last_phase;
      if (wait && detail::await_at_least_for(finished.value, (phase + 1) * per_phase, steal_grace))
        continue;
      uint32_t others = 0;
      for (int k = 1; k < team.size(); ++k)
        others += run_block((team.index() + k) % team.size(), phase);
      if (others > 0) detail::bump(finished.value, others);
      took_last_phase = others > 0;
    }
  };
  // Any member can run every chunk, so one that comes late may stay out (Joining::optional).
  run(size, member, Joining::optional);
}

}  // namespace lstm::threads
