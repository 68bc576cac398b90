-- Revocation is permanent and takes effect at commit.
SELECT id AS key_id, key FROM api_keys.apikey_create('revoker', 'to revoke') \gset
SELECT code FROM api_keys.apikey_verify(:'key');

-- Revoked but rolled back: still valid.
BEGIN;
SELECT api_keys.apikey_revoke(:'key_id') AS revoked;
SELECT code FROM api_keys.apikey_verify(:'key');
ROLLBACK;
SELECT code FROM api_keys.apikey_verify(:'key');

-- Revoked for real.
SELECT api_keys.apikey_revoke(:'key_id') AS revoked;
-- A revoked key tells its holder whose it was, nothing more (no name,
-- scopes, environment, metadata or expiry).
SELECT valid, code, owner, name, scopes, metadata FROM api_keys.apikey_verify(:'key');
-- Again: false, it was already revoked. Unknown: false.
SELECT api_keys.apikey_revoke(:'key_id') AS revoked_again;
SELECT api_keys.apikey_revoke('00000000-0000-0000-0000-000000000000') AS unknown;
-- Revoked wins over expired.
UPDATE api_keys.keys SET expires_at = now() - interval '1 day' WHERE id = :'key_id';
SELECT code FROM api_keys.apikey_verify(:'key');
