-- A plain role can verify but cannot read the table or manage keys.
SELECT key AS key, id AS key_id FROM api_keys.apikey_create('priv', 'for the app') \gset
SET ROLE regress_app;
SELECT code FROM api_keys.apikey_verify(:'key');
SELECT count(*) FROM api_keys.keys;
SELECT * FROM api_keys.apikey_create('priv', 'sneaky');
SELECT api_keys.apikey_revoke(:'key_id');
SELECT * FROM api_keys.apikey_list('priv');
UPDATE api_keys.keys SET revoked_at = now();
RESET ROLE;

-- api_keys_admin manages keys without any access to the table.
SET ROLE regress_admin;
SELECT count(*) AS created FROM api_keys.apikey_create('priv', 'by admin');
SELECT name FROM api_keys.apikey_list('priv') ORDER BY name;
SELECT count(*) FROM api_keys.keys;
RESET ROLE;

-- Every SECURITY DEFINER function pins its search_path.
SELECT p.proname, p.proconfig
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'api_keys'
 WHERE p.prosecdef ORDER BY p.proname;
-- Who may execute what: PUBLIC only the checking functions (and the two that
-- read nothing but their arguments: apikey_find_keys, imported_key).
SELECT p.proname, has_function_privilege('regress_app', p.oid, 'EXECUTE') AS public_can,
       has_function_privilege('api_keys_admin', p.oid, 'EXECUTE') AS admin_can
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'api_keys'
 ORDER BY p.proname;
