#!/usr/bin/env bash
# Runs every test suite: unit tests (no database), pg_regress and the
# integration tests against a throw-away cluster.  Installs what is missing
# (as root on Debian 12).  Ends with one line "N passed, N failed".
set -uo pipefail
source "$(dirname "$0")/common.sh"
cd "$RAID_ROOT"

PASSED=0
FAILED=0
SKIPPED=0
FAILURES=()
count() { # suite passed failed [skipped]
    PASSED=$((PASSED + $2)); FAILED=$((FAILED + $3)); SKIPPED=$((SKIPPED + ${4:-0}))
    [ "$3" -gt 0 ] && FAILURES+=("$1")
    printf '%-14s %d passed, %d failed, %d skipped\n' "$1:" "$2" "$3" "${4:-0}"
}
finish() {
    raid_cluster_stop
    [ ${#FAILURES[@]} -gt 0 ] && echo "failing suites: ${FAILURES[*]}"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] && [ "$PASSED" -gt 0 ]
    exit $?
}

raid_install_deps || { echo "0 passed, 1 failed"; exit 1; }
export RAID_DATA_DIR=$(raid_data_dir)
[ -n "$RAID_DATA_DIR" ] || echo "note: MovieLens 100K not found; the tests that need it will skip"
mkdir -p build

# 0. layering: the core never includes PostgreSQL, the glue never includes the core's C++
raid_log "layering"
p=0; f=0
if grep -rnE '#include *[<"](postgres|fmgr|executor|utils/|catalog/|access/|nodes/|miscadmin)' src/core src/capi; then
    echo "  FAIL  src/core or src/capi includes a PostgreSQL header"; f=$((f + 1))
else p=$((p + 1)); fi
bad=""
for h in $(sed -n 's/^#include *"\([^"]*\)".*/\1/p' src/pg/*.c src/pg/*.h | sort -u); do
    [ -e "src/core/$h" ] && bad="$bad $h"
done
if [ -n "$bad" ]; then
    echo "  FAIL  src/pg includes core headers:$bad"; f=$((f + 1))
else p=$((p + 1)); fi
count layering "$p" "$f"

# 0b. structure: file and function sizes (scripts/check_structure.py)
raid_log "structure"
if /usr/bin/python3 scripts/check_structure.py; then count structure 1 0; else count structure 0 1; fi

# 1. unit tests: the core and its C ABI, linked without PostgreSQL
raid_log "unit tests"
if make -s unit-build >build/unit-build.log 2>&1; then
    # the unit binary must not depend on PostgreSQL
    if ldd build/tests/raid_unit | grep -qiE 'libpq|postgres'; then
        echo "  FAIL  raid_unit links against PostgreSQL"; count unit-link 0 1
    else count unit-link 1 0; fi
    build/tests/raid_unit --gtest_color=no >build/unit.log 2>&1
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' build/unit.log | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' build/unit.log | tail -1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' build/unit.log | tail -1)
    if [ -z "$p" ] && [ -z "$f" ]; then f=1; fi  # crashed before its summary
    grep -E '^\[  (FAILED|SKIPPED) \] [A-Za-z]' build/unit.log | sort -u
    grep -A2 '^\[ *SKIPPED \] [A-Za-z]' build/unit.log | grep -v '^\[' | grep -v '^--' | sort -u | head -5 || true
    count unit "${p:-0}" "${f:-0}" "${s:-0}"
else
    tail -30 build/unit-build.log
    count unit 0 1
fi

# 2. build and install the extension, start a cluster
if ! raid_build_install >build/ext-build.log 2>&1; then
    tail -30 build/ext-build.log
    count build 0 1
    finish
fi
raid_cluster_start

# 3. pg_regress
raid_log "pg_regress"
make -s installcheck >build/regress.log 2>&1
# every suite in REGRESS must report "... ok"; one that is missing from the
# log (pg_regress gave up early) or reported otherwise counts as failed
total=$(make -s --no-print-directory -f Makefile print-regress 2>/dev/null | wc -w)
p=$(grep -cE '^(test| )? *[a-z_0-9]+ +\.\.\. ok' build/regress.log)
f=$(( total > p ? total - p : 0 ))
[ "$total" -eq 0 ] && f=1
if [ "$f" -gt 0 ]; then
    grep -E '\.\.\. ' build/regress.log | grep -v '\.\.\. ok' || tail -20 build/regress.log
    [ -f build/regress/regression.diffs ] && head -80 build/regress/regression.diffs
fi
count pg_regress "$p" "$f"

# 4. integration tests: each script exits 0 (pass), 77 (skip) or other (fail)
raid_log "integration tests"
p=0; f=0; s=0
for t in tests/integration/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    name=$(basename "$t" .sh)
    start=$(date +%s)
    bash "$t" >"build/it-$name.log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    case $rc in
        0) p=$((p + 1)); echo "  ok    $name (${secs}s)" ;;
        77) s=$((s + 1)); echo "  skip  $name: $(tail -1 "build/it-$name.log")" ;;
        *) f=$((f + 1)); echo "  FAIL  $name (${secs}s)"; tail -20 "build/it-$name.log" | sed 's/^/        /' ;;
    esac
done
count integration "$p" "$f" "$s"

finish
