#!/usr/bin/env bash
# A cluster started with only the README's postgresql.conf block (besides the
# test's port, socket and fsync) passes every row of raid.check_setup(); with a
# setting taken away, the right row fails and names the setting to change.
source "$(dirname "$0")/lib.sh"
block=$(/usr/bin/python3 - "$IT_ROOT/README.md" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
m = re.search(r'<!-- setup block:[^\n]*-->\n```\n(.*?)```', s, re.S)
print(m.group(1) if m else '', end='')
PY
)
[ -n "$block" ] || fail "no setup block in README.md"
echo "$block"
dir=$(mktemp -d /tmp/raid-pg-setup.XXXXXX)
trap 'raid_cluster_halt "$dir"' EXIT
port=$((PGPORT + 2))
raid_cluster_init "$dir" "$port" '' "$block"
export PGHOST=$dir PGPORT=$port PGDATABASE=postgres
restart() {
    (cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w restart >/dev/null)
}
q "CREATE EXTENSION raid"
q "CREATE EXTENSION pg_cron"
q "SELECT check_name, ok, message FROM raid.check_setup()"
check "every check passes with the README's block" "$(q "SELECT count(*) FILTER (WHERE NOT ok) || '/' || count(*) FROM raid.check_setup()")" "0/6"

q "ALTER SYSTEM SET cron.use_background_workers = off" >/dev/null
restart
q "SELECT check_name, ok, fix FROM raid.check_setup() WHERE NOT ok"
check "without background workers for pg_cron, that row fails" \
    "$(q "SELECT string_agg(check_name, ',') FROM raid.check_setup() WHERE NOT ok")" "pg_cron_runs_jobs"
check_true "and names the setting" \
    "(SELECT fix LIKE 'cron.use_background_workers = on%' FROM raid.check_setup() WHERE check_name = 'pg_cron_runs_jobs')"

q "ALTER SYSTEM RESET cron.use_background_workers" >/dev/null
q "ALTER SYSTEM SET shared_preload_libraries = 'pg_cron'" >/dev/null
restart
q "SELECT check_name, ok, fix FROM raid.check_setup() WHERE NOT ok"
check "without raid preloaded, the preload and jobs rows fail" \
    "$(q "SELECT string_agg(check_name, ',' ORDER BY check_name) FROM raid.check_setup() WHERE NOT ok")" "jobs_database,preload"
check_true "and the preload row names shared_preload_libraries" \
    "(SELECT fix LIKE 'shared_preload_libraries = %' FROM raid.check_setup() WHERE check_name = 'preload')"
