/* VNNI: u8 x s8 dot products of four byte pairs accumulated into int32, wrapping (vpdpbusd) or
 * saturating (vpdpbusds). One source, two units: -DHW_WIDTH=512 -mavx512vnni for AVX512-VNNI
 * (EVEX), -DHW_WIDTH=256 -mavxvnni for AVX-VNNI (VEX).
 */
#include "common.h"

#if HW_WIDTH == 512
#define LANES 16
typedef __m512i vi;
#define LOAD(p) _mm512_loadu_si512((const void *)(p))
#define STORE(p, v) _mm512_storeu_si512((void *)(p), v)
#define DPBUSD _mm512_dpbusd_epi32
#define DPBUSDS _mm512_dpbusds_epi32
#elif HW_WIDTH == 256
#define LANES 8
typedef __m256i vi;
#define LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define DPBUSD _mm256_dpbusd_avx_epi32
#define DPBUSDS _mm256_dpbusds_avx_epi32
#else
#error "compile with -DHW_WIDTH=512 (AVX512-VNNI) or -DHW_WIDTH=256 (AVX-VNNI)"
#endif

/* out[i] = acc[i] + sum_k a[4i+k] * b[4i+k] (a unsigned, b signed bytes), wrapped modulo 2^32
 * (saturate = 0, vpdpbusd) or saturated to int32 (saturate = 1, vpdpbusds). */
void dpbusd(const int32_t *acc, const uint8_t *a, const int8_t *b, int32_t *out, int64_t n,
            int saturate) {
    HW_BEGIN;
    for (int64_t i = 0; i < n; i += LANES) {
        vi c = LOAD(acc + i), va = LOAD(a + 4 * i), vb = LOAD(b + 4 * i);
        STORE(out + i, saturate ? DPBUSDS(c, va, vb) : DPBUSD(c, va, vb));
    }
    HW_END;
}
