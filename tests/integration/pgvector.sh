#!/usr/bin/env bash
# raid.audit_embeddings on a pgvector "vector" column gives the figures it
# gives on the same embeddings as real[].  pgvector is optional: the test
# installs it from Debian's source package (scripts/install_pgvector.sh) and
# skips, saying why, where that is impossible.
source "$(dirname "$0")/lib.sh"
if ! out=$("$IT_ROOT/scripts/install_pgvector.sh" 2>&1); then
    skip "skipped: pgvector could not be installed: $(echo "$out" | tail -1)"
fi
echo "$out"
fresh_db it_pgvector
q "CREATE EXTENSION vector"
q "SELECT * FROM raid.synthetic('inter', 'users', n_users => 400, n_items => 200, interactions_per_user => 20)" >/dev/null
q "SELECT users FROM raid.train('m', 'inter', options => '{\"dim\": 16, \"epochs\": 5}')" >/dev/null
q "CREATE TABLE emb_vec AS SELECT user_id, embedding::vector(16) AS v FROM raid.user_embeddings"
q "CREATE TABLE emb_real AS SELECT user_id, embedding AS e FROM raid.user_embeddings"
vec=$(q "SELECT string_agg(attacker || '=' || balanced_accuracy, ' ' ORDER BY attacker)
         FROM raid.audit_embeddings('emb_vec', 'user_id', 'v', 'users', 'user_id', 'attribute')")
real=$(q "SELECT string_agg(attacker || '=' || balanced_accuracy, ' ' ORDER BY attacker)
          FROM raid.audit_embeddings('emb_real', 'user_id', 'e', 'users', 'user_id', 'attribute')")
echo "vector: $vec"
echo "real[]: $real"
[ -n "$vec" ] || fail "no audit rows for the vector column"
check "vector and real[] columns give the same audit" "$vec" "$real"
check "the audit records the vector column" \
    "$(q "SELECT DISTINCT embeddings FROM raid.audits WHERE embeddings LIKE '%emb_vec%'")" "public.emb_vec(user_id, v)"
