/* float32 <-> float16 conversions of F16C (VEX, 256-bit) or AVX512F (EVEX, 512-bit).
 *
 * Compiled once per unit: -DHW_WIDTH=256 -mf16c -mavx for F16C, -DHW_WIDTH=512 -mavx512f for
 * AVX512F. Both run vcvtps2ph with the rounding in its imm8 (bits 1:0; bit 2 clear, so MXCSR.RC
 * is not used) and vcvtph2ps.
 */
#include "common.h"

#if HW_WIDTH == 256
#define LANES 8
typedef __m256 vps;
typedef __m128i vph;
#define LOAD_PS _mm256_loadu_ps
#define STORE_PS _mm256_storeu_ps
#define LOAD_PH(p) _mm_loadu_si128((const __m128i *)(p))
#define STORE_PH(p, v) _mm_storeu_si128((__m128i *)(p), v)
#define CVTPS2PH _mm256_cvtps_ph
#define CVTPH2PS _mm256_cvtph_ps
#elif HW_WIDTH == 512
#define LANES 16
typedef __m512 vps;
typedef __m256i vph;
#define LOAD_PS _mm512_loadu_ps
#define STORE_PS _mm512_storeu_ps
#define LOAD_PH(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE_PH(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define CVTPS2PH _mm512_cvtps_ph
#define CVTPH2PS _mm512_cvtph_ps
#else
#error "compile with -DHW_WIDTH=256 (F16C) or -DHW_WIDTH=512 (AVX512F)"
#endif

#define CVT_LOOP(IMM) \
    for (int64_t i = 0; i < n; i += LANES) STORE_PH(out + i, CVTPS2PH(LOAD_PS(x + i), IMM))

/* vcvtps2ph: float32 -> float16 codes with rounding HW_NEAREST/DOWN/UP/TOWARD_ZERO. */
void cvtps2ph(const float *x, uint16_t *out, int64_t n, int rounding) {
    HW_BEGIN;
    switch (rounding) {
    case HW_NEAREST: CVT_LOOP(_MM_FROUND_TO_NEAREST_INT); break;
    case HW_DOWN: CVT_LOOP(_MM_FROUND_TO_NEG_INF); break;
    case HW_UP: CVT_LOOP(_MM_FROUND_TO_POS_INF); break;
    default: CVT_LOOP(_MM_FROUND_TO_ZERO); break;
    }
    HW_END;
}

/* vcvtph2ps: float16 codes -> float32 (exact). */
void cvtph2ps(const uint16_t *x, float *out, int64_t n) {
    HW_BEGIN;
    for (int64_t i = 0; i < n; i += LANES) STORE_PS(out + i, CVTPH2PS(LOAD_PH(x + i)));
    HW_END;
}
