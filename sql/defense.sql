-- defense => 'raid': a small deterministic training, its metrics, its effect, errors.
\i sql/include/fixtures.sql
\i sql/include/syn_data.sql
SET raid.progress_notices = on;
\set VERBOSITY terse
SELECT model, users, items, round(ndcg_at_10::numeric, 4) AS ndcg_at_10, round(hr_at_10::numeric, 4) AS hr_at_10
FROM raid.train('m_raid', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid',
                options => '{"dim": 8, "epochs": 8, "phase1_epochs": 3, "threads": 1, "seed": 5}');
RESET raid.progress_notices;
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
-- the final step audited three candidates and kept the least leaky
SELECT d->'final_step'->>'kept' AS kept,
       array(SELECT jsonb_object_keys(d->'final_step'->'leakage') ORDER BY 1) AS candidates,
       (d->'final_step'->'leakage'->>(d->'final_step'->>'kept'))::float8 =
           (SELECT min(v::float8) FROM jsonb_each_text(d->'final_step'->'leakage') x(k, v)) AS least_leaky,
       (d->'final_step'->'leakage'->>(d->'final_step'->>'kept'))::float8 = (d->>'leakage')::float8 AS audited_as_kept,
       (d->'final_step'->>'shift')::float8 > 0 AS moved
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
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"target": 0.6}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"checkpoints": 0}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"adapt": "yes"}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', options => '{"target": 0.05}')$$);
SELECT (SELECT count(*) FROM raid.models) = n AS nothing_stored FROM models_before;

-- the leakage target: an impossible one (the pull short and fixed, no final
-- step) is missed with a WARNING, and the model is stored with target_met =
-- false and the leakage reached
SELECT users FROM raid.train('m_target', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    defense => 'raid', options => '{"dim": 8, "epochs": 8, "phase1_epochs": 3, "seed": 5, "threads": 1, "target": 1e-9,
                                    "adapt": false, "align": false}');
SELECT metrics->'defense'->'target_met' AS target_met,
       (metrics->'defense'->>'leakage')::float8 > 1e-9 AS leakage_reported,
       (metrics->'defense'->>'leakage')::float8 = abs((metrics->'defense'->>'deviation')::float8) AS two_sided,
       metrics->'defense'->>'strongest_attacker' IN ('logistic', 'knn', 'qda') AS attacker_named,
       (metrics->'defense'->>'noise_floor')::float8 BETWEEN 0 AND 0.5 AS floor_measured
FROM raid.models WHERE name = 'm_target';
-- target 0: no check, no WARNING
SELECT users FROM raid.train('m_notarget', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    defense => 'raid', options => '{"dim": 8, "epochs": 4, "phase1_epochs": 2, "seed": 5, "threads": 1, "target": 0}');
SELECT metrics->'defense'->'target_met' AS target_met, metrics->'defense' ? 'leakage' AS measured
FROM raid.models WHERE name = 'm_notarget';
-- a target the data meets (a signal-free attribute): met, no WARNING
CREATE TABLE noise_users AS SELECT user_id, 'c' || (hashint8(user_id * 7) & 1) AS attribute FROM syn_users;
SELECT users FROM raid.train('m_met', 'syn_inter', attributes => 'noise_users', attribute_col => 'attribute',
    defense => 'raid', options => '{"dim": 8, "epochs": 4, "phase1_epochs": 2, "seed": 5, "threads": 1, "target": 0.2}');
SELECT metrics->'defense'->'target_met' AS target_met FROM raid.models WHERE name = 'm_met';
-- adapt: the end of Phase I is the gate (the pull runs at the eta asked for
-- only if an attacker exceeds the target plus the noise floor, else pauses at 0); later checkpoints
-- resume a paused pull on leakage, double a running one while any attacker is above the
-- bar both as the embeddings are and after the Gaussian step (above_after_step, audited
-- only when the first holds), else halve it while the strongest is below (within
-- [eta / 8, 4 eta] of the 0.25 asked for); `above` is the largest signed deviation, so
-- at least `deviation`
SELECT users FROM raid.train('m_adapt', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    defense => 'raid', options => '{"dim": 8, "epochs": 10, "phase1_epochs": 2, "seed": 5, "threads": 1, "adapt": true, "checkpoints": 3}');
SELECT c->>'epoch' AS epoch, (c->>'next_eta')::float8 > 0 AS pulling,
       CASE WHEN (c->>'epoch')::int = 2 OR (c->>'eta')::float8 = 0
            THEN (c->>'next_eta')::float8 = CASE WHEN (c->>'above')::float8 > bar THEN 0.25 ELSE 0 END
            WHEN (c->>'above')::float8 > bar AND (c->>'above_after_step')::float8 > bar
            THEN (c->>'next_eta')::float8 = least(2 * (c->>'eta')::float8, 1.0)
            WHEN (c->>'deviation')::float8 < -bar
            THEN (c->>'next_eta')::float8 = greatest((c->>'eta')::float8 / 2, 0.25 / 8)
            ELSE (c->>'next_eta')::float8 = (c->>'eta')::float8 END AS rule_followed,
       (c->>'above')::float8 >= (c->>'deviation')::float8 AS above_consistent,
       (c ? 'above_after_step') = ((c->>'epoch')::int > 2 AND (c->>'eta')::float8 > 0
                                   AND (c->>'above')::float8 > bar) AS step_audited
FROM raid.models, jsonb_array_elements(metrics->'defense'->'checkpoints') c,
     LATERAL (SELECT 0.03 + (c->>'noise_floor')::float8 AS bar) b
WHERE name = 'm_adapt';
-- the gate on a signal-free attribute: the pull never runs
SELECT users FROM raid.train('m_gate', 'syn_inter', attributes => 'noise_users', attribute_col => 'attribute',
    defense => 'raid', options => '{"dim": 8, "epochs": 6, "phase1_epochs": 2, "seed": 5, "threads": 1}');
SELECT (metrics->'defense'->>'eta_final')::float8 AS eta_final, metrics->'defense'->'recomputations' AS recomputations,
       jsonb_array_length(metrics->'defense'->'checkpoints') AS checkpoints
FROM raid.models WHERE name = 'm_gate';
SELECT (metrics->'defense'->>'eta_final')::float8 =
       (SELECT (c->>'next_eta')::float8 FROM jsonb_array_elements(metrics->'defense'->'checkpoints') WITH ORDINALITY a(c, i)
        ORDER BY i DESC LIMIT 1) AS eta_final_is_last,
       options->'eta' AS eta_asked_for
FROM raid.models WHERE name = 'm_adapt';
-- the internal audits' attackers can be chosen (here only the RBF one)
SELECT users FROM raid.train('m_rbf', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    defense => 'raid', options => '{"dim": 8, "epochs": 6, "phase1_epochs": 2, "seed": 5, "threads": 1,
                                    "target": 0.5, "target_attackers": ["rbf"]}');
SELECT metrics->'defense'->>'strongest_attacker' AS attacker, options->'target_attackers' AS target_attackers,
       metrics->'defense'->'checkpoints'->0->>'attacker' AS gate_attacker
FROM raid.models WHERE name = 'm_rbf';
-- the MLP among them runs only where it can change a decision: an audit whose
-- cheaper attackers are above the bar (the target or the noise floor) skips
-- it; on a signal-free attribute the gate runs it (and on its shuffles)
SET client_min_messages = error;	-- the target is missed, by figures of the MLP's
SELECT users FROM raid.train('m_lazy', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
    defense => 'raid', options => '{"dim": 8, "epochs": 6, "phase1_epochs": 2, "seed": 5, "threads": 1,
                                    "target_attackers": ["logistic", "knn", "qda", "mlp"]}');
RESET client_min_messages;
SELECT c->>'epoch' AS epoch, c->'attackers' AS attackers,
       (c->'attackers' ? 'mlp') OR (c->>'above')::float8 > greatest(0.03, (c->>'noise_floor')::float8)
           AS skipped_only_beyond_bar
FROM raid.models, jsonb_array_elements(metrics->'defense'->'checkpoints') c
WHERE name = 'm_lazy' ORDER BY (c->>'epoch')::int LIMIT 1;
SELECT bool_and((c->'attackers' ? 'mlp') OR (c->>'above')::float8 > greatest(0.03, (c->>'noise_floor')::float8))
           AS every_skip_beyond_bar,
       jsonb_typeof(metrics->'defense'->'attackers') AS final_attackers
FROM raid.models, jsonb_array_elements(metrics->'defense'->'checkpoints') c
WHERE name = 'm_lazy' GROUP BY metrics;
SELECT users FROM raid.train('m_lazy_gate', 'syn_inter', attributes => 'noise_users', attribute_col => 'attribute',
    defense => 'raid', options => '{"dim": 8, "epochs": 4, "phase1_epochs": 2, "seed": 5, "threads": 1,
                                    "target_attackers": ["logistic", "mlp"]}');
SELECT metrics->'defense'->'checkpoints'->0->'attackers' AS gate_attackers,
       metrics->'defense'->'checkpoints'->0->>'next_eta' AS next_eta
FROM raid.models WHERE name = 'm_lazy_gate';
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"target_attackers": ["svm"]}')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute', defense => 'raid', options => '{"target_attackers": []}')$$);
-- several attributes protected together: one pull per attribute, each
-- gated and audited on its own (the signal-free one stays paused; the
-- other starts at 0.25 / sqrt(2) and doubles while it leaks, at most 4x), the
-- final step aligns their combinations, raid.audit attacks each
CREATE TABLE two_users AS SELECT s.user_id, s.attribute, n.attribute AS "Noise Col"
FROM syn_users s JOIN noise_users n USING (user_id);
SELECT users FROM raid.train('m_two', 'syn_inter', attributes => 'two_users', attribute_col => ' attribute ,Noise Col',
    defense => 'raid', options => '{"dim": 8, "epochs": 8, "phase1_epochs": 3, "seed": 5, "threads": 1}');
SELECT attribute_col, metrics->'defense'->>'attribute' IN ('attribute', 'Noise Col') AS worst_named,
       (metrics->'defense'->>'target_met')::bool =
           bool_and((a->>'target_met')::bool) AS met_if_all_met,
       metrics->'defense'->>'leakage' = max(a->>'leakage') FILTER (WHERE a->>'attribute' = metrics->'defense'->>'attribute')
           AS worst_reported,
       metrics->'defense'->'final_step'->'classes' AS step_classes,
       metrics->'defense' ? 'classes' AS top_level_classes
FROM raid.models, jsonb_array_elements(metrics->'defense'->'attributes') a
WHERE name = 'm_two' GROUP BY attribute_col, metrics;
SELECT a->>'attribute' AS attribute, a->'classes' AS classes, a->'class_users' AS class_users,
       round((a->>'eta_final')::numeric, 4) AS eta_final, (a->>'recomputations')::int > 0 AS pulled,
       (a->>'leakage')::float8 = abs((a->>'deviation')::float8) AS two_sided,
       (SELECT count(*) FROM jsonb_array_elements(metrics->'defense'->'checkpoints') c
        WHERE c->>'attribute' = a->>'attribute') AS checkpoints,
       (SELECT (c->>'next_eta')::float8 FROM jsonb_array_elements(metrics->'defense'->'checkpoints') WITH ORDINALITY x(c, i)
        WHERE c->>'attribute' = a->>'attribute' ORDER BY i DESC LIMIT 1) = (a->>'eta_final')::float8 AS last_checkpoint_decided
FROM raid.models, jsonb_array_elements(metrics->'defense'->'attributes') a
WHERE name = 'm_two' ORDER BY 1;
SELECT attribute, count(*) AS attackers, bool_or(strongest) AS has_strongest
FROM raid.audit('m_two', options => '{"threads": 1, "attackers": ["logistic", "knn"]}') GROUP BY 1 ORDER BY 1;
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'two_users', attribute_col => 'attribute,', defense => 'raid')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'two_users', attribute_col => 'attribute, attribute', defense => 'raid')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'two_users', attribute_col => 'attribute, noise col', defense => 'raid')$$);
SELECT raid_try($$SELECT raid.train('e', 'syn_inter', attributes => 'two_users', attribute_col => 'attribute,a,b,c,d,e,f,g,h', defense => 'raid')$$);
SELECT raid_try($$SELECT raid.audit('m_two', 'two_users', 'attribute,,')$$);
SELECT raid.drop_model(name) FROM unnest(ARRAY['m_target', 'm_notarget', 'm_met', 'm_adapt', 'm_gate', 'm_rbf', 'm_two']) name;
DROP TABLE noise_users, two_users;
