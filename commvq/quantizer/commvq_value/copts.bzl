"""Compiler flags of the CommVQ value code (quantizer and trainer)."""

# The hot loops (dot products, row updates) vectorize only with -O3 and float
# sums that may be reordered; the scalar reference (search_reference) is
# built without these flags and the tests compare within tolerances.
VALUE_SIMD_COPTS = [
    "-O3",
    "-fno-math-errno",
    "-fassociative-math",
    "-fno-signed-zeros",
    "-fno-trapping-math",
]
