"""Compiler options for vmbsim's own code (external code is built by its distribution)."""

VMBSIM_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]

# Tests: the same warnings. GoogleTest macros trigger -Wsign-compare on mixed
# literals, which is noise in tests.
VMBSIM_TEST_COPTS = VMBSIM_COPTS + [
    "-Wno-sign-compare",
]

VMBSIM_C_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
]
