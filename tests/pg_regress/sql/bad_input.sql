-- Bad input to apikey_verify answers malformed; it never raises.
SELECT code FROM api_keys.apikey_verify(NULL);
SELECT code FROM api_keys.apikey_verify('');
SELECT code FROM api_keys.apikey_verify(repeat('x', 1024 * 1024));
SELECT code FROM api_keys.apikey_verify('ak_live_' || repeat('é', 49));
SELECT code FROM api_keys.apikey_verify('ak_live_' || repeat('a', 200));
SELECT code FROM api_keys.apikey_verify('ak__' || repeat('a', 49));
SELECT code FROM api_keys.apikey_verify(' ak_live_' || repeat('a', 49));
SELECT code, key_id, owner, valid FROM api_keys.apikey_verify('Robert''); DROP TABLE api_keys.keys; --');

-- Management rejects bad arguments with 22023 and a message naming the value.
SELECT error_of($$SELECT api_keys.apikey_create('acme', '')$$);
SELECT error_of($$SELECT api_keys.apikey_create('acme', NULL)$$);
SELECT error_of($$SELECT api_keys.apikey_create('', 'x')$$);
SELECT error_of($$SELECT api_keys.apikey_create('acme', 'x', environment => 'Live!')$$);
SELECT error_of($$SELECT api_keys.apikey_create('acme', 'x', environment => 'averyveryverylongenv')$$);
SELECT error_of($$SELECT api_keys.apikey_create('acme', 'x', expires_at => '2001-02-03 04:05:06+00')$$);
SELECT error_of($$SELECT api_keys.apikey_create('acme', 'x', metadata => '[1, 2]')$$);
SELECT error_of($$SELECT api_keys.apikey_list('acme', 'bogus')$$);
