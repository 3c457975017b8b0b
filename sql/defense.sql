-- defense => 'raid': a small deterministic training, its metrics, its effect, errors.
SET "raid.verbose" = on;
\set VERBOSITY terse
SELECT model, users, items, round(ndcg_at_10::numeric, 4) AS ndcg_at_10, round(hr_at_10::numeric, 4) AS hr_at_10
FROM raid.train('m_raid', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid',
                options => '{"dim": 8, "epochs": 8, "phase1_epochs": 3, "threads": 1, "seed": 5}');
RESET "raid.verbose";
\set VERBOSITY default

-- options with the defense's defaults filled in
SELECT defense, options FROM raid.models WHERE name = 'm_raid';
-- what the defense did
SELECT d->'classes' AS classes, d->'class_users' AS class_users, d->'users_without_attribute' AS without,
       d->'pulled_users' AS pulled, (d->>'recomputations')::int > 0 AS recomputed,
       (d->>'sinkhorn_calls')::int > 0 AS sinkhorn_ran,
       (d->>'phase1_seconds')::float8 > 0 AND (d->>'phase2_seconds')::float8 > 0 AS phases_timed,
       (d->>'spread_after')::float8 > 0.25 * (d->>'spread_before')::float8 AS spread_kept,
       array(SELECT jsonb_object_keys(d) ORDER BY 1) AS keys
FROM (SELECT metrics->'defense' AS d FROM raid.models WHERE name = 'm_raid') s;

-- the same options without the defense, then both audited: the defense removes leakage
SELECT users FROM raid.train('m_plain', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
                             options => '{"dim": 8, "epochs": 8, "threads": 1, "seed": 5}');
SELECT model, attacker, round(balanced_accuracy::numeric, 3) AS bacc
FROM (SELECT * FROM raid.audit('m_plain', options => '{"threads": 1, "attackers": ["logistic"]}')
      UNION ALL
      SELECT * FROM raid.audit('m_raid', options => '{"threads": 1, "attackers": ["logistic"]}')) a
ORDER BY model;

-- the same seed gives the same defended model at any thread count
SELECT users FROM raid.train('m_raid_t2', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
                             defense => 'raid', options => '{"dim": 8, "epochs": 8, "phase1_epochs": 3, "threads": 2, "seed": 5}');
SELECT count(*) AS users, count(*) FILTER (WHERE a.embedding = b.embedding) AS identical
FROM raid.user_embeddings a JOIN raid.user_embeddings b USING (user_id)
WHERE a.model_id = (SELECT model_id FROM raid.models WHERE name = 'm_raid')
  AND b.model_id = (SELECT model_id FROM raid.models WHERE name = 'm_raid_t2');

-- users without a value are trained but not pulled
CREATE TABLE half_users AS SELECT user_id, CASE WHEN user_id % 2 = 0 THEN attribute END AS attribute FROM syn_users;
SELECT users FROM raid.train('m_half', 'syn_inter', attributes => 'half_users', attribute_col => 'attribute',
                             defense => 'raid', options => '{"dim": 4, "epochs": 3, "phase1_epochs": 1, "threads": 1}');
SELECT metrics->'defense'->'users_without_attribute' AS without, metrics->'defense'->'pulled_users' AS pulled
FROM raid.models WHERE name = 'm_half';

-- errors
CREATE TABLE one_class_users AS SELECT user_id, 'x'::text AS attribute FROM syn_users;
CREATE TABLE lonely_users AS SELECT user_id, CASE WHEN user_id = 1 THEN 'alone' ELSE 'crowd' END AS attribute FROM syn_users;
CREATE TABLE dup_users AS SELECT * FROM syn_users UNION ALL SELECT * FROM syn_users WHERE user_id = 3;
CREATE TEMP TABLE models_before AS SELECT count(*) AS n FROM raid.models;
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', defense => 'raid')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"eta": 1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'one_class_users', attribute_col => 'attribute', defense => 'raid')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'lonely_users', attribute_col => 'attribute', defense => 'raid')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'dup_users', attribute_col => 'attribute', defense => 'raid')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"eta": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"tau": -1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"tau": 1e-20}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"xi": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"m": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"sinkhorn_iters": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"sinkhorn_tol": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"phase1_epochs": "5"}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"sample": -1}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"etta": 1}')$$);
SELECT (SELECT count(*) FROM raid.models) = n AS nothing_stored FROM models_before;
