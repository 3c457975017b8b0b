\set ECHO none
-- Fixture: model m1 on syn_inter (made by the train suite with the same options;
-- deterministic, so the same embeddings either way).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM raid.models WHERE name = 'm1') THEN
        PERFORM raid.train('m1', 'syn_inter', options => '{"dim": 8, "epochs": 10, "threads": 1, "seed": 3}');
    END IF;
END $$;
\set ECHO all
