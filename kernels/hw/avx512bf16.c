/* AVX512-BF16: float32 -> bfloat16 conversion (vcvtneps2bf16) and the pair dot product
 * vdpbf16ps. Compiled with -mavx512bf16. Neither instruction reads MXCSR (Intel SDM).
 */
#include "common.h"

/* vcvtneps2bf16: float32 -> bfloat16 codes. */
void cvtneps2bf16(const float *x, uint16_t *out, int64_t n) {
    HW_BEGIN;
    for (int64_t i = 0; i < n; i += 16) {
        __m256bh r = _mm512_cvtneps_pbh(_mm512_loadu_ps(x + i));
        _mm256_storeu_si256((__m256i *)(out + i), (__m256i)r);
    }
    HW_END;
}

/* vdpbf16ps: out[i] = acc[i] + a[2i+1] * b[2i+1] + a[2i] * b[2i] as the unit computes it, for
 * float32 acc and bfloat16 codes a, b (a[2i], a[2i+1] are the low and high halves of dword i). */
void dpbf16ps(const float *acc, const uint16_t *a, const uint16_t *b, float *out, int64_t n) {
    HW_BEGIN;
    for (int64_t i = 0; i < n; i += 16) {
        __m512bh va = (__m512bh)_mm512_loadu_si512((const void *)(a + 2 * i));
        __m512bh vb = (__m512bh)_mm512_loadu_si512((const void *)(b + 2 * i));
        _mm512_storeu_ps(out + i, _mm512_dpbf16_ps(_mm512_loadu_ps(acc + i), va, vb));
    }
    HW_END;
}
