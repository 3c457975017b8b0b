-- raid.recommend: top-k from the stored embeddings, training items excluded.
\i sql/include/fixtures.sql
\i sql/include/syn_data.sql
\i sql/include/model_m1.sql
SELECT count(*) AS n, count(DISTINCT item_id) AS distinct_items
FROM raid.recommend('m1', 1, 10);

-- best first, none of the user's training items
SELECT bool_and(score >= next_score) AS ordered
FROM (SELECT score, lead(score, 1, '-Infinity') OVER (ORDER BY ord) AS next_score
      FROM raid.recommend('m1', 1, 10) WITH ORDINALITY AS r(item_id, score, ord)) s;
SELECT count(*) AS trained_items_recommended
FROM raid.recommend('m1', 1, 50) r
JOIN syn_inter i ON i.user_id = 1 AND i.item_id = r.item_id
WHERE i.item_id IN (SELECT unnest(item_ids) FROM raid.user_items JOIN raid.models USING (model_id)
                    WHERE name = 'm1' AND user_id = 1);

-- the scores are the dot products of the stored embeddings
SELECT bool_and(abs(r.score - d.dot) < 1e-4) AS scores_match
FROM raid.recommend('m1', 2, 5) r
JOIN (SELECT ie.item_id, sum(u * v) AS dot
      FROM raid.models m
      JOIN raid.user_embeddings ue ON ue.model_id = m.model_id AND ue.user_id = 2
      JOIN raid.item_embeddings ie ON ie.model_id = m.model_id,
      LATERAL unnest(ue.embedding, ie.embedding) AS x(u, v)
      WHERE m.name = 'm1' GROUP BY ie.item_id) d USING (item_id);

-- k larger than the eligible items returns all of them
SELECT count(*) = (SELECT items FROM raid.models WHERE name = 'm1')
               - (SELECT cardinality(item_ids) FROM raid.user_items JOIN raid.models USING (model_id)
                  WHERE name = 'm1' AND user_id = 3) AS all_eligible
FROM raid.recommend('m1', 3, 100000);

-- the held-out item can be recommended (it was not trained on)
SELECT count(*) AS heldout_excluded_wrongly
FROM raid.models m, raid.user_items ui
WHERE m.name = 'm1' AND ui.model_id = m.model_id AND ui.user_id = 4
  AND (SELECT count(*) FROM syn_inter WHERE user_id = 4) <> cardinality(ui.item_ids) + 1;

-- default k is 10; NULL arguments give no rows
SELECT count(*) FROM raid.recommend('m1', 5);
SELECT count(*) FROM raid.recommend('m1', NULL, 10);

-- exact => true (no index here: the same rows)
SELECT count(*) AS differing FROM
  (SELECT * FROM raid.recommend('m1', 6, 10) EXCEPT SELECT * FROM raid.recommend('m1', 6, 10, exact => true)) d;
SELECT count(*) FROM raid.recommend('m1', 6, 10, exact => NULL);

-- recommend_all: every user's rows are raid.recommend's, ranked 1..k
SELECT count(DISTINCT user_id) = (SELECT users FROM raid.models WHERE name = 'm1') AS every_user,
       count(*) AS rows, min(rank) AS first_rank, max(rank) AS last_rank
FROM raid.recommend_all('m1', 5);
-- (the same items in the same order; scores to rounding: one matrix product
-- for a block of users sums in another order than one user's)
SELECT count(*) FILTER (WHERE r.item_id IS DISTINCT FROM a.item_id) AS differing,
       count(*) FILTER (WHERE abs(r.score - a.score) > 1e-5) AS scores_differing
FROM raid.recommend_all('m1', 5) a
FULL JOIN (SELECT u.user_id, r.rank::int, r.item_id, r.score
           FROM raid.user_embeddings u JOIN raid.models m USING (model_id),
                LATERAL raid.recommend('m1', u.user_id, 5) WITH ORDINALITY AS r(item_id, score, rank)
           WHERE m.name = 'm1') r USING (user_id, rank);
-- k beyond the items: each user gets every item it did not train on
SELECT bool_and(n = (SELECT items FROM raid.models WHERE name = 'm1') - cardinality(ui.item_ids)) AS all_eligible
FROM (SELECT user_id, count(*) AS n FROM raid.recommend_all('m1', 100000) GROUP BY user_id) a
JOIN raid.user_items ui USING (user_id)
JOIN raid.models m ON m.model_id = ui.model_id AND m.name = 'm1';

-- similar_items: the cosine of the stored embeddings, the item itself left out
SELECT count(*) AS n, bool_and(similar_item_id <> 3) AS not_itself,
       bool_and(similarity <= 1.0001) AS at_most_one
FROM raid.similar_items('m1', 3, 5);
WITH cos AS (
  SELECT b.item_id, sum(x * y) / sqrt(sum(x * x) * sum(y * y)) AS cos
  FROM raid.item_embeddings a JOIN raid.models m ON m.model_id = a.model_id AND m.name = 'm1'
  JOIN raid.item_embeddings b ON b.model_id = a.model_id AND b.item_id <> a.item_id,
  LATERAL unnest(a.embedding, b.embedding) AS v(x, y)
  WHERE a.item_id = 3 GROUP BY b.item_id),
s AS (SELECT * FROM raid.similar_items('m1', 3, 5))
SELECT (SELECT bool_and(abs(s.similarity - c.cos) < 1e-5) FROM s JOIN cos c ON c.item_id = s.similar_item_id)
         AS cosines_match,
       (SELECT count(*) FROM cos WHERE item_id NOT IN (SELECT similar_item_id FROM s)
          AND cos > (SELECT min(similarity) FROM s) + 1e-5) AS better_left_out;

-- fold-in: a new user from its items, then recommended like the others
SELECT users FROM raid.train('m_fold', 'syn_inter', options => '{"dim": 4, "epochs": 2, "threads": 1}');
SELECT model, users, new_users, skipped_users, unknown_items
FROM raid.fold_in_user('m_fold', 99999, '{1, 2, 3, 3, 123456789}');
SELECT count(*) AS n, bool_and(item_id NOT IN (1, 2, 3)) AS own_items_left_out
FROM raid.recommend('m_fold', 99999, 10);
SELECT item_ids FROM raid.user_items JOIN raid.models USING (model_id) WHERE name = 'm_fold' AND user_id = 99999;
-- a table: users 1 and 2 again (replaced), 99998 new, 99997 with no known item (skipped)
CREATE TEMP TABLE fold_src (u int, i bigint);
INSERT INTO fold_src VALUES (1, 5), (1, 6), (2, 7), (99998, 8), (99998, NULL), (99997, 123456789);
SELECT model, users, new_users, skipped_users, unknown_items
FROM raid.fold_in('m_fold', 'fold_src', 'u', 'i', '{"epochs": 5}');
SELECT users = (SELECT count(*) FROM raid.user_embeddings JOIN raid.models USING (model_id) WHERE name = 'm_fold')
       AS users_counted
FROM raid.models WHERE name = 'm_fold';
SELECT raid.drop_model('m_fold');
-- a defended model: folded-in users are not protected yet, and raid says so
SELECT users FROM raid.train('m_fold_d', 'syn_inter', attributes => 'syn_users', attribute_col => 'attribute',
                             defense => 'center', options => '{"dim": 4, "epochs": 2, "threads": 1}');
SELECT users FROM raid.fold_in_user('m_fold_d', 99999, '{1, 2}');
SELECT raid.drop_model('m_fold_d');

-- raid.item_cache 0: the items are read on every call, with the same results
CREATE TEMP TABLE cached AS
  SELECT 'rec' AS f, item_id, score FROM raid.recommend('m1', 7, 5)
  UNION ALL SELECT 'sim', similar_item_id, similarity FROM raid.similar_items('m1', 7, 5)
  UNION ALL SELECT 'all', item_id, score FROM raid.recommend_all('m1', 3) WHERE user_id = 8;
SET raid.item_cache = 0;
SELECT count(*) AS differing FROM (
  (SELECT 'rec' AS f, item_id, score FROM raid.recommend('m1', 7, 5)
   UNION ALL SELECT 'sim', similar_item_id, similarity FROM raid.similar_items('m1', 7, 5)
   UNION ALL SELECT 'all', item_id, score FROM raid.recommend_all('m1', 3) WHERE user_id = 8)
  EXCEPT SELECT * FROM cached) d;
RESET raid.item_cache;
