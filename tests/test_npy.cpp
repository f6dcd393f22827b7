// .npy: files written by NumPy (tests/fixtures/io/, made by scripts/gen_io_fixtures.py) read
// exactly, round trips for every dtype, the written layout, the header dict parser's accepted
// spellings, and a malformed or unsupported file of every kind rejected with a clear message.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "io_test_util.h"
#include "lstm/io.h"

namespace {

using lstm::DType;
using lstm::NpyArray;
using lstm::Shape;
using lstm::Tensor;
using lstm::testing::bytes_of;
using lstm::testing::float_bits;
using lstm::testing::malformed_file_name;
using lstm::testing::MalformedFile;
using lstm::testing::read_bytes;
using lstm::testing::rejects;
using lstm::testing::scratch_dir;
using lstm::testing::write_bytes;

std::string fixture(const std::string& name) {
  return std::string(LSTM_FIXTURE_DIR) + "/io/" + name;
}

// A .npy file: magic, version, the header's length (2 bytes in 1.0, 4 in 2.0/3.0), the header
// exactly as given (no padding added), the data.
std::string npy_bytes(std::string_view header, std::string_view data, int major = 1) {
  std::string bytes = "\x93NUMPY";
  bytes += static_cast<char>(major);
  bytes += '\0';
  bytes += major == 1 ? bytes_of(static_cast<uint16_t>(header.size()))
                      : bytes_of(static_cast<uint32_t>(header.size()));
  return bytes + std::string(header) + std::string(data);
}

// The values scripts/gen_io_fixtures.py writes as f32_2x3*.npy.
const std::vector<float> kF32Values = {1.5f, -2.25f, 0.1f, 3e38f, -0.0f, 1e-40f};

void expect_bits(const Tensor& actual, const std::vector<float>& expected) {
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size()));
  for (std::size_t i = 0; i < expected.size(); ++i)
    EXPECT_EQ(float_bits(actual[static_cast<int64_t>(i)]), float_bits(expected[i])) << "at " << i;
}

// NumPy's np.save (version 1.0) and write_array with versions 2.0 and 3.0: the same float32
// values back, bit for bit, as a Tensor and as doubles.
TEST(Npy, ReadsFloat32WrittenByNumPyInEveryVersion) {
  for (const char* name : {"f32_2x3.npy", "f32_2x3_v2.npy", "f32_2x3_v3.npy"}) {
    SCOPED_TRACE(name);
    const Tensor t = lstm::read_npy(fixture(name));
    EXPECT_EQ(t.shape(), Shape({2, 3}));
    expect_bits(t, kF32Values);
    const NpyArray array = lstm::read_npy_array(fixture(name));
    EXPECT_EQ(array.dtype, DType::f32);
    EXPECT_EQ(array.shape, Shape({2, 3}));
    for (std::size_t i = 0; i < kF32Values.size(); ++i)
      EXPECT_EQ(array.values[i], static_cast<double>(kF32Values[i]));
  }
}

TEST(Npy, ReadsScalarAndEmptyArrays) {
  const Tensor scalar = lstm::read_npy(fixture("f32_scalar.npy"));
  EXPECT_EQ(scalar.shape(), Shape{});
  ASSERT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar[0], 7.25f);
  const Tensor empty = lstm::read_npy(fixture("f32_0x3.npy"));
  EXPECT_EQ(empty.shape(), Shape({0, 3}));
  EXPECT_EQ(empty.numel(), 0);
}

// float64 comes back exactly as doubles, and rounded to nearest as a float32 Tensor.
TEST(Npy, ReadsFloat64) {
  const std::vector<double> expected = {0.1, -2.5, 1e10};
  const NpyArray array = lstm::read_npy_array(fixture("f64_3.npy"));
  EXPECT_EQ(array.dtype, DType::f64);
  EXPECT_EQ(array.shape, Shape({3}));
  EXPECT_EQ(array.values, expected);
  const Tensor t = lstm::read_npy(fixture("f64_3.npy"));
  for (std::size_t i = 0; i < expected.size(); ++i)
    EXPECT_EQ(t[static_cast<int64_t>(i)], static_cast<float>(expected[i]));
}

TEST(Npy, ReadsIntegers) {
  Shape shape;
  EXPECT_EQ(lstm::read_npy_integers(fixture("i32_4.npy"), &shape),
            (std::vector<int64_t>{0, -1, 2147483647, -2147483648LL}));
  EXPECT_EQ(shape, Shape({4}));
  const std::vector<int64_t> i64 = {1, -2, int64_t{1} << 53, -(int64_t{1} << 40)};
  EXPECT_EQ(lstm::read_npy_integers(fixture("i64_2x2.npy"), &shape), i64);
  EXPECT_EQ(shape, Shape({2, 2}));
  const NpyArray array = lstm::read_npy_array(fixture("i64_2x2.npy"));
  EXPECT_EQ(array.dtype, DType::i64);
  for (std::size_t i = 0; i < i64.size(); ++i)
    EXPECT_EQ(array.values[i], static_cast<double>(i64[i]));
  EXPECT_EQ(lstm::read_npy_array(fixture("i32_4.npy")).dtype, DType::i32);
}

// 2^53 + 1 is an exact int64 but not an exact double: read_npy_array refuses it, while
// read_npy_integers returns it.
TEST(Npy, Int64BeyondDoublePrecision) {
  const std::string path = fixture("i64_beyond_double.npy");
  EXPECT_TRUE(rejects([&] { lstm::read_npy_array(path); }, path,
                      {"element 0 is 9007199254740993", "2^53", "read_npy_integers"}));
  EXPECT_EQ(lstm::read_npy_integers(path), std::vector<int64_t>{(int64_t{1} << 53) + 1});
}

TEST(Npy, TypeMismatchNamesTheDType) {
  const std::string ints = fixture("i32_4.npy");
  EXPECT_TRUE(rejects([&] { lstm::read_npy(ints); }, ints,
                      {"dtype '<i4' is an integer type", "read_npy_integers"}));
  const std::string floats = fixture("f64_3.npy");
  EXPECT_TRUE(
      rejects([&] { lstm::read_npy_integers(floats); }, floats, {"dtype '<f8' is a float type"}));
}

// NumPy files lstm.cpp does not read, each with the way out in the message.
TEST(Npy, RejectsUnsupportedNumPyFiles) {
  const std::string fortran = fixture("f32_fortran.npy");
  EXPECT_TRUE(rejects([&] { lstm::read_npy(fortran); }, fortran,
                      {"Fortran order not supported; save with np.ascontiguousarray"}));
  const std::string i16 = fixture("i16_3.npy");
  EXPECT_TRUE(rejects([&] { lstm::read_npy_array(i16); }, i16,
                      {"dtype '<i2' is not supported (supported: '<f4', '<f8', '<i4', '<i8')"}));
  const std::string big_endian = fixture("f32_big_endian.npy");
  EXPECT_TRUE(rejects([&] { lstm::read_npy(big_endian); }, big_endian,
                      {"big-endian dtype '>f4' is not supported"}));
}

TEST(Npy, MissingFileNamesThePathAndTheReason) {
  const std::string path = (scratch_dir() / "absent.npy").string();
  EXPECT_TRUE(
      rejects([&] { lstm::read_npy(path); }, path, {"cannot open", "No such file or directory"}));
}

TEST(Npy, RoundTripEveryDType) {
  const std::filesystem::path dir = scratch_dir();
  const std::vector<NpyArray> arrays = {
      {DType::f32, {2, 2}, {0.5, -1.25, 3e-39 /* subnormal in float32 */, 1e30}},
      {DType::f64, {3}, {0.1, -1e-300, 1.7976931348623157e308}},
      {DType::i32, {2, 1}, {-2147483648.0, 2147483647.0}},
      {DType::i64, {1, 3}, {-9007199254740992.0, 0.0, 9007199254740992.0}},
      {DType::f32, {}, {42.0}},
      {DType::i64, {0}, {}},
  };
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    const NpyArray& written = arrays[i];
    SCOPED_TRACE(lstm::dtype_name(written.dtype) + lstm::shape_string(written.shape));
    const std::string path = (dir / ("array" + std::to_string(i) + ".npy")).string();
    lstm::write_npy_array(path, written);
    const NpyArray read = lstm::read_npy_array(path);
    EXPECT_EQ(read.dtype, written.dtype);
    EXPECT_EQ(read.shape, written.shape);
    // float32 stores each value rounded to float; the others store it exactly.
    std::vector<double> expected = written.values;
    if (written.dtype == DType::f32)
      for (double& v : expected) v = static_cast<float>(v);
    EXPECT_EQ(read.values, expected);
  }
}

TEST(Npy, TensorRoundTripIsBitExact) {
  const Tensor written(
      {2, 4}, {-0.0f, std::numeric_limits<float>::infinity(),
               std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(),
               std::numeric_limits<float>::max(), 0.1f, -3.0f, 1e-20f});
  const std::string path = (scratch_dir() / "tensor.npy").string();
  lstm::write_npy(path, written);
  const Tensor read = lstm::read_npy(path);
  EXPECT_EQ(read.shape(), written.shape());
  expect_bits(read, std::vector<float>(written.begin(), written.end()));
}

// What NumPy writes: version 1.0, the dict with the given descr and shape, padded with spaces
// and ending in '\n' so that the data starts at a multiple of 64 bytes, then the data.
TEST(Npy, WrittenLayoutMatchesNumPy) {
  const std::string path = (scratch_dir() / "layout.npy").string();
  lstm::write_npy(path, Tensor({2, 3}, 1.0f));
  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  uint16_t header_length;
  std::memcpy(&header_length, bytes.data() + 8, 2);
  EXPECT_EQ((10 + header_length) % 64, 0);
  const std::string header = bytes.substr(10, header_length);
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_TRUE(header.starts_with(dict)) << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(header.find_first_not_of(' ', dict.size()), header.size() - 1);
  EXPECT_EQ(bytes.size(), 10u + header_length + 6 * sizeof(float));
}

// A header longer than 65535 bytes needs version 2.0 and its 4-byte length field.
TEST(Npy, LongHeaderIsWrittenAsVersion2) {
  const NpyArray written{DType::f32, Shape(30000, 1), {5.0}};
  const std::string path = (scratch_dir() / "many_dims.npy").string();
  lstm::write_npy_array(path, written);
  const std::string bytes = read_bytes(path);
  EXPECT_EQ(bytes[6], 2);
  uint32_t header_length;
  std::memcpy(&header_length, bytes.data() + 8, 4);
  EXPECT_GT(header_length, 65535u);
  EXPECT_EQ((12 + header_length) % 64, 0u);
  const NpyArray read = lstm::read_npy_array(path);
  EXPECT_EQ(read.shape, written.shape);
  EXPECT_EQ(read.values, written.values);
}

// Each bad write throws before a file is created.
TEST(Npy, WriteRejectsValuesTheDTypeCannotHold) {
  const std::string path = (scratch_dir() / "bad.npy").string();
  const auto rejects_write = [&](const NpyArray& bad,
                                 const std::vector<std::string>& message_parts) {
    return rejects([&] { lstm::write_npy_array(path, bad); }, path, message_parts);
  };
  EXPECT_TRUE(rejects_write({DType::f32, {2, 2}, {1, 2, 3}},
                            {"shape (2, 2) needs 4 values, the array holds 3"}));
  EXPECT_TRUE(rejects_write({DType::f32, {-1}, {}},
                            {"shape (-1,) has a negative dimension or too many elements"}));
  EXPECT_TRUE(rejects_write({DType::i32, {2}, {1, 2.5}},
                            {"element 1 (2.5) is not an integer in the range of I32"}));
  EXPECT_TRUE(rejects_write({DType::i32, {1}, {2147483648.0}},
                            {"element 0 (2147483648) is not an integer in the range of I32"}));
  EXPECT_TRUE(rejects_write({DType::i64, {1}, {std::nan("")}},
                            {"element 0 (nan) is not an integer in the range of I64"}));
  EXPECT_TRUE(rejects_write({DType::f16, {1}, {1.0}}, {"cannot write F16 to .npy"}));
  EXPECT_TRUE(rejects([&] { lstm::write_npy(path, Tensor()); }, path,
                      {"tensor has shape () but holds 0 values"}));
  EXPECT_FALSE(std::filesystem::exists(path));
}

// Spellings of the header dict that Python accepts and NumPy may meet: keys in any order,
// double quotes, no trailing comma, a trailing comma inside the shape tuple, extra whitespace.
TEST(Npy, HeaderParserAcceptsEveryValidSpelling) {
  const std::string data = bytes_of<int32_t>({1, 2, 3, 4, 5, 6});
  const std::vector<std::string> headers = {
      "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }\n",
      "{'shape': (2, 3), 'fortran_order': False, 'descr': '<i4'}",
      "{\"descr\": \"<i4\", \"fortran_order\": False, \"shape\": (2, 3)}    \n",
      "{ 'descr' : '<i4' ,\t'fortran_order':False,'shape':( 2 , 3 , ) , }",
  };
  const std::filesystem::path dir = scratch_dir();
  for (std::size_t i = 0; i < headers.size(); ++i) {
    SCOPED_TRACE(headers[i]);
    const std::string path = (dir / ("h" + std::to_string(i) + ".npy")).string();
    write_bytes(path, npy_bytes(headers[i], data));
    Shape shape;
    EXPECT_EQ(lstm::read_npy_integers(path, &shape), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(shape, Shape({2, 3}));
  }
}

// Every way the reader must refuse a file, one case per problem: the preamble, the data length,
// the header dict's syntax, and the dtypes and layouts lstm.cpp does not read.
std::vector<MalformedFile> malformed_files() {
  const std::string f32_header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
  const std::string two_floats = bytes_of<float>({1.0f, 2.0f});
  const auto with_header = [&](const std::string& header) { return npy_bytes(header, two_floats); };
  return {
      {"bad_magic", "\x93NUMPZ\x01\x00", {"not a .npy file", "magic"}},
      {"empty_file", "", {"not a .npy file"}},
      {"truncated_version", "\x93NUMPY\x01", {"truncated in the version field"}},
      {"unsupported_version",
       npy_bytes(f32_header, two_floats).replace(6, 1, "\x04"),
       {"format version 4.0 is not supported (supported: 1.0, 2.0, 3.0)"}},
      {"truncated_length",
       std::string("\x93NUMPY\x02\x00\x10\x00", 10),
       {"truncated in the header length field"}},
      {"header_past_end",
       npy_bytes(f32_header, "").substr(0, 30),
       {"header length " + std::to_string(f32_header.size()) + " runs past the end of the file"}},
      {"truncated_data",
       npy_bytes(f32_header, two_floats.substr(0, 6)),
       {"data truncated: <f4 (2,) needs 8 bytes, the file holds 6 after the header"}},
      {"trailing_data",
       npy_bytes(f32_header, two_floats + "??"),
       {"trailing bytes after the data: <f4 (2,) needs 8 bytes, the file holds 10"}},
      {"version2_truncated_data",
       npy_bytes(f32_header, two_floats.substr(0, 4), 2),
       {"data truncated"}},
      {"missing_shape",
       with_header("{'descr': '<f4', 'fortran_order': False}"),
       {"malformed header: missing key 'shape'"}},
      {"unknown_key",
       with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), "
                   "'align': True}"),
       {"malformed header: unknown key 'align'"}},
      {"duplicate_key",
       with_header("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"),
       {"malformed header: key 'descr' given twice"}},
      {"shape_without_tuple_comma",
       with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}"),
       {"malformed header: a 1-tuple shape needs a trailing comma"}},
      {"shape_as_list",
       with_header("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}"),
       {"malformed header: expected '('"}},
      {"negative_dimension",
       with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}"),
       {"malformed header: expected a non-negative integer dimension"}},
      {"huge_dimension",
       with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}"),
       {"malformed header: dimension too large"}},
      {"shape_overflows",
       with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}"),
       {"shape (4294967296, 4294967296) overflows a 64-bit byte count"}},
      {"unquoted_descr",
       with_header("{'descr': f4, 'fortran_order': False, 'shape': (2,)}"),
       {"malformed header: expected a quoted string"}},
      {"unterminated_string",
       with_header("{'descr': '<f4"),
       {"malformed header: unterminated string"}},
      {"misspelled_bool",
       with_header("{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}"),
       {"malformed header: expected True or False"}},
      {"missing_colon",
       with_header("{'descr' '<f4', 'fortran_order': False, 'shape': (2,)}"),
       {"malformed header: expected ':' at character 9 in {'descr' '<f4', 'fortran_order': False, "
        "'shape': (2,)}"}},
      {"text_after_dict",
       with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} extra"),
       {"malformed header: unexpected text after the closing '}'"}},
      {"not_a_dict", with_header("descr='<f4'"), {"malformed header: expected '{'"}},
      {"structured_dtype",
       with_header("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,)}"),
       {"structured dtypes (a list as 'descr') are not supported"}},
      {"unsupported_i2",
       with_header("{'descr': '<i2', 'fortran_order': False, 'shape': (4,)}"),
       {"dtype '<i2' is not supported"}},
      {"big_endian_f4",
       with_header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}"),
       {"big-endian dtype '>f4' is not supported"}},
      {"fortran_order",
       with_header("{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}"),
       {"Fortran order not supported; save with np.ascontiguousarray"}},
  };
}

class NpyMalformed : public ::testing::TestWithParam<MalformedFile> {};

TEST_P(NpyMalformed, IsRejectedWithAClearMessage) {
  const MalformedFile& file = GetParam();
  const std::string path = (scratch_dir() / (file.name + ".npy")).string();
  write_bytes(path, file.bytes);
  EXPECT_TRUE(rejects([&] { lstm::read_npy_array(path); }, path, file.message_parts));
}

INSTANTIATE_TEST_SUITE_P(Npy, NpyMalformed, ::testing::ValuesIn(malformed_files()),
                         malformed_file_name);

}  // namespace
