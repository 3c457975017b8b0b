#!/usr/bin/env bash
# Without raid in shared_preload_libraries there is no launcher: raid.train
# still works, and raid.submit_train fails with SQLSTATE 55000 and a hint
# naming the setting.  Uses a second throw-away cluster of its own.
source "$(dirname "$0")/lib.sh"
dir=$(mktemp -d /tmp/raid-pg-nopreload.XXXXXX)
trap 'raid_cluster_halt "$dir"' EXIT
port=$((PGPORT + 1))
raid_cluster_init "$dir" "$port" ''
export PGHOST=$dir PGPORT=$port PGDATABASE=postgres
q "CREATE EXTENSION raid"
q "SELECT * FROM raid.synthetic('inter', 'users', n_users => 100, n_items => 50, interactions_per_user => 10)" >/dev/null
check "raid.train works without the preload" \
    "$(q "SELECT users FROM raid.train('m', 'inter', options => '{\"dim\": 4, \"epochs\": 1}')")" "100"
err=$(psql -X -q -At -v VERBOSITY=verbose -c "SELECT raid.submit_train('m2', 'inter')" 2>&1 || true)
echo "$err"
echo "$err" | grep -q "55000" || fail "submit_train without the preload: no 55000"
echo "$err" | grep -q "shared_preload_libraries" || fail "the hint does not name shared_preload_libraries"
pass "submit_train without the preload fails with 55000 and names shared_preload_libraries"
check "nothing was queued" "$(q "SELECT count(*) FROM raid.job_records")" "0"
check "raid.jobs is readable (and empty)" "$(q "SELECT count(*) FROM raid.jobs")" "0"
