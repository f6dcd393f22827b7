#include "lstm/tensor.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <mutex>
#include <new>
#include <numbers>
#include <sstream>

namespace lstm {

std::string shape_string(const Shape& shape) {
  std::ostringstream out;
  out << '(';
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out << ", ";
    out << shape[i];
  }
  if (shape.size() == 1) out << ',';
  out << ')';
  return out.str();
}

namespace detail {
namespace {

// Freed blocks kept for reuse, oldest first; the mutex guards both members.
struct ReusedBlocks {
  struct Block {
    void* data;
    std::size_t bytes, alignment;
  };
  std::mutex mutex;
  std::deque<Block> blocks;
  std::size_t bytes = 0;
};

ReusedBlocks& reused_blocks() {
  static ReusedBlocks* reused = new ReusedBlocks;  // never destroyed: tensors may outlive main
  return *reused;
}

void free_now(const ReusedBlocks::Block& block) {
  ::operator delete(block.data, std::align_val_t(block.alignment));
}

}  // namespace

void* allocate_block(std::size_t bytes, std::size_t alignment) {
  if (bytes >= kReusedBlockBytes) {
    ReusedBlocks& reused = reused_blocks();
    const std::lock_guard lock(reused.mutex);
    // The most recently freed block of this size: the likeliest to be in cache.
    for (auto it = reused.blocks.rbegin(); it != reused.blocks.rend(); ++it)
      if (it->bytes == bytes && it->alignment == alignment) {
        void* data = it->data;
        reused.bytes -= bytes;
        reused.blocks.erase(std::next(it).base());
        return data;
      }
  }
  return ::operator new(bytes, std::align_val_t(alignment));
}

void free_block(void* block, std::size_t bytes, std::size_t alignment) noexcept {
  if (bytes < kReusedBlockBytes || bytes > kReusedBytesLimit) {
    ::operator delete(block, std::align_val_t(alignment));
    return;
  }
  ReusedBlocks& reused = reused_blocks();
  const std::lock_guard lock(reused.mutex);
  reused.blocks.push_back({block, bytes, alignment});
  reused.bytes += bytes;
  while (reused.bytes > kReusedBytesLimit) {
    free_now(reused.blocks.front());
    reused.bytes -= reused.blocks.front().bytes;
    reused.blocks.pop_front();
  }
}

}  // namespace detail

void release_reused_blocks() {
  detail::ReusedBlocks& reused = detail::reused_blocks();
  const std::lock_guard lock(reused.mutex);
  for (const auto& block : reused.blocks) detail::free_now(block);
  reused.blocks.clear();
  reused.bytes = 0;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("negative dimension in shape " + shape_string(shape));
    n *= d;
  }
  return n;
}

Tensor::Tensor(Shape shape, float fill)
    : shape_(std::move(shape)), data_(static_cast<std::size_t>(shape_numel(shape_)), fill) {}

Tensor Tensor::uninitialized(Shape shape) {
  Tensor t;
  t.data_.resize(static_cast<std::size_t>(shape_numel(shape)));  // default-initialised: no writes
  t.shape_ = std::move(shape);
  return t;
}

Tensor::Tensor(Shape shape, std::initializer_list<float> values) : shape_(std::move(shape)) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape_))
    throw Error("Tensor: shape " + lstm::shape_string(shape_) + " needs " +
                std::to_string(shape_numel(shape_)) + " values, got " +
                std::to_string(values.size()));
  data_.assign(values.begin(), values.end());
}

Tensor::Tensor(Shape shape, const std::vector<float>& values) : shape_(std::move(shape)) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape_))
    throw Error("Tensor: shape " + lstm::shape_string(shape_) + " needs " +
                std::to_string(shape_numel(shape_)) + " values, got " +
                std::to_string(values.size()));
  data_.assign(values.begin(), values.end());
}

int64_t Tensor::dim(int axis) const {
  const int r = rank();
  const int a = axis < 0 ? axis + r : axis;
  if (a < 0 || a >= r)
    throw Error("Tensor::dim: axis " + std::to_string(axis) + " out of range for shape " +
                shape_string());
  return shape_[static_cast<std::size_t>(a)];
}

void Tensor::reshape(Shape shape) {
  if (shape_numel(shape) != numel())
    throw Error("Tensor::reshape: cannot view shape " + shape_string() + " as " +
                lstm::shape_string(shape));
  shape_ = std::move(shape);
}

void Tensor::fill(float value) { std::fill(data_.begin(), data_.end(), value); }

void Tensor::check_shape(const Shape& expected, const std::string& what) const {
  bool ok = expected.size() == shape_.size();
  for (std::size_t i = 0; ok && i < expected.size(); ++i)
    ok = expected[i] < 0 || expected[i] == shape_[i];
  if (!ok) {
    std::string e = "(";
    for (std::size_t i = 0; i < expected.size(); ++i) {
      if (i) e += ", ";
      e += expected[i] < 0 ? std::string("*") : std::to_string(expected[i]);
    }
    e += expected.size() == 1 ? ",)" : ")";
    throw Error(what + ": expected shape " + e + ", got " + shape_string());
  }
}

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Rng::seed(uint64_t seed) {
  for (auto& word : s_) word = splitmix64(seed);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }

float Rng::normal() {
  // Box-Muller on u1 in (0, 1], u2 in [0, 1).
  const double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  const double u2 = static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
  return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) *
                            std::cos(2.0 * std::numbers::pi * u2));
}

std::vector<uint64_t> Rng::state() const { return {s_[0], s_[1], s_[2], s_[3]}; }

void Rng::set_state(const std::vector<uint64_t>& state) {
  if (state.size() != 4)
    throw Error("Rng::set_state: expected 4 words, got " + std::to_string(state.size()));
  for (int i = 0; i < 4; ++i) s_[i] = state[static_cast<std::size_t>(i)];
}

}  // namespace lstm
