#!/usr/bin/env bash
# Runs //kmcl:header_c11_run_test (C11 drivers through the C header over a
# simulated world) under valgrind's memcheck. A driver that reads memory it
# never initialised must show up as the driver's bug (a verifier finding or
# a wrong result), not as an uninitialised read inside the simulator or the
# KMCL runtime; memcheck names any such read with its origin. Leaks are the
# ASan suite's business and are not checked here.
#
# Skips, saying so, when valgrind is not installed (tools/bootstrap installs
# it), and in the ASan build, whose runtime cannot run under valgrind.
#
#   header_c11_run_valgrind_test.sh plain|asan BINARY
set -uo pipefail
build=$1
binary=$2

if [[ "$build" == "asan" ]]; then
  echo "SKIPPED: an ASan build cannot run under valgrind; the plain build's run of this test checks it"
  exit 0
fi

if ! command -v valgrind >/dev/null 2>&1; then
  echo "SKIPPED: valgrind is not installed (Debian package valgrind; tools/bootstrap installs it)"
  exit 0
fi

valgrind --tool=memcheck --error-exitcode=99 --track-origins=yes --leak-check=no \
  --undef-value-errors=yes --quiet "$binary"
rc=$?
if [[ $rc -eq 99 ]]; then
  echo "FAILED: memcheck reported errors (above)"
elif [[ $rc -ne 0 ]]; then
  echo "FAILED: the test exited with $rc under valgrind"
fi
exit $rc
