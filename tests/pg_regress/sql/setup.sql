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
