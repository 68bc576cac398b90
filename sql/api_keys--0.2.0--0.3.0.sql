-- api_keys 0.2.0 -> 0.3.0.
--
-- The functions apikey_create, apikey_update and apikey_list now name the C
-- symbols that carry their SQL names (0.2.0's carried a version suffix);
-- signatures, defaults and privileges are unchanged (CREATE OR REPLACE
-- keeps the grants). apikey_revoke is no longer STRICT: a NULL key_id is a
-- 22023, as in every other function that takes one.

CREATE OR REPLACE FUNCTION "apikey_create"(
	"owner" TEXT, /* Option < & str > */
	"name" TEXT, /* Option < & str > */
	"scopes" TEXT[] DEFAULT '{}', /* :: std :: option :: Option < Vec < Option < String > > > */
	"expires_at" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"allowed_cidrs" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"environment" TEXT DEFAULT 'live', /* Option < & str > */
	"metadata" jsonb DEFAULT '{}', /* Option < JsonbText > */
	"rotation_interval" interval DEFAULT NULL, /* Option < Interval > */
	"webhook_url" TEXT DEFAULT NULL, /* Option < & str > */
	"rate_limit" INT DEFAULT NULL, /* Option < i32 > */
	"rate_window" interval DEFAULT NULL /* Option < Interval > */
) RETURNS TABLE (
	"id" uuid,  /* Uuid */
	"key" TEXT,  /* String */
	"prefix" TEXT,  /* String */
	"created_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"expires_at" timestamp with time zone  /* Option < TimestampWithTimeZone > */
)
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_create_wrapper';

CREATE OR REPLACE FUNCTION "apikey_update"(
	"key_id" uuid, /* Option < Uuid > */
	"name" TEXT DEFAULT NULL, /* Option < & str > */
	"scopes" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"allowed_cidrs" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"expires_at" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"metadata" jsonb DEFAULT NULL, /* Option < JsonbText > */
	"rotation_interval" interval DEFAULT NULL, /* Option < Interval > */
	"webhook_url" TEXT DEFAULT NULL, /* Option < & str > */
	"rate_limit" INT DEFAULT NULL, /* Option < i32 > */
	"rate_window" interval DEFAULT NULL /* Option < Interval > */
) RETURNS bool /* Result < bool, ErrorReport > */
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_update_wrapper';

CREATE OR REPLACE FUNCTION "apikey_list"(
	"owner" TEXT, /* Option < & str > */
	"status" TEXT DEFAULT 'active', /* Option < & str > */
	"search" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"id" uuid,  /* Uuid */
	"name" TEXT,  /* String */
	"prefix" TEXT,  /* String */
	"scopes" TEXT[],  /* Vec < String > */
	"allowed_cidrs" TEXT[],  /* :: std :: option :: Option < Vec < String > > */
	"environment" TEXT,  /* String */
	"metadata" jsonb,  /* JsonB */
	"status" TEXT,  /* String */
	"created_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"expires_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"last_used_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"revoked_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"replaced_by_key_id" uuid,  /* Option < Uuid > */
	"grace_expires_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"rotation_interval" interval,  /* Option < Interval > */
	"next_rotation_at" timestamp with time zone,  /* Option < TimestampWithTimeZone > */
	"webhook_url" TEXT,  /* Option < String > */
	"rate_limit" INT,  /* Option < i32 > */
	"rate_window" interval  /* Option < Interval > */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_list_wrapper';

ALTER FUNCTION api_keys.apikey_revoke(uuid) CALLED ON NULL INPUT;

-- PostgREST (issue 17, part 1): refusals the client receives (SQLSTATE
-- PGRST with the status and headers in DETAIL, replacing PT401 and PT429),
-- the RateLimit fields, and the route table of required scopes. The same
-- SQL as sql/install/postgrest.sql and grants.sql; postgrest_authenticate()
-- keeps its signature and symbol.

CREATE FUNCTION "postgrest_check"(
	"required_scope" TEXT /* Option < & str > */
) RETURNS TABLE (
	"status" INT,  /* i32 */
	"code" TEXT,  /* String */
	"message" TEXT,  /* String */
	"detail" TEXT  /* String */
)
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'postgrest_check_wrapper';

CREATE FUNCTION "postgrest_required_scope"(
	"method" TEXT DEFAULT current_setting('request.method', true), /* Option < & str > */
	"path" TEXT DEFAULT current_setting('request.path', true) /* Option < & str > */
) RETURNS TEXT /* Result < Option < String > , ErrorReport > */
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'postgrest_required_scope_wrapper';

CREATE FUNCTION "postgrest_route_check"(
	"method" TEXT, /* Option < & str > */
	"path" TEXT, /* Option < & str > */
	"required_scope" TEXT /* Option < & str > */
) RETURNS VOID /* Result < (), ErrorReport > */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'postgrest_route_check_wrapper';

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
CREATE OR REPLACE FUNCTION api_keys.postgrest_pre_request() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM api_keys.postgrest_pre_request(api_keys.postgrest_required_scope());
END
$$;
COMMENT ON FUNCTION api_keys.postgrest_pre_request() IS
    'PostgREST db-pre-request: authenticates the x-api-key (or Authorization: Bearer) header with the scope of api_keys.postgrest_routes; refuses with SQLSTATE PGRST.';

-- PostgREST routes: administrators manage them; the hook reads them as the
-- extension's owner (postgrest_required_scope is SECURITY DEFINER).
REVOKE ALL ON TABLE api_keys.postgrest_routes FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE api_keys.postgrest_routes TO api_keys_admin;
REVOKE ALL ON FUNCTION api_keys.postgrest_routes_check() FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.postgrest_route_check(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.postgrest_route_check(text, text, text) TO api_keys_admin;
