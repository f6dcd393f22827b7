// lstm::Tensor — a dense float32 array, row-major, with an owned 64-byte-aligned buffer.
// Tensors at the API are batch-first: (batch, time, features).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace lstm {

// Thrown for bad arguments at the API: wrong shapes, out-of-range values, unreadable files.
// The message names what was expected and what was given.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
// Aligned storage for tensors. Blocks of kReusedBlockBytes or more are not returned to the
// system when freed but kept (up to kReusedBytesLimit in all, the oldest given back first) for
// the next request of the same size: a training loop allocates the same shapes every step, and
// a fresh large block costs a page fault per 4 KiB on its first touch (14% of a training step
// of an LSTM with 256 units, measured). 64 KiB takes in the final states (B × H floats: 128 KiB
// at B = 64, H = 512), which at 128 KiB and more glibc would map and unmap afresh at every call
// (64 page faults a forward pass of that layer). release_reused_blocks() gives them all back.
constexpr std::size_t kReusedBlockBytes = std::size_t{64} << 10;
constexpr std::size_t kReusedBytesLimit = std::size_t{512} << 20;
void* allocate_block(std::size_t bytes, std::size_t alignment);
void free_block(void* block, std::size_t bytes, std::size_t alignment) noexcept;
}  // namespace detail

// Returns to the system the freed tensor storage kept for reuse (detail::allocate_block).
void release_reused_blocks();

template <class T, std::size_t Alignment = 64>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U, Alignment>&) noexcept {}
  template <class U>
  struct rebind {
    using other = AlignedAllocator<U, Alignment>;
  };
  T* allocate(std::size_t n) {
    return static_cast<T*>(detail::allocate_block(n * sizeof(T), Alignment));
  }
  void deallocate(T* p, std::size_t n) noexcept { detail::free_block(p, n * sizeof(T), Alignment); }
  // vector(n) and resize leave new elements uninitialised (default-initialised: no write), so
  // that Tensor::uninitialized does not pay for zeros it would overwrite.
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const AlignedAllocator<U, Alignment>&) const noexcept {
    return true;
  }
};

using Shape = std::vector<int64_t>;

// "(2, 3, 4)"
std::string shape_string(const Shape& shape);
int64_t shape_numel(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape shape, float fill = 0.0f);
  Tensor(Shape shape, std::initializer_list<float> values);
  Tensor(Shape shape, const std::vector<float>& values);
  // A tensor whose elements hold whatever the memory held: for outputs that the code creating
  // them writes in full before anyone reads them.
  static Tensor uninitialized(Shape shape);

  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  // dim(-1) is the last dimension.
  int64_t dim(int axis) const;
  int64_t numel() const { return static_cast<int64_t>(data_.size()); }
  bool empty() const { return data_.empty(); }

  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }
  float& operator[](int64_t i) { return data_[static_cast<std::size_t>(i)]; }
  float operator[](int64_t i) const { return data_[static_cast<std::size_t>(i)]; }
  float* begin() { return data(); }
  float* end() { return data() + numel(); }
  const float* begin() const { return data(); }
  const float* end() const { return data() + numel(); }

  // Same element count, new shape; throws lstm::Error otherwise.
  void reshape(Shape shape);
  void fill(float value);
  std::string shape_string() const { return lstm::shape_string(shape_); }

  // Throws lstm::Error "<what>: expected shape E, got A" unless the shape is `expected`.
  // A -1 in `expected` matches any size.
  void check_shape(const Shape& expected, const std::string& what) const;

 private:
  Shape shape_;
  std::vector<float, AlignedAllocator<float>> data_;
};

// A small, fast, portable random generator (xoshiro256**, seeded by splitmix64). Its sequence is
// the same on every platform and standard library, so a seed reproduces a run exactly.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { this->seed(seed); }
  void seed(uint64_t seed);
  uint64_t next_u64();
  // Uniform in [0, 1) with 24 bits of randomness.
  float uniform();
  // Uniform in [low, high).
  float uniform(float low, float high) { return low + (high - low) * uniform(); }
  // Standard normal (Box-Muller).
  float normal();
  // The full state, for checkpoints.
  std::vector<uint64_t> state() const;
  void set_state(const std::vector<uint64_t>& state);

 private:
  uint64_t s_[4] = {};
};

}  // namespace lstm
