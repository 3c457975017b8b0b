-- raid.synthetic: deterministic data whose attribute shapes preferences.
\i sql/include/fixtures.sql
SELECT * FROM raid.synthetic('syn_inter', 'syn_users', n_users => 300, n_items => 120,
                             interactions_per_user => 20, classes => 2, seed => 7);

-- every user has interactions and an attribute; pairs are distinct
SELECT count(DISTINCT user_id) AS users, count(DISTINCT item_id) > 100 AS most_items,
       count(*) = count(DISTINCT (user_id, item_id)) AS distinct_pairs
FROM syn_inter;
SELECT attribute, count(*) > 100 AS balanced FROM syn_users GROUP BY 1 ORDER BY 1;
SELECT min(n) >= 5 AS at_least_five, abs(avg(n) - 20) < 4 AS mean_near_20
FROM (SELECT count(*) AS n FROM syn_inter GROUP BY user_id) s;

-- the same seed gives the same data, another seed other data
SELECT * FROM raid.synthetic('syn_inter2', 'syn_users2', n_users => 300, n_items => 120,
                             interactions_per_user => 20, classes => 2, seed => 7);
SELECT (SELECT count(*) FROM (TABLE syn_inter EXCEPT TABLE syn_inter2) d) AS differing_pairs,
       (SELECT count(*) FROM (TABLE syn_users EXCEPT TABLE syn_users2) d) AS differing_users;
SELECT * FROM raid.synthetic('syn_inter3', 'syn_users3', n_users => 300, n_items => 120,
                             interactions_per_user => 20, classes => 2, seed => 8);
SELECT (SELECT count(*) FROM (TABLE syn_inter EXCEPT TABLE syn_inter3) d) > 0 AS other_seed_differs;

-- the attribute shapes preferences: the classes' favourite items differ
WITH f AS (
    SELECT u.attribute, i.item_id, count(*) AS n
    FROM syn_inter i JOIN syn_users u USING (user_id) GROUP BY 1, 2),
top AS (
    SELECT attribute, item_id FROM (
        SELECT attribute, item_id, row_number() OVER (PARTITION BY attribute ORDER BY n DESC, item_id) AS r
        FROM f) s WHERE r <= 10)
SELECT count(*) < 8 AS top10_overlap_small
FROM top a JOIN top b ON a.item_id = b.item_id AND a.attribute = 'c0' AND b.attribute = 'c1';

-- schema-qualified names, more classes
CREATE SCHEMA synth;
SELECT * FROM raid.synthetic('synth.inter', 'synth.users', n_users => 100, n_items => 50,
                             interactions_per_user => 10, classes => 4, seed => 1);
SELECT count(DISTINCT attribute) AS classes FROM synth.users;

-- signal kinds: covariance and nonlinear keep the classes' average tastes
-- apart no more than random labels do; mean moves them
CREATE FUNCTION pg_temp.mean_gap(inter regclass, users regclass) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE g float8;
BEGIN
    EXECUTE format($q$
        WITH f AS (SELECT u.attribute, i.item_id, count(*)::float8 / (SELECT count(*) FROM %2$s v WHERE v.attribute = u.attribute) AS p
                   FROM %1$s i JOIN %2$s u USING (user_id) GROUP BY 1, 2)
        SELECT sum(abs(coalesce(a.p, 0) - coalesce(b.p, 0)))
        FROM (SELECT * FROM f WHERE attribute = 'c0') a FULL JOIN (SELECT * FROM f WHERE attribute = 'c1') b USING (item_id)$q$,
        inter, users) INTO g;
    RETURN g;
END $$;
SELECT kind, (SELECT count(*) FROM raid.synthetic('k_inter_' || kind, 'k_users_' || kind, n_users => 2000, n_items => 200,
                                                   interactions_per_user => 20, signal_kind => kind)) AS made
FROM unnest(ARRAY['mean', 'covariance', 'nonlinear']) kind;
CREATE TABLE k_users_random AS SELECT user_id, 'c' || (hashint8(user_id) & 1) AS attribute FROM k_users_mean;
SELECT round((pg_temp.mean_gap('k_inter_mean', 'k_users_mean') / pg_temp.mean_gap('k_inter_mean', 'k_users_random'))::numeric, 0) > 3 AS mean_moves_means,
       pg_temp.mean_gap('k_inter_covariance', 'k_users_covariance') < 1.5 * pg_temp.mean_gap('k_inter_covariance', 'k_users_random') AS covariance_keeps_means,
       pg_temp.mean_gap('k_inter_nonlinear', 'k_users_nonlinear') < 1.5 * pg_temp.mean_gap('k_inter_nonlinear', 'k_users_random') AS nonlinear_keeps_means;
SELECT raid_try($$SELECT raid.synthetic('x_i', 'x_u', signal_kind => 'cubic')$$);
SELECT raid_try($$SELECT raid.synthetic('x_i', 'x_u', signal_kind => NULL)$$);
DROP TABLE k_inter_mean, k_users_mean, k_inter_covariance, k_users_covariance, k_inter_nonlinear, k_users_nonlinear, k_users_random;

DROP TABLE syn_inter2, syn_users2, syn_inter3, syn_users3;
DROP SCHEMA synth CASCADE;
