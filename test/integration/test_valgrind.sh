#!/usr/bin/env bash
# test_valgrind.sh - pgtide under valgrind memcheck (--leak-check=full) with
# a short mixed workload: persistent and per-transaction pgbench clients,
# failing statements, cancels, clients killed mid-transaction and the admin
# console (scripts/soak.sh --valgrind). Any memcheck error or definite or
# indirect leak fails. Disabled in sanitizer builds (test/integration/
# CMakeLists.txt); exits 77 (skipped) when valgrind is not installed.
exec bash "$(dirname "$0")/../../scripts/soak.sh" --valgrind "${VALGRIND_TEST_SECONDS:-20}"
