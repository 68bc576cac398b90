-- The main job of api_keys, step by step.
CREATE EXTENSION IF NOT EXISTS api_keys;

-- 1. Issue a key. The full key is shown this once and never stored.
SELECT id AS key_id, key, prefix
  FROM api_keys.apikey_create('acme', 'deploy bot', '{read:projects/*, write:projects/42}') \gset
\echo issued key :prefix... (id :key_id)

-- 2. Verify it, with and without a required scope.
SELECT valid, code, owner, name, scopes FROM api_keys.apikey_verify(:'key');
SELECT valid, code FROM api_keys.apikey_verify(:'key', 'read:projects/7');
SELECT valid, code FROM api_keys.apikey_verify(:'key', 'write:projects/7');

-- 3. A mistyped key is refused without touching the table.
SELECT valid, code FROM api_keys.apikey_verify(:'key' || 'x');

-- 4. List the owner's keys: never the key itself.
SELECT name, prefix, scopes, status, created_at FROM api_keys.apikey_list('acme');

-- 5. Revoke it, and verify again.
SELECT api_keys.apikey_revoke(:'key_id') AS revoked;
SELECT valid, code, owner FROM api_keys.apikey_verify(:'key');
