-- The one set-up a user does.
CREATE EXTENSION api_keys;
SELECT extname, extversion IS NOT NULL AS has_version, extrelocatable
  FROM pg_extension WHERE extname = 'api_keys';
-- A plain role that may only verify, and an administrator.
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_app') THEN CREATE ROLE regress_app; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_admin') THEN CREATE ROLE regress_admin; END IF;
END $$;
GRANT api_keys_admin TO regress_admin;
-- error_of(sql): runs sql and shows the error it raises as SQLSTATE, message
-- and hint, so expected output shows the SQLSTATE the contract promises.
-- Key ids (random) in messages are shown as <id>.
CREATE FUNCTION public.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text; hint text;
BEGIN
  EXECUTE sql;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN regexp_replace(state || ': ' || msg || CASE WHEN hint <> '' THEN ' (HINT: ' || hint || ')' ELSE '' END,
                        '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END $$;
