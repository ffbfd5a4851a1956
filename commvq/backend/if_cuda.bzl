"""if_cuda(items): `items` in CUDA builds, nothing otherwise.

CUDA builds are those with the toolkit found (@local_config_cuda) and
without --define cuda=off, the same condition as //bazel:cuda.bzl's
cuda_compatible(), so always-built targets can add CUDA parts optionally.
"""

load("@local_config_cuda//:defs.bzl", "CUDA_ENABLED")

def if_cuda(items):
    if not CUDA_ENABLED:
        return []
    return select({
        "//bazel:cuda_off": [],
        "//conditions:default": items,
    })
