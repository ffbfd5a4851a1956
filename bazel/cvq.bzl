"""Common flags and thin wrappers for this project's own C++ targets.

Warnings are errors for our code only: external repositories are built
with their own flags.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

CVQ_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]

def cvq_cc_library(name, copts = [], **kwargs):
    cc_library(name = name, copts = CVQ_COPTS + copts, **kwargs)

def cvq_cc_binary(name, copts = [], **kwargs):
    cc_binary(name = name, copts = CVQ_COPTS + copts, **kwargs)

def cvq_cc_test(name, copts = [], deps = [], size = "small", **kwargs):
    """A GoogleTest binary linked with gtest_main."""
    cc_test(
        name = name,
        size = size,
        copts = CVQ_COPTS + copts,
        deps = deps + ["@com_google_googletest//:gtest_main"],
        **kwargs
    )

def cvq_fuzz_test(name, srcs, deps = [], corpus = [], **kwargs):
    """A libFuzzer target and its replay test.

    `name` is the libFuzzer binary: built only with --config=fuzz (clang),
    tagged manual so `bazel test //...` never runs it. `name_replay_test`
    links the same LLVMFuzzerTestOneInput with a plain driver that replays the
    corpus and a deterministic stream of random inputs, in every build.
    """
    cc_binary(
        name = name,
        srcs = srcs,
        copts = CVQ_COPTS,
        linkopts = ["-fsanitize=fuzzer"],
        deps = deps,
        testonly = True,
        tags = ["manual"],
        target_compatible_with = select({
            "//bazel:fuzzing": [],
            "//conditions:default": ["//bazel:incompatible"],
        }),
        **kwargs
    )
    cc_test(
        name = name + "_replay_test",
        size = "small",
        srcs = srcs,
        copts = CVQ_COPTS,
        args = ["$(location %s)" % c for c in corpus],
        data = corpus,
        deps = deps + ["//testing/fuzz:replay_main"],
        **kwargs
    )
