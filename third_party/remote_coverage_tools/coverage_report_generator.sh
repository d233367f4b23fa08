#!/bin/sh
echo "vmbsim: coverage tools are not available offline" >&2
exit 1
