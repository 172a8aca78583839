#!/usr/bin/env bash
# Builds the whole suite with AddressSanitizer and UndefinedBehaviorSanitizer
# in build-asan/ and runs it (meson test). The binaries the tests start
# (webhookctl, webhookd, the receiver) are sanitized too and inherit the
# options below: any report fails the test that caused it.
#
#   tools/sanitize.sh [meson test arguments…]
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/setup.sh

webhookd_install_packages
dir=build-asan
if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --buildtype=debugoptimized -Db_sanitize=address,undefined -Dbench=false >/dev/null
fi
ninja -C "$dir" -j2 >/dev/null || ninja -C "$dir" -j2

# halt_on_error: UBSan otherwise prints and carries on, and the test passes.
# detect_leaks: on; a test's children that are SIGKILLed never report.
# verify_asan_link_order=0: the tests run some commands under faketime, whose
# LD_PRELOAD library comes before the ASan runtime; ASan still works then.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:verify_asan_link_order=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}"
meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier 4 "$@"
