#!/usr/bin/env bash
# Every ```sql block of README.md runs, in order, without error, in the
# database that serves raid's jobs and pg_cron (as a reader following the
# README would), with MovieLens 100K loaded as the README says.  A comment
# right before a block may adjust the run:
#   <!-- readme test, first: SQL -->          runs SQL before the block (fixtures
#                                             the prose assumes, e.g. a shop table)
#   <!-- readme test, replace: A => B -->      runs the block with A replaced by B
#   <!-- readme test, error: SQLSTATE -->      the block must fail with SQLSTATE
#   <!-- readme test, needs: EXTENSION -->     skips the block (saying so) where that
#                                             extension is not available (pgvector)
source "$(dirname "$0")/lib.sh"
dir=$(raid_data_dir)
[ -n "$dir" ] || skip "skipped: MovieLens 100K not found (set RAID_DATA_DIR or provide ../shared/data/ml-100k)"
export PGDATABASE=postgres   # raid.database_name and cron.database_name of the test cluster

cleanup() {
    psql -X -q -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname IN ('nightly-audit', 'raid-audit:m')" >/dev/null 2>&1 || true
    psql -X -q -c "DROP EXTENSION IF EXISTS raid CASCADE" -c "DROP SCHEMA IF EXISTS shop, movielens CASCADE" \
        -c "DROP TABLE IF EXISTS interactions, users" >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT
q "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null
"$IT_ROOT/scripts/load_movielens.sh" "$dir" >/dev/null

/usr/bin/python3 - "$IT_ROOT/README.md" <<'PY'
import re, subprocess, sys

text = open(sys.argv[1]).read()
fence = re.compile(r'((?:<!-- readme test, [^\n]*-->\n)*)```sql\n(.*?)```', re.S)
failed = 0
for n, m in enumerate(fence.finditer(text)):
    line = text[:m.start(2)].count('\n')
    sql = m.group(2)
    first, expect, missing = '', None, None
    for d in re.findall(r'<!-- readme test, (\w+): (.*?) -->', m.group(1)):
        if d[0] == 'first':
            first += d[1] + '\n'
        elif d[0] == 'replace':
            a, b = d[1].split(' => ', 1)
            if a not in sql:
                print(f'FAIL block {n} (README.md line {line}): nothing to replace: {a}'); failed += 1
            sql = sql.replace(a, b)
        elif d[0] == 'error':
            expect = d[1].strip()
        elif d[0] == 'needs':
            r = subprocess.run(['psql', '-X', '-At', '-c',
                                "SELECT count(*) FROM pg_available_extensions WHERE name = '%s'" % d[1].strip()],
                               capture_output=True, text=True)
            if r.stdout.strip() != '1':
                missing = d[1].strip()
        else:
            print(f'FAIL block {n}: unknown directive {d[0]}'); failed += 1
    if missing:
        print(f'ok: block {n} (README.md line {line}) skipped: extension {missing} is not available')
        continue
    if first:
        r = subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1'], input=first,
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f'FAIL block {n} (README.md line {line}): its fixture failed:\n{r.stderr}'); failed += 1
            continue
    r = subprocess.run(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', 'VERBOSITY=verbose'],
                       input=sql, capture_output=True, text=True)
    head = sql.strip().split('\n')[0][:70]
    if expect is None and r.returncode != 0:
        print(f'FAIL block {n} (README.md line {line}): {head}\n{r.stderr}'); failed += 1
    elif expect is not None and (r.returncode == 0 or expect not in r.stderr):
        print(f'FAIL block {n} (README.md line {line}): expected {expect}, got:\n{r.stderr}'); failed += 1
    else:
        print(f'ok: block {n} (README.md line {line}): {head}')
sys.exit(1 if failed else 0)
PY
