-- apikey_rotate: a new key with the same attributes; the old one works
-- through the grace period, then answers expired.
SELECT id AS old_id, key AS old_key FROM api_keys.apikey_create('rotator', 'svc',
       '{read}', now() + interval '30 days', '{10.0.0.0/8}', 'test', '{"team": "a"}') \gset
SELECT old_key_id = :'old_id'::uuid AS same_old, new_key_id AS new_id, key AS new_key, prefix,
       grace_expires_at > now() + interval '59 minutes' AS grace_ok
  FROM api_keys.apikey_rotate(:'old_id', '1 hour') \gset
SELECT :'same_old', :'grace_ok', :'new_key' ~ '^ak_test_' AS same_env, :'prefix' = left(:'new_key', 16) AS prefix_ok;
-- Both work during the grace period; the new one inherited everything.
SELECT (api_keys.apikey_verify(:'old_key', 'read:x', '10.0.0.1')).code AS old,
       (api_keys.apikey_verify(:'new_key', 'read:x', '10.0.0.1')).code AS new;
SELECT name, scopes, allowed_cidrs, environment, metadata, status,
       replaced_by_key_id = :'new_id'::uuid AS replaced, grace_expires_at IS NOT NULL AS in_grace,
       expires_at = (SELECT expires_at FROM api_keys.apikey_list('rotator', 'all') WHERE id = :'old_id') AS same_expiry
  FROM api_keys.apikey_list('rotator', 'all') ORDER BY created_at, replaced_by_key_id NULLS LAST;
-- After the grace period the old key is expired.
UPDATE api_keys.keys SET grace_expires_at = now() - interval '1 second' WHERE id = :'old_id';
SELECT (api_keys.apikey_verify(:'old_key', NULL, '10.0.0.1')).code AS old,
       (api_keys.apikey_verify(:'new_key', NULL, '10.0.0.1')).code AS new;
-- Rotating it again: 55000. Unknown key: P0002. Negative grace: 22023.
SELECT error_of(format('SELECT api_keys.apikey_rotate(%L)', :'old_id'));
SELECT error_of($$SELECT api_keys.apikey_rotate('00000000-0000-0000-0000-000000000000')$$);
SELECT error_of(format('SELECT api_keys.apikey_rotate(%L, %L)', :'new_id', '-1 minute'));
-- Grace 0: the old key stops at once, the new one works at once.
SELECT id AS z_id, key AS z_key FROM api_keys.apikey_create('rotator', 'zero') \gset
SELECT key AS z_new FROM api_keys.apikey_rotate(:'z_id') \gset
SELECT (api_keys.apikey_verify(:'z_key')).code AS old, (api_keys.apikey_verify(:'z_new')).code AS new;
-- Revoking a key in its grace period ends the grace at once.
SELECT id AS r_id, key AS r_key FROM api_keys.apikey_create('rotator', 'revoked in grace') \gset
SELECT count(*) FROM api_keys.apikey_rotate(:'r_id', '1 day');
SELECT api_keys.apikey_revoke(:'r_id');
SELECT (api_keys.apikey_verify(:'r_key')).code,
       (SELECT grace_expires_at <= now() FROM api_keys.apikey_list('rotator', 'all') WHERE id = :'r_id') AS grace_ended;
-- A revoked or expired key cannot be rotated.
SELECT error_of(format('SELECT api_keys.apikey_rotate(%L)', :'r_id'));
SELECT id AS e_id FROM api_keys.apikey_create('rotator', 'expired') \gset
UPDATE api_keys.keys SET expires_at = now() - interval '1 second' WHERE id = :'e_id';
SELECT error_of(format('SELECT api_keys.apikey_rotate(%L)', :'e_id'));
