#!/usr/bin/env bash
# raid.max_workers: with 1, two jobs run one after the other (FIFO); with 2
# (ALTER SYSTEM + pg_reload_conf), at the same time.
source "$(dirname "$0")/lib.sh"
export PGDATABASE=postgres   # raid.database_name of the test cluster
q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null
q "DROP TABLE IF EXISTS jw_inter, jw_users" >/dev/null
q "CREATE EXTENSION raid"
q "SELECT * FROM raid.synthetic('jw_inter', 'jw_users', n_users => 2000, n_items => 1000, interactions_per_user => 50)" >/dev/null
trap 'q "ALTER SYSTEM RESET raid.max_workers" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null' EXIT
opts='{"dim": 16, "epochs": 40, "threads": 1}'

# set_workers N: reloads the setting and waits until sessions see it
set_workers() {
    q "ALTER SYSTEM SET raid.max_workers = $1" >/dev/null
    q "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 50); do
        [ "$(q "SHOW raid.max_workers")" = "$1" ] && break
        sleep 0.1
    done
    sleep 0.5  # the launcher reloads on SIGHUP at its next wake-up
    check "raid.max_workers" "$(q "SHOW raid.max_workers")" "$1"
}
# two_jobs NAME: submits two trainings in one transaction, waits, prints their ids
two_jobs() {
    psql -X -q -At -v ON_ERROR_STOP=1 -c "BEGIN" \
        -c "SELECT raid.submit_train('$1_a', 'jw_inter', options => '$opts')" \
        -c "SELECT raid.submit_train('$1_b', 'jw_inter', options => '$opts')" -c "COMMIT"
}

set_workers 1
ids=$(two_jobs serial); a=$(sed -n 1p <<<"$ids"); b=$(sed -n 2p <<<"$ids")
check "first job" "$(q "SELECT status FROM raid.wait_job($a, '60 s')")" "succeeded"
check "second job" "$(q "SELECT status FROM raid.wait_job($b, '60 s')")" "succeeded"
q "SELECT job_id, started_at, finished_at FROM raid.jobs WHERE job_id IN ($a, $b) ORDER BY job_id"
check_true "with 1 worker they ran one after the other, in order" \
    "(SELECT b.started_at >= a.finished_at FROM raid.jobs a, raid.jobs b WHERE a.job_id = $a AND b.job_id = $b)"

set_workers 2
ids=$(two_jobs parallel); a=$(sed -n 1p <<<"$ids"); b=$(sed -n 2p <<<"$ids")
check "first job" "$(q "SELECT status FROM raid.wait_job($a, '60 s')")" "succeeded"
check "second job" "$(q "SELECT status FROM raid.wait_job($b, '60 s')")" "succeeded"
q "SELECT job_id, started_at, finished_at FROM raid.jobs WHERE job_id IN ($a, $b) ORDER BY job_id"
check_true "with 2 workers they ran at the same time" \
    "(SELECT a.started_at < b.finished_at AND b.started_at < a.finished_at FROM raid.jobs a, raid.jobs b WHERE a.job_id = $a AND b.job_id = $b)"
q "DROP EXTENSION raid CASCADE" >/dev/null
q "DROP TABLE jw_inter, jw_users" >/dev/null
