// safetensors: bit-exact round trips, the written layout, every dtype read from hand-built files,
// and a malformed file of every kind rejected with a message naming the file and the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io_test_util.h"
#include "lstm/io.h"

namespace {

using lstm::NamedTensor;
using lstm::Tensor;
using lstm::testing::bytes_of;
using lstm::testing::float_bits;
using lstm::testing::malformed_file_name;
using lstm::testing::MalformedFile;
using lstm::testing::read_bytes;
using lstm::testing::rejects;
using lstm::testing::scratch_dir;
using lstm::testing::write_bytes;

// A safetensors file: the header's length as 8 little-endian bytes, the header, the data.
std::string safetensors_bytes(std::string_view header, std::string_view data) {
  return bytes_of(static_cast<uint64_t>(header.size())) + std::string(header) + std::string(data);
}

// A header entry: "name": {"dtype": ..., "shape": ..., "data_offsets": [begin, end]}.
std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  uint64_t begin, uint64_t end) {
  return "\"" + name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape +
         ", \"data_offsets\": [" + std::to_string(begin) + ", " + std::to_string(end) + "]}";
}

Tensor random_tensor(lstm::Shape shape, lstm::Rng& rng) {
  Tensor t(std::move(shape));
  for (float& v : t) v = rng.normal();
  return t;
}

// Same names in the same order, same shapes, and the same float32 bit patterns.
void expect_identical(const std::vector<NamedTensor>& actual,
                      const std::vector<NamedTensor>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(expected[i].name);
    EXPECT_EQ(actual[i].name, expected[i].name);
    ASSERT_EQ(actual[i].tensor.shape(), expected[i].tensor.shape());
    for (int64_t j = 0; j < expected[i].tensor.numel(); ++j)
      ASSERT_EQ(float_bits(actual[i].tensor[j]), float_bits(expected[i].tensor[j])) << "at " << j;
  }
}

TEST(Safetensors, RoundTripIsBitExact) {
  lstm::Rng rng(7);
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<NamedTensor> tensors = {
      // Names deliberately out of alphabetical order: the file keeps the given order.
      {"1.weight", random_tensor({3, 5}, rng)},
      {"0.weight_ih_l0", random_tensor({8, 2}, rng)},
      {"0.bias_hh_l0", random_tensor({8}, rng)},
      {"scalar", Tensor({}, {0.1f})},
      {"empty", Tensor({0, 4})},
      {"special",
       Tensor({6}, {-0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max()})},
  };
  const std::map<std::string, std::string> metadata = {
      {"format", "lstm.cpp"}, {"config", R"({"layers": [{"hidden_size": 4}]})"}};
  const std::string path = (scratch_dir() / "model.safetensors").string();
  lstm::write_safetensors(path, tensors, metadata);
  const lstm::SafetensorsFile file = lstm::read_safetensors(path);
  expect_identical(file.tensors, tensors);
  EXPECT_EQ(file.metadata, metadata);
  ASSERT_NE(file.find("0.bias_hh_l0"), nullptr);
  EXPECT_EQ(file.find("0.bias_hh_l0")->shape(), lstm::Shape({8}));
  EXPECT_EQ(file.find("missing"), nullptr);
}

// The file itself, parsed independently: 8-byte length, a space-padded JSON header whose length
// is a multiple of 8, entries in the given order with contiguous F32 offsets, then exactly the
// data; no "__metadata__" when there is none.
TEST(Safetensors, WrittenLayoutFollowsTheFormat) {
  const std::vector<NamedTensor> tensors = {{"b", Tensor({2, 3}, 1.0f)}, {"a", Tensor({5}, 2.0f)}};
  const std::string path = (scratch_dir() / "layout.safetensors").string();
  lstm::write_safetensors(path, tensors);
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t header_length;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + header_length + (6 + 5) * sizeof(float));
  const std::string header = bytes.substr(8, header_length);
  const std::size_t json_end = header.find_last_not_of(' ') + 1;
  EXPECT_EQ(header[json_end - 1], '}');
  const auto json = nlohmann::ordered_json::parse(header);
  ASSERT_EQ(json.size(), 2u);
  EXPECT_FALSE(json.contains("__metadata__"));
  EXPECT_EQ(json.begin().key(), "b");
  EXPECT_EQ(json["b"]["dtype"], "F32");
  EXPECT_EQ(json["b"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(json["b"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(json["a"]["data_offsets"], nlohmann::json({24, 44}));
  float first_of_a;
  std::memcpy(&first_of_a, bytes.data() + 8 + header_length + 24, sizeof(float));
  EXPECT_EQ(first_of_a, 2.0f);
}

// Every supported dtype, from hand-built bytes, converted exactly to float32; the tensors come
// back in the order of their data offsets, not the header's.
TEST(Safetensors, ReadsEveryDTypeInOffsetOrder) {
  const std::string f16 = bytes_of<uint16_t>({
      0x3E00,  // 1.5
      0xC000,  // -2.0
      0x7BFF,  // 65504, the largest finite half
      0x0001,  // 2^-24, the smallest subnormal
      0x0400,  // 2^-14, the smallest normal
      0x8000,  // -0.0
      0x7C00,  // +inf
      0x7E00,  // NaN
  });
  const std::string bf16 = bytes_of<uint16_t>({0x3FC0 /* 1.5 */, 0xC000 /* -2.0 */});
  const std::string f64 = bytes_of<double>({0.1, -3.5});
  const std::string i32 = bytes_of<int32_t>({-7, 16777216});
  const std::string i64 = bytes_of<int64_t>({123, -16777216});
  const std::string f32 = bytes_of<float>({0.25f, -1e-30f});
  // Data order: i64, f16, bf16, f64, i32, f32 — unlike the header's (alphabetical) order.
  const std::string data = i64 + f16 + bf16 + f64 + i32 + f32;
  uint64_t at = 0;
  const auto next = [&](const std::string& name, const std::string& dtype, const std::string& shape,
                        const std::string& bytes) {
    const std::string text = entry(name, dtype, shape, at, at + bytes.size());
    at += bytes.size();
    return text;
  };
  const std::string e_i64 = next("i64", "I64", "[2]", i64);
  const std::string e_f16 = next("f16", "F16", "[2, 4]", f16);
  const std::string e_bf16 = next("bf16", "BF16", "[2]", bf16);
  const std::string e_f64 = next("f64", "F64", "[2, 1]", f64);
  const std::string e_i32 = next("i32", "I32", "[2]", i32);
  const std::string e_f32 = next("f32", "F32", "[1, 2]", f32);
  const std::string header =
      "{" + e_bf16 + ", " + e_f16 + ", " + e_f32 + ", " + e_f64 + ", " + e_i32 + ", " + e_i64 + "}";
  const std::string path = (scratch_dir() / "dtypes.safetensors").string();
  write_bytes(path, safetensors_bytes(header, data));

  const lstm::SafetensorsFile file = lstm::read_safetensors(path);
  std::vector<std::string> names;
  for (const NamedTensor& t : file.tensors) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"i64", "f16", "bf16", "f64", "i32", "f32"}));

  const Tensor& h = *file.find("f16");
  EXPECT_EQ(h.shape(), lstm::Shape({2, 4}));
  EXPECT_EQ(h[0], 1.5f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 65504.0f);
  EXPECT_EQ(h[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(h[4], std::ldexp(1.0f, -14));
  EXPECT_EQ(float_bits(h[5]), float_bits(-0.0f));
  EXPECT_EQ(h[6], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(h[7]));

  const Tensor& b = *file.find("bf16");
  EXPECT_EQ(b[0], 1.5f);
  EXPECT_EQ(b[1], -2.0f);
  const Tensor& d = *file.find("f64");
  EXPECT_EQ(d.shape(), lstm::Shape({2, 1}));
  EXPECT_EQ(d[0], static_cast<float>(0.1));
  EXPECT_EQ(d[1], -3.5f);
  EXPECT_EQ((*file.find("i32"))[0], -7.0f);
  EXPECT_EQ((*file.find("i32"))[1], 16777216.0f);
  EXPECT_EQ((*file.find("i64"))[0], 123.0f);
  EXPECT_EQ((*file.find("i64"))[1], -16777216.0f);
  EXPECT_EQ(float_bits((*file.find("f32"))[1]), float_bits(-1e-30f));
}

// Integers are converted only while float32 holds every integer of their size (|v| ≤ 2^24).
TEST(Safetensors, IntegersBeyondFloatPrecisionAreRejected) {
  const std::filesystem::path dir = scratch_dir();
  const std::string i64_path = (dir / "i64.safetensors").string();
  write_bytes(i64_path, safetensors_bytes("{" + entry("lengths", "I64", "[2]", 0, 16) + "}",
                                          bytes_of<int64_t>({3, 16777217})));
  EXPECT_TRUE(rejects([&] { lstm::read_safetensors(i64_path); }, i64_path,
                      {"tensor 'lengths'", "I64 element 1 is 16777217", "2^24"}));
  const std::string i32_path = (dir / "i32.safetensors").string();
  write_bytes(i32_path, safetensors_bytes("{" + entry("ids", "I32", "[1]", 0, 4) + "}",
                                          bytes_of<int32_t>({-16777217})));
  EXPECT_TRUE(rejects([&] { lstm::read_safetensors(i32_path); }, i32_path,
                      {"tensor 'ids'", "I32 element 0 is -16777217"}));
}

// The format allows spaces after the JSON; an empty file of tensors is valid too.
TEST(Safetensors, AcceptsPaddedHeaderMetadataAndNoTensors) {
  const std::filesystem::path dir = scratch_dir();
  const std::string padded = (dir / "padded.safetensors").string();
  write_bytes(padded, safetensors_bytes(R"({"__metadata__": {"k": "v"}, )" +
                                            entry("x", "F32", "[]", 0, 4) + "}      ",
                                        bytes_of(2.5f)));
  const lstm::SafetensorsFile file = lstm::read_safetensors(padded);
  ASSERT_EQ(file.tensors.size(), 1u);
  EXPECT_EQ(file.tensors[0].tensor.shape(), lstm::Shape{});
  EXPECT_EQ(file.tensors[0].tensor[0], 2.5f);
  EXPECT_EQ(file.metadata.at("k"), "v");

  const std::string empty = (dir / "empty.safetensors").string();
  write_bytes(empty, safetensors_bytes("{}", ""));
  EXPECT_TRUE(lstm::read_safetensors(empty).tensors.empty());
}

TEST(Safetensors, MissingFileNamesThePathAndTheReason) {
  const std::string path = (scratch_dir() / "absent.safetensors").string();
  EXPECT_TRUE(rejects([&] { lstm::read_safetensors(path); }, path,
                      {"cannot open", "No such file or directory"}));
}

// An existing file is replaced whole; a write that fails leaves the old file and no temporary.
TEST(Safetensors, WritesAtomically) {
  const std::filesystem::path dir = scratch_dir();
  const std::string path = (dir / "model.safetensors").string();
  const std::vector<NamedTensor> old_tensors = {{"w", Tensor({2}, {1.0f, 2.0f})}};
  lstm::write_safetensors(path, old_tensors);
  lstm::write_safetensors(path, {{"v", Tensor({3}, 4.0f)}});
  EXPECT_EQ(lstm::read_safetensors(path).tensors[0].name, "v");

  // Writes that must fail, each before the file is touched.
  lstm::write_safetensors(path, old_tensors);
  const auto rejects_write = [&](const std::vector<NamedTensor>& bad,
                                 const std::vector<std::string>& message_parts) {
    return rejects([&] { lstm::write_safetensors(path, bad); }, path, message_parts);
  };
  EXPECT_TRUE(rejects_write({{"a", Tensor({1})}, {"a", Tensor({1})}}, {"'a' given twice"}));
  EXPECT_TRUE(rejects_write({{"__metadata__", Tensor({1})}}, {"'__metadata__' is reserved"}));
  EXPECT_TRUE(
      rejects_write({{"default", Tensor()}}, {"tensor 'default' has shape ()", "holds 0 values"}));
  EXPECT_TRUE(
      rejects_write({{"\xff", Tensor({1})}}, {"cannot encode the header", "invalid UTF-8"}));
  expect_identical(lstm::read_safetensors(path).tensors, old_tensors);

  const std::string unwritable = (dir / "no_such_dir" / "model.safetensors").string();
  EXPECT_TRUE(rejects([&] { lstm::write_safetensors(unwritable, old_tensors); }, unwritable,
                      {"cannot create", "No such file or directory"}));

  std::vector<std::string> entries;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    entries.push_back(e.path().filename().string());
  EXPECT_EQ(entries, std::vector<std::string>{"model.safetensors"});
}

// Every way the reader must refuse a file, one case per problem: the length field, the header's
// JSON, each entry's fields, the tiling of the data buffer, and "__metadata__".
std::vector<MalformedFile> malformed_files() {
  const std::string two_floats = bytes_of<float>({1.0f, 2.0f});
  const std::string a = entry("a", "F32", "[2]", 0, 8);
  const auto one_tensor = [&](const std::string& dtype, const std::string& shape) {
    return safetensors_bytes("{" + entry("a", dtype, shape, 0, 8) + "}", two_floats);
  };
  const auto with_entry_json = [&](const std::string& json) {
    return safetensors_bytes("{\"a\": " + json + "}", two_floats);
  };
  return {
      {"truncated_length_field", std::string("\x10\x00\x00", 3), {"3 bytes", "too short"}},
      {"header_longer_than_file",
       bytes_of<uint64_t>(100) + "{}",
       {"header length 100 runs past the end of the file", "2 bytes follow"}},
      {"huge_header_length",
       bytes_of<uint64_t>(uint64_t{1} << 62) + "{}",
       {"header length 4611686018427387904 exceeds the limit of 100000000 bytes"}},
      {"header_not_json", safetensors_bytes("{\"a\": nope}", ""), {"header is not valid JSON"}},
      {"header_not_utf8",
       safetensors_bytes("{\"\xff\": 1}", ""),
       {"header is not valid JSON", "\\xff"}},
      {"empty_header", safetensors_bytes("", ""), {"header is not valid JSON"}},
      {"header_not_object",
       safetensors_bytes("[1, 2]", ""),
       {"header must be a JSON object, got array"}},
      {"overlapping_offsets",
       safetensors_bytes("{" + a + ", " + entry("b", "F32", "[2]", 4, 12) + "}",
                         bytes_of<float>({1, 2, 3})),
       {"tensor 'b': data_offsets [4, 12] overlap tensor 'a''s [0, 8]"}},
      {"gap_between_offsets",
       safetensors_bytes("{" + a + ", " + entry("b", "F32", "[2]", 12, 20) + "}",
                         bytes_of<float>({1, 2, 3, 4, 5})),
       {"bytes [8, 12) of the data buffer belong to no tensor", "before tensor 'b'"}},
      {"first_offset_not_zero",
       safetensors_bytes("{" + entry("a", "F32", "[2]", 4, 12) + "}", bytes_of<float>({1, 2, 3})),
       {"bytes [0, 4) of the data buffer belong to no tensor"}},
      {"wrong_byte_count",
       safetensors_bytes("{" + entry("0.weight_ih_l0", "F32", "[4, 8]", 0, 100) + "}",
                         std::string(100, '\0')),
       {"tensor '0.weight_ih_l0': data_offsets [0, 100] hold 100 bytes, but F32 (4, 8) needs "
        "128"}},
      {"trailing_bytes",
       safetensors_bytes("{" + a + "}", two_floats + "xyz"),
       {"3 trailing bytes after the tensors' data"}},
      {"data_truncated",
       safetensors_bytes("{" + a + "}", bytes_of(1.0f)),
       {"tensor 'a': data_offsets [0, 8] run past the end of the 4-byte data buffer"}},
      {"duplicate_names",
       safetensors_bytes("{" + a + ", " + a + "}", two_floats),
       {"duplicate tensor name 'a'"}},
      {"duplicate_field",
       with_entry_json(R"({"dtype": "F32", "dtype": "F32", "shape": [2], "data_offsets": [0, 8]})"),
       {"header entry 'a' has the key 'dtype' twice"}},
      {"unknown_dtype_bool",
       one_tensor("BOOL", "[8]"),
       {"tensor 'a': dtype 'BOOL' is not supported (supported: F16, BF16, F32, F64, I32, I64)"}},
      {"unknown_dtype_u8", one_tensor("U8", "[8]"), {"dtype 'U8' is not supported"}},
      {"unknown_dtype_f8", one_tensor("F8_E4M3", "[8]"), {"dtype 'F8_E4M3' is not supported"}},
      {"dtype_not_string",
       with_entry_json(R"({"dtype": 4, "shape": [2], "data_offsets": [0, 8]})"),
       {"tensor 'a': dtype must be a string"}},
      {"negative_shape",
       one_tensor("F32", "[-2]"),
       {"tensor 'a': shape must be an array of non-negative integers, got [-2]"}},
      {"fractional_shape",
       one_tensor("F32", "[2.0]"),
       {"shape must be an array of non-negative integers"}},
      {"string_shape",
       one_tensor("F32", "[\"2\"]"),
       {"shape must be an array of non-negative integers"}},
      {"shape_not_array",
       one_tensor("F32", "2"),
       {"shape must be an array of non-negative integers"}},
      {"shape_overflows",
       one_tensor("F32", "[4294967296, 4294967296]"),
       {"shape [4294967296,4294967296] overflows a 64-bit byte count"}},
      {"offsets_reversed",
       with_entry_json(R"({"dtype": "F32", "shape": [2], "data_offsets": [8, 0]})"),
       {"data_offsets must be [begin, end] with integers 0 <= begin <= end, got [8,0]"}},
      {"offsets_three_numbers",
       with_entry_json(R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]})"),
       {"data_offsets must be [begin, end]"}},
      {"offsets_negative",
       with_entry_json(R"({"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]})"),
       {"data_offsets must be [begin, end]"}},
      {"unknown_field",
       with_entry_json(R"({"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "align": 8})"),
       {"tensor 'a': unknown field 'align'"}},
      {"missing_field",
       with_entry_json(R"({"dtype": "F32", "shape": [2]})"),
       {"tensor 'a': missing field 'data_offsets'"}},
      {"entry_not_object",
       with_entry_json("5"),
       {"tensor 'a': entry must be an object, got number"}},
      {"metadata_value_not_string",
       safetensors_bytes(R"({"__metadata__": {"epochs": 3}, )" + a + "}", two_floats),
       {"__metadata__ value for 'epochs' must be a string, got number 3"}},
      {"metadata_not_object",
       safetensors_bytes(R"({"__metadata__": ["x"], )" + a + "}", two_floats),
       {"__metadata__ must be an object of strings, got array"}},
  };
}

class SafetensorsMalformed : public ::testing::TestWithParam<MalformedFile> {};

TEST_P(SafetensorsMalformed, IsRejectedWithAClearMessage) {
  const MalformedFile& file = GetParam();
  const std::string path = (scratch_dir() / (file.name + ".safetensors")).string();
  write_bytes(path, file.bytes);
  EXPECT_TRUE(rejects([&] { lstm::read_safetensors(path); }, path, file.message_parts));
}

INSTANTIATE_TEST_SUITE_P(Safetensors, SafetensorsMalformed, ::testing::ValuesIn(malformed_files()),
                         malformed_file_name);

}  // namespace
