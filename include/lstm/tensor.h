// lstm::Tensor — a dense float32 array, row-major, with an owned 64-byte-aligned buffer.
// Tensors at the API are batch-first: (batch, time, features).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace lstm {

// Thrown for bad arguments at the API: wrong shapes, out-of-range values, unreadable files.
// The message names what was expected and what was given.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(Alignment)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(Alignment)); }
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
