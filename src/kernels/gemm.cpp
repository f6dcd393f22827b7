// Placeholder GEMM (plain loops); replaced by the packed, vectorized kernel.
#include "kernels/kernels.h"

namespace lstm::kernels {

void sgemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    float* c_row = c + i * ldc;
    if (beta == 0.0f)
      for (int64_t j = 0; j < n; ++j) c_row[j] = 0.0f;
    else if (beta != 1.0f)
      for (int64_t j = 0; j < n; ++j) c_row[j] *= beta;
    for (int64_t p = 0; p < k; ++p) {
      const float a_ip = trans_a == Trans::no ? a[i * lda + p] : a[p * lda + i];
      if (trans_b == Trans::no) {
        const float* b_row = b + p * ldb;
        for (int64_t j = 0; j < n; ++j) c_row[j] += a_ip * b_row[j];
      } else {
        for (int64_t j = 0; j < n; ++j) c_row[j] += a_ip * b[j * ldb + p];
      }
    }
  }
}

}  // namespace lstm::kernels
