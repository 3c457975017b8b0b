#!/usr/bin/env bash
# No role can run code with a raid caller's rights (or the launcher's
# superuser rights) by planting functions or operators in a schema on the
# caller's search_path.
#
# The shadows below are the functions and operators raid's own SQL calls
# (scan the statements in src/pg/*.c: store_embeddings and synthetic unnest
# bigint[] and int[] arrays, update_store_seconds builds jsonb from (text,
# numeric), the job worker calls row_to_json on raid.train_summary and
# json_agg on raid.audits, the launcher once concatenated names, and owner
# checks compare regrole with oid), each with the exact argument types of
# the call, so that, on an unpinned search_path, it would beat pg_catalog's
# polymorphic or implicitly cast candidate.  Each shadow raises a WARNING
# (logged even when its transaction rolls back) and, run by a superuser,
# makes the attacker a superuser.  The test asserts that none ever runs,
# synchronously and in background jobs, and that every SQL-running function
# of raid pins its search_path.
source "$(dirname "$0")/lib.sh"
export PGDATABASE=postgres   # raid.database_name of the test cluster: jobs run here
[ -n "${RAID_PGD:-}" ] && [ -f "$RAID_PGD/log" ] || skip "needs the test cluster's server log (run from scripts/test.sh)"

cleanup() {
    q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null 2>&1 || true
    q "DROP TABLE IF EXISTS sp_inter, sp_users, sp_emb" >/dev/null 2>&1 || true
    q "DROP OWNED BY raid_it_mallory" >/dev/null 2>&1 || true
    q "DROP ROLE IF EXISTS raid_it_mallory" >/dev/null 2>&1 || true
    q "DROP ROLE IF EXISTS raid_it_nologin" >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT
q "CREATE EXTENSION raid"
q "CREATE ROLE raid_it_mallory LOGIN" >/dev/null
q "CREATE ROLE raid_it_nologin NOLOGIN" >/dev/null
q "GRANT CREATE, USAGE ON SCHEMA public TO raid_it_mallory" >/dev/null
q "GRANT raid_it_nologin TO postgres" >/dev/null

log_lines_before=$(wc -l <"$RAID_PGD/log")

# the attacker plants the shadows in public
psql -X -q -v ON_ERROR_STOP=1 -U raid_it_mallory <<'SQL'
CREATE FUNCTION public.shadow_hit(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE WARNING 'raid-shadow-ran: % as %', what, current_user;
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE raid_it_mallory SUPERUSER';
    END IF;
END $$;
CREATE FUNCTION public.unnest(a bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql AS $$
BEGIN PERFORM public.shadow_hit('unnest(bigint[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.unnest(a integer[]) RETURNS SETOF integer LANGUAGE plpgsql AS $$
BEGIN PERFORM public.shadow_hit('unnest(integer[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.jsonb_build_object(k text, v numeric) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM public.shadow_hit('jsonb_build_object(text, numeric)'); RETURN pg_catalog.jsonb_build_object(k, v); END $$;
CREATE FUNCTION public.shadow_cat_ti(a text, b integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.shadow_hit('||(text, integer)'); RETURN pg_catalog.textcat(a, b::text); END $$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = integer, FUNCTION = public.shadow_cat_ti);
CREATE FUNCTION public.shadow_cat_nn(a name, b name) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.shadow_hit('||(name, name)'); RETURN pg_catalog.textcat(a::text, b::text); END $$;
CREATE OPERATOR public.|| (LEFTARG = name, RIGHTARG = name, FUNCTION = public.shadow_cat_nn);
CREATE FUNCTION public.shadow_cat_tn(a text, b name) RETURNS text LANGUAGE plpgsql AS $$
BEGIN PERFORM public.shadow_hit('||(text, name)'); RETURN pg_catalog.textcat(a, b::text); END $$;
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = name, FUNCTION = public.shadow_cat_tn);
CREATE FUNCTION public.shadow_eq_ro(a regrole, b oid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.shadow_hit('=(regrole, oid)'); RETURN a::oid OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR public.= (LEFTARG = regrole, RIGHTARG = oid, FUNCTION = public.shadow_eq_ro);
CREATE FUNCTION public.row_to_json(r raid.train_summary) RETURNS json LANGUAGE plpgsql AS $$
BEGIN PERFORM public.shadow_hit('row_to_json(raid.train_summary)'); RETURN pg_catalog.row_to_json(r); END $$;
CREATE FUNCTION public.shadow_agg(s raid.audits[], r raid.audits) RETURNS raid.audits[] LANGUAGE plpgsql AS $$
BEGIN PERFORM public.shadow_hit('json_agg(raid.audits)'); RETURN pg_catalog.array_append(s, r); END $$;
CREATE FUNCTION public.shadow_agg_final(s raid.audits[]) RETURNS json LANGUAGE sql AS
    'SELECT pg_catalog.array_to_json(s)';
CREATE AGGREGATE public.json_agg(raid.audits) (SFUNC = public.shadow_agg, STYPE = raid.audits[],
    FINALFUNC = public.shadow_agg_final);
SQL
pass "the attacker planted $(q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proowner = 'raid_it_mallory'::regrole") shadows"

# the shadows are live: a caller's own unpinned SQL runs them
out=$(psql -X -q -At -c "SELECT count(*) FROM unnest(ARRAY[1, 2]::bigint[])" 2>&1)
echo "$out" | grep -q "raid-shadow-ran" || fail "the shadows do not work, so this test proves nothing: $out"
q "ALTER ROLE raid_it_mallory NOSUPERUSER" >/dev/null
pass "the shadows run when a caller's search_path reaches them"
log_lines_before=$(wc -l <"$RAID_PGD/log")

# every raid entry point, synchronously, as a superuser
run() { # SQL: runs it as the superuser; fails on an error or a shadow's warning
    local out
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "$1" 2>&1) || fail "$1: $out"
    echo "$out" | grep -q "raid-shadow-ran" && fail "a shadow ran in: $1: $out"
    return 0
}
run "SELECT * FROM raid.synthetic('sp_inter', 'sp_users', n_users => 400, n_items => 150, interactions_per_user => 20)"
run "SELECT * FROM raid.train('sp_m', 'sp_inter', attributes => 'sp_users', attribute_col => 'attribute',
     defense => 'raid', options => '{\"dim\": 8, \"epochs\": 3, \"phase1_epochs\": 1}')"
run "SELECT * FROM raid.train('sp_m', 'sp_inter', options => '{\"dim\": 8, \"epochs\": 2, \"replace\": true}')"
run "SELECT * FROM raid.recommend('sp_m', 1, 5)"
run "SELECT * FROM raid.audit('sp_m', 'sp_users', 'attribute', '{\"attackers\": [\"logistic\"]}')"
run "CREATE TABLE sp_emb AS SELECT user_id, embedding FROM raid.user_embeddings"
run "SELECT * FROM raid.audit_embeddings('sp_emb', 'user_id', 'embedding', 'sp_users', 'user_id', 'attribute',
     '{\"attackers\": [\"logistic\"]}')"
pass "synthetic, train (with and without the defense), recommend, audit, audit_embeddings"

# background jobs: the worker (as the submitter) and the launcher (as the bootstrap superuser)
jt=$(q "SELECT raid.submit_train('sp_job', 'sp_inter', options => '{\"dim\": 4, \"epochs\": 1}')")
check "a train job succeeds" "$(q "SELECT status FROM raid.wait_job($jt, '60 s')")" "succeeded"
ja=$(q "SELECT raid.submit_audit('sp_m', 'sp_users', 'attribute', '{\"attackers\": [\"logistic\"]}')")
check "an audit job succeeds" "$(q "SELECT status FROM raid.wait_job($ja, '60 s')")" "succeeded"
jn=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "SET ROLE raid_it_nologin" \
    -c "SELECT raid.submit_train('sp_nologin', 'sp_inter', options => '{\"dim\": 4, \"epochs\": 1}')")
check "a NOLOGIN role's job fails with 28000" \
    "$(q "SELECT status || ' ' || split_part(message, ':', 1) FROM raid.wait_job($jn, '30 s')")" "failed 28000"
run "SELECT raid.drop_model('sp_job')"
run "SELECT raid.cancel_job($jt)"

sleep 0.5
if tail -n +"$((log_lines_before + 1))" "$RAID_PGD/log" | grep "raid-shadow-ran"; then
    fail "a shadow ran (see the server log lines above)"
fi
pass "no shadow ran, in any session, worker or the launcher"
check "the attacker is not a superuser" "$(q "SELECT rolsuper FROM pg_roles WHERE rolname = 'raid_it_mallory'")" "f"

# every function of raid that runs SQL pins search_path (raid.synthetic pins
# it itself after resolving the caller's table names; raid.caller runs none)
unpinned=$(q "SELECT string_agg(p.oid::regprocedure::text, ', ') FROM pg_proc p
              JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
              JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'raid'
              WHERE p.prokind IN ('f', 'p') AND p.proname NOT IN ('synthetic', 'caller')
              AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)")
check "every raid function pins search_path" "$unpinned" ""
