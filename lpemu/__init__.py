"""lpemu: bit-accurate emulation of low-precision arithmetic."""
