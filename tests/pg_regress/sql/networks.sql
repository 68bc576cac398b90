-- Allowed networks: IPv4 and IPv6, matched independently; fail closed.
SELECT key AS key FROM api_keys.apikey_create('netter', 'office only',
       allowed_cidrs => '{10.0.0.0/8, 192.168.1.7, 2001:db8::/32}') \gset
SELECT ip, (api_keys.apikey_verify(:'key', NULL, ip::inet)).code
  FROM unnest(ARRAY['10.1.2.3', '11.0.0.1', '192.168.1.7', '192.168.1.8',
                    '2001:db8::1', '2001:db9::1', '::ffff:10.1.2.3']) AS ip;
-- No client address given: fails closed.
SELECT code FROM api_keys.apikey_verify(:'key');
-- Networks are checked before scopes.
SELECT code FROM api_keys.apikey_verify(:'key', 'read:x', '11.0.0.1');
SELECT code FROM api_keys.apikey_verify(:'key', 'read:x', '10.0.0.1');
-- Stored normalized.
SELECT allowed_cidrs FROM api_keys.apikey_list('netter');
-- A wildcard is accepted with a WARNING per family.
SELECT count(*) FROM api_keys.apikey_create('netter', 'anywhere', allowed_cidrs => '{0.0.0.0/0, ::/0}');
-- '{}' means any address, like NULL.
SELECT key AS open_key FROM api_keys.apikey_create('netter', 'open', allowed_cidrs => '{}') \gset
SELECT code FROM api_keys.apikey_verify(:'open_key');
-- Invalid networks are refused with 22023, naming them.
SELECT error_of($$SELECT api_keys.apikey_create('netter', 'bad', allowed_cidrs => '{10.1.2.3/8}')$$);
SELECT error_of($$SELECT api_keys.apikey_create('netter', 'bad', allowed_cidrs => '{10.0.0.0/33}')$$);
SELECT error_of($$SELECT api_keys.apikey_create('netter', 'bad', allowed_cidrs => '{banana}')$$);
SELECT error_of($$SELECT api_keys.apikey_create('netter', 'bad', allowed_cidrs => '{NULL}')$$);
