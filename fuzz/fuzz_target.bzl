"""One fuzz target, two ways to run it.

vmbsim_fuzz_target(name = "x", ...) declares, from x_fuzz.cc (which defines
LLVMFuzzerTestOneInput):
  - "x_fuzz_test": a cc_test that replays every file of the checked-in
    corpus tests/fuzz/x/ (seeds and regression inputs) through the target,
    so the normal suite and the ASan suite run them;
  - "x_fuzzer": the libFuzzer binary. It builds only under --config=fuzz
    (clang, -fsanitize=fuzzer,address,undefined), hence tags = ["manual"];
    tools/fuzz builds and runs it.
"""

load("//bazel:copts.bzl", "VMBSIM_TEST_COPTS")

def vmbsim_fuzz_target(name, deps, srcs = None):
    srcs = srcs or [name + "_fuzz.cc"]
    native.cc_library(
        name = name + "_fuzz_lib",
        testonly = True,
        srcs = srcs,
        copts = VMBSIM_TEST_COPTS,
        deps = deps,
        alwayslink = True,
    )
    native.cc_test(
        name = name + "_fuzz_test",
        size = "small",
        args = ["tests/fuzz/" + name],
        data = ["//tests/fuzz:" + name],
        deps = [
            ":" + name + "_fuzz_lib",
            ":replay_main",
        ],
    )
    native.cc_binary(
        name = name + "_fuzzer",
        testonly = True,
        linkopts = select({
            ":fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = ["manual"],
        deps = [":" + name + "_fuzz_lib"],
    )
