\set ECHO none
-- The regress suites' shared fixtures, included at the top of each suite so that
-- every suite runs alone (make installcheck REGRESS=audit) as well as in order:
-- the extension and raid_try(statement), which returns 'no error' or the
-- statement's SQLSTATE, message and hint, so error cases sit beside good ones.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS raid;
CREATE OR REPLACE FUNCTION raid_try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || SQLERRM || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END $$;
RESET client_min_messages;
\set ECHO all
