-- the baselines defense => 'center', 'gaussian', 'dp': what each does to the
-- stored user embeddings, their metrics, options and errors.
\i sql/include/fixtures.sql
\i sql/include/syn_data.sql
CREATE TEMP VIEW class_means AS
SELECT m.name, u.attribute, k, avg(e.v) AS mean
FROM raid.models m
JOIN raid.user_embeddings ue USING (model_id)
JOIN syn_users u USING (user_id)
CROSS JOIN LATERAL unnest(ue.embedding) WITH ORDINALITY AS e(v, k)
WHERE m.name LIKE 'b\_%'
GROUP BY m.name, u.attribute, k;
-- the largest difference between a class's mean and the pooled mean, per model
CREATE TEMP VIEW mean_gap AS
SELECT c.name, max(abs(c.mean - p.mean)) AS gap
FROM class_means c
JOIN (SELECT m.name, k, avg(e.v) AS mean
      FROM raid.models m JOIN raid.user_embeddings ue USING (model_id)
      CROSS JOIN LATERAL unnest(ue.embedding) WITH ORDINALITY AS e(v, k)
      GROUP BY m.name, k) p USING (name, k)
GROUP BY c.name;

SELECT model, users FROM raid.train('b_none', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    options => '{"dim": 8, "epochs": 6, "threads": 1, "seed": 5}');
SELECT model, users FROM raid.train('b_center', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    defense => 'center', options => '{"dim": 8, "epochs": 6, "threads": 1, "seed": 5}');
SELECT model, users FROM raid.train('b_gaussian', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    defense => 'gaussian', options => '{"dim": 8, "epochs": 6, "threads": 1, "seed": 5}');
-- the undefended model's class means differ; center and gaussian make them the pooled one
SELECT name, gap > 0.01 AS apart, gap < 1e-5 AS equal FROM mean_gap ORDER BY name;
-- the same training underneath: the item embeddings are those of the undefended model
SELECT bool_and(a.embedding = b.embedding) AS items_as_trained
FROM raid.item_embeddings a JOIN raid.models ma USING (model_id)
JOIN raid.item_embeddings b USING (item_id) JOIN raid.models mb ON mb.model_id = b.model_id
WHERE ma.name = 'b_none' AND mb.name = 'b_gaussian';
-- gaussian also gives the classes the same covariance: compare one entry, (1, 2)
SELECT max(c) - min(c) < 1e-5 AS same_covariance
FROM (SELECT u.attribute, avg((ue.embedding[1] - m1) * (ue.embedding[2] - m2)) AS c
      FROM raid.user_embeddings ue JOIN raid.models m USING (model_id) JOIN syn_users u USING (user_id)
      JOIN (SELECT attribute, avg(embedding[1]) AS m1, avg(embedding[2]) AS m2
            FROM raid.user_embeddings JOIN raid.models USING (model_id) JOIN syn_users USING (user_id)
            WHERE name = 'b_gaussian' GROUP BY attribute) cm USING (attribute)
      WHERE m.name = 'b_gaussian' GROUP BY u.attribute) s;
SELECT name, defense, d->>'kind' AS kind, d->'classes' AS classes, d->'attributes' AS attributes,
       (d->>'moved_users')::int AS moved, (d->>'mean_shift')::float8 > 0 AS moved_some,
       (d->>'barycenter_iterations')::int > 0 AS fixed_point_ran,
       array(SELECT jsonb_object_keys(d) ORDER BY 1) AS keys
FROM raid.models, LATERAL (SELECT metrics->'defense' AS d) x
WHERE name IN ('b_center', 'b_gaussian') ORDER BY name;

-- dp: Laplace with a given C (b = 2C / epsilon), and the Gaussian mechanism
-- with C the median norm (half the users above it are clipped)
SELECT model FROM raid.train('b_laplace', 'syn_inter', defense => 'dp',
    options => '{"dim": 8, "epochs": 6, "threads": 1, "seed": 5, "epsilon": 4, "delta": 0, "clip": 0.5}');
SELECT model FROM raid.train('b_dp', 'syn_inter', defense => 'dp',
    options => '{"dim": 8, "epochs": 6, "threads": 1, "seed": 5}');
SELECT name, d->>'mechanism' AS mechanism, d->'epsilon' AS epsilon, d->'delta' AS delta,
       d->'clip_from_data' AS clip_from_data,
       CASE WHEN d->>'mechanism' = 'laplace' THEN (d->>'noise_scale')::float8 = 2 * 0.5 / 4
            ELSE (d->>'noise_scale')::float8 BETWEEN 2 * (d->>'clip')::float8 * 3.5
                                                  AND 2 * (d->>'clip')::float8 * 4.5 END AS scale_as_calibrated,
       (d->>'clipped_users')::int BETWEEN 140 AND 160 OR d->>'mechanism' = 'laplace' AS median_clips_half,
       options->'epsilon' AS stored_epsilon, options ? 'eta' AS raid_options_stored
FROM raid.models, LATERAL (SELECT metrics->'defense' AS d) x
WHERE name IN ('b_laplace', 'b_dp') ORDER BY name;
-- the noise is seeded: the same call stores the same embeddings
SELECT model FROM raid.train('b_dp2', 'syn_inter', defense => 'dp',
    options => '{"dim": 8, "epochs": 6, "threads": 1, "seed": 5}');
SELECT bool_and(a.embedding = b.embedding) AS reproducible
FROM raid.user_embeddings a JOIN raid.models ma USING (model_id)
JOIN raid.user_embeddings b USING (user_id) JOIN raid.models mb ON mb.model_id = b.model_id
WHERE ma.name = 'b_dp' AND mb.name = 'b_dp2';
-- unlearn: the classes' MMD goes down (their means come closer), the users move
SELECT model FROM raid.train('b_unlearn', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    defense => 'unlearn', options => '{"dim": 8, "epochs": 6, "threads": 1, "seed": 5, "unlearn_steps": 100,
                                    "unlearn_weight": 0.1}');
SELECT u.gap < 0.5 * n.gap AS means_closer, d->'steps' AS steps, (d->>'mean_shift')::float8 > 0 AS moved,
       options->'unlearn_weight' AS weight, options ? 'epsilon' AS dp_options_stored
FROM mean_gap u, mean_gap n, raid.models, LATERAL (SELECT metrics->'defense' AS d) x
WHERE u.name = 'b_unlearn' AND n.name = 'b_none' AND raid.models.name = 'b_unlearn';
-- adversarial: in training, an adversary MLP and its reversed gradient
SELECT model FROM raid.train('b_adv', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    defense => 'adversarial', options => '{"dim": 8, "epochs": 6, "threads": 1, "seed": 5}');
SELECT d->>'kind' AS kind, d->'classes' AS classes, options->'adv_weight' AS weight,
       options ? 'unlearn_weight' AS unlearn_options_stored, (metrics->>'train_seconds')::float8 > 0 AS timed
FROM raid.models, LATERAL (SELECT metrics->'defense' AS d) x WHERE name = 'b_adv';
-- logistic regression reads the attribute less well than from the undefended model
SELECT (SELECT balanced_accuracy FROM raid.audit('b_adv', options => '{"attackers": ["logistic"]}'))
     < (SELECT balanced_accuracy FROM raid.audit('b_none', options => '{"attackers": ["logistic"]}'))
       AS less_leaky;
-- audits and recommendations work on every baseline
SELECT count(*) AS audit_rows FROM raid.audit('b_gaussian', options => '{"attackers": ["logistic", "knn"]}');
SELECT count(*) AS recommended FROM raid.recommend('b_dp', 1, 5);

-- errors: before any work, with the synchronous call's SQLSTATE at submit too
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'center')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"epsilon": 1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'raid', attributes => 'syn_users', attribute_col => 'attribute', options => '{"clip": 1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'dp', options => '{"eta": 1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'dp', options => '{"epsilon": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'dp', options => '{"delta": 0.7}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'dp', options => '{"clip": -1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'unlearn')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'unlearn', attributes => 'syn_users', attribute_col => 'attribute', options => '{"unlearn_lr": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'dp', options => '{"unlearn_steps": 3}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'adversarial')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'adversarial', attributes => 'syn_users', attribute_col => 'attribute', options => '{"adv_weight": -1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'raid', attributes => 'syn_users', attribute_col => 'attribute', options => '{"adv_epochs": 2}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'noise')$$);
SELECT raid_try($$SELECT raid.check_train_args('e', 'syn_inter', defense => 'dp', options => '{"eta": 1}')$$);
SELECT raid_try($$SELECT raid.check_train_args('e', 'syn_inter', defense => 'gaussian')$$);
SELECT count(*) AS failed_calls_stored FROM raid.models WHERE name = 'e';
