#!/usr/bin/env bash
# The RAID defense on MovieLens 100K with default options and seed 42, judged
# by raid's four attackers (MLP, logistic regression, kNN, QDA):
# - gender: every attacker's balanced accuracy within chance +- 0.05; the
#   strongest attacker keeps at most 25% of the undefended model's leakage;
#   NDCG@10 at least 0.95x the undefended model's;
# - age in three groups (under 25, 25-34, 35 and over): the same criteria
#   against chance = 1/3, but NDCG@10 at least 0.90x.  0.1.0's defaults kept
#   0.955x here and passed with its two attackers, while scikit-learn's QDA
#   ended 0.056 below chance and the RBF SVM 0.046 above; the calibrated
#   final step leaves every scikit-learn attacker within 0.028 of chance, at
#   0.91x (BENCHMARKS.md, "Calibrated alignment").
ATTACKERS='{"attackers": ["mlp", "logistic", "knn", "qda"]}'
source "$(dirname "$0")/lib.sh"
dir=$(raid_data_dir)
[ -n "$dir" ] || skip "skipped: MovieLens 100K not found (set RAID_DATA_DIR or provide ../shared/data/ml-100k)"
fresh_db it_defense
"$IT_ROOT/scripts/load_movielens.sh" "$dir"
q "CREATE VIEW movielens.user_groups AS
       SELECT user_id, gender,
              CASE WHEN age < 25 THEN 'under 25' WHEN age < 35 THEN '25-34' ELSE '35+' END AS age_group
       FROM movielens.users"

q "SELECT users FROM raid.train('none', 'movielens.ratings', attributes => 'movielens.user_groups', attribute_col => 'gender')" >/dev/null
for attr in gender age_group; do
    q "SELECT users FROM raid.train('raid_$attr', 'movielens.ratings', attributes => 'movielens.user_groups',
                                    attribute_col => '$attr', defense => 'raid')" >/dev/null
    q "SELECT count(*) FROM raid.audit('none', 'movielens.user_groups', '$attr', '$ATTACKERS')" >/dev/null
    q "SELECT count(*) FROM raid.audit('raid_$attr', options => '$ATTACKERS')" >/dev/null
    psql -X -q -c "
        SELECT m.name, a.attacker, round(a.f1::numeric, 3) AS f1, round(a.balanced_accuracy::numeric, 3) AS bacc,
               round(a.auc::numeric, 3) AS auc, round(a.chance::numeric, 3) AS chance,
               round((m.metrics->>'ndcg_at_10')::numeric, 4) AS ndcg, round((m.metrics->>'hr_at_10')::numeric, 4) AS hr,
               m.metrics->'defense'->'phase1_epoch_seconds' AS p1_epoch, m.metrics->'defense'->'phase2_epoch_seconds' AS p2_epoch
        FROM raid.audits a JOIN raid.models m USING (model_id)
        WHERE a.attribute = '$attr' ORDER BY m.model_id, a.audit_id"
    none_leak="(SELECT max(balanced_accuracy - chance) FROM raid.audits WHERE model = 'none' AND attribute = '$attr')"
    raid_leak="(SELECT max(abs(balanced_accuracy - chance)) FROM raid.audits WHERE model = 'raid_$attr')"
    check_true "$attr: every attacker within chance +- 0.05 on the RAID model" "$raid_leak <= 0.05"
    check_true "$attr: at least 75% of the leakage removed" "$raid_leak <= 0.25 * $none_leak"
    ratio=$([ "$attr" = gender ] && echo 0.95 || echo 0.90)
    check_true "$attr: NDCG@10 at least ${ratio}x the undefended model's" \
        "(SELECT (metrics->>'ndcg_at_10')::float8 FROM raid.models WHERE name = 'raid_$attr')
         >= $ratio * (SELECT (metrics->>'ndcg_at_10')::float8 FROM raid.models WHERE name = 'none')"
done
