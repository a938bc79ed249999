# Shared fused types.
#
# ``real``: the NN family and every float kernel.
# ``numeric``: the signal family adds complex, and integers computed in
# uint64 (wrap-around arithmetic is defined for unsigned types in C, and its
# low 64 bits equal those of exact signed arithmetic; Python casts back).
from libc.stdint cimport uint64_t

ctypedef fused real:
    float
    double

ctypedef fused numeric:
    float
    double
    float complex
    double complex
    uint64_t
