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
