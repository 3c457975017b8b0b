#!/usr/bin/env bash
# raid.schedule_audit registers a pg_cron job ('* * * * *'); within about 90 s
# a new raid.audits row appears and cron.job_run_details records a success;
# raid.unschedule_audit removes the job.
source "$(dirname "$0")/lib.sh"
export PGDATABASE=postgres   # the cluster's cron.database_name
q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null
q "DROP TABLE IF EXISTS cron_inter, cron_users" >/dev/null
q "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null
q "CREATE EXTENSION raid"
q "SELECT * FROM raid.synthetic('cron_inter', 'cron_users', n_users => 300, n_items => 100, interactions_per_user => 20)" >/dev/null
q "SELECT users FROM raid.train('cron_model', 'cron_inter', attributes => 'cron_users', attribute_col => 'attribute',
                                options => '{\"dim\": 8, \"epochs\": 5}')" >/dev/null

job=$(q "SELECT raid.schedule_audit('cron_model', '* * * * *')")
[ -n "$job" ] || fail "no job id"
pass "scheduled as cron job $job"
check "the job runs raid.audit" "$(q "SELECT command FROM cron.job WHERE jobid = $job")" "SELECT raid.audit('cron_model')"
check "the job belongs to the caller" "$(q "SELECT username FROM cron.job WHERE jobid = $job")" "postgres"

deadline=$(( $(date +%s) + 100 ))
audits=0; succeeded=0
while [ "$(date +%s)" -lt "$deadline" ]; do
    audits=$(q "SELECT count(*) FROM raid.audits WHERE model = 'cron_model'")
    succeeded=$(q "SELECT count(*) FROM cron.job_run_details WHERE jobid = $job AND status = 'succeeded'")
    [ "$audits" -ge 2 ] && [ "$succeeded" -ge 1 ] && break
    sleep 2
done
q "SELECT jobid, status, return_message FROM cron.job_run_details WHERE jobid = $job"
check_true "a scheduled audit stored its rows ($audits)" "$audits >= 2"
check_true "cron.job_run_details records a success ($succeeded)" "$succeeded >= 1"

check "unscheduled" "$(q "SELECT raid.unschedule_audit('cron_model')")" "t"
check "no job left" "$(q "SELECT count(*) FROM cron.job WHERE jobid = $job")" "0"
check "unscheduling again says there was nothing" "$(q "SELECT raid.unschedule_audit('cron_model')")" "f"
q "SELECT users FROM raid.train('cron_plain', 'cron_inter', options => '{\"dim\": 4, \"epochs\": 1}')" >/dev/null
err=$(psql -X -q -At -c "SELECT raid.schedule_audit('cron_plain', '* * * * *')" 2>&1 || true)
echo "$err" | grep -q "was trained without attributes" || fail "scheduling a model without attributes: $err"
pass "a model without attributes cannot be scheduled"
# a role without USAGE on schema cron gets 42501 and the GRANT to ask for
q "DROP ROLE IF EXISTS cron_nogrant" >/dev/null
q "CREATE ROLE cron_nogrant LOGIN" >/dev/null
err=$(psql -X -q -At -U cron_nogrant -v VERBOSITY=verbose -c "SELECT raid.schedule_audit('cron_model', '* * * * *')" 2>&1 || true)
echo "$err"
echo "$err" | grep -q "42501" || fail "no 42501 without USAGE on schema cron"
echo "$err" | grep -q "GRANT USAGE ON SCHEMA cron TO cron_nogrant" || fail "no hint naming the GRANT"
pass "without USAGE on schema cron: 42501 with the GRANT in the hint"
q "DROP ROLE cron_nogrant" >/dev/null
q "DROP EXTENSION raid CASCADE" >/dev/null
q "DROP TABLE cron_inter, cron_users" >/dev/null
