-- raid.train with defense 'none': summary, stored model, determinism, replace.
\i sql/include/fixtures.sql
\i sql/include/syn_data.sql
SELECT model, users, items, interactions, skipped,
       round(ndcg_at_10::numeric, 4) AS ndcg_at_10, round(hr_at_10::numeric, 4) AS hr_at_10,
       round(popularity_ndcg_at_10::numeric, 4) AS pop_ndcg_at_10,
       round(popularity_hr_at_10::numeric, 4) AS pop_hr_at_10,
       seconds > 0 AS timed
FROM raid.train('m1', 'syn_inter', options => '{"dim": 8, "epochs": 10, "threads": 1, "seed": 3}');

-- the models row: options with defaults filled in, source, counts, metrics
SELECT name, owner = raid.caller() AS mine, base_model, defense, options, interactions_table,
       user_col, item_col, attributes_table, attribute_col, users, items, interactions
FROM raid.models WHERE name = 'm1';
SELECT array(SELECT jsonb_object_keys(metrics) ORDER BY 1) AS metric_keys,
       jsonb_array_length(metrics->'epochs') AS epochs,
       (metrics->'epochs'->0->>'loss')::float8 > (metrics->'epochs'->9->>'loss')::float8 AS loss_decreased,
       (metrics->>'heldout_users')::int AS heldout_users
FROM raid.models WHERE name = 'm1';

-- one row per user and item, each embedding of length dim, all finite
SELECT (SELECT count(*) FROM raid.user_embeddings JOIN raid.models USING (model_id) WHERE name = 'm1') AS user_rows,
       (SELECT count(*) FROM raid.item_embeddings JOIN raid.models USING (model_id) WHERE name = 'm1') AS item_rows,
       (SELECT bool_and(array_length(embedding, 1) = 8) FROM raid.user_embeddings) AS user_dims,
       (SELECT bool_and(array_length(embedding, 1) = 8) FROM raid.item_embeddings) AS item_dims,
       (SELECT count(*) FROM raid.user_embeddings, unnest(embedding) x WHERE x = 'NaN' OR x IN ('Infinity', '-Infinity')) AS non_finite;
-- the training items: every pair but one held out per user
SELECT sum(cardinality(item_ids)) AS train_pairs FROM raid.user_items JOIN raid.models USING (model_id) WHERE name = 'm1';

-- one thread and the same seed: identical embeddings; another seed: different
SELECT users FROM raid.train('m1_again', 'syn_inter', options => '{"dim": 8, "epochs": 10, "threads": 1, "seed": 3}');
SELECT users FROM raid.train('m1_seed4', 'syn_inter', options => '{"dim": 8, "epochs": 10, "threads": 1, "seed": 4}');
-- training is scheduled in conflict-free blocks: the thread count does not change the result
SELECT users FROM raid.train('m1_threads2', 'syn_inter', options => '{"dim": 8, "epochs": 10, "threads": 2, "seed": 3}');
SELECT b.name, count(*) AS users, count(*) FILTER (WHERE a.embedding = b.embedding) AS identical
FROM (SELECT user_id, embedding FROM raid.user_embeddings JOIN raid.models USING (model_id) WHERE name = 'm1') a
JOIN (SELECT name, user_id, embedding FROM raid.user_embeddings JOIN raid.models USING (model_id)
      WHERE name IN ('m1_again', 'm1_seed4', 'm1_threads2')) b USING (user_id)
GROUP BY b.name ORDER BY 1;
SELECT count(*) FILTER (WHERE a.embedding = b.embedding) AS identical_items, count(*) AS items
FROM (SELECT item_id, embedding FROM raid.item_embeddings JOIN raid.models USING (model_id) WHERE name = 'm1') a
JOIN (SELECT item_id, embedding FROM raid.item_embeddings JOIN raid.models USING (model_id) WHERE name = 'm1_again') b
USING (item_id);

-- replace swaps the model: a new model_id, the old rows gone
CREATE TEMP TABLE old_id AS SELECT model_id FROM raid.models WHERE name = 'm1_again';
SELECT users, round(ndcg_at_10::numeric, 4) AS ndcg_at_10
FROM raid.train('m1_again', 'syn_inter', options => '{"dim": 4, "epochs": 2, "threads": 1, "replace": true}');
SELECT (SELECT model_id FROM raid.models WHERE name = 'm1_again') <> (SELECT model_id FROM old_id) AS new_id,
       (SELECT count(*) FROM raid.user_embeddings WHERE model_id = (SELECT model_id FROM old_id)) AS old_rows,
       (SELECT options->>'dim' FROM raid.models WHERE name = 'm1_again') AS dim;

-- holdout off: no evaluation, every pair trains
SELECT users, interactions, ndcg_at_10, hr_at_10
FROM raid.train('m_nohold', 'syn_inter', options => '{"dim": 4, "epochs": 1, "threads": 1, "holdout": false}');
SELECT sum(cardinality(item_ids)) AS train_pairs FROM raid.user_items JOIN raid.models USING (model_id) WHERE name = 'm_nohold';

-- arbitrary bigint ids, smallint/int columns, duplicates collapsed, NULLs skipped and counted
CREATE TABLE odd_ids (u bigint, i int);
INSERT INTO odd_ids VALUES
    (-9223372036854775808, 5), (-9223372036854775808, 6), (-9223372036854775808, 7),
    (9223372036854775807, 5), (9223372036854775807, 6), (9223372036854775807, 6),
    (0, 7), (0, 8), (NULL, 8), (0, NULL), (NULL, NULL);
SELECT users, items, interactions, skipped
FROM raid.train('m_odd', 'odd_ids', 'u', 'i', options => '{"dim": 2, "epochs": 1, "threads": 1}');
SELECT user_id, item_ids FROM raid.user_items JOIN raid.models USING (model_id)
WHERE name = 'm_odd' ORDER BY user_id;
SELECT (metrics->>'duplicates')::int AS duplicates, (metrics->>'skipped_null_ids')::int AS skipped
FROM raid.models WHERE name = 'm_odd';
CREATE TABLE small_ids (u smallint, i smallint);
INSERT INTO small_ids SELECT user_id::smallint, item_id::smallint FROM syn_inter;
SELECT users, items, interactions FROM raid.train('m_small', 'small_ids', 'u', 'i',
    options => '{"dim": 2, "epochs": 1, "threads": 1}');

-- a view works as the source, and attributes are recorded for later audits
CREATE VIEW syn_view AS SELECT user_id AS uid, item_id AS iid FROM syn_inter WHERE item_id % 2 = 0;
SELECT users > 0 AS trained FROM raid.train('m_view', 'syn_view', 'uid', 'iid',
    options => '{"dim": 2, "epochs": 1, "threads": 1}');
SELECT users > 0 AS trained FROM raid.train('m_attr', 'syn_inter', attributes => 'syn_users',
    attribute_col => 'attribute', options => '{"dim": 2, "epochs": 1, "threads": 1}');
SELECT attributes_table, attribute_col FROM raid.models WHERE name = 'm_attr';

-- progress as NOTICEs
SET raid.progress_notices = on;
\set VERBOSITY terse
SELECT users FROM raid.train('m_verbose', 'syn_inter', options => '{"dim": 2, "epochs": 2, "threads": 1}');
RESET raid.progress_notices;
-- 0.1.0's name still turns them on (VERBOSE is an SQL keyword: quoted in SET)
SET "raid.verbose" = on;
SELECT users FROM raid.train('m_verbose', 'syn_inter', options => '{"dim": 2, "epochs": 1, "threads": 1, "replace": true}');
RESET "raid.verbose";
-- off: no NOTICE
SELECT users FROM raid.train('m_verbose', 'syn_inter', options => '{"dim": 2, "epochs": 1, "threads": 1, "replace": true}');
\set VERBOSITY default

-- a failed training leaves the earlier model intact and writes nothing
CREATE TEMP TABLE before AS
    SELECT (SELECT count(*) FROM raid.models) AS models, (SELECT count(*) FROM raid.user_embeddings) AS ue,
           (SELECT count(*) FROM raid.item_embeddings) AS ie, (SELECT count(*) FROM raid.user_items) AS ui;
SELECT raid.train('m1', 'syn_inter', options => '{"dim": 4, "epochs": 1, "replace": true, "lr": 20}');
-- a failure while storing, after the earlier model was deleted and the new
-- models row and user embeddings were written: all of it rolls back
CREATE FUNCTION fail_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'simulated failure while storing item embeddings';
END $$;
CREATE TRIGGER fail_items BEFORE INSERT ON raid.item_embeddings
    FOR EACH STATEMENT EXECUTE FUNCTION fail_on_insert();
SELECT raid.train('m1', 'syn_inter', options => '{"dim": 4, "epochs": 1, "replace": true}');
DROP TRIGGER fail_items ON raid.item_embeddings;
SELECT raid.train('m1', 'syn_inter', options => '{"epochs": 1}');
SELECT (SELECT count(*) FROM raid.models) = models AS models_same,
       (SELECT count(*) FROM raid.user_embeddings) = ue AS user_rows_same,
       (SELECT count(*) FROM raid.item_embeddings) = ie AS item_rows_same,
       (SELECT count(*) FROM raid.user_items) = ui AS user_items_same,
       (SELECT options->>'dim' FROM raid.models WHERE name = 'm1') AS m1_dim
FROM before;

-- drop_model
SELECT raid.drop_model('m_verbose');
SELECT raid.drop_model('m_verbose', if_exists => true);
SELECT count(*) FROM raid.models WHERE name = 'm_verbose';

-- a non-finite figure is stored as JSON null with a WARNING, never a failed
-- store (raid.debug_nonfinite_metric makes the figure of that key NaN)
SET raid.debug_nonfinite_metric = 'ndcg_at_10';
SELECT users FROM raid.train('m_nonfinite', 'syn_inter', options => '{"dim": 4, "epochs": 1, "threads": 1}');
SELECT metrics->'ndcg_at_10' AS ndcg_json, jsonb_typeof(metrics->'hr_at_10') AS hr_type
FROM raid.models WHERE name = 'm_nonfinite';
SET raid.debug_nonfinite_metric = 'loss';
SELECT users FROM raid.train('m_nonfinite', 'syn_inter', options => '{"dim": 4, "epochs": 2, "threads": 1, "replace": true}');
SELECT jsonb_agg(e->'loss') AS losses FROM raid.models, jsonb_array_elements(metrics->'epochs') e
WHERE name = 'm_nonfinite';
RESET raid.debug_nonfinite_metric;
SELECT raid.drop_model('m_nonfinite');

-- warm start: from m1's embeddings (every user and item matched), recorded in
-- the metrics, not in the options; one epoch from there beats one from scratch
SELECT ndcg_at_10 > (SELECT ndcg_at_10 FROM raid.train('cold1', 'syn_inter',
                       options => '{"dim": 8, "epochs": 1, "threads": 1, "seed": 3}')) AS warm_beats_cold
FROM raid.train('warm1', 'syn_inter', options => '{"dim": 8, "epochs": 1, "threads": 1, "seed": 3, "warm_start": "m1"}');
SELECT metrics->'warm_start' AS warm_start, options ? 'warm_start' AS in_options
FROM raid.models WHERE name = 'warm1';
SELECT raid.drop_model('warm1'), raid.drop_model('cold1');
