#!/usr/bin/env bash
# Builds webhookd and runs the whole test suite (meson test), installing any
# missing Debian packages first. Ends with one line "N passed, N failed"
# counted from the doctest cases of every test program.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/setup.sh

webhookd_install_packages
webhookd_build build
WEBHOOKD_PROMTOOL=$(webhookd_promtool build/promtool)
export WEBHOOKD_PROMTOOL
status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=$?

python3 - build/meson-logs/testlog.json <<'PY'
import json, re, sys
passed = failed = skipped = 0
for line in open(sys.argv[1], encoding="utf-8"):
    t = json.loads(line)
    m = re.search(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed\s*\|\s*(\d+) skipped",
                  t.get("stdout", ""))
    if m:
        skipped += int(m.group(4))
    if m and t["result"] == "OK":
        passed += int(m.group(2)); failed += int(m.group(3))
    elif m:
        # A program that failed counts its failed cases, and at least one.
        passed += int(m.group(2)); failed += max(1, int(m.group(3)))
    elif t["result"] == "OK":
        passed += 1
    elif t["result"] == "SKIP":
        skipped += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
