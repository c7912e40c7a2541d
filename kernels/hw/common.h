/* Shared by every unit: fixed-width types and a known MXCSR for the duration of a call.
 *
 * Each kernel runs with MXCSR = 0x1F80 (all exceptions masked, round to nearest even, DAZ and
 * FTZ off), whatever the calling thread had set (a library built with -ffast-math sets DAZ/FTZ
 * for the whole process), and restores the caller's value afterwards. Instructions with an
 * explicit rounding (an imm8 or EVEX embedded rounding) ignore MXCSR.RC anyway; the reset makes
 * DAZ, which vcvtps2ph and vcvtps2phx honour on their float32 input (measured), deterministic.
 *
 * The Python layer pads every array to a multiple of HW_PAD elements, so the loops handle whole
 * vectors only.
 */
#ifndef LPEMU_HW_COMMON_H
#define LPEMU_HW_COMMON_H

#include <immintrin.h>
#include <stdint.h>

#define HW_PAD 64
#define HW_MXCSR_DEFAULT 0x1F80u

/* The empty asm with a memory clobber keeps the compiler from moving the loops' loads and
 * stores (and so the arithmetic between them) across the MXCSR writes. */
#define HW_BEGIN                                                                              \
    unsigned int hw_saved_mxcsr_ = _mm_getcsr();                                              \
    _mm_setcsr(HW_MXCSR_DEFAULT);                                                             \
    __asm__ __volatile__("" ::: "memory")
#define HW_END                                                                                \
    __asm__ __volatile__("" ::: "memory");                                                    \
    _mm_setcsr(hw_saved_mxcsr_)

/* Rounding codes shared with lpemu/hardware.py: the imm8 / EVEX.RC encoding. */
enum { HW_NEAREST = 0, HW_DOWN = 1, HW_UP = 2, HW_TOWARD_ZERO = 3 };

#endif
