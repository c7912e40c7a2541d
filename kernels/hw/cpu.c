/* Which units this CPU has, from CPUID, and whether the OS saves their registers (XCR0).
 * Compiled without any -m flag, so it loads on every x86-64 CPU.
 *
 * Bits of the result (the order of UNITS in kernels/hw/__init__.py):
 *   1 F16C, 2 AVX512F, 4 AVX512-FP16, 8 AVX512-BF16, 16 AVX512-VNNI, 32 AVX-VNNI.
 * Every AVX-512 unit here also needs AVX512VL and AVX512BW (the kernels use 256-bit halves and
 * 16-bit lanes), so those are required with it.
 */
#include <cpuid.h>
#include <stdint.h>

static uint64_t xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

int hw_features(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, f16c = (c >> 29) & 1;
    if (!osxsave) return 0;
    uint64_t x = xcr0();
    int ymm = (x & 0x6) == 0x6, zmm = (x & 0xE6) == 0xE6;
    if (!ymm) return 0;
    unsigned int b7 = 0, c7 = 0, d7 = 0, a71 = 0, t;
    if (__get_cpuid_max(0, 0) >= 7) {
        __cpuid_count(7, 0, t, b7, c7, d7);
        __cpuid_count(7, 1, a71, t, t, t);
    }
    int avx512 = zmm && ((b7 >> 16) & 1) && ((b7 >> 30) & 1) && ((b7 >> 31) & 1);  /* F, BW, VL */
    return (f16c ? 1 : 0)
         | (avx512 ? 2 : 0)
         | (avx512 && ((d7 >> 23) & 1) ? 4 : 0)
         | (avx512 && ((a71 >> 5) & 1) ? 8 : 0)
         | (avx512 && ((c7 >> 11) & 1) ? 16 : 0)
         | (((a71 >> 4) & 1) ? 32 : 0);
}

/* Set MXCSR to `value` for the calling thread and return the previous value. Lets tests check
 * that the kernels give the same bits whatever the caller's DAZ/FTZ/rounding bits are. */
unsigned int hw_swap_mxcsr(unsigned int value) {
    unsigned int old;
    __asm__ volatile("stmxcsr %0\n\tldmxcsr %1" : "=m"(old) : "m"(value));
    return old;
}
