"""cvq_cuda_library: nvcc in a genrule, one object per .cu, wrapped in a
cc_library that links cudart.

nvcc sees only the genrule's inputs and system headers, so a .cu file may
include only its own `hdrs` (plain C++ headers, the host/device boundary) and
toolkit headers.
"""

load("@local_config_cuda//:defs.bzl", "CUDA_ENABLED", "NVCC")
load("@rules_cc//cc:defs.bzl", "cc_library")

# sm_80 (A100), sm_89 (L4/L40), sm_90 (H100/H200) SASS + compute_90 PTX for
# newer GPUs to JIT from.
CUDA_GENCODE = [
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_89,code=sm_89",
    "-gencode=arch=compute_90,code=sm_90",
    "-gencode=arch=compute_90,code=compute_90",
]

def cuda_compatible():
    """target_compatible_with for targets that need the CUDA toolkit."""
    if not CUDA_ENABLED:
        return ["//bazel:incompatible"]
    return select({
        "//bazel:cuda_off": ["//bazel:incompatible"],
        "//conditions:default": [],
    })

def cvq_cuda_library(name, srcs, hdrs = [], deps = [], cuda_deps = [], **kwargs):
    """Compiles each .cu in srcs with nvcc; hdrs are visible to nvcc and C++."""
    objects = []
    for src in srcs:
        obj = name + "_" + src.replace("/", "_").replace(".cu", ".o")
        native.genrule(
            name = obj + "_nvcc",
            srcs = [src] + hdrs,
            outs = [obj],
            cmd = " ".join([
                NVCC,
                "-c",
                "-std=c++17",
                "-O3",
                "-Xcompiler=-fPIC,-Wall,-Werror",
                "-Werror=all-warnings",
                "-I.",
                "-I$(GENDIR)",
            ] + CUDA_GENCODE + [
                "-o $@",
                "$(location %s)" % src,
            ]),
            target_compatible_with = cuda_compatible(),
        )
        objects.append(obj)
    cc_library(
        name = name,
        srcs = objects,
        hdrs = hdrs,
        deps = deps + cuda_deps + ["@local_config_cuda//:cudart"],
        target_compatible_with = cuda_compatible(),
        **kwargs
    )
