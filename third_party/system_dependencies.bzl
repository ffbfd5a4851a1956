"""CommVQ's dependencies as this machine's Debian packages, under the upstream
repository names its BUILD files use, for CommVQ's own WORKSPACE and for a
consumer's: `load("@commvq//third_party:system_dependencies.bzl", ...)` then
`commvq_system_dependencies()`. A monorepo with its own abseil, protobuf,
googletest or benchmark defines those names itself and skips this macro.

Labels here are written relative to this file's repository, so they name
CommVQ's files from either workspace.
"""

load("//third_party/absl:system_absl.bzl", "system_absl")
load("//third_party/cuda:cuda_configure.bzl", "cuda_configure")

def _system_package(name, build_file):
    native.new_local_repository(
        name = name,
        build_file = str(Label(build_file)),
        path = "/usr",
    )

def commvq_system_dependencies():
    system_absl(name = "com_google_absl")
    _system_package("com_google_protobuf", "//third_party/protobuf:BUILD.system")
    _system_package("com_google_googletest", "//third_party/googletest:BUILD.system")
    _system_package("com_github_google_benchmark", "//third_party/benchmark:BUILD.system")
    cuda_configure(name = "local_config_cuda")
