#!/usr/bin/env bash
# The general form of security_search_path.sh: a caller whose search_path
# puts pg_catalog last ("public, pg_catalog"), so that a same-signature copy
# in public beats pg_catalog's for every function, operator and type.  The
# attacker shadows every pg_catalog function whose name raid's statements
# call, every binary operator they use and every type they cast to, found by
# scanning the statements (the string literals of src/pg/*.c and the
# function bodies of src/sql/raid.sql).  Each shadow raises a WARNING that
# reaches the server log.  Then raid is used synchronously, in jobs and
# through a restarted launcher whose database puts pg_catalog last too, and
# the test asserts that no shadow ever ran.
source "$(dirname "$0")/lib.sh"
export PGDATABASE=postgres   # raid.database_name of the test cluster: jobs run here
[ -n "${RAID_PGD:-}" ] && [ -f "$RAID_PGD/log" ] || skip "needs the test cluster's server log (run from scripts/test.sh)"
# the test's own sessions keep pg_catalog first, whatever the database's default
export PGOPTIONS="-c search_path=pg_catalog,public"

cleanup() {
    q "ALTER DATABASE postgres RESET search_path" >/dev/null 2>&1 || true
    q "DROP EXTENSION IF EXISTS raid CASCADE" >/dev/null 2>&1 || true
    q "DROP TABLE IF EXISTS sa_inter, sa_users, sa_emb" >/dev/null 2>&1 || true
    for r in raid_it_mallory raid_it_victim; do
        q "DROP OWNED BY $r" >/dev/null 2>&1 || true
        q "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
    done
}
cleanup
trap cleanup EXIT
q "CREATE EXTENSION raid"
q "CREATE ROLE raid_it_mallory LOGIN" >/dev/null
q "GRANT CREATE, USAGE ON SCHEMA public TO raid_it_mallory" >/dev/null
q "CREATE ROLE raid_it_victim LOGIN SUPERUSER" >/dev/null
q "ALTER ROLE raid_it_victim SET search_path = public, pg_catalog" >/dev/null

# scan raid's statements: names called, operators used, types cast to
cd "$IT_ROOT"
literals=$( (grep -ohE '"([^"\\]|\\.)*"' src/pg/*.c; sed -n '/AS \$\$/,/^\$\$;/p' src/sql/raid.sql) )
funcs=$(echo "$literals" | grep -oE '\b[a-z_][a-z0-9_]*[[:space:]]*\(' | tr -d '( \t' | sort -u | paste -sd, -)
types=$(echo "$literals" | grep -oE '::[a-z_][a-z0-9_]*' | tr -d ':' | sort -u | paste -sd, -)
ops=$(echo "$literals" | grep -oE '(->>|->|\|\||<>|<=|>=|=|<|>|\+|-|\*|/)' | sort -u | paste -sd' ' -)
echo "names: $funcs"
echo "types: $types"
echo "operators: $ops"
[ -n "$funcs" ] && [ -n "$types" ] && [ -n "$ops" ] || fail "the scan found nothing"

psql -X -q -v ON_ERROR_STOP=1 -U raid_it_mallory -v funcs="{$funcs}" -v types="{$types}" \
    -v ops="{$(echo "$ops" | sed 's/ /,/g; s/"/\\"/g')}" <<'SQL'
CREATE FUNCTION public.shadow_hit(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE WARNING 'raid-shadow-ran: % as % (%)', what, current_user,
        pg_catalog.current_setting('application_name');
    RETURN true;
END $$;
CREATE TEMP TABLE shadow_made (kind text, n int);
CREATE TEMP TABLE scan AS SELECT :'funcs'::text[] AS funcs, :'ops'::text[] AS ops, :'types'::text[] AS types;
DO $do$
DECLARE
    r record;
    n_funcs int := 0;
    n_ops int := 0;
    n_types int := 0;
    call text;
BEGIN
    -- functions: a plpgsql copy of each overload (those plpgsql can declare)
    FOR r IN SELECT p.oid, p.proname, p.pronargs, p.proretset,
                    pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
                    pg_catalog.pg_get_function_result(p.oid) AS result
             FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f'
               AND p.proname::text IN (SELECT pg_catalog.unnest(funcs) FROM scan)
               AND p.provariadic = 0
    LOOP
        call := pg_catalog.format('pg_catalog.%I(%s)', r.proname,
            (SELECT pg_catalog.string_agg('$' || i, ', ') FROM pg_catalog.generate_series(1, r.pronargs) i));
        BEGIN
            EXECUTE pg_catalog.format(
                'CREATE FUNCTION public.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
                r.proname, r.args, r.result,
                CASE WHEN r.proretset
                     THEN pg_catalog.format('BEGIN PERFORM public.shadow_hit(%L); RETURN QUERY SELECT * FROM %s; END',
                                            r.oid::regprocedure, call)
                     WHEN r.result = 'void'
                     THEN pg_catalog.format('BEGIN PERFORM public.shadow_hit(%L); PERFORM %s; END',
                                            r.oid::regprocedure, call)
                     ELSE pg_catalog.format('BEGIN PERFORM public.shadow_hit(%L); RETURN %s; END',
                                            r.oid::regprocedure, call) END);
            n_funcs := n_funcs + 1;
        EXCEPTION WHEN others THEN NULL;   -- pseudo-types plpgsql cannot take
        END;
    END LOOP;
    -- binary operators: a copy of each with a plpgsql function
    FOR r IN SELECT o.oid, o.oprname, o.oprleft::regtype AS l, o.oprright::regtype AS rt,
                    o.oprresult::regtype AS res
             FROM pg_catalog.pg_operator o
             WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oprkind = 'b'
               AND o.oprname::text IN (SELECT pg_catalog.unnest(ops) FROM scan)
    LOOP
        BEGIN
            EXECUTE pg_catalog.format(
                'CREATE FUNCTION public.shadow_op_%s(%s, %s) RETURNS %s LANGUAGE plpgsql AS %L',
                r.oid, r.l, r.rt, r.res,
                pg_catalog.format('BEGIN PERFORM public.shadow_hit(%L); RETURN $1 OPERATOR(pg_catalog.%s) $2; END',
                                  r.oid::regoperator, r.oprname));
            EXECUTE pg_catalog.format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.shadow_op_%s)',
                                      r.oprname, r.l, r.rt, r.oid);
            n_ops := n_ops + 1;
        EXCEPTION WHEN others THEN NULL;
        END;
    END LOOP;
    -- types: a domain of the same name whose check runs the shadow
    FOR r IN SELECT t.typname, t.oid::regtype AS full_name
             FROM pg_catalog.pg_type t
             WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typname::text IN (SELECT pg_catalog.unnest(types) FROM scan)
    LOOP
        BEGIN
            EXECUTE pg_catalog.format('CREATE DOMAIN public.%I AS %s CHECK (public.shadow_hit(%L))',
                                      r.typname, r.full_name, 'type ' || r.typname);
            n_types := n_types + 1;
        EXCEPTION WHEN others THEN NULL;
        END;
    END LOOP;
    INSERT INTO shadow_made VALUES ('functions', n_funcs), ('operators', n_ops), ('types', n_types);
END $do$;
SELECT kind, n FROM shadow_made ORDER BY kind \g /dev/stderr
SQL
made=$(q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proowner = 'raid_it_mallory'::regrole")
check_true "the attacker planted hundreds of shadows ($made functions)" "$made > 100"

victim() { # SQL: runs it as the victim (pg_catalog last); fails on an error or a shadow's warning
    local out
    out=$(PGOPTIONS= psql -X -q -At -v ON_ERROR_STOP=1 -U raid_it_victim -c "$1" 2>&1) || { fail "$1: $out" >&2; }
    if echo "$out" | grep -q "raid-shadow-ran"; then
        fail "a shadow ran in: $1: $(echo "$out" | grep raid-shadow-ran | head -3)" >&2
    fi
    echo "$out"
}
out=$(PGOPTIONS= psql -X -q -At -U raid_it_victim -c "SELECT 1 + 1" 2>&1)
echo "$out" | grep -q "raid-shadow-ran" || fail "the shadows do not reach the victim, so this test proves nothing: $out"
pass "the shadows run in the victim's own statements"
log_lines_before=$(wc -l <"$RAID_PGD/log")

victim "SELECT * FROM raid.synthetic('sa_inter', 'sa_users', n_users => 300, n_items => 120, interactions_per_user => 15)" >/dev/null
victim "SELECT * FROM raid.train('sa_m', 'sa_inter', attributes => 'sa_users', attribute_col => 'attribute',
     defense => 'raid', options => '{\"dim\": 8, \"epochs\": 3, \"phase1_epochs\": 1}')" >/dev/null
victim "SELECT * FROM raid.train('sa_m', 'sa_inter', options => '{\"dim\": 8, \"epochs\": 2, \"replace\": true}')" >/dev/null
victim "SELECT * FROM raid.recommend('sa_m', 1, 5)" >/dev/null
victim "SELECT * FROM raid.audit('sa_m', 'sa_users', 'attribute', '{\"attackers\": \"logistic\"}')" >/dev/null
q "CREATE TABLE public.sa_emb AS SELECT user_id, embedding FROM raid.user_embeddings" >/dev/null
victim "SELECT * FROM raid.audit_embeddings('sa_emb', 'user_id', 'embedding', 'sa_users', 'user_id', 'attribute',
     '{\"attackers\": \"logistic\"}')" >/dev/null
victim "SELECT raid.drop_model('sa_m')" >/dev/null
pass "synthetic, train, recommend, audit, audit_embeddings, drop_model with pg_catalog last"

# jobs: workers start with the victim's search_path, a restarted launcher with the database's
q "ALTER DATABASE postgres SET search_path = public, pg_catalog" >/dev/null
old_launcher=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'raid job launcher'")
[ -n "$old_launcher" ] && q "SELECT pg_terminate_backend($old_launcher)" >/dev/null
for _ in $(seq 1 150); do
    launcher=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'raid job launcher'")
    [ -n "$launcher" ] && [ "$launcher" != "$old_launcher" ] && break
    sleep 0.1
done
[ -n "$launcher" ] && [ "$launcher" != "$old_launcher" ] || fail "the launcher did not restart"
pass "the launcher restarted under the database's search_path"
victim "SELECT * FROM raid.train('sa_base', 'sa_inter', attributes => 'sa_users', attribute_col => 'attribute',
     options => '{\"dim\": 4, \"epochs\": 1}')" >/dev/null
jt=$(victim "SELECT raid.submit_train('sa_job', 'sa_inter', options => '{\"dim\": 4, \"epochs\": 1}')")
ja=$(victim "SELECT raid.submit_audit('sa_base', options => '{\"attackers\": \"logistic\"}')")
check "the train job succeeds" "$(q "SELECT status FROM raid.wait_job($jt, '60 s')")" "succeeded"
check "the audit job succeeds" "$(q "SELECT status FROM raid.wait_job($ja, '60 s')")" "succeeded"
victim "SELECT raid.cancel_job($jt)" >/dev/null
q "ALTER DATABASE postgres RESET search_path" >/dev/null

sleep 0.5
if tail -n +"$((log_lines_before + 1))" "$RAID_PGD/log" | grep "raid-shadow-ran"; then
    fail "a shadow ran (see the server log lines above)"
fi
pass "no shadow ran, in the victim's calls, its jobs' workers or the launcher"
