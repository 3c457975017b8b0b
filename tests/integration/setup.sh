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

# A cluster configured like Debian's default for pg_cron: jobs over TCP to
# localhost, where pg_hba.conf asks for a scram password, and no background
# workers for pg_cron.  raid.schedule_audit refuses up front, naming the fix,
# instead of returning a job whose every run would fail to connect.
dir2=$(mktemp -d /tmp/raid-pg-scram.XXXXXX)
trap 'raid_cluster_halt "$dir"; raid_cluster_halt "$dir2"' EXIT
port2=$((port + 1))
raid_cluster_init "$dir2" "$port2" '' "$(echo "$block" | grep -v '^cron.use_background_workers')
listen_addresses = '127.0.0.1'
cron.host = 'localhost'
password_encryption = 'scram-sha-256'"
cat >"$dir2/data/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
HBA
(cd / && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir2/data" -l "$dir2/log" -w reload >/dev/null)
export PGHOST=$dir2 PGPORT=$port2
q "ALTER ROLE postgres PASSWORD 'not-known-to-pg_cron'" >/dev/null
q "CREATE EXTENSION raid"
q "CREATE EXTENSION pg_cron"
q "SELECT * FROM raid.synthetic('s_inter', 's_users', n_users => 200, n_items => 80, interactions_per_user => 10)" >/dev/null
q "SELECT users FROM raid.train('s', 's_inter', attributes => 's_users', attribute_col => 'attribute', options => '{\"dim\": 4, \"epochs\": 1}')" >/dev/null
check "check_setup flags it" "$(q "SELECT string_agg(check_name, ',') FROM raid.check_setup() WHERE NOT ok")" "pg_cron_runs_jobs"
err=$(psql -X -q -At -v VERBOSITY=verbose -c "SELECT raid.schedule_audit('s', '0 3 * * *')" 2>&1 || true)
echo "$err"
echo "$err" | grep -q "55000" || fail "schedule_audit did not refuse with 55000"
echo "$err" | grep -q "cron.use_background_workers = on" || fail "the hint does not name cron.use_background_workers"
check "no pg_cron job was created" "$(q "SELECT count(*) FROM cron.job")" "0"
pass "schedule_audit refuses where pg_cron cannot connect, naming the fix"
