\set ECHO none
-- Fixture: syn_inter and syn_users, the synthetic data of the suites (made by the
-- synthetic suite with the same call; deterministic, so the same rows either way).
DO $$
BEGIN
    IF to_regclass('public.syn_inter') IS NULL THEN
        PERFORM raid.synthetic('syn_inter', 'syn_users', n_users => 300, n_items => 120,
                               interactions_per_user => 20, classes => 2, seed => 7);
    END IF;
END $$;
\set ECHO all
