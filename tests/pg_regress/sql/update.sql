-- apikey_update: NULL leaves a field; '{}' clears networks, 'infinity' the expiry.
SELECT id AS key_id, key FROM api_keys.apikey_create('updater', 'before',
       '{read}', now() + interval '1 day', '{10.0.0.0/8}', metadata => '{"v": 1}') \gset
SELECT api_keys.apikey_update(:'key_id', name => 'after') AS changed;
SELECT name, scopes, allowed_cidrs, metadata, expires_at IS NOT NULL AS has_expiry
  FROM api_keys.apikey_list('updater');
-- Effective for the very next verification.
SELECT code FROM api_keys.apikey_verify(:'key', 'write:x', '10.0.0.1');
SELECT api_keys.apikey_update(:'key_id', scopes => '{write}');
SELECT code FROM api_keys.apikey_verify(:'key', 'write:x', '10.0.0.1');
SELECT code FROM api_keys.apikey_verify(:'key', 'write:x', '172.16.0.1');
SELECT api_keys.apikey_update(:'key_id', allowed_cidrs => '{}', expires_at => 'infinity',
                              metadata => '{"v": 2}');
SELECT code FROM api_keys.apikey_verify(:'key', 'write:x', '172.16.0.1');
SELECT name, scopes, allowed_cidrs, metadata, expires_at FROM api_keys.apikey_list('updater');
-- Unknown key: false. Bad values: 22023.
SELECT api_keys.apikey_update('00000000-0000-0000-0000-000000000000', name => 'x') AS changed;
SELECT error_of(format('SELECT api_keys.apikey_update(%L, name => %L)', :'key_id', ''));
SELECT error_of(format('SELECT api_keys.apikey_update(%L, scopes => %L)', :'key_id', '{a//b}'));
SELECT error_of(format('SELECT api_keys.apikey_update(%L, expires_at => %L)', :'key_id', '2000-01-01'));
