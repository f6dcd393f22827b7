// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length
// N, N bytes of JSON header, then the data buffer. The header maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data buffer) and may
// hold "__metadata__", an object of strings. Reading validates as strictly as the reference
// reader, and also rejects duplicate names, which JSON parsers otherwise resolve silently.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "io/file_util.h"
#include "lstm/io.h"

namespace lstm {

using io_detail::file_error;
using io_detail::load_le;
using io_detail::single_quoted;
using json = nlohmann::json;

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
    case DType::f32:
      return "F32";
    case DType::f64:
      return "F64";
    case DType::i32:
      return "I32";
    case DType::i64:
      return "I64";
  }
  return "?";
}

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const NamedTensor& named : tensors)
    if (named.name == name) return &named.tensor;
  return nullptr;
}

namespace {

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit
constexpr uint64_t kLengthFieldBytes = 8;
constexpr const char* kMetadataKey = "__metadata__";
constexpr DType kAllDTypes[] = {DType::f16, DType::bf16, DType::f32,
                                DType::f64, DType::i32,  DType::i64};

std::optional<DType> parse_dtype(const std::string& name) {
  for (const DType dtype : kAllDTypes)
    if (name == dtype_name(dtype)) return dtype;
  return std::nullopt;
}

std::string supported_dtypes() {
  std::string list;
  for (const DType dtype : kAllDTypes)
    list += std::string(list.empty() ? "" : ", ") + dtype_name(dtype);
  return list;
}

// "[begin, end]"
std::string offsets_string(uint64_t begin, uint64_t end) {
  std::string text = "[";
  text += std::to_string(begin) + ", " + std::to_string(end) + "]";
  return text;
}

// One tensor's header entry, validated on its own.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin;  // data_offsets, relative to the data buffer
  uint64_t end;
};

// Parses the header text into a JSON value, rejecting syntax errors and any object that names a
// key twice (a duplicate tensor name, or a field repeated inside one entry).
json parse_header_json(const std::string& path, std::string_view text) {
  std::vector<std::set<std::string>> keys_of_open_objects;
  std::string current_entry;  // the top-level key whose value is being parsed
  std::string duplicate_problem;
  const auto note_duplicates = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys_of_open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys_of_open_objects.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        const bool top_level = keys_of_open_objects.size() == 1;
        if (top_level) current_entry = key;
        if (!keys_of_open_objects.back().insert(key).second && duplicate_problem.empty())
          duplicate_problem = top_level
                                  ? "duplicate tensor name " + single_quoted(key) + " in the header"
                                  : "header entry " + single_quoted(current_entry) +
                                        " has the key " + single_quoted(key) + " twice";
        break;
      }
      default:
        break;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), note_duplicates);
  } catch (const json::parse_error& error) {
    // nlohmann's messages start with "[json.exception.parse_error.N] "; the rest says where,
    // and may quote the offending bytes.
    const std::string_view what = error.what();
    const std::size_t tag_end = what.find("] ");
    throw file_error(
        path, "header is not valid JSON: " + io_detail::escaped(tag_end == std::string_view::npos
                                                                    ? what
                                                                    : what.substr(tag_end + 2)));
  }
  if (!duplicate_problem.empty()) throw file_error(path, duplicate_problem);
  if (!header.is_object())
    throw file_error(path, std::string("header must be a JSON object, got ") + header.type_name());
  return header;
}

std::map<std::string, std::string> parse_metadata(const std::string& path, const json& value) {
  if (!value.is_object())
    throw file_error(
        path, std::string("__metadata__ must be an object of strings, got ") + value.type_name());
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string())
      throw file_error(path, "__metadata__ value for " + single_quoted(key) +
                                 " must be a string, got " + item.type_name() + " " + item.dump());
    metadata[key] = item.get<std::string>();
  }
  return metadata;
}

// Validates one tensor entry: exactly the fields dtype, shape and data_offsets, a supported
// dtype, non-negative integer dimensions, 0 ≤ begin ≤ end, and end − begin equal to the byte
// count the dtype and shape need (computed without overflow).
Entry parse_entry(const std::string& path, const std::string& name, const json& value) {
  const std::string where = path + ": tensor " + single_quoted(name) + ": ";
  if (!value.is_object()) throw Error(where + "entry must be an object, got " + value.type_name());
  for (const auto& field : value.items())
    if (field.key() != "dtype" && field.key() != "shape" && field.key() != "data_offsets")
      throw Error(where + "unknown field " + single_quoted(field.key()) +
                  " (expected dtype, shape and data_offsets)");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!value.contains(field)) throw Error(where + "missing field '" + field + "'");

  Entry entry{.name = name, .dtype = DType::f32, .shape = {}, .begin = 0, .end = 0};
  const json& dtype = value["dtype"];
  if (!dtype.is_string()) throw Error(where + "dtype must be a string, got " + dtype.dump());
  const std::optional<DType> known = parse_dtype(dtype.get<std::string>());
  if (!known)
    throw Error(where + "dtype " + single_quoted(dtype.get<std::string>()) +
                " is not supported (supported: " + supported_dtypes() + ")");
  entry.dtype = *known;

  const json& shape = value["shape"];
  const auto is_dimension = [](const json& d) {
    return d.is_number_unsigned() &&
           d.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  };
  if (!shape.is_array() || !std::all_of(shape.begin(), shape.end(), is_dimension))
    throw Error(where + "shape must be an array of non-negative integers, got " + shape.dump());
  for (const json& d : shape) entry.shape.push_back(d.get<int64_t>());
  const std::optional<uint64_t> bytes =
      io_detail::byte_count(entry.shape, io_detail::dtype_size(entry.dtype));
  if (!bytes) throw Error(where + "shape " + shape.dump() + " overflows a 64-bit byte count");

  const json& offsets = value["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned() || offsets[0].get<uint64_t>() > offsets[1].get<uint64_t>())
    throw Error(where + "data_offsets must be [begin, end] with integers 0 <= begin <= end, got " +
                offsets.dump());
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.end - entry.begin != *bytes)
    throw Error(where + "data_offsets " + offsets_string(entry.begin, entry.end) + " hold " +
                std::to_string(entry.end - entry.begin) + " bytes, but " + dtype_name(entry.dtype) +
                " " + shape_string(entry.shape) + " needs " + std::to_string(*bytes));
  return entry;
}

// Checks that the entries, sorted by offset, tile the data buffer exactly: the first starts at
// 0, each starts where the previous one ends (no overlap, no gap), and the last ends at the
// buffer's end (nothing missing, nothing trailing).
void check_tiling(const std::string& path, const std::vector<Entry>& sorted, uint64_t data_bytes) {
  uint64_t covered = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : sorted) {
    const std::string offsets = offsets_string(entry.begin, entry.end);
    if (entry.begin < covered)
      throw file_error(path, "tensor " + single_quoted(entry.name) + ": data_offsets " + offsets +
                                 " overlap tensor " + single_quoted(previous->name) + "'s " +
                                 offsets_string(previous->begin, previous->end));
    if (entry.begin > covered)
      throw file_error(path, "bytes [" + std::to_string(covered) + ", " +
                                 std::to_string(entry.begin) +
                                 ") of the data buffer belong to no tensor (a gap before tensor " +
                                 single_quoted(entry.name) + ")");
    if (entry.end > data_bytes)
      throw file_error(path, "tensor " + single_quoted(entry.name) + ": data_offsets " + offsets +
                                 " run past the end of the " + std::to_string(data_bytes) +
                                 "-byte data buffer (file truncated?)");
    covered = entry.end;
    previous = &entry;
  }
  if (covered < data_bytes)
    throw file_error(path, std::to_string(data_bytes - covered) +
                               " trailing bytes after the tensors' data (the data buffer is " +
                               std::to_string(data_bytes) + " bytes, the tensors cover " +
                               std::to_string(covered) + ")");
}

// An IEEE half-precision value, exactly as float32.
float f16_to_float(uint16_t bits) {
  const bool negative = (bits & 0x8000) != 0;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  float magnitude;
  if (exponent == 0x1f)
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity()
                              : std::numeric_limits<float>::quiet_NaN();
  else if (exponent == 0)  // zero or subnormal: mantissa × 2^-24
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  else  // (1024 + mantissa) × 2^(exponent − 15 − 10)
    magnitude = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
  return negative ? -magnitude : magnitude;
}

// bfloat16 is the top half of a float32.
float bf16_to_float(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// Fills `tensor` from its elements stored as Stored at `data`; to_float(value, index) converts.
template <class Stored, class ToFloat>
void convert_elements(const char* data, Tensor& tensor, ToFloat to_float) {
  for (int64_t i = 0; i < tensor.numel(); ++i)
    tensor[i] = to_float(load_le<Stored>(data + i * static_cast<int64_t>(sizeof(Stored))), i);
}

// The entry's bytes at `data` as a float32 tensor.
Tensor decode(const std::string& path, const Entry& entry, const char* data) {
  Tensor tensor(entry.shape);
  const auto exact_integer = [&](int64_t value, int64_t index) {
    if (!io_detail::within_exact_integer_range<float>(value))
      throw file_error(path, "tensor " + single_quoted(entry.name) + ": " +
                                 dtype_name(entry.dtype) + " element " + std::to_string(index) +
                                 " is " + std::to_string(value) +
                                 ", beyond 2^24 in magnitude, so float32 cannot hold it exactly");
    return static_cast<float>(value);
  };
  switch (entry.dtype) {
    case DType::f32:
      std::memcpy(tensor.data(), data, static_cast<std::size_t>(tensor.numel()) * sizeof(float));
      break;
    case DType::f16:
      convert_elements<uint16_t>(data, tensor,
                                 [](uint16_t bits, int64_t) { return f16_to_float(bits); });
      break;
    case DType::bf16:
      convert_elements<uint16_t>(data, tensor,
                                 [](uint16_t bits, int64_t) { return bf16_to_float(bits); });
      break;
    case DType::f64:
      convert_elements<double>(data, tensor,
                               [](double value, int64_t) { return static_cast<float>(value); });
      break;
    case DType::i32:
      convert_elements<int32_t>(data, tensor, exact_integer);
      break;
    case DType::i64:
      convert_elements<int64_t>(data, tensor, exact_integer);
      break;
  }
  return tensor;
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string content = io_detail::read_whole_file(path);
  const uint64_t file_bytes = content.size();
  if (file_bytes < kLengthFieldBytes)
    throw file_error(path, "file is " + std::to_string(file_bytes) +
                               " bytes, too short for the 8-byte header length");
  const auto header_bytes = load_le<uint64_t>(content.data());
  if (header_bytes > kMaxHeaderBytes)
    throw file_error(path, "header length " + std::to_string(header_bytes) +
                               " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                               " bytes");
  if (header_bytes > file_bytes - kLengthFieldBytes)
    throw file_error(path, "header length " + std::to_string(header_bytes) +
                               " runs past the end of the file (" +
                               std::to_string(file_bytes - kLengthFieldBytes) +
                               " bytes follow the length field)");
  const json header =
      parse_header_json(path, std::string_view(content).substr(kLengthFieldBytes, header_bytes));

  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey)
      file.metadata = parse_metadata(path, value);
    else
      entries.push_back(parse_entry(path, key, value));
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  const uint64_t data_start = kLengthFieldBytes + header_bytes;
  check_tiling(path, entries, file_bytes - data_start);

  for (const Entry& entry : entries)
    file.tensors.push_back(
        {entry.name, decode(path, entry, content.data() + data_start + entry.begin)});
  return file;
}

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps the tensors in the order given.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMetadataKey) throw file_error(path, "tensor name '__metadata__' is reserved");
    if (header.contains(name))
      throw file_error(path, "tensor name " + single_quoted(name) + " given twice");
    io_detail::check_holds_its_shape(path, "tensor " + single_quoted(name), tensor);
    const uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * sizeof(float);
    header[name] = {{"dtype", dtype_name(DType::f32)},
                    {"shape", tensor.shape()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::ordered_json::type_error& error) {  // a name that is not UTF-8
    throw file_error(path, std::string("cannot encode the header: ") + error.what());
  }
  // Spaces pad the header so that the data buffer starts at a multiple of 8 bytes.
  text.resize((text.size() + 7) / 8 * 8, ' ');
  if (text.size() > kMaxHeaderBytes)
    throw file_error(path, "header of " + std::to_string(text.size()) +
                               " bytes exceeds the limit of " + std::to_string(kMaxHeaderBytes));

  io_detail::AtomicFileWriter out(path);
  const uint64_t length = text.size();
  out.write(&length, sizeof length);
  out.write(text);
  for (const NamedTensor& named : tensors)
    out.write(named.tensor.data(), static_cast<std::size_t>(named.tensor.numel()) * sizeof(float));
  out.commit();
}

}  // namespace lstm
