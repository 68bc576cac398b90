-- apikey_report_leaked revokes the real keys among those presented, at
-- once, records why, and answers per key; possession is the proof.
SELECT id AS a_id, key AS a FROM api_keys.apikey_create('leaky', 'a') \gset
SELECT id AS b_id, key AS b FROM api_keys.apikey_create('leaky', 'b') \gset
SELECT key AS c FROM api_keys.apikey_create('leaky', 'c') \gset
SELECT api_keys.apikey_revoke(:'b_id');
SELECT api_keys.apikey_import('leaky', 'imported', sha256('legacy-token-0123456789abcdef')) AS i_id \gset
SELECT item, label, key_id = :'a_id' AS is_a, owner, length(prefix)
  FROM api_keys.apikey_report_leaked(ARRAY[:'a', :'b', 'ak_live_' || repeat('a', 49), NULL,
                                           'legacy-token-0123456789abcdef', 'nothing-of-ours-0123456789', :'a'],
                                     'github', 'https://github.com/octo/repo/blob/main/.env');
SELECT code FROM api_keys.apikey_verify(:'a');
SELECT code FROM api_keys.apikey_verify('legacy-token-0123456789abcdef');
SELECT code FROM api_keys.apikey_verify(:'c');
-- The reason, source and URL are in the audit log; the key is not.
SELECT action, changes FROM api_keys.events WHERE key_id IN (:'a_id', :'i_id') AND action = 'revoked' ORDER BY seq;
SELECT count(*) AS leaks_in_log FROM api_keys.events WHERE changes::text LIKE '%' || substr(:'a', 9) || '%';
-- Idempotent: a second report answers already_revoked and records nothing.
SELECT item, label FROM api_keys.apikey_report_leaked(ARRAY[:'a'], 'github');
SELECT count(*) FROM api_keys.events WHERE key_id = :'a_id' AND action = 'revoked';
-- Bad input: a clear 22023, and nothing revoked.
SELECT error_of($$SELECT * FROM api_keys.apikey_report_leaked(NULL, 'github')$$);
SELECT error_of($$SELECT * FROM api_keys.apikey_report_leaked('{}', NULL)$$);
SELECT error_of(format($$SELECT * FROM api_keys.apikey_report_leaked(array_fill(%L::text, ARRAY[10001]), 'github')$$, :'c'));
SELECT code FROM api_keys.apikey_verify(:'c');
SELECT count(*) FROM api_keys.apikey_report_leaked(array_fill('x'::text, ARRAY[10000]), 'bulk');
SELECT count(*) FROM api_keys.apikey_report_leaked('{}', 'nothing');
-- A key in its rotation grace is revoked at once; its successor keeps working.
SELECT id AS r_id, key AS r FROM api_keys.apikey_create('leaky', 'rotated') \gset
SELECT key AS r2 FROM api_keys.apikey_rotate(:'r_id', '1 day') \gset
SELECT label FROM api_keys.apikey_report_leaked(ARRAY[:'r'], 'support ticket');
SELECT code FROM api_keys.apikey_verify(:'r');
SELECT code FROM api_keys.apikey_verify(:'r2');
-- api_keys_admin only by default; a receiver's role can be granted just this.
SET ROLE regress_app;
SELECT error_of(format($$SELECT * FROM api_keys.apikey_report_leaked(ARRAY[%L], 'x')$$, :'c'));
RESET ROLE;
GRANT EXECUTE ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) TO regress_app;
SET ROLE regress_app;
SELECT label FROM api_keys.apikey_report_leaked(ARRAY[:'c'], 'receiver');
SELECT error_of($$SELECT * FROM api_keys.apikey_revoke(gen_random_uuid())$$);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) FROM regress_app;
