/* AVX512-FP16 arithmetic on float16 vectors with EVEX embedded rounding, and the float32 <->
 * float16 conversions of the extension (vcvtps2phx, vcvtph2psx). Compiled with -mavx512fp16.
 *
 * The arithmetic is inline assembly rather than intrinsics so that the operand order is fixed:
 * a compiler may swap the operands of a commutative intrinsic (add, mul), and for fma it picks
 * one of the 132/213/231 forms, and the x86 NaN rules return the NaN of the *first* source
 * operand. Here x is always the first source:
 *   add/sub/mul/div:  v<op>ph {rc}, y, x, r     (Intel order: r = x <op> y)
 *   fma:              vfmadd213ph {rc}, z, x, y  (y := x * y + z, y in the destination)
 *   sqrt:             vsqrtph {rc}, x, r
 */
#include "common.h"

#define LANES 32
#define LOAD(p) _mm512_loadu_ph((const void *)(p))
#define STORE(p, v) _mm512_storeu_ph((void *)(p), v)

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FMA, OP_SQRT };

#define BINARY(INSN, RC)                                                                      \
    for (int64_t i = 0; i < n; i += LANES) {                                                 \
        __m512h a = LOAD(x + i), b = LOAD(y + i), r;                                          \
        __asm__(INSN " %{" RC "%}, %2, %1, %0" : "=v"(r) : "v"(a), "v"(b));                     \
        STORE(out + i, r);                                                                    \
    }
#define FMA(RC)                                                                               \
    for (int64_t i = 0; i < n; i += LANES) {                                                 \
        __m512h a = LOAD(x + i), b = LOAD(y + i), c = LOAD(z + i);                            \
        __asm__("vfmadd213ph %{" RC "%}, %2, %1, %0" : "+v"(b) : "v"(a), "v"(c));              \
        STORE(out + i, b);                                                                    \
    }
#define SQRT(RC)                                                                              \
    for (int64_t i = 0; i < n; i += LANES) {                                                 \
        __m512h a = LOAD(x + i), r;                                                           \
        __asm__("vsqrtph %{" RC "%}, %1, %0" : "=v"(r) : "v"(a));                              \
        STORE(out + i, r);                                                                    \
    }

#define ALL_OPS(RC)                                                                           \
    switch (op) {                                                                             \
    case OP_ADD: BINARY("vaddph", RC) break;                                                  \
    case OP_SUB: BINARY("vsubph", RC) break;                                                  \
    case OP_MUL: BINARY("vmulph", RC) break;                                                  \
    case OP_DIV: BINARY("vdivph", RC) break;                                                  \
    case OP_FMA: FMA(RC) break;                                                               \
    default: SQRT(RC) break;                                                                  \
    }

/* out = op(x, y, z) on float16 codes, rounded with HW_NEAREST/DOWN/UP/TOWARD_ZERO. Unused
 * operands (y for sqrt, z for all but fma) may be any array of n codes. */
void arith(int op, const uint16_t *x, const uint16_t *y, const uint16_t *z, uint16_t *out,
           int64_t n, int rounding) {
    HW_BEGIN;
    switch (rounding) {
    case HW_NEAREST: ALL_OPS("rn-sae") break;
    case HW_DOWN: ALL_OPS("rd-sae") break;
    case HW_UP: ALL_OPS("ru-sae") break;
    default: ALL_OPS("rz-sae") break;
    }
    HW_END;
}

#define CVT_LOOP(RC)                                                                          \
    for (int64_t i = 0; i < n; i += 16)                                                       \
        _mm256_storeu_ph((void *)(out + i), _mm512_cvtx_roundps_ph(_mm512_loadu_ps(x + i), RC))

/* vcvtps2phx: float32 -> float16 codes with embedded rounding. */
void cvtps2phx(const float *x, uint16_t *out, int64_t n, int rounding) {
    HW_BEGIN;
    switch (rounding) {
    case HW_NEAREST: CVT_LOOP(_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); break;
    case HW_DOWN: CVT_LOOP(_MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); break;
    case HW_UP: CVT_LOOP(_MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC); break;
    default: CVT_LOOP(_MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); break;
    }
    HW_END;
}

/* vcvtph2psx: float16 codes -> float32 (exact). */
void cvtph2psx(const uint16_t *x, float *out, int64_t n) {
    HW_BEGIN;
    for (int64_t i = 0; i < n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtxph_ps(_mm256_loadu_ph((const void *)(x + i))));
    HW_END;
}
