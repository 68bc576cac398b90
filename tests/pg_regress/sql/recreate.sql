-- Dropping and re-creating the extension in the same session: the cached
-- relation, index, attribute and type numbers and the kept plans are
-- forgotten, and verification works against the new objects.
SELECT key AS old_key FROM api_keys.apikey_create('recreate', 'before') \gset
SELECT code FROM api_keys.apikey_verify(:'old_key');
DROP EXTENSION api_keys CASCADE;
CREATE EXTENSION api_keys;
SELECT key AS new_key FROM api_keys.apikey_create('recreate', 'after') \gset
SELECT code FROM api_keys.apikey_verify(:'new_key');
SELECT code FROM api_keys.apikey_verify(:'old_key');
SELECT count(*) FROM api_keys.apikey_list('recreate', 'all');
