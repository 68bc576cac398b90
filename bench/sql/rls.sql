-- What a PostgREST-style request does: authenticate, read the context, query under an RLS policy
-- (bench_docs: 100 rows, policy on apikey_current_owner() and apikey_has_scope()).
BEGIN;
SELECT api_keys.apikey_authenticate(:key, :ip::inet, :scope);
SELECT api_keys.apikey_current_key_id(), api_keys.apikey_current_owner(), api_keys.apikey_has_scope(:scope);
SELECT count(*) FROM bench_docs;
END;
