// Files: safetensors (https://github.com/huggingface/safetensors) and NumPy .npy, both
// validated strictly. Every error is an lstm::Error whose message starts with the file name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lstm/tensor.h"

namespace lstm {

// Element types found in files. Floats are converted to float32 on load.
enum class DType { f16, bf16, f32, f64, i32, i64 };
const char* dtype_name(DType dtype);  // "F32", "I64", ... (safetensors' spelling)

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;  // "__metadata__"
  std::vector<NamedTensor> tensors;             // in the order of their data offsets
  // The tensor called `name`, or null.
  const Tensor* find(const std::string& name) const;
};

// Reads and validates a safetensors file: 8-byte little-endian header length within limits,
// valid JSON header, no duplicate names, known dtypes, byte count = dtype size × shape, offsets
// contiguous, non-overlapping and covering all the data, no trailing bytes. F32 is read as is;
// F16, BF16 and F64 are converted to float32; I32 and I64 are converted when exactly
// representable in float32 (class indices, lengths), and rejected otherwise.
SafetensorsFile read_safetensors(const std::string& path);

// Writes float32 tensors and string metadata. The write is atomic: a temporary file beside the
// target is written, flushed to disk (fsync) and renamed over it, so a crash leaves either the
// old file or the new one, never a torn one.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A .npy array in its own dtype (format versions 1.0, 2.0 and 3.0; C order only; little-endian
// float32, float64, int32, int64).
struct NpyArray {
  DType dtype = DType::f32;
  Shape shape;
  std::vector<double> values;  // every element, converted exactly (int64 beyond 2^53 rejected)
};

NpyArray read_npy_array(const std::string& path);
// Writes `array` as `array.dtype` (f32, f64, i32 or i64), format version 1.0 (2.0 if the header
// needs it); atomic like write_safetensors.
void write_npy_array(const std::string& path, const NpyArray& array);

// float32 or float64 .npy → Tensor; an integer file is an error that names the dtype.
Tensor read_npy(const std::string& path);
// int32 or int64 .npy → values; a float file is an error that names the dtype.
std::vector<int64_t> read_npy_integers(const std::string& path, Shape* shape = nullptr);
// Tensor → float32 .npy.
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace lstm
