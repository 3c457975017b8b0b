#!/usr/bin/env bash
# A backend keeps the items of the last model it served between calls
# (src/pg/serve.c).  In one session: the cached items must never outlive
# their model, also when DROP EXTENSION / CREATE EXTENSION restarts the
# model ids, so that a new model with the old id is served its own items.
source "$(dirname "$0")/lib.sh"
fresh_db it_item_cache
q "SELECT 1 FROM raid.synthetic('inter', 'users', n_users => 200, n_items => 100, interactions_per_user => 10)" >/dev/null
# the top 5 of user 1 by dot products computed in SQL from the stored tables
sql_top="SELECT string_agg(item_id::text, ',' ORDER BY dot DESC, item_id) FROM (
           SELECT ie.item_id, sum(u * v) AS dot
           FROM raid.user_embeddings ue JOIN raid.item_embeddings ie USING (model_id),
                LATERAL unnest(ue.embedding, ie.embedding) AS x(u, v)
           WHERE ue.user_id = 1 AND ie.item_id NOT IN
                 (SELECT unnest(item_ids) FROM raid.user_items WHERE user_id = 1)
           GROUP BY ie.item_id ORDER BY dot DESC, ie.item_id LIMIT 5) t"
rec_top="SELECT string_agg(item_id::text, ',') FROM raid.recommend('c', 1, 5)"
out=$(psql -X -q -At -v ON_ERROR_STOP=1 \
    -c "SELECT 1 FROM raid.train('c', 'inter', options => '{\"dim\": 8, \"epochs\": 3, \"seed\": 1}')" \
    -c "$rec_top" -c "$sql_top" \
    -c "DROP EXTENSION raid" -c "CREATE EXTENSION raid" \
    -c "SELECT model_id FROM raid.train('c', 'inter', options => '{\"dim\": 8, \"epochs\": 3, \"seed\": 2}')" \
    -c "$rec_top" -c "$sql_top")
echo "$out"
mapfile -t l <<<"$out"
check "first model: raid.recommend agrees with SQL" "${l[1]}" "${l[2]}"
check "the new model has the old id" "${l[3]}" 1
check "second model, same session and id: raid.recommend agrees with SQL" "${l[4]}" "${l[5]}"
[ "${l[1]}" != "${l[4]}" ] || fail "the two models recommend the same items; the test cannot tell them apart"
pass "the two models differ"
