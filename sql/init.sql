-- Creating the extension: schema, tables, functions.
CREATE EXTENSION raid;
-- raid_try, as the other suites get it from sql/include/fixtures.sql: runs a
-- statement and returns its SQLSTATE, message and hint (or 'no error').
CREATE FUNCTION raid_try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    hint text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ': ' || SQLERRM || CASE WHEN hint <> '' THEN ' (hint: ' || hint || ')' ELSE '' END;
END $$;

SELECT extname, extversion FROM pg_extension WHERE extname = 'raid';

SELECT c.relname, c.relrowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'raid' AND c.relkind = 'r'
ORDER BY 1;

SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'raid'
ORDER BY 1;

-- GUCs
SHOW raid.max_threads;
SHOW raid.progress_notices;
SHOW "raid.verbose";
SET raid.no_such_setting = 1;
