// Message pieces shared by the data readers. Private to src/data/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/file_util.h"
#include "lstm/tensor.h"

namespace lstm::data_detail {

// "FILE:LINE:COLUMN: problem".
inline Error data_error(const std::string& source, int64_t line, int64_t column, const std::string& problem) {
  return Error(source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + problem);
}

// 'text' on one line (bytes outside printable ASCII as \xNN), cut after 60 bytes.
inline std::string in_quotes(std::string_view text) {
  constexpr std::size_t longest = 60;
  if (text.size() <= longest) return io_detail::single_quoted(text);
  return io_detail::single_quoted(text.substr(0, longest)) + "...";
}

// "a, b, c".
inline std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace lstm::data_detail
