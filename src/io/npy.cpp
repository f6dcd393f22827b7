// NumPy .npy (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// "\x93NUMPY", the version (major, minor bytes), the header length (u16 in 1.0, u32 in 2.0 and
// 3.0, little-endian), the header — a Python dict literal such as
// "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" padded with spaces and ending in
// '\n' — then the elements. Only C-order, little-endian float32/float64/int32/int64 are read.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "io/file_util.h"
#include "lstm/io.h"

namespace lstm {

using io_detail::file_error;
using io_detail::load_le;
using io_detail::single_quoted;

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr std::size_t kVersionBytes = 2;
constexpr std::size_t kAlignment = 64;  // NumPy starts the data at a multiple of 64 bytes

// The element types read and written, with their NumPy type strings.
struct NpyType {
  DType dtype;
  std::string_view descr;
};
constexpr NpyType kNpyTypes[] = {
    {DType::f32, "<f4"}, {DType::f64, "<f8"}, {DType::i32, "<i4"}, {DType::i64, "<i8"}};

std::string supported_descrs() {
  std::string list;
  for (const NpyType& type : kNpyTypes)
    list += (list.empty() ? "" : ", ") + single_quoted(type.descr);
  return list;
}

std::string_view descr_of(DType dtype) {
  for (const NpyType& type : kNpyTypes)
    if (type.dtype == dtype) return type.descr;
  return {};
}

// The dtype a supported type string names. A big-endian or other type string is an error that
// says what is supported.
DType dtype_of(const std::string& path, const std::string& descr) {
  for (const NpyType& type : kNpyTypes)
    if (type.descr == descr) return type.dtype;
  if (!descr.empty() && descr[0] == '>')
    throw file_error(path,
                     "big-endian dtype " + single_quoted(descr) +
                         " is not supported; save with arr.astype(arr.dtype.newbyteorder('<'))");
  throw file_error(path, "dtype " + single_quoted(descr) +
                             " is not supported (supported: " + supported_descrs() + ")");
}

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  Shape shape;
};

// A strict parser for the header's dict literal: the keys 'descr' (a string), 'fortran_order'
// (True or False) and 'shape' (a tuple of non-negative integers), each exactly once and in any
// order, separated by commas with an optional trailing one, surrounded by optional whitespace.
class HeaderParser {
 public:
  HeaderParser(std::string path, std::string_view text) : path_(std::move(path)), text_(text) {}

  NpyHeader parse() {
    NpyHeader header;
    bool seen_descr = false, seen_fortran_order = false, seen_shape = false;
    expect('{');
    while (!consume('}')) {
      const std::string key = parse_string();
      expect(':');
      if (key == "descr") {
        mark_seen(seen_descr, key);
        if (peek() == '[') fail("structured dtypes (a list as 'descr') are not supported");
        header.descr = parse_string();
      } else if (key == "fortran_order") {
        mark_seen(seen_fortran_order, key);
        header.fortran_order = parse_bool();
      } else if (key == "shape") {
        mark_seen(seen_shape, key);
        header.shape = parse_shape();
      } else {
        fail("unknown key " + single_quoted(key));
      }
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected text after the closing '}'");
    if (!seen_descr) fail("missing key 'descr'");
    if (!seen_fortran_order) fail("missing key 'fortran_order'");
    if (!seen_shape) fail("missing key 'shape'");
    return header;
  }

 private:
  // "malformed header: <problem> at character <pos> in <the header, without its padding>".
  [[noreturn]] void fail(const std::string& problem) const {
    constexpr std::size_t kShownChars = 200;
    std::string_view shown = text_.substr(0, text_.find_last_not_of(" \t\r\n") + 1);
    const bool cut = shown.size() > kShownChars;
    shown = shown.substr(0, kShownChars);
    throw file_error(path_, "malformed header: " + problem + " at character " +
                                std::to_string(pos_) + " in " + io_detail::escaped(shown) +
                                (cut ? "..." : ""));
  }

  void mark_seen(bool& seen, const std::string& key) const {
    if (seen) fail("key " + single_quoted(key) + " given twice");
    seen = true;
  }

  void skip_whitespace() {
    while (pos_ < text_.size() && std::strchr(" \t\r\n", text_[pos_]) != nullptr) ++pos_;
  }
  // The next character after whitespace, or '\0' at the end.
  char peek() {
    skip_whitespace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) fail(std::string("expected '") + c + "'");
  }

  // A string literal in single or double quotes, without escape sequences.
  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const std::size_t close = text_.find(quote, pos_ + 1);
    if (close == std::string_view::npos) fail("unterminated string");
    const std::string_view content = text_.substr(pos_ + 1, close - pos_ - 1);
    if (content.find('\\') != std::string_view::npos) fail("escape sequences are not supported");
    pos_ = close + 1;
    return std::string(content);
  }

  bool parse_bool() {
    skip_whitespace();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      if (text_.substr(pos_).starts_with(word)) {
        pos_ += std::strlen(word);
        return value;
      }
    }
    fail("expected True or False");
  }

  int64_t parse_dimension() {
    skip_whitespace();
    const std::size_t start = pos_;
    int64_t value = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      if (__builtin_mul_overflow(value, 10, &value) ||
          __builtin_add_overflow(value, text_[pos_] - '0', &value))
        fail("dimension too large");
      ++pos_;
    }
    if (pos_ == start) fail("expected a non-negative integer dimension");
    return value;
  }

  // "()", "(3,)", "(2, 3)" or "(2, 3,)"; "(3)" is an integer in Python, not a tuple.
  Shape parse_shape() {
    expect('(');
    Shape shape;
    bool trailing_comma = false;
    while (!consume(')')) {
      shape.push_back(parse_dimension());
      trailing_comma = consume(',');
      if (!trailing_comma) {
        expect(')');
        break;
      }
    }
    if (shape.size() == 1 && !trailing_comma) fail("a 1-tuple shape needs a trailing comma");
    return shape;
  }

  std::string path_;
  std::string_view text_;
  std::size_t pos_ = 0;
};

// A validated file: its bytes, and the type, shape and place of its elements.
struct NpyFile {
  std::string content;
  DType dtype = DType::f32;
  Shape shape;
  std::size_t data_at = 0;
  const char* elements() const { return content.data() + data_at; }
};

// Reads the file at `path` and validates its preamble, its header and its data length.
NpyFile load_npy(const std::string& path) {
  NpyFile file;
  file.content = io_detail::read_whole_file(path);
  const std::string& content = file.content;
  if (!content.starts_with(kMagic))
    throw file_error(path, "not a .npy file: it does not start with the magic \"\\x93NUMPY\"");
  const std::size_t version_at = kMagic.size();
  if (content.size() < version_at + kVersionBytes)
    throw file_error(path, "file truncated in the version field");
  const int major = static_cast<unsigned char>(content[version_at]);
  const int minor = static_cast<unsigned char>(content[version_at + 1]);
  if (minor != 0 || major < 1 || major > 3)
    throw file_error(path, "format version " + std::to_string(major) + "." + std::to_string(minor) +
                               " is not supported (supported: 1.0, 2.0, 3.0)");
  const std::size_t length_at = version_at + kVersionBytes;
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  if (content.size() < length_at + length_bytes)
    throw file_error(path, "file truncated in the header length field");
  const std::size_t header_length = major == 1 ? load_le<uint16_t>(content.data() + length_at)
                                               : load_le<uint32_t>(content.data() + length_at);
  const std::size_t header_at = length_at + length_bytes;
  if (header_length > content.size() - header_at)
    throw file_error(path, "header length " + std::to_string(header_length) +
                               " runs past the end of the file (" +
                               std::to_string(content.size() - header_at) +
                               " bytes follow the length field)");
  const NpyHeader header =
      HeaderParser(path, std::string_view(content).substr(header_at, header_length)).parse();

  const DType dtype = dtype_of(path, header.descr);
  if (header.fortran_order)
    throw file_error(path, "Fortran order not supported; save with np.ascontiguousarray");
  const std::optional<uint64_t> needed =
      io_detail::byte_count(header.shape, io_detail::dtype_size(dtype));
  if (!needed)
    throw file_error(path,
                     "shape " + shape_string(header.shape) + " overflows a 64-bit byte count");
  const std::size_t data_at = header_at + header_length;
  const uint64_t held = content.size() - data_at;
  if (held != *needed)
    throw file_error(
        path, std::string(held < *needed ? "data truncated" : "trailing bytes after the data") +
                  ": " + header.descr + " " + shape_string(header.shape) + " needs " +
                  std::to_string(*needed) + " bytes, the file holds " + std::to_string(held) +
                  " after the header");
  file.dtype = dtype;
  file.shape = header.shape;
  file.data_at = data_at;
  return file;
}

template <class Stored, class Visit>
void visit_as(const NpyFile& file, Visit& visit) {
  const int64_t count = shape_numel(file.shape);
  for (int64_t i = 0; i < count; ++i)
    visit(i, load_le<Stored>(file.elements() + i * static_cast<int64_t>(sizeof(Stored))));
}

// Calls visit(index, value) for every element, with `value` in the file's own type.
template <class Visit>
void visit_elements(const NpyFile& file, Visit visit) {
  switch (file.dtype) {
    case DType::f32:
      return visit_as<float>(file, visit);
    case DType::f64:
      return visit_as<double>(file, visit);
    case DType::i32:
      return visit_as<int32_t>(file, visit);
    case DType::i64:
      return visit_as<int64_t>(file, visit);
    default:  // load_npy admits only the four types above
      return;
  }
}

// The elements of `values` as T (the C++ type of `dtype`), in a byte buffer; an integer type
// must hold each value exactly.
template <class T>
std::string encode(const std::string& path, DType dtype, const std::vector<double>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double value = values[i];
    if constexpr (std::is_integral_v<T>) {
      // [−2^(bits−1), 2^(bits−1)) are exactly the doubles that fit T.
      constexpr double limit = -static_cast<double>(std::numeric_limits<T>::min());
      if (!(std::trunc(value) == value && value >= -limit && value < limit)) {
        char text[32];
        std::snprintf(text, sizeof text, "%.17g", value);
        throw file_error(path, "element " + std::to_string(i) + " (" + text +
                                   ") is not an integer in the range of " + dtype_name(dtype));
      }
    }
    const T stored = static_cast<T>(value);
    std::memcpy(bytes.data() + i * sizeof(T), &stored, sizeof(T));
  }
  return bytes;
}

// Writes `elements` (little-endian, `dtype`, C order) as a .npy file of `shape`.
void write_npy_file(const std::string& path, DType dtype, const Shape& shape, const void* elements,
                    std::size_t element_bytes) {
  std::string header = "{'descr': '" + std::string(descr_of(dtype)) +
                       "', 'fortran_order': False, 'shape': " + shape_string(shape) + ", }";
  // Version 1.0 has a 2-byte header length; 2.0 a 4-byte one for longer headers.
  const auto padded_length = [&](std::size_t length_bytes) {
    const std::size_t unpadded = kMagic.size() + kVersionBytes + length_bytes + header.size() + 1;
    return header.size() + 1 + (kAlignment - unpadded % kAlignment) % kAlignment;
  };
  const bool version1 = padded_length(2) <= std::numeric_limits<uint16_t>::max();
  const std::size_t header_length = padded_length(version1 ? 2 : 4);
  header.resize(header_length - 1, ' ');
  header += '\n';

  std::string preamble(kMagic);
  preamble += static_cast<char>(version1 ? 1 : 2);
  preamble += '\0';
  if (version1) {
    const auto length = static_cast<uint16_t>(header_length);
    preamble.append(reinterpret_cast<const char*>(&length), sizeof length);
  } else {
    const auto length = static_cast<uint32_t>(header_length);
    preamble.append(reinterpret_cast<const char*>(&length), sizeof length);
  }

  io_detail::AtomicFileWriter out(path);
  out.write(preamble);
  out.write(header);
  out.write(elements, element_bytes);
  out.commit();
}

}  // namespace

NpyArray read_npy_array(const std::string& path) {
  const NpyFile file = load_npy(path);
  NpyArray array{.dtype = file.dtype, .shape = file.shape, .values = {}};
  array.values.resize(static_cast<std::size_t>(shape_numel(file.shape)));
  visit_elements(file, [&](int64_t i, auto value) {
    if constexpr (std::is_same_v<decltype(value), int64_t>) {
      if (!io_detail::within_exact_integer_range<double>(value))
        throw file_error(path, "element " + std::to_string(i) + " is " + std::to_string(value) +
                                   ", beyond 2^53 in magnitude, so a double cannot hold it "
                                   "exactly (read it with read_npy_integers)");
    }
    array.values[static_cast<std::size_t>(i)] = static_cast<double>(value);
  });
  return array;
}

void write_npy_array(const std::string& path, const NpyArray& array) {
  const std::optional<uint64_t> count = io_detail::byte_count(array.shape, 1);
  if (!count)
    throw file_error(path, "shape " + shape_string(array.shape) +
                               " has a negative dimension or too many elements");
  if (*count != array.values.size())
    throw file_error(path, "shape " + shape_string(array.shape) + " needs " +
                               std::to_string(*count) + " values, the array holds " +
                               std::to_string(array.values.size()));
  std::string bytes;
  switch (array.dtype) {
    case DType::f32:
      bytes = encode<float>(path, DType::f32, array.values);
      break;
    case DType::f64:
      bytes = encode<double>(path, DType::f64, array.values);
      break;
    case DType::i32:
      bytes = encode<int32_t>(path, DType::i32, array.values);
      break;
    case DType::i64:
      bytes = encode<int64_t>(path, DType::i64, array.values);
      break;
    case DType::f16:
    case DType::bf16:
      throw file_error(path, std::string("cannot write ") + dtype_name(array.dtype) +
                                 " to .npy (supported: F32, F64, I32, I64)");
  }
  write_npy_file(path, array.dtype, array.shape, bytes.data(), bytes.size());
}

Tensor read_npy(const std::string& path) {
  const NpyFile file = load_npy(path);
  if (file.dtype != DType::f32 && file.dtype != DType::f64)
    throw file_error(path, "dtype " + single_quoted(descr_of(file.dtype)) +
                               " is an integer type; read_npy reads float32 or float64 "
                               "(use read_npy_integers)");
  Tensor tensor(file.shape);
  visit_elements(file, [&](int64_t i, auto value) { tensor[i] = static_cast<float>(value); });
  return tensor;
}

std::vector<int64_t> read_npy_integers(const std::string& path, Shape* shape) {
  const NpyFile file = load_npy(path);
  if (file.dtype != DType::i32 && file.dtype != DType::i64)
    throw file_error(path, "dtype " + single_quoted(descr_of(file.dtype)) +
                               " is a float type; read_npy_integers reads int32 or int64");
  std::vector<int64_t> values(static_cast<std::size_t>(shape_numel(file.shape)));
  visit_elements(file, [&](int64_t i, auto value) {
    values[static_cast<std::size_t>(i)] = static_cast<int64_t>(value);
  });
  if (shape) *shape = file.shape;
  return values;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  io_detail::check_holds_its_shape(path, "tensor", tensor);
  write_npy_file(path, DType::f32, tensor.shape(), tensor.data(),
                 static_cast<std::size_t>(tensor.numel()) * sizeof(float));
}

}  // namespace lstm
