-- PostgREST: the route table and the db-pre-request hooks. The work is done
-- in Rust (src/api/postgrest.rs); a refusal is raised here, as PostgREST
-- reads it: SQLSTATE PGRST with the error body as JSON in MESSAGE and
-- {"status": N, "headers": {...}} in DETAIL, the one way for a failed
-- request to carry headers (PostgREST drops response.headers on error).

-- Which scope a request needs, by method and path pattern (see
-- docs/postgrest.md#routes). Managed by api_keys_admin; read by the hook.
CREATE TABLE api_keys.postgrest_routes (
    method         text NOT NULL DEFAULT '*',   -- GET, HEAD, POST, PUT, PATCH, DELETE or *
    path           text NOT NULL,               -- /documents, /rpc/*, /report_*, /**, /
    required_scope text,                        -- NULL: any valid key
    PRIMARY KEY (method, path)
);
COMMENT ON TABLE api_keys.postgrest_routes IS
    'The scope each PostgREST route needs: method, path pattern, scope. Read by postgrest_pre_request().';

-- pg_dump keeps the routes: they are configuration.
SELECT pg_catalog.pg_extension_config_dump('api_keys.postgrest_routes', '');

-- Every row is checked (22023 naming the bad value); the method is
-- upper-cased.
CREATE FUNCTION api_keys.postgrest_routes_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.method := pg_catalog.upper(NEW.method);
    PERFORM api_keys.postgrest_route_check(NEW.method, NEW.path, NEW.required_scope);
    RETURN NEW;
END
$$;
CREATE TRIGGER postgrest_routes_check BEFORE INSERT OR UPDATE ON api_keys.postgrest_routes
    FOR EACH ROW EXECUTE FUNCTION api_keys.postgrest_routes_check();

-- For hooks of your own: authenticate the request requiring required_scope
-- (NULL: any valid key), and refuse it as PostgREST expects.
CREATE FUNCTION api_keys.postgrest_pre_request(required_scope text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    refusal record;
BEGIN
    SELECT * INTO refusal FROM api_keys.postgrest_check(required_scope);
    IF FOUND THEN
        RAISE SQLSTATE 'PGRST' USING MESSAGE = refusal.message, DETAIL = refusal.detail;
    END IF;
END
$$;
COMMENT ON FUNCTION api_keys.postgrest_pre_request(text) IS
    'Authenticates the PostgREST request requiring the given scope; refuses it with SQLSTATE PGRST (401, 403 or 429).';

-- PostgREST's db-pre-request hook: the scope comes from the route table.
CREATE FUNCTION api_keys.postgrest_pre_request() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM api_keys.postgrest_pre_request(api_keys.postgrest_required_scope());
END
$$;
COMMENT ON FUNCTION api_keys.postgrest_pre_request() IS
    'PostgREST db-pre-request: authenticates the x-api-key (or Authorization: Bearer) header with the scope of api_keys.postgrest_routes; refuses with SQLSTATE PGRST.';
