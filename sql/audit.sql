-- raid.audit and raid.audit_embeddings: attackers, stored rows, errors.
\i sql/include/fixtures.sql
\i sql/include/syn_data.sql
\i sql/include/model_m1.sql
SELECT users FROM raid.train('m_audit', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
                             options => '{"dim": 8, "epochs": 10, "threads": 1}');

-- the model's own attribute; one row per attacker, stored in raid.audits
SELECT model, attributes_table, attribute, attacker, classes, users, folds,
       round(f1::numeric, 3) AS f1, round(balanced_accuracy::numeric, 3) AS bacc,
       round(auc::numeric, 3) AS auc, chance, seconds > 0 AS timed
FROM raid.audit('m_audit', options => '{"threads": 1}');
SELECT count(*) AS stored, bool_and(owner = raid.caller()) AS mine,
       bool_and(model_id = (SELECT model_id FROM raid.models WHERE name = 'm_audit')) AS linked
FROM raid.audits WHERE model = 'm_audit';
-- details: classes, counts, per-fold figures
SELECT attacker, details->'class_labels' AS labels, details->'class_users' AS class_users,
       details->'excluded_without_attribute' AS excluded, details->'missing_embedding' AS missing,
       jsonb_array_length(details->'fold_balanced_accuracy') AS folds,
       details->'fold_test_users' AS test_users, details->'fold_train_users' AS train_users
FROM raid.audits WHERE model = 'm_audit' ORDER BY audit_id;

-- the undefended model leaks the planted attribute far above chance
SELECT attacker, balanced_accuracy > 0.7 AS leaks
FROM raid.audits WHERE model = 'm_audit' ORDER BY audit_id;

-- the same seed gives the same figures
SELECT a.attacker, a.balanced_accuracy = b.balanced_accuracy AND a.f1 = b.f1 AND a.auc = b.auc AS same
FROM raid.audit('m_audit', options => '{"threads": 1}') a
JOIN (SELECT * FROM raid.audits WHERE model = 'm_audit' ORDER BY audit_id LIMIT 4) b USING (attacker);

-- distance from chance and the strongest attacker, marked once per call
SELECT attacker, round(leakage::numeric, 3) = round(abs(balanced_accuracy - chance)::numeric, 3) AS leakage_ok,
       strongest, shuffled
FROM raid.audits WHERE model = 'm_audit' ORDER BY audit_id LIMIT 4;
SELECT count(*) FILTER (WHERE strongest) AS strongest_rows,
       (SELECT attacker FROM raid.audits WHERE model = 'm_audit' AND strongest ORDER BY audit_id LIMIT 1) =
       (SELECT attacker FROM raid.audits WHERE model = 'm_audit' AND audit_id <= (SELECT min(audit_id) + 3 FROM raid.audits WHERE model = 'm_audit')
        ORDER BY leakage DESC LIMIT 1) AS is_the_max
FROM (SELECT * FROM raid.audits WHERE model = 'm_audit' ORDER BY audit_id LIMIT 4) s;

-- the noise floor: the same attackers on shuffled labels stay near chance
SELECT attacker, shuffled, strongest, leakage < 0.15 AS near_chance, details ? 'noise_floor' AS has_floor
FROM raid.audit('m_audit', options => '{"threads": 1, "attackers": ["knn", "qda"], "null_run": true}')
ORDER BY audit_id;
SELECT bool_and(details->>'noise_floor' = (SELECT max(leakage)::numeric(10, 6)::text FROM raid.audits
                                            WHERE model = 'm_audit' AND shuffled)) AS floor_is_max_shuffled
FROM raid.audits WHERE model = 'm_audit' AND NOT shuffled AND details ? 'noise_floor';

-- kNN and QDA options
SELECT attacker, round(balanced_accuracy::numeric, 3) > 0.6 AS leaks,
       details->'options'->'knn_k' AS k, details->'options'->'qda_reg' AS reg
FROM raid.audit('m_audit', options => '{"threads": 1, "attackers": ["knn", "qda"], "knn_k": 5, "qda_reg": 0.5}');
-- the opt-in RBF-kernel attacker and its options; not in the default set
SELECT attacker, round(balanced_accuracy::numeric, 3) > 0.6 AS leaks,
       details->'options'->'rbf_features' AS features, details->'options'->'rbf_c' AS c,
       (details->'fold_iterations'->>0)::int > 0 AS fitted
FROM raid.audit('m_audit', options => '{"threads": 1, "attackers": ["rbf"], "rbf_features": 256, "rbf_c": 2}');
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"rbf_features": 8}')$$);

-- one attacker, other folds, the cross-validation plan kept
SELECT attacker, folds, jsonb_array_length(details->'plan') AS plan_folds,
       (SELECT sum(jsonb_array_length(p->'test')) FROM jsonb_array_elements(details->'plan') p) AS tested
FROM raid.audit('m_audit', options => '{"attackers": ["logistic"], "folds": 3, "store_folds": true, "threads": 1}');

-- a model trained without attributes, with the attribute named in the call
SELECT attacker, users, round(balanced_accuracy::numeric, 3) AS bacc
FROM raid.audit('m1', 'syn_users', 'attribute', '{"attackers": "logistic", "threads": 1}');
-- reading results: a summary per model, and models side by side
SELECT model, defense, attribute, users, ndcg_at_10 > 0 AS has_ndcg, audited, strongest_attacker,
       balanced_accuracy, chance, leakage, seconds >= 0 AS timed
FROM raid.model_summary WHERE model IN ('m_audit', 'm1') ORDER BY model;
SELECT * FROM raid.compare('m_audit', 'm1');
SELECT raid_try($$SELECT * FROM raid.compare('m_audit', 'no_such_model')$$);
SELECT raid_try($$SELECT * FROM raid.compare()$$);

-- any embedding table: real[] and float8[] give the figures raid.audit gives
CREATE TABLE emb_real AS
    SELECT user_id AS uid, embedding AS e FROM raid.user_embeddings
    WHERE model_id = (SELECT model_id FROM raid.models WHERE name = 'm_audit');
CREATE TABLE emb_double AS SELECT uid, e::float8[] AS e FROM emb_real;
SELECT x.attacker, round(x.balanced_accuracy::numeric, 3) AS bacc,
       x.balanced_accuracy = y.balanced_accuracy AS same_as_model, x.model IS NULL AS no_model, x.embeddings
FROM raid.audit_embeddings('emb_real', 'uid', 'e', 'syn_users', 'user_id', 'attribute', '{"threads": 1}') x
JOIN (SELECT * FROM raid.audits WHERE model = 'm_audit' ORDER BY audit_id LIMIT 2) y USING (attacker);
SELECT attacker, round(balanced_accuracy::numeric, 3) AS bacc
FROM raid.audit_embeddings('emb_double', 'uid', 'e', 'syn_users', 'user_id', 'attribute',
                           '{"threads": 1, "attackers": ["logistic"]}');
-- a non-finite figure of an audit is stored as JSON null with a WARNING
SET raid.debug_nonfinite_metric = 'fold_auc';
SELECT attacker, details->'fold_auc' AS fold_auc, jsonb_typeof(details->'auc_std') AS auc_std_type
FROM raid.audit_embeddings('emb_double', 'uid', 'e', 'syn_users', 'user_id', 'attribute',
                           '{"threads": 1, "attackers": ["logistic"], "folds": 2}');
RESET raid.debug_nonfinite_metric;

-- attribute types: boolean, integer, enum; NULL attributes excluded and counted
CREATE TYPE colour AS ENUM ('red', 'green', 'blue');
CREATE TABLE attr_types AS
    SELECT user_id, attribute = 'c0' AS is_c0, (user_id % 3)::int AS mod3,
           (ARRAY['red', 'green', 'blue'])[1 + user_id % 3]::colour AS colour,
           CASE WHEN user_id % 10 = 0 THEN NULL ELSE attribute END AS sparse
    FROM syn_users;
SELECT attacker, classes, users, round(balanced_accuracy::numeric, 3) AS bacc, details->'class_labels' AS labels
FROM raid.audit('m_audit', 'attr_types', 'is_c0', '{"threads": 1, "attackers": ["logistic"]}');
SELECT attacker, classes, round(chance::numeric, 3) AS chance, abs(balanced_accuracy - chance) < 0.15 AS near_chance,
       details->'class_labels' AS labels
FROM raid.audit('m_audit', 'attr_types', 'mod3', '{"threads": 1, "attackers": ["logistic"]}');
SELECT attacker, classes, details->'class_labels' AS labels
FROM raid.audit('m_audit', 'attr_types', 'colour', '{"threads": 1, "attackers": ["logistic"]}');
SELECT attacker, users, details->'excluded_without_attribute' AS excluded
FROM raid.audit('m_audit', 'attr_types', 'sparse', '{"threads": 1, "attackers": ["logistic"]}');
-- users with an attribute but no embedding are counted
INSERT INTO attr_types (user_id, sparse) VALUES (100001, 'c0'), (100002, 'c1');
SELECT users, details->'missing_embedding' AS missing
FROM raid.audit('m_audit', 'attr_types', 'sparse', '{"threads": 1, "attackers": ["logistic"]}');

-- errors; nothing is stored by any of them
CREATE TEMP TABLE audits_before AS SELECT count(*) AS n FROM raid.audits;
CREATE TABLE one_class AS SELECT user_id, 'x'::text AS a FROM syn_users;
CREATE TABLE tiny_class AS SELECT user_id, CASE WHEN user_id <= 3 THEN 'rare' ELSE 'common' END AS a FROM syn_users;
CREATE TABLE emb_text AS SELECT uid, e::text AS e FROM emb_real;
CREATE TABLE emb_mixed AS SELECT uid, CASE WHEN uid = 7 THEN e[1:3] ELSE e END AS e FROM emb_real;
CREATE TABLE emb_null_elem AS SELECT uid, CASE WHEN uid = 8 THEN array_append(e[1:7], NULL) ELSE e END AS e FROM emb_real;
CREATE TABLE emb_nan AS SELECT uid, CASE WHEN uid = 9 THEN array_append(e[1:7], 'NaN'::real) ELSE e END AS e FROM emb_real;
CREATE TABLE emb_null AS SELECT uid, CASE WHEN uid = 10 THEN NULL ELSE e END AS e FROM emb_real;
CREATE TABLE emb_dup AS SELECT * FROM emb_real UNION ALL SELECT * FROM emb_real WHERE uid = 11;
CREATE TABLE emb_2d AS SELECT uid, CASE WHEN uid = 12 THEN ARRAY[e[1:4], e[5:8]] ELSE e END AS e FROM emb_real;

SELECT raid_try($$SELECT raid.audit('no_such_model')$$);
SELECT raid_try($$SELECT raid.audit(NULL)$$);
SELECT raid_try($$SELECT raid.audit('m1')$$);
SELECT raid_try($$SELECT raid.audit('m1', 'syn_users')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', 'no_such_table', 'a')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', 'syn_users', 'no_such_col')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', 'one_class', 'a')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', 'tiny_class', 'a')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', 'tiny_class', 'a', '{"folds": 4}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"folds": 1}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"folds": 50}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"fold": 5}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"attackers": ["svm"]}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"attackers": []}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"attackers": 1}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"mlp_lr": 0}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"balance": "yes"}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"knn_k": 0}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"qda_reg": 1.5}')$$);
SELECT raid_try($$SELECT raid.audit('m_audit', options => '{"null_run": 1}')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_text', 'uid', 'e', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_real', 'uid', 'nope', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_real', 'e', 'e', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_real', 'uid', 'e', 'syn_users', 'attribute', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_mixed', 'uid', 'e', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_null_elem', 'uid', 'e', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_nan', 'uid', 'e', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_null', 'uid', 'e', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_dup', 'uid', 'e', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings('emb_2d', 'uid', 'e', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.audit_embeddings(NULL, 'uid', 'e', 'syn_users', 'user_id', 'attribute')$$);
SELECT raid_try($$SELECT raid.schedule_audit('m_audit', '0 3 * * *')$$);
SELECT (SELECT count(*) FROM raid.audits) = n AS nothing_stored FROM audits_before;

-- dropping the model keeps its audit history
SELECT raid.drop_model('m_audit');
SELECT count(*) AS kept, bool_and(model_id IS NULL) AS unlinked FROM raid.audits WHERE model = 'm_audit';

