// Helpers for the file-format tests (test_safetensors.cpp, test_npy.cpp): scratch paths, raw
// bytes in and out, and a check that a reader rejects a file with a clear, one-line message.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "lstm/tensor.h"

namespace lstm::testing {

// A scratch directory for the running test, created empty.
inline std::filesystem::path scratch_dir() {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(test->test_suite_name()) + "." + test->name();
  for (char& c : name)
    if (c == '/') c = '_';  // parameterized tests are named "Prefix/Suite.Test/param"
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "lstm_io" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The in-memory bytes of `value` (little-endian on the hosts lstm.cpp supports).
template <class T>
std::string bytes_of(T value) {
  std::string bytes(sizeof(T), '\0');
  std::memcpy(bytes.data(), &value, sizeof(T));
  return bytes;
}

template <class T>
std::string bytes_of(std::initializer_list<T> values) {
  std::string bytes;
  for (const T value : values) bytes += bytes_of(value);
  return bytes;
}

inline uint32_t float_bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

// Succeeds when `read()` throws an lstm::Error whose message is a single line that starts with
// "<path>: " and contains every one of `parts`.
inline ::testing::AssertionResult rejects(const std::function<void()>& read,
                                          const std::string& path,
                                          const std::vector<std::string>& parts) {
  try {
    read();
  } catch (const Error& error) {
    const std::string message = error.what();
    if (!message.starts_with(path + ": "))
      return ::testing::AssertionFailure() << "message does not start with the path: " << message;
    if (message.find('\n') != std::string::npos)
      return ::testing::AssertionFailure() << "message spans lines: " << message;
    for (const std::string& part : parts)
      if (message.find(part) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks \"" << part << "\": " << message;
    return ::testing::AssertionSuccess();
  } catch (const std::exception& other) {
    return ::testing::AssertionFailure()
           << "threw something other than lstm::Error: " << other.what();
  }
  return ::testing::AssertionFailure() << "no lstm::Error was thrown";
}

// A malformed file for a parameterized test, and what the reader's error message must mention
// besides the path it starts with.
struct MalformedFile {
  std::string name;  // the test case's name and the file's
  std::string bytes;
  std::vector<std::string> message_parts;
};

inline std::ostream& operator<<(std::ostream& out, const MalformedFile& file) {
  return out << file.name;
}

inline std::string malformed_file_name(const ::testing::TestParamInfo<MalformedFile>& param) {
  return param.param.name;
}

}  // namespace lstm::testing
