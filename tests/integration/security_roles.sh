#!/usr/bin/env bash
# Roles reach raid's tables only through its functions: they cannot lock,
# fill, change or probe them; ownership follows the role's OID, not its name;
# DROP EXTENSION refuses while jobs run instead of deadlocking; one training
# of a name at a time, decided at the start; an audit of a model dropped
# meanwhile says the model does not exist.
source "$(dirname "$0")/lib.sh"
export PGDATABASE=postgres   # raid.database_name of the test cluster: jobs run here

cleanup() {
    q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null 2>&1 || true
    q "DROP TABLE IF EXISTS sr_inter, sr_users" >/dev/null 2>&1 || true
    for r in raid_it_ann raid_it_ben raid_it_ann2 raid_it_cat; do
        q "DROP OWNED BY $r" >/dev/null 2>&1 || true
        q "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
    done
}
cleanup
trap cleanup EXIT
q "CREATE EXTENSION raid"
for r in raid_it_ann raid_it_ben raid_it_cat; do q "CREATE ROLE $r LOGIN" >/dev/null; done
q "SELECT * FROM raid.synthetic('sr_inter', 'sr_users', n_users => 3000, n_items => 1500, interactions_per_user => 60)" >/dev/null
q "GRANT SELECT ON sr_inter, sr_users TO PUBLIC" >/dev/null

qas() { # ROLE SQL: runs SQL as ROLE, prints the output
    psql -X -q -At -v ON_ERROR_STOP=1 -U "$1" -c "$2"
}
sqlstate() { # ROLE SQL: prints the SQLSTATE SQL fails with, or "ok"
    local out
    if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -U "$1" -c "$2" 2>&1); then
        echo ok
    else
        echo "$out" | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' | head -1
    fi
}

qas raid_it_ann "SELECT users FROM raid.train('ann_m', 'sr_inter', options => '{\"dim\": 4, \"epochs\": 1}')" >/dev/null
qas raid_it_ann "SELECT count(*) FROM raid.audit('ann_m', 'sr_users', 'attribute', '{\"attackers\": \"logistic\"}')" >/dev/null
ann_model=$(q "SELECT model_id FROM raid.models WHERE name = 'ann_m'")

# 1. no role can lock, write or probe raid's tables directly
for t in models user_embeddings item_embeddings user_items audits job_records; do
    col=$([ "$t" = job_records ] && echo job_id || echo model_id)
    check "ben cannot LOCK raid.$t" "$(sqlstate raid_it_ben "BEGIN; LOCK TABLE raid.$t IN ACCESS EXCLUSIVE MODE")" "42501"
    check "ann (an owner of rows) cannot LOCK raid.$t either" \
        "$(sqlstate raid_it_ann "BEGIN; LOCK TABLE raid.$t IN SHARE ROW EXCLUSIVE MODE")" "42501"
    check "ben cannot DELETE from raid.$t" "$(sqlstate raid_it_ben "DELETE FROM raid.$t")" "42501"
    check "ben cannot UPDATE raid.$t" "$(sqlstate raid_it_ben "UPDATE raid.$t SET $col = $col")" "42501"
done
check "ann cannot UPDATE her own model row" "$(sqlstate raid_it_ann "UPDATE raid.models SET metrics = '{}'")" "42501"
check "ben cannot INSERT a model" \
    "$(sqlstate raid_it_ben "INSERT INTO raid.models (name, owner) VALUES ('x', 'raid_it_ben')")" "42501"
check "ben cannot INSERT embeddings into ann's model (no probing by 23503)" \
    "$(sqlstate raid_it_ben "INSERT INTO raid.user_embeddings VALUES ($ann_model, 1, '{1}')")" "42501"
check "ben cannot INSERT a job row (job 0, negative ids, other databases)" \
    "$(sqlstate raid_it_ben "INSERT INTO raid.job_records (job_id, kind, args, owner, database) VALUES (0, 'train', '{}', 'raid_it_ben', 'postgres')")" "42501"
check "ben cannot INSERT an audit" \
    "$(sqlstate raid_it_ben "INSERT INTO raid.audits (owner, model_id, attributes_table, attribute, attacker, classes, users, folds, f1, balanced_accuracy, auc, chance, seconds, model) VALUES ('raid_it_ben', $ann_model, 't', 'a', 'x', 2, 1, 2, 0, 0, 0, 0, 0, 'm')")" "42501"
check "ben cannot draw from raid's sequences" "$(sqlstate raid_it_ben "SELECT nextval('raid.models_model_id_seq')")" "42501"
check "ben sees none of ann's rows" \
    "$(qas raid_it_ben "SELECT (SELECT count(*) FROM raid.models) + (SELECT count(*) FROM raid.user_embeddings) + (SELECT count(*) FROM raid.audits)")" "0"
check "ann sees her rows" "$(qas raid_it_ann "SELECT count(*) FROM raid.models WHERE name = 'ann_m'")" "1"
check "ben may use the same model name" \
    "$(sqlstate raid_it_ben "SELECT raid.train('ann_m', 'sr_inter', options => '{\"dim\": 4, \"epochs\": 1}')")" "ok"
check "ben drops his own model only" "$(qas raid_it_ben "SELECT raid.drop_model('ann_m')")" "t"
check "ann's model is intact" "$(qas raid_it_ann "SELECT count(*) FROM raid.recommend('ann_m', 1, 3)")" "3"

# 2. job progress in shared memory shows the caller's jobs only
jl=$(qas raid_it_ann "SELECT raid.submit_train('ann_long', 'sr_inter', options => '{\"epochs\": 10000}')")
for _ in $(seq 1 100); do
    [ "$(qas raid_it_ann "SELECT status FROM raid.jobs WHERE job_id = $jl")" = running ] && break
    sleep 0.1
done
check "ann sees her running job's progress" "$(qas raid_it_ann "SELECT count(*) FROM raid.job_progress() WHERE job_id = $jl")" "1"
check "ben does not see it in raid.job_progress()" "$(qas raid_it_ben "SELECT count(*) FROM raid.job_progress()")" "0"
check "a superuser does" "$(q "SELECT count(*) FROM raid.job_progress() WHERE job_id = $jl")" "1"

# 3. DROP EXTENSION while a job runs: a clear refusal, not a deadlock
check "DROP EXTENSION with a running job fails with 55006" "$(sqlstate postgres "DROP EXTENSION raid CASCADE")" "55006"
check "so does DROP SCHEMA raid CASCADE" "$(sqlstate postgres "DROP SCHEMA raid CASCADE")" "55006"
check "the job still runs" "$(qas raid_it_ann "SELECT status FROM raid.jobs WHERE job_id = $jl")" "running"
qas raid_it_ann "SELECT raid.cancel_job($jl)" >/dev/null
check "the job is cancelled" "$(qas raid_it_ann "SELECT status FROM raid.wait_job($jl, '30 s')")" "cancelled"

# 4. one training of a name at a time: the second fails at once with 55P03
out_file=$(mktemp)
psql -X -q -At -U raid_it_ann -c "SET application_name = 'raid_it_same'" \
    -c "SELECT raid.train('ann_m', 'sr_inter', options => '{\"epochs\": 10000, \"replace\": true}')" >"$out_file" 2>&1 &
client=$!
pid=$(backend_pid raid_it_same)
[ -n "$pid" ] || fail "the first training did not start"
sleep 0.5
t0=$(now)
check "a second training of the name fails with 55P03" \
    "$(sqlstate raid_it_ann "SELECT raid.train('ann_m', 'sr_inter', options => '{\"dim\": 4, \"epochs\": 1, \"replace\": true}')")" "55P03"
elapsed=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
check_true "at the start, not after training (${elapsed}s)" "$elapsed < 2.0"
check "dropping it meanwhile fails with 55P03" "$(sqlstate raid_it_ann "SELECT raid.drop_model('ann_m')")" "55P03"
check "another role trains the same name meanwhile" \
    "$(sqlstate raid_it_ben "SELECT raid.train('ann_m', 'sr_inter', options => '{\"dim\": 4, \"epochs\": 1}')")" "ok"
q "SELECT pg_cancel_backend($pid)" >/dev/null
wait $client || true
rm -f "$out_file"
check "replace: the next training wins cleanly" \
    "$(sqlstate raid_it_ann "SELECT raid.train('ann_m', 'sr_inter', options => '{\"dim\": 6, \"epochs\": 1, \"replace\": true}')")" "ok"
check "ann's model is the new one" "$(qas raid_it_ann "SELECT options->>'dim' FROM raid.models WHERE name = 'ann_m'")" "6"

# 5. an audit racing a drop: the drop commits first, the audit says 42704
out_file=$(mktemp)
psql -X -q -At -U raid_it_ann -c "BEGIN" -c "SELECT raid.drop_model('ann_m')" -c "SELECT pg_sleep(2)" -c "COMMIT" \
    >/dev/null 2>&1 &
dropper=$!
sleep 0.7
check "the audit of the model dropped meanwhile fails with 42704" \
    "$(sqlstate raid_it_ann "SELECT count(*) FROM raid.audit('ann_m', 'sr_users', 'attribute')")" "42704"
wait $dropper
rm -f "$out_file"

# 6. ownership is the role's OID
qas raid_it_ann "SELECT users FROM raid.train('ann_m', 'sr_inter', options => '{\"dim\": 4, \"epochs\": 1}')" >/dev/null
q "ALTER ROLE raid_it_ann RENAME TO raid_it_ann2" >/dev/null
check "a renamed role keeps its models" "$(qas raid_it_ann2 "SELECT count(*) FROM raid.models")" "1"
check "and can use them" "$(qas raid_it_ann2 "SELECT count(*) FROM raid.recommend('ann_m', 1, 3)")" "3"
old_oid=$(q "SELECT oid FROM pg_roles WHERE rolname = 'raid_it_ann2'")
q "DROP OWNED BY raid_it_ann2" >/dev/null
q "DROP ROLE raid_it_ann2" >/dev/null
q "CREATE ROLE raid_it_ann2 LOGIN" >/dev/null
check "a new role of a dropped role's name sees nothing" \
    "$(qas raid_it_ann2 "SELECT (SELECT count(*) FROM raid.models) + (SELECT count(*) FROM raid.audits) + (SELECT count(*) FROM raid.job_records)")" "0"
check "the dropped role's rows are still there, owned by its OID" \
    "$(q "SELECT count(*) FROM raid.models WHERE owner::oid = $old_oid")" "1"
check "only a superuser may act for a dropped role" "$(sqlstate raid_it_cat "SELECT raid.drop_owned($old_oid::regrole)")" "42501"
check "ben cannot take cat's rows" "$(sqlstate raid_it_ben "SELECT raid.reassign_owned('raid_it_cat', 'raid_it_ben')")" "42501"
check "a superuser reassigns them to cat" "$(q "SELECT raid.reassign_owned($old_oid::regrole, 'raid_it_cat') > 0")" "t"
check "cat now owns the model" "$(qas raid_it_cat "SELECT count(*) FROM raid.recommend('ann_m', 1, 3)")" "3"
qas raid_it_ben "SELECT users FROM raid.train('ann_m', 'sr_inter', options => '{\"dim\": 4, \"epochs\": 1, \"replace\": true}')" >/dev/null
check "reassigning onto a role with a model of that name fails with 42710" \
    "$(sqlstate postgres "SELECT raid.reassign_owned('raid_it_cat', 'raid_it_ben')")" "42710"
check "raid.drop_owned drops cat's rows" "$(q "SELECT raid.drop_owned('raid_it_cat') > 0")" "t"
check "cat has nothing left" "$(q "SELECT (SELECT count(*) FROM raid.models WHERE owner = 'raid_it_cat'::regrole)
    + (SELECT count(*) FROM raid.audits WHERE owner = 'raid_it_cat'::regrole)")" "0"
check "ben's rows are untouched" "$(qas raid_it_ben "SELECT count(*) FROM raid.models")" "1"
