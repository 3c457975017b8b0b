#!/usr/bin/env bash
# Fold-in on MovieLens 100K: a tenth of the users (user_id % 10 = 0) is left
# out of training and folded in afterwards from the same interactions a full
# retrain trains them on (its held-out items left out); their NDCG@10 must
# reach 0.9x what the full retrain gives them, at three seeds.  Also: a
# fold-in replaces a user already in the model, raid.fold_in_user, and the
# errors.  Skips without MovieLens 100K.
source "$(dirname "$0")/lib.sh"
dir=$(raid_data_dir)
[ -n "$dir" ] || skip "skipped: MovieLens 100K not found (set RAID_DATA_DIR or provide ../shared/data/ml-100k)"
fresh_db it_fold_in
"$IT_ROOT/scripts/load_movielens.sh" "$dir" >/dev/null
q "CREATE TABLE part_train AS SELECT user_id, item_id FROM movielens.ratings WHERE user_id % 10 <> 0"
for seed in 42 1 2; do
    q "SELECT 1 FROM raid.train('full', 'movielens.ratings', options => '{\"seed\": $seed}')" >/dev/null
    q "SELECT 1 FROM raid.train('part', 'part_train', options => '{\"seed\": $seed}')" >/dev/null
    # the full retrain's held-out item of each left-out user, and the rest
    q "DROP TABLE IF EXISTS held, fold; CREATE TABLE held AS
       SELECT r.user_id, r.item_id FROM movielens.ratings r
       JOIN raid.user_items ui ON ui.user_id = r.user_id
        AND ui.model_id = (SELECT model_id FROM raid.models WHERE name = 'full')
       WHERE r.user_id % 10 = 0 AND r.item_id <> ALL (ui.item_ids)"
    q "CREATE TABLE fold AS SELECT r.user_id, r.item_id FROM movielens.ratings r
       LEFT JOIN held h USING (user_id, item_id) WHERE r.user_id % 10 = 0 AND h.user_id IS NULL"
    summary=$(q "SELECT users || ' ' || new_users || ' ' || skipped_users FROM raid.fold_in('part', 'fold')")
    check "seed $seed: every left-out user folded in, all new" "$summary" "94 94 0"
    ndcg() {
        q "SELECT round(avg(coalesce(1 / log(2, rk + 1), 0))::numeric, 4)
           FROM (SELECT (SELECT o FROM raid.recommend('$1', h.user_id, 10) WITH ORDINALITY AS r(item_id, score, o)
                         WHERE r.item_id = h.item_id) AS rk FROM held h) x"
    }
    full=$(ndcg full); part=$(ndcg part)
    echo "seed $seed: NDCG@10 of the 94 users: full retrain $full, folded in $part"
    check_true "seed $seed: folded-in NDCG@10 >= 0.9x the full retrain's" "$part >= 0.9 * $full"
    check "seed $seed: the model counts them" "$(q "SELECT users FROM raid.models WHERE name = 'part'")" \
        "$(q "SELECT count(DISTINCT user_id) FROM movielens.ratings")"
    q "SELECT raid.drop_model('full'); SELECT raid.drop_model('part')" >/dev/null
done

# a user already in the model is replaced, not added; training items follow
q "SELECT 1 FROM raid.train('m', 'part_train')" >/dev/null
before=$(q "SELECT embedding::text FROM raid.user_embeddings WHERE user_id = 1")
check "fold_in_user replaces a known user" \
    "$(q "SELECT users || ' ' || new_users FROM raid.fold_in_user('m', 1, '{1, 2, 3, 2, NULL, 999999}')")" "1 0"
check "its training items are the known ones given" \
    "$(q "SELECT item_ids::text FROM raid.user_items WHERE user_id = 1")" "{1,2,3}"
check_true "its embedding changed" "(SELECT embedding::text FROM raid.user_embeddings WHERE user_id = 1) <> '$before'"
check "raid.recommend leaves them out" \
    "$(q "SELECT count(*) FROM raid.recommend('m', 1, 1682) WHERE item_id IN (1, 2, 3)")" 0
err=$(q "SELECT raid.fold_in_user('m', 77777, '{999999}')" 2>&1 || true)
[[ $err == *"has no interaction with an item of model"* ]] || fail "a user without known items: $err"
pass "a user without known items is refused"
