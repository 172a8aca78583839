#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in build-fuzz/, then runs each for a bounded time
# (default 30 s) from its seed corpus in tests/fuzz/corpus/<name>/. Fails on
# the first crash, leak, sanitizer report or failed check, leaving the
# reproducer in build-fuzz/crashes/. New inputs found go to build-fuzz/corpus/,
# never into the seeds.
#
#   tools/fuzz.sh [--seconds N] [NAME…]      NAME: payload batch_line header json_text utf8 filter
#                                            duration url retry_after verify
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/setup.sh

seconds=30
names=()
while [ $# -gt 0 ]; do
    case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
    esac
done
case "$seconds" in '' | *[!0-9]*) echo "fuzz.sh: --seconds needs a whole number" >&2; exit 2 ;; esac
[ ${#names[@]} -eq 0 ] && names=(payload batch_line header duration url retry_after verify json_text utf8 filter)

# clang and libFuzzer's runtime (libclang_rt.fuzzer, in libclang-rt-*-dev).
webhookd_install_packages clang libclang-rt-dev

dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
    CC=clang CXX=clang++ meson setup "$dir" --buildtype=debugoptimized -Dfuzz=true -Dtests=false -Dbench=false \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
targets=()
for n in "${names[@]}"; do targets+=("tests/fuzz/${n}_fuzzer"); done
ninja -C "$dir" -j2 "${targets[@]}" >/dev/null || ninja -C "$dir" -j2 "${targets[@]}"

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}"
mkdir -p "$dir/crashes"
status=0
for n in "${names[@]}"; do
    seeds="tests/fuzz/corpus/$n"
    work="$dir/corpus/$n"
    mkdir -p "$work"
    log="$dir/fuzz-$n.log"
    printf '%-12s ' "$n"
    if "$dir/tests/fuzz/${n}_fuzzer" "$work" "$seeds" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/crashes/$n-" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
        echo "ok: ${runs:-?} runs in ${seconds}s, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) files"
    else
        status=1
        echo "FAILED (see $log)"
        grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    /'
    fi
done
if [ $status -eq 0 ]; then echo "fuzz.sh: every target ran ${seconds}s without a crash"; else echo "fuzz.sh: crashes found" >&2; fi
exit $status
