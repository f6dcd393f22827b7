#include "threads.h"

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/kernels.h"
#include "lstm/tensor.h"
#include "lstm/threads.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace lstm {
namespace threads {
namespace {

void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

// Spins until done() holds or `limit` has passed (the clock read every 16 spins); returns
// whether done() holds.
template <class Done>
bool spin_until(Done done, std::chrono::nanoseconds limit) {
  if (done()) return true;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 1; !done(); ++i) {
    cpu_relax();
    if (i % 16 == 0 && std::chrono::steady_clock::now() > deadline) return done();
  }
  return true;
}

// Waits until word ≠ old: spins for up to `spin` (a waiting team member is usually released
// within microseconds), then sleeps in the kernel until notified.
void await_change(const std::atomic<uint32_t>& word, uint32_t old, std::chrono::microseconds spin) {
  const auto changed = [&] { return word.load(std::memory_order_acquire) != old; };
  if (spin_until(changed, spin)) return;
  while (!changed()) word.wait(old, std::memory_order_acquire);
}

// How long a thread spins before it sleeps: waiting for the next chunk of work inside a region,
// and for the next region.
constexpr std::chrono::microseconds step_spin{200}, job_spin{1000};

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard lock(busy_);
      publish(0);
    }
    for (std::thread& w : workers_) w.join();
  }

  int threads() const { return threads_.load(std::memory_order_relaxed); }
  void set_threads(int n) { threads_.store(n, std::memory_order_relaxed); }

  void run(int threads, RegionFn fn, void* body, Joining joining) {
    const int n = std::min(threads, this->threads());
    std::unique_lock lock(busy_, std::try_to_lock);
    if (n <= 1 || !lock.owns_lock()) {
      run_alone(fn, body);
      return;
    }
    while (static_cast<int>(workers_.size()) < n - 1) {
      const int index = static_cast<int>(workers_.size()) + 1;
      workers_.emplace_back([this, index] { work(index); });
    }
    const kernels::DenormalsFlushed flushed;
    fn_ = fn;
    body_ = body;
    done_.store(0, std::memory_order_relaxed);
    const uint32_t generation = publish(n);
    fn(body, Team(0, n));
    // The workers to wait for: all n − 1, or, where the work is claimed as it goes, those that
    // joined before the caller finished (the others, late, will find the region closed).
    uint32_t members = static_cast<uint32_t>(n - 1);
    if (joining == Joining::optional)
      members = entry_.exchange(generation << entry_bits, std::memory_order_acq_rel) & joined_mask;
    for (uint32_t done = done_.load(std::memory_order_acquire); done != members;
         done = done_.load(std::memory_order_acquire))
      await_change(done_, done, step_spin);
  }

  static void run_alone(RegionFn fn, void* body) {
    const kernels::DenormalsFlushed flushed;
    fn(body, Team(0, 1));
  }

 private:
  // A new job word: the next generation, with the team size (0: stop) in its low bits; the
  // region opened to its members. Returns the generation.
  uint32_t publish(int size) {
    const uint32_t generation = (job_.load(std::memory_order_relaxed) >> size_bits) + 1;
    entry_.store(generation << entry_bits | open_bit, std::memory_order_relaxed);
    job_.store(generation << size_bits | static_cast<uint32_t>(size), std::memory_order_release);
    job_.notify_all();
    return generation;
  }

  // Joins the region of `generation` if it is still open (counted in entry_).
  bool join(uint32_t generation) {
    uint32_t entry = entry_.load(std::memory_order_acquire);
    while (entry >> entry_bits == (generation & generation_mask) && (entry & open_bit) != 0)
      if (entry_.compare_exchange_weak(entry, entry + 1, std::memory_order_acq_rel)) return true;
    return false;
  }

  void work(int index) {
    const kernels::DenormalsFlushed flushed;
    uint32_t seen = 0;
    for (;;) {
      await_change(job_, seen, job_spin);
      seen = job_.load(std::memory_order_acquire);
      const int size = static_cast<int>(seen & size_mask);
      if (size == 0) return;
      // A member of this region: fn_ and body_ stay as they are until it reports done.
      if (index < size && join(seen >> size_bits)) {
        fn_(body_, Team(index, size));
        done_.fetch_add(1, std::memory_order_acq_rel);
        done_.notify_all();
      }
    }
  }

  static constexpr int size_bits = 10;
  static constexpr uint32_t size_mask = (1u << size_bits) - 1;
  // entry_: the region's generation (its low bits) << entry_bits | open_bit | members joined
  static constexpr int entry_bits = 12;
  static constexpr uint32_t open_bit = 1u << (entry_bits - 1), joined_mask = open_bit - 1;
  static constexpr uint32_t generation_mask = (1u << (32 - entry_bits)) - 1;

 public:
  static constexpr int max_threads = size_mask;

 private:

  std::atomic<int> threads_{std::max(1, static_cast<int>(std::thread::hardware_concurrency()))};
  std::mutex busy_;  // held by the thread running a region
  std::vector<std::thread> workers_;
  // The region being run; written before job_ is published, read by its members after.
  RegionFn fn_ = nullptr;
  void* body_ = nullptr;
  std::atomic<uint32_t> job_{0};  // generation << size_bits | team size (0: stop)
  std::atomic<uint32_t> done_{0};  // members other than the caller done with the region
  std::atomic<uint32_t> entry_{0};  // who may still join the region, and who has (join)
};

Pool& pool() {
  static Pool instance;
  return instance;
}

}  // namespace

namespace {
std::atomic<bool> small_work_alone{true};
}  // namespace

void set_small_work_on_one_thread(bool on) { small_work_alone.store(on, std::memory_order_relaxed); }
bool small_work_on_one_thread() { return small_work_alone.load(std::memory_order_relaxed); }

int64_t recurrent_chunks(int64_t units) {
  const int64_t least_units = units < 256 ? 32 : 64;
  return std::min<int64_t>(8, (units + least_units - 1) / least_units);
}

Team::Range split(int64_t count, int64_t parts, int64_t part, int64_t granule) {
  const int64_t width = ((count + parts - 1) / parts + granule - 1) / granule * granule;
  const int64_t begin = std::min(count, part * width);
  return {begin, std::min(count, begin + width)};
}

Team::Range split_nearest(int64_t count, int64_t parts, int64_t part, int64_t granule) {
  // the multiple of granule nearest to count · i / parts, for cut i of 0 … parts
  const auto cut = [&](int64_t i) {
    const int64_t even = count * i / parts;
    return i == parts ? count : std::min(count, (even + granule / 2) / granule * granule);
  };
  return {cut(part), cut(part + 1)};
}

namespace detail {

void await_at_least(const std::atomic<uint32_t>& word, uint32_t target) {
  for (uint32_t now; (now = word.load(std::memory_order_acquire)) < target;) await_change(word, now, step_spin);
}

bool await_at_least_for(const std::atomic<uint32_t>& word, uint32_t target,
                        std::chrono::nanoseconds limit) {
  return spin_until([&] { return word.load(std::memory_order_acquire) >= target; }, limit);
}

void bump(std::atomic<uint32_t>& word, uint32_t by) {
  word.fetch_add(by, std::memory_order_acq_rel);
  word.notify_all();
}

}  // namespace detail

void run_region(int threads, RegionFn fn, void* body, Joining joining) {
  pool().run(threads, fn, body, joining);
}

}  // namespace threads

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: expected n >= 1, got " + std::to_string(n));
  threads::pool().set_threads(std::min(n, threads::Pool::max_threads));
}

int num_threads() { return threads::pool().threads(); }

}  // namespace lstm
