-- Privileges, applied last in the install script.
--
-- PUBLIC may use the schema and call the checking functions (verification,
-- the request context, the PostgREST hook): policies and request hooks run as
-- ordinary roles; and apikey_find_keys and api_keys.imported_key(), which read
-- nothing but their arguments. The key table is closed to everyone but the extension's
-- owner; key management is granted to api_keys_admin only.

GRANT USAGE ON SCHEMA api_keys TO PUBLIC;
REVOKE ALL ON TABLE api_keys.keys FROM PUBLIC;
REVOKE ALL ON TABLE api_keys.events FROM PUBLIC;
GRANT SELECT ON TABLE api_keys.events TO api_keys_admin;
REVOKE ALL ON FUNCTION api_keys.events_append_only() FROM PUBLIC;

REVOKE ALL ON FUNCTION api_keys.apikey_create(text, text, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_revoke(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_rotate(uuid, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_update(uuid, text, text[], text[], timestamptz, jsonb, interval, text, integer, interval, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_list(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_due_for_rotation(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_expiring(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_announce_due(interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_history(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_import(text, text, bytea, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, bigint, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_import_many(api_keys.imported_key[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION api_keys.apikey_create(text, text, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, bigint, text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_revoke(uuid) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_rotate(uuid, interval) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_update(uuid, text, text[], text[], timestamptz, jsonb, interval, text, integer, interval, bigint, text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_list(text, text, text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_due_for_rotation(interval) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_expiring(interval) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_announce_due(interval, interval) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_history(text, timestamptz) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_import(text, text, bytea, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, bigint, text, text, timestamptz) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_import_many(api_keys.imported_key[]) TO api_keys_admin;
-- A secret-scanning receiver's role can be given this one alone
-- (docs/leaked-keys.md): possession of a key is the proof of a leak.
GRANT EXECUTE ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) TO api_keys_admin;

-- Usage counts: administrators only.
REVOKE ALL ON TABLE api_keys.usage FROM PUBLIC;
GRANT SELECT ON TABLE api_keys.usage TO api_keys_admin;
REVOKE ALL ON FUNCTION api_keys.apikey_usage(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.apikey_usage(text, date, date) TO api_keys_admin;

-- Owner limits and quotas: administrators only.
REVOKE ALL ON FUNCTION api_keys.apikey_set_owner_limits(text, integer, interval, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_owner_limits(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_quotas(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_owner_usage(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.apikey_set_owner_limits(text, integer, interval, bigint, text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_owner_limits(text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_quotas(text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_owner_usage(text, date, date) TO api_keys_admin;

-- Owner limits: administrators read them; apikey_set_owner_limits changes them.
REVOKE ALL ON TABLE api_keys.owner_limits FROM PUBLIC;
GRANT SELECT ON TABLE api_keys.owner_limits TO api_keys_admin;

-- The background workers store usage counts and last-used times as
-- api_keys_worker, which may read key ids and write nothing but
-- last_used_at and the usage table.
GRANT SELECT (id, last_used_at), UPDATE (last_used_at) ON TABLE api_keys.keys TO api_keys_worker;
GRANT SELECT, INSERT, UPDATE ON TABLE api_keys.usage TO api_keys_worker;

-- PostgREST routes: administrators manage them; the hook reads them as the
-- extension's owner (postgrest_required_scope is SECURITY DEFINER).
REVOKE ALL ON TABLE api_keys.postgrest_routes FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE api_keys.postgrest_routes TO api_keys_admin;
REVOKE ALL ON FUNCTION api_keys.postgrest_routes_check() FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.postgrest_route_check(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.postgrest_route_check(text, text, text) TO api_keys_admin;
