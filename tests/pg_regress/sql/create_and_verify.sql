-- Create a key, verify it, look at its shape. The key is kept in a psql
-- variable and never printed.
SELECT id AS key_id, key, prefix, created_at, expires_at
  FROM api_keys.apikey_create('acme', 'ci deploy', '{read:projects}') \gset

-- The key's format: brand, environment, body; the prefix starts it.
SELECT :'key' ~ '^ak_live_[A-Za-z0-9]{49}$' AS well_formed,
       length(:'key') <= 128 AS short_enough,
       :'prefix' = left(:'key', length('ak_live_') + 8) AS prefix_starts_key;

-- Verify: every field of the answer.
SELECT valid, code, key_id = :'key_id'::uuid AS same_id, owner, name, scopes, environment, metadata, expires_at
  FROM api_keys.apikey_verify(:'key');

-- Composite access works as a column, too.
SELECT (api_keys.apikey_verify(:'key')).valid;

-- A made-up key of the right shape fails its checksum: malformed, no lookup.
SELECT code FROM api_keys.apikey_verify('ak_live_' || repeat('a', 49));

-- One changed character in the body: malformed.
SELECT code FROM api_keys.apikey_verify(
  left(:'key', 20) || CASE WHEN substr(:'key', 21, 1) = 'x' THEN 'y' ELSE 'x' END || substr(:'key', 22));

-- A well-formed key that was never issued: not_found (made with the same
-- generator, then its row removed).
BEGIN;
SELECT id AS gone_id, key AS gone_key FROM api_keys.apikey_create('acme', 'gone') \gset
DELETE FROM api_keys.keys WHERE id = :'gone_id';
SELECT valid, code, key_id, owner FROM api_keys.apikey_verify(:'gone_key');
ROLLBACK;

-- The test environment and metadata are kept.
SELECT key AS test_key FROM api_keys.apikey_create('acme', 'sandbox', environment => 'test',
                                                   metadata => '{"team": "infra"}') \gset
SELECT :'test_key' ~ '^ak_test_' AS test_brand, environment, metadata
  FROM api_keys.apikey_verify(:'test_key');

-- A key with an expiry in the future is valid; after it passes, expired.
SELECT key AS soon_key, id AS soon_id
  FROM api_keys.apikey_create('acme', 'short lived', expires_at => now() + interval '1 hour') \gset
SELECT code FROM api_keys.apikey_verify(:'soon_key');
UPDATE api_keys.keys SET expires_at = now() - interval '1 second' WHERE id = :'soon_id';
SELECT valid, code, owner FROM api_keys.apikey_verify(:'soon_key');

-- A key keeps working after the brand changes; new keys carry the new brand.
SET api_keys.brand = 'acme';
SELECT key AS branded_key FROM api_keys.apikey_create('acme', 'branded') \gset
SELECT :'branded_key' ~ '^acme_live_' AS new_brand,
       (api_keys.apikey_verify(:'branded_key')).code AS new_key,
       (api_keys.apikey_verify(:'key')).code AS old_key;
RESET api_keys.brand;

-- A bad brand is refused when set.
SET api_keys.brand = 'Bad_Brand';

-- The stored row never contains the key or its secret part.
SELECT count(*) AS rows_holding_secret
  FROM api_keys.keys k
 WHERE position(substr(:'key', 9) IN k::text) > 0
    OR position(convert_to(substr(:'key', 9), 'UTF8') IN k.digest) > 0;
-- ... what is stored is the SHA-256 of the whole key.
SELECT digest = sha256(convert_to(:'key', 'UTF8')) AS digest_is_sha256
  FROM api_keys.keys WHERE id = :'key_id';
