// Pieces shared by the safetensors and .npy readers and writers: whole-file reads, atomic writes,
// little-endian loads, element sizes and exact integer conversion. Private to src/io/.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "lstm/io.h"
#include "lstm/tensor.h"

namespace lstm::io_detail {

// Both formats store little-endian numbers, and the data buffers are copied to and from memory
// as they are, so the host must be little-endian too.
static_assert(std::endian::native == std::endian::little,
              "lstm.cpp's file I/O supports little-endian hosts only");

// The error for a problem with the file at `path`: "<path>: <problem>".
inline Error file_error(const std::string& path, const std::string& problem) {
  return Error(path + ": " + problem);
}

inline std::string errno_text() { return std::strerror(errno); }

// `text` with every byte outside printable ASCII written as \xNN, so that a message quoting a
// file's content stays on one line and readable.
inline std::string escaped(std::string_view text) {
  constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += "\\x";
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    }
  }
  return out;
}

// 'text', escaped.
inline std::string single_quoted(std::string_view text) {
  std::string out = "'";
  out += escaped(text);
  out += '\'';
  return out;
}

// A little-endian value of type T at `bytes` (which need not be aligned).
template <class T>
T load_le(const char* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

// Bytes per element of `dtype`.
inline std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f16:
    case DType::bf16:
      return 2;
    case DType::f32:
    case DType::i32:
      return 4;
    case DType::f64:
    case DType::i64:
      return 8;
  }
  return 0;
}

// product(shape) × item_size, or nothing when a dimension is negative or the product overflows.
inline std::optional<uint64_t> byte_count(const Shape& shape, std::size_t item_size) {
  uint64_t bytes = item_size;
  for (const int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes)) return {};
  return bytes;
}

// Throws "<path>: <what> has shape S but holds N values" for a tensor whose buffer does not
// match its shape (a default-constructed Tensor has shape () yet holds nothing).
inline void check_holds_its_shape(const std::string& path, const std::string& what,
                                  const Tensor& tensor) {
  if (tensor.numel() != shape_numel(tensor.shape()))
    throw file_error(path, what + " has shape " + tensor.shape_string() + " but holds " +
                               std::to_string(tensor.numel()) + " values");
}

// True when the integer `value` converts to the floating-point type F without rounding for every
// integer of its magnitude: |value| ≤ 2^digits (2^24 for float, 2^53 for double).
template <class F>
bool within_exact_integer_range(int64_t value) {
  constexpr int64_t limit = int64_t{1} << std::numeric_limits<F>::digits;
  return value >= -limit && value <= limit;
}

// The whole content of the file at `path`. Throws "<path>: cannot open: <reason>" when the file
// cannot be opened and "<path>: cannot read: <reason>" when reading fails (a directory, say).
inline std::string read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw file_error(path, "cannot open: " + errno_text());
  std::string content;
  struct stat info {};
  if (::fstat(fd, &info) == 0 && info.st_size > 0) content.reserve(info.st_size);
  char chunk[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got == 0) break;
    if (got < 0) {
      if (errno == EINTR) continue;
      const std::string reason = errno_text();
      ::close(fd);
      throw file_error(path, "cannot read: " + reason);
    }
    content.append(chunk, static_cast<std::size_t>(got));
  }
  ::close(fd);
  return content;
}

// Writes a file so that a crash leaves either the old file or the complete new one: the bytes go
// to a temporary file in the same directory, which commit() flushes to disk (fsync), renames
// over the target and makes durable by syncing the directory. Destroyed without commit(), the
// writer removes the temporary file and leaves the target untouched. Errors name the target.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path) : path_(std::move(path)) {
    static std::atomic<unsigned> counter{0};
    // O_EXCL makes the name ours alone; the mode 0666 is narrowed by the umask as for any new
    // file. A name left by a crashed writer is skipped.
    for (;;) {
      temp_path_ =
          path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
      fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) return;
      if (errno != EEXIST) throw file_error(path_, "cannot create: " + errno_text());
    }
  }
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_path_.c_str());
  }

  void write(const void* data, std::size_t size) {
    const char* bytes = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t put = ::write(fd_, bytes, size);
      if (put < 0) {
        if (errno == EINTR) continue;
        throw file_error(path_, "cannot write: " + errno_text());
      }
      bytes += put;
      size -= static_cast<std::size_t>(put);
    }
  }
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }

  void commit() {
    if (::fsync(fd_) != 0) throw file_error(path_, "cannot write: fsync: " + errno_text());
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) throw file_error(path_, "cannot write: close: " + errno_text());
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0)
      throw file_error(path_, "cannot write: rename: " + errno_text());
    committed_ = true;
    // The rename is durable only once the directory entry is on disk.
    const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
    const std::filesystem::path directory = parent.empty() ? std::filesystem::path(".") : parent;
    const int dir_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) throw file_error(path_, "cannot open its directory: " + errno_text());
    // EINVAL: the file system cannot sync directories, and nothing more can be done.
    if (::fsync(dir_fd) != 0 && errno != EINVAL) {
      const std::string reason = errno_text();
      ::close(dir_fd);
      throw file_error(path_, "cannot sync its directory: " + reason);
    }
    ::close(dir_fd);
  }

 private:
  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace lstm::io_detail
