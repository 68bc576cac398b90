-- Keys made elsewhere are imported by the SHA-256 of the whole key and then
-- verify like native keys; look-alikes of the native format stay malformed.
SELECT api_keys.apikey_import('importer', 'legacy', sha256('sk_live_4eC39HqLyjWDarjtT1zdp7dc'),
         scopes => '{read}', prefix => 'sk_live_4eC3',
         created_at => '2020-01-02 03:04:05+00') AS legacy_id \gset
SELECT valid, code, owner, name, scopes, environment FROM api_keys.apikey_verify('sk_live_4eC39HqLyjWDarjtT1zdp7dc');
SELECT code FROM api_keys.apikey_verify('sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'read:projects/1');
SELECT code FROM api_keys.apikey_verify('sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'write:projects/1');
SELECT code FROM api_keys.apikey_verify('sk_live_4eC39HqLyjWDarjtT1zdp7dX');
-- apikey_list says which keys are imported, with the prefix given.
SELECT name, prefix, origin, created_at FROM api_keys.apikey_list('importer');
-- What stays malformed without a lookup: our brand, our body shape with a
-- bad checksum (any brand), fewer than 16 letters or digits, spaces,
-- control characters, non-ASCII, more than 1024 bytes.
SELECT left(s, 40) AS presented, length(s), (api_keys.apikey_verify(s)).code FROM unnest(ARRAY[
  'ak_live_typo', 'ak_anything_4eC39HqLyjWDarjtT1zdp7dc', 'zz_live_' || repeat('a', 49),
  'AK_live_' || repeat('a', 49), 'short-key-123', 'sk live 4eC39HqLyjWDarjtT1zdp7dc',
  'sk_live_4eC39HqLyjWDarjtT1zdp7dcé', repeat('x', 1025)]) s;
-- And what is looked up: anything else of 16 letters or digits or more.
SELECT (api_keys.apikey_verify(s)).code FROM unnest(ARRAY[
  'ghp_16C7e42F292c6912E7710c838347Ae178B4a', repeat('x', 1024), '3f2504e0-4f89-11d3-9a0c-0305e82c3301']) s;

-- The arguments are checked like apikey_create's, and more.
SELECT error_of($$SELECT api_keys.apikey_import('importer', 'x', NULL)$$);
SELECT error_of($$SELECT api_keys.apikey_import('importer', 'x', '\x0102')$$);
SELECT error_of($$SELECT api_keys.apikey_import('', 'x', sha256('k'))$$);
SELECT error_of($$SELECT api_keys.apikey_import('importer', 'x', sha256('k'), scopes => '{"bad scope"}')$$);
SELECT error_of($$SELECT api_keys.apikey_import('importer', 'x', sha256('whole-key-1234567890'), prefix => 'whole-key-1234567890')$$);
SELECT error_of($$SELECT api_keys.apikey_import('importer', 'x', sha256('k'), prefix => 'has space')$$);
SELECT error_of($$SELECT api_keys.apikey_import('importer', 'x', sha256('k'), created_at => '2999-01-01+00')$$);
SELECT error_of($$SELECT api_keys.apikey_import('importer', 'x', sha256('k'), expires_at => '2001-01-01+00')$$);
-- A quota, as apikey_create takes it (the period defaults to month); the
-- imported key's verifications count against it.
SELECT api_keys.apikey_import('metered', 'legacy metered', sha256('legacy-metered-key-0123456789'),
         quota => 2, quota_period => 'day') IS NOT NULL AS imported;
SELECT code, remaining FROM api_keys.apikey_verify('legacy-metered-key-0123456789');
SELECT code, remaining FROM api_keys.apikey_verify('legacy-metered-key-0123456789');
SELECT code, remaining, retry_after > 0 AS retry_later FROM api_keys.apikey_verify('legacy-metered-key-0123456789');
SELECT quota, quota_period FROM api_keys.apikey_list('metered');
SELECT api_keys.apikey_import_many(ARRAY[api_keys.imported_key('metered', 'bulk metered',
         sha256('legacy-metered-key-abcdefghij'), quota => 5)]);
SELECT name, quota, quota_period FROM api_keys.apikey_list('metered') ORDER BY name;
SELECT error_of($$SELECT api_keys.apikey_import('importer', 'x', sha256('k'), quota => -1)$$);
SELECT error_of($$SELECT api_keys.apikey_import('importer', 'x', sha256('k'), quota => 5, quota_period => 'week')$$);
-- A digest is imported once.
SELECT error_of($$SELECT api_keys.apikey_import('someone', 'again', sha256('sk_live_4eC39HqLyjWDarjtT1zdp7dc'))$$);

-- In bulk: an array the caller's own query fills, all or nothing.
CREATE TEMP TABLE legacy (owner text, label text, key text);
INSERT INTO legacy SELECT 'bulk' || (g % 3), 'key ' || g, 'legacy-' || md5(g::text) FROM generate_series(1, 500) g;
SELECT api_keys.apikey_import_many(array_agg(api_keys.imported_key(owner, label, sha256(convert_to(key, 'UTF8')),
                                                                   prefix => left(key, 12))))
  FROM legacy;
SELECT count(*) FILTER (WHERE v.code = 'valid') AS valid, count(*) AS presented
  FROM legacy l, LATERAL api_keys.apikey_verify(l.key) v;
SELECT count(*) AS events FROM api_keys.events WHERE action = 'imported';
-- A bad element names its place, and nothing is stored.
SELECT error_of($$SELECT api_keys.apikey_import_many(ARRAY[
    api_keys.imported_key('o', 'n', sha256('fresh-key-number-one')),
    api_keys.imported_key('o', 'n', '\x00')])$$);
SELECT error_of($$SELECT api_keys.apikey_import_many(ARRAY[
    api_keys.imported_key('o', 'n', sha256('fresh-key-number-one')),
    api_keys.imported_key('o', 'n', sha256('fresh-key-number-one'))])$$);
SELECT error_of($$SELECT api_keys.apikey_import_many(ARRAY[
    api_keys.imported_key('o', 'n', sha256('fresh-key-number-one')),
    api_keys.imported_key('o', 'n', sha256(('legacy-' || md5('7'))::bytea))])$$);
SELECT error_of($$SELECT api_keys.apikey_import_many(ARRAY[api_keys.imported_key('o', 'n', sha256('a')), NULL])$$);
SELECT error_of($$SELECT api_keys.apikey_import_many(NULL)$$);
SELECT api_keys.apikey_import_many('{}');
SELECT count(*) FROM api_keys.keys WHERE digest = sha256('fresh-key-number-one');
-- NULL fields take the defaults; metadata too deep is a 22023.
SELECT api_keys.apikey_import_many(ARRAY[ROW('o', 'defaults', sha256('key-with-defaults-0123'),
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::api_keys.imported_key]);
SELECT scopes, environment, metadata, prefix, origin FROM api_keys.apikey_list('o');
SELECT error_of(format($$SELECT api_keys.apikey_import_many(ARRAY[api_keys.imported_key('o', 'deep', sha256('k'),
         metadata => %L)])$$, '{"a":' || repeat('[', 200) || repeat(']', 200) || '}'));

-- Only api_keys_admin may import.
SET ROLE regress_app;
SELECT error_of($$SELECT api_keys.apikey_import('o', 'n', sha256('k'))$$);
SELECT error_of($$SELECT api_keys.apikey_import_many('{}')$$);
RESET ROLE;

-- Rotating an imported key makes a native key, with the same attributes.
SELECT new_key_id, key AS native FROM api_keys.apikey_rotate(:'legacy_id') \gset
SELECT code, owner, scopes FROM api_keys.apikey_verify(:'native');
SELECT name, origin, prefix = left(:'native', 16) AS native_prefix, replaced_by_key_id IS NULL AS current
  FROM api_keys.apikey_list('importer', 'all') ORDER BY created_at;
