-- apikey_list: an owner's keys by status, with a name search; never the key.
SELECT id AS a_id FROM api_keys.apikey_create('lister', 'Alpha service', '{read, write:docs/*}') \gset
SELECT id AS b_id FROM api_keys.apikey_create('lister', 'beta job') \gset
SELECT id AS c_id FROM api_keys.apikey_create('lister', 'Gamma ALPHA') \gset
SELECT id AS other_id FROM api_keys.apikey_create('someone else', 'alpha') \gset
SELECT api_keys.apikey_revoke(:'b_id');
UPDATE api_keys.keys SET expires_at = now() - interval '1 minute' WHERE id = :'c_id';

SELECT name, scopes, allowed_cidrs, environment, metadata, status,
       prefix ~ '^ak_live_[A-Za-z0-9]{8}$' AS prefix_ok,
       revoked_at IS NOT NULL AS revoked, last_used_at
  FROM api_keys.apikey_list('lister', 'all') ORDER BY name;
SELECT name FROM api_keys.apikey_list('lister') ORDER BY name;
SELECT name FROM api_keys.apikey_list('lister', 'active') ORDER BY name;
SELECT name FROM api_keys.apikey_list('lister', 'revoked') ORDER BY name;
SELECT name FROM api_keys.apikey_list('lister', 'expired') ORDER BY name;
SELECT name FROM api_keys.apikey_list('lister', 'all', 'alpha') ORDER BY name;
SELECT name FROM api_keys.apikey_list('lister', 'all', 'ALPHA S') ORDER BY name;
SELECT name FROM api_keys.apikey_list('lister', 'all', '%') ORDER BY name;
-- The result has no column holding a key or digest.
SELECT pg_get_function_result('api_keys.apikey_list(text, text, text)'::regprocedure) !~ '(key|digest) text'
       AS no_secret_column;
