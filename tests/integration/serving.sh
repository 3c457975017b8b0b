#!/usr/bin/env bash
# raid.create_index: an HNSW index (pgvector) over a model's 200,000 item
# embeddings (dim 64).  raid.recommend then goes through it: exactly k
# unseen items, also for a user who trained on the 5,000 most popular items,
# and at least 0.95 of the exact top 10 on a sample of users.  The index goes
# with its model.  Skips, saying why, where pgvector cannot be installed.
source "$(dirname "$0")/lib.sh"
if ! out=$("$IT_ROOT/scripts/install_pgvector.sh" 2>&1); then
    skip "skipped: pgvector could not be installed: $(echo "$out" | tail -1)"
fi
fresh_db it_serving
q "CREATE EXTENSION vector"
q "SELECT * FROM raid.synthetic('inter', 'users', n_users => 3000, n_items => 200000,
                                interactions_per_user => 40)" >/dev/null
# every item id in the model, and a user with a long history of popular items
q "INSERT INTO inter SELECT 100000 + i % 300, i FROM generate_series(1, 200000) i"
q "INSERT INTO inter SELECT 99999, item_id FROM inter GROUP BY item_id ORDER BY count(*) DESC, item_id LIMIT 5000"
q "SELECT items FROM raid.train('big', 'inter', options => '{\"dim\": 64, \"holdout\": false}')" >/dev/null
check "the model has 200,000 items" "$(q "SELECT items FROM raid.models WHERE name = 'big'")" 200000
t0=$(now)
check "raid.create_index returns the index" \
    "$(psql -X -q -At -c "SET maintenance_work_mem = '1GB'" -c "SELECT raid.create_index('big')")" \
    "raid.item_embeddings_hnsw_1"
echo "index built in $(echo "$(now) - $t0" | bc) s"
check "raid.item_indexes records it" "$(q "SELECT index_name || ' ' || m || ' ' || ef_construction FROM raid.item_indexes")" \
    "item_embeddings_hnsw_1 32 100"
err=$(q "SELECT raid.create_index('big')" 2>&1 || true)
[[ $err == *"already has an index"* ]] || fail "a second index: $err"
pass "a second index is refused"

scans() { q "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'item_embeddings_hnsw_1'"; }
before=$(scans)
# the long history: 5,000 training items, most of them the best scored
rows=$(psql -X -q -At -v ON_ERROR_STOP=1 -c "SET client_min_messages = debug1" \
    -c "SELECT string_agg(item_id::text, ',') FROM raid.recommend('big', 99999, 10)" 2>&1)
echo "$rows" | grep -q "scoring every item" && fail "the index gave fewer than k rows: $rows"
items=$(echo "$rows" | tail -1)
check "k rows for the long history" "$(echo "$items" | tr ',' '\n' | sort -u | wc -l)" 10
check "none of them a training item" \
    "$(q "SELECT count(*) FROM inter WHERE user_id = 99999 AND item_id IN ($items)")" 0
# how many training items the search had to pass over: those scored above the 10th
skipped=$(q "WITH u AS (SELECT embedding FROM raid.user_embeddings WHERE user_id = 99999),
                  s AS (SELECT min(score) AS tenth FROM raid.recommend('big', 99999, 10))
             SELECT count(*) FROM (SELECT i.item_id, sum(a * b) AS dot
                                   FROM raid.item_embeddings i JOIN inter t ON t.user_id = 99999 AND t.item_id = i.item_id,
                                        u, LATERAL unnest(u.embedding, i.embedding) AS x(a, b)
                                   GROUP BY i.item_id) d, s WHERE d.dot > s.tenth")
echo "training items scored above the 10th recommendation: $skipped"
check_true "the search passed over many training items" "$skipped >= 100"
sleep 1   # statistics are flushed at the end of a transaction, read in the next
after=$(scans)
[ "$after" -gt "$before" ] || fail "the index was not used ($before -> $after scans)"
pass "raid.recommend goes through the index ($before -> $after scans)"

# recall@10 against exact scoring, 50 users
recall=$(q "WITH u AS (SELECT user_id FROM raid.user_embeddings ORDER BY pg_catalog.hashint8(user_id) LIMIT 50),
                 ex AS (SELECT u.user_id, e.item_id FROM u, raid.recommend('big', u.user_id, 10, exact => true) e),
                 ix AS (SELECT u.user_id, a.item_id FROM u, raid.recommend('big', u.user_id, 10) a)
            SELECT round((SELECT count(*) FROM ex JOIN ix USING (user_id, item_id))::numeric
                         / (SELECT count(*) FROM ex), 3)")
echo "recall@10 against exact scoring: $recall"
check_true "recall@10 >= 0.95" "$recall >= 0.95"
check "every sampled user gets 10 rows" \
    "$(q "SELECT count(*) FROM (SELECT user_id FROM raid.user_embeddings ORDER BY pg_catalog.hashint8(user_id) LIMIT 50) u
          WHERE (SELECT count(*) FROM raid.recommend('big', u.user_id, 10)) <> 10")" 0

# the index goes with its model, and raid.drop_index drops it alone
q "SELECT users FROM raid.train('small', 'inter', options => '{\"dim\": 8, \"epochs\": 1, \"holdout\": false}')" >/dev/null
q "SELECT raid.create_index('small', m => 4, ef_construction => 8)" >/dev/null
check "raid.drop_index" "$(q "SELECT raid.drop_index('small')")" t
check "raid.drop_index if_exists" "$(q "SELECT raid.drop_index('small', if_exists => true)" 2>/dev/null)" f
q "SELECT raid.create_index('small', m => 4, ef_construction => 8)" >/dev/null
q "SELECT raid.drop_model('big')" >/dev/null
check "raid.drop_model drops its index, not another's" \
    "$(q "SELECT string_agg(indexname, ',') FROM pg_indexes WHERE schemaname = 'raid' AND indexname LIKE '%hnsw%'")" \
    "item_embeddings_hnsw_2"
check "and its row" "$(q "SELECT count(*) FROM raid.item_indexes")" 1
q "DROP EXTENSION vector CASCADE" >/dev/null 2>&1
check "without pgvector raid.recommend scores exactly" "$(q "SELECT count(*) FROM raid.recommend('small', 1, 7)")" 7
