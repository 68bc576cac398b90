-- api_keys 0.2.0 -> 0.3.0.
--
-- * The schema must be a superuser's, closed to CREATE by others, and hold
--   only the extension's objects: a database of 0.2.0 whose schema was made
--   by another role (CREATE SCHEMA api_keys before CREATE EXTENSION) is
--   refused until an administrator fixes it.
-- * A new role, api_keys_worker, which the background workers run as.
-- * apikey_create and apikey_update gain a quota, apikey_list shows it and
--   whether a key is native or imported; the
--   three are re-created naming the C symbols that carry their SQL names
--   (0.2.0's carried a version suffix). apikey_revoke is no longer STRICT:
--   a NULL key_id is a 22023, as in every other function that takes one.
-- * Owner limits and quotas: api_keys.owner_limits and the functions to set
--   and read them.
-- * PostgREST: answers the client receives, routes of required scopes.
-- * apikey_verify and apikey_authenticate are no longer SECURITY DEFINER.
-- * apikey_usage is implemented in the library (it refuses to run in a
--   key-authenticated transaction).
-- * Imported keys (apikey_import, apikey_import_many), leak reports
--   (apikey_report_leaked, apikey_find_keys), events that carry the key and
--   a NOTIFY of the event's id only, for durable webhooks.

-- Until the schema is known to be safe, every name and operator is
-- qualified.
DO $$
DECLARE
    schema_oid pg_catalog.oid := pg_catalog.to_regnamespace('api_keys')::pg_catalog.oid;
    foreign_objects pg_catalog.text;
    open_to pg_catalog.text;
BEGIN
    IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_namespace n
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.oid OPERATOR(pg_catalog.=) schema_oid) THEN
        RAISE EXCEPTION 'schema api_keys belongs to a role that is not a superuser'
            USING ERRCODE = '42501',
                  HINT = 'Its owner could replace the extension''s objects. Review the schema, '
                         'ALTER SCHEMA api_keys OWNER TO a superuser, then update again.';
    END IF;
    SELECT pg_catalog.string_agg(DISTINCT a.grantee::pg_catalog.regrole::pg_catalog.text, ', ') INTO open_to
      FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
     WHERE n.oid OPERATOR(pg_catalog.=) schema_oid
       AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner;
    IF open_to IS NOT NULL THEN
        RAISE EXCEPTION 'schema api_keys lets others create objects in it (%)', open_to
            USING ERRCODE = '42501',
                  HINT = 'REVOKE CREATE ON SCHEMA api_keys FROM those roles, then update again.';
    END IF;
    SELECT pg_catalog.string_agg(o.what, ', ') INTO foreign_objects
      FROM (SELECT pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, c.oid, 0) AS what,
                   'pg_catalog.pg_class'::pg_catalog.regclass AS classid, c.oid
              FROM pg_catalog.pg_class c
             WHERE c.relnamespace OPERATOR(pg_catalog.=) schema_oid
               AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,v,m,f,p,S}'::pg_catalog."char"[])
            UNION ALL
            SELECT pg_catalog.pg_describe_object('pg_catalog.pg_proc'::pg_catalog.regclass, p.oid, 0),
                   'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid
              FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) schema_oid
            UNION ALL
            SELECT pg_catalog.pg_describe_object('pg_catalog.pg_operator'::pg_catalog.regclass, o.oid, 0),
                   'pg_catalog.pg_operator'::pg_catalog.regclass, o.oid
              FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) schema_oid
            UNION ALL
            SELECT pg_catalog.pg_describe_object('pg_catalog.pg_type'::pg_catalog.regclass, t.oid, 0),
                   'pg_catalog.pg_type'::pg_catalog.regclass, t.oid
              FROM pg_catalog.pg_type t
             WHERE t.typnamespace OPERATOR(pg_catalog.=) schema_oid
               AND t.typtype OPERATOR(pg_catalog.<>) 'c'
               AND t.typelem OPERATOR(pg_catalog.=) 0) o
     WHERE NOT EXISTS (
           SELECT FROM pg_catalog.pg_depend d
            WHERE d.classid OPERATOR(pg_catalog.=) o.classid AND d.objid OPERATOR(pg_catalog.=) o.oid
              AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
              AND d.deptype OPERATOR(pg_catalog.=) 'e');
    IF foreign_objects IS NOT NULL THEN
        RAISE EXCEPTION 'schema api_keys holds objects the extension did not make: %', foreign_objects
            USING ERRCODE = '42501',
                  HINT = 'Move or drop them, then update again.';
    END IF;
END
$$;

DO $$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'api_keys_worker') THEN
        CREATE ROLE api_keys_worker NOLOGIN;
    END IF;
    FOR r IN SELECT rolname FROM pg_catalog.pg_roles
              WHERE rolname OPERATOR(pg_catalog.=) ANY ('{api_keys_admin,api_keys_worker}'::pg_catalog.name[])
                AND (rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)
    LOOP
        RAISE EXCEPTION 'role "%" exists and can log in or has attributes a group role must not have', r.rolname
            USING ERRCODE = '42501',
                  HINT = 'ALTER ROLE it NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS, then update again.';
    END LOOP;
    IF EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                WHERE m.roleid OPERATOR(pg_catalog.=) pg_catalog.to_regrole('api_keys_worker')::pg_catalog.oid) THEN
        RAISE EXCEPTION 'role "api_keys_worker" has members'
            USING ERRCODE = '42501',
                  HINT = 'Only the extension''s background workers act as api_keys_worker: REVOKE it from its members.';
    END IF;
END
$$;

GRANT SELECT (id, last_used_at), UPDATE (last_used_at) ON TABLE api_keys.keys TO api_keys_worker;
GRANT SELECT, INSERT, UPDATE ON TABLE api_keys.usage TO api_keys_worker;

ALTER FUNCTION api_keys.apikey_verify(text, text, inet) SECURITY INVOKER RESET search_path;
ALTER FUNCTION api_keys.apikey_authenticate(text, inet, text) SECURITY INVOKER RESET search_path;

DROP FUNCTION api_keys.apikey_usage(text, date, date);
CREATE  FUNCTION "apikey_usage"(
	"owner" TEXT, /* Option < & str > */
	"since" date DEFAULT NULL, /* Option < Date > */
	"until" date DEFAULT NULL /* Option < Date > */
) RETURNS TABLE (
	"day" date,  /* Date */
	"key_id" uuid,  /* Uuid */
	"name" TEXT,  /* String */
	"code" TEXT,  /* String */
	"count" bigint  /* i64 */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_usage_wrapper';
REVOKE ALL ON FUNCTION api_keys.apikey_usage(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.apikey_usage(text, date, date) TO api_keys_admin;

-- apikey_create and apikey_update gain a quota; apikey_list shows it (and
-- the key's origin, below). They
-- are re-created (with the C symbols of their own names) and re-granted.
DROP FUNCTION api_keys.apikey_create(text, text, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval);
DROP FUNCTION api_keys.apikey_update(uuid, text, text[], text[], timestamptz, jsonb, interval, text, integer, interval);
DROP FUNCTION api_keys.apikey_list(text, text, text);
CREATE  FUNCTION "apikey_create"(
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
	"rate_window" interval DEFAULT NULL, /* Option < Interval > */
	"quota" bigint DEFAULT NULL, /* Option < i64 > */
	"quota_period" TEXT DEFAULT NULL /* Option < & str > */
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

CREATE  FUNCTION "apikey_update"(
	"key_id" uuid, /* Option < Uuid > */
	"name" TEXT DEFAULT NULL, /* Option < & str > */
	"scopes" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"allowed_cidrs" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"expires_at" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"metadata" jsonb DEFAULT NULL, /* Option < JsonbText > */
	"rotation_interval" interval DEFAULT NULL, /* Option < Interval > */
	"webhook_url" TEXT DEFAULT NULL, /* Option < & str > */
	"rate_limit" INT DEFAULT NULL, /* Option < i32 > */
	"rate_window" interval DEFAULT NULL, /* Option < Interval > */
	"quota" bigint DEFAULT NULL, /* Option < i64 > */
	"quota_period" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS bool /* Result < bool, ErrorReport > */
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_update_wrapper';

CREATE  FUNCTION "apikey_list"(
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
	"rate_window" interval,  /* Option < Interval > */
	"quota" bigint,  /* Option < i64 > */
	"quota_period" TEXT,  /* Option < String > */
	"origin" TEXT  /* String */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_list_wrapper';

REVOKE ALL ON FUNCTION api_keys.apikey_create(text, text, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_update(uuid, text, text[], text[], timestamptz, jsonb, interval, text, integer, interval, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_list(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.apikey_create(text, text, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, bigint, text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_update(uuid, text, text[], text[], timestamptz, jsonb, interval, text, integer, interval, bigint, text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_list(text, text, text) TO api_keys_admin;

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

-- Owner limits and quotas (issue 17, parts 2 and 3): a quota per key, the
-- limits an owner's keys share, and the functions to set and read them.
ALTER TABLE api_keys.keys
    ADD COLUMN quota bigint,
    ADD COLUMN quota_period text,
    ADD CONSTRAINT keys_quota_complete CHECK ((quota IS NULL) = (quota_period IS NULL)),
    ADD CONSTRAINT keys_quota_positive CHECK (quota > 0 AND quota_period IN ('day', 'month'));

CREATE TABLE api_keys.owner_limits (
    owner        text        PRIMARY KEY CHECK (owner <> ''),
    id           uuid        NOT NULL UNIQUE DEFAULT pg_catalog.gen_random_uuid(),
    rate_limit   integer,
    rate_window  interval,
    quota        bigint,
    quota_period text,
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT owner_limits_rate_limit_complete CHECK ((rate_limit IS NULL) = (rate_window IS NULL)),
    CONSTRAINT owner_limits_rate_limit_positive
        CHECK (rate_limit > 0 AND rate_window >= interval '1 second' AND rate_window <= interval '1 day'),
    CONSTRAINT owner_limits_quota_complete CHECK ((quota IS NULL) = (quota_period IS NULL)),
    CONSTRAINT owner_limits_quota_positive CHECK (quota > 0 AND quota_period IN ('day', 'month')),
    CONSTRAINT owner_limits_something CHECK (rate_limit IS NOT NULL OR quota IS NOT NULL)
);
COMMENT ON TABLE api_keys.owner_limits IS
    'Rate limits and quotas shared by all keys of an owner (api_keys.apikey_set_owner_limits).';
SELECT pg_catalog.pg_extension_config_dump('api_keys.owner_limits', '');
REVOKE ALL ON TABLE api_keys.owner_limits FROM PUBLIC;
GRANT SELECT ON TABLE api_keys.owner_limits TO api_keys_admin;

CREATE  FUNCTION "apikey_set_owner_limits"(
	"owner" TEXT, /* Option < & str > */
	"rate_limit" INT DEFAULT NULL, /* Option < i32 > */
	"rate_window" interval DEFAULT NULL, /* Option < Interval > */
	"quota" bigint DEFAULT NULL, /* Option < i64 > */
	"quota_period" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"owner" TEXT,  /* String */
	"rate_limit" INT,  /* Option < i32 > */
	"rate_window" interval,  /* Option < Interval > */
	"quota" bigint,  /* Option < i64 > */
	"quota_period" TEXT  /* Option < String > */
)
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_set_owner_limits_wrapper';

CREATE  FUNCTION "apikey_owner_limits"(
	"owner" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"owner" TEXT,  /* String */
	"rate_limit" INT,  /* Option < i32 > */
	"rate_window" interval,  /* Option < Interval > */
	"quota" bigint,  /* Option < i64 > */
	"quota_period" TEXT,  /* Option < String > */
	"updated_at" timestamp with time zone  /* TimestampWithTimeZone */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_owner_limits_wrapper';

CREATE  FUNCTION "apikey_quotas"(
	"owner" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"owner" TEXT,  /* String */
	"key_id" uuid,  /* Option < Uuid > */
	"name" TEXT,  /* Option < String > */
	"quota" bigint,  /* i64 */
	"quota_period" TEXT,  /* String */
	"used" bigint,  /* i64 */
	"remaining" bigint,  /* i64 */
	"resets_at" timestamp with time zone  /* TimestampWithTimeZone */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_quotas_wrapper';

CREATE  FUNCTION "apikey_owner_usage"(
	"owner" TEXT, /* Option < & str > */
	"since" date DEFAULT NULL, /* Option < Date > */
	"until" date DEFAULT NULL /* Option < Date > */
) RETURNS TABLE (
	"day" date,  /* Date */
	"code" TEXT,  /* String */
	"count" bigint  /* i64 */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_owner_usage_wrapper';

REVOKE ALL ON FUNCTION api_keys.apikey_set_owner_limits(text, integer, interval, bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_owner_limits(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_quotas(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_owner_usage(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.apikey_set_owner_limits(text, integer, interval, bigint, text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_owner_limits(text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_quotas(text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_owner_usage(text, date, date) TO api_keys_admin;

-- Leaked keys and imported keys (issue 18), durable webhooks (issue 18) and
-- an event channel that carries ids only (issue 14).

-- A key says how it was made: 'native' or 'imported' (a digest made
-- elsewhere; apikey_list shows it).
ALTER TABLE api_keys.keys
    ADD COLUMN origin text NOT NULL DEFAULT 'native' CHECK (origin IN ('native', 'imported'));

-- Events: the 'imported' action; the order and the transaction they were
-- recorded in (a webhook worker replays by them; 0 for the events recorded
-- before this version); the key as it was, which a worker delivers (the
-- notification now carries only the event's id).
ALTER TABLE api_keys.events DROP CONSTRAINT events_action_check;
ALTER TABLE api_keys.events ADD CONSTRAINT events_action_check
    CHECK (action IN ('created', 'updated', 'rotated', 'revoked', 'rotation_due', 'expiring', 'imported'));
ALTER TABLE api_keys.events
    ADD COLUMN seq              bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN xid              xid8   NOT NULL DEFAULT '0',
    ADD COLUMN name             text,
    ADD COLUMN prefix           text,
    ADD COLUMN expires_at       timestamptz,
    ADD COLUMN next_rotation_at timestamptz,
    ADD COLUMN webhook_url      text;
ALTER TABLE api_keys.events ALTER COLUMN xid SET DEFAULT pg_catalog.pg_current_xact_id();
CREATE INDEX events_xid_idx ON api_keys.events (xid);
SELECT pg_catalog.pg_extension_config_dump('api_keys.events_seq_seq', '');

-- One key for apikey_import_many: the arguments of apikey_import. NULL
-- fields take apikey_import's defaults. api_keys.imported_key(...) below
-- makes one with named arguments.
CREATE TYPE api_keys.imported_key AS (
    owner             text,
    name              text,
    digest            bytea,        -- SHA-256 of the whole key as its user presents it
    scopes            text[],
    expires_at        timestamptz,
    allowed_cidrs     text[],
    environment       text,
    metadata          jsonb,
    rotation_interval interval,
    webhook_url       text,
    rate_limit        integer,
    rate_window       interval,
    quota             bigint,
    quota_period      text,
    prefix            text,         -- the first characters of the key, shown by apikey_list
    created_at        timestamptz   -- when it was made elsewhere; NULL: now
);

CREATE FUNCTION api_keys.imported_key(
    owner text, name text, digest bytea,
    scopes text[] DEFAULT '{}', expires_at timestamptz DEFAULT NULL,
    allowed_cidrs text[] DEFAULT NULL, environment text DEFAULT 'live',
    metadata jsonb DEFAULT '{}', rotation_interval interval DEFAULT NULL,
    webhook_url text DEFAULT NULL, rate_limit integer DEFAULT NULL,
    rate_window interval DEFAULT NULL, quota bigint DEFAULT NULL,
    quota_period text DEFAULT NULL, prefix text DEFAULT NULL,
    created_at timestamptz DEFAULT NULL)
RETURNS api_keys.imported_key
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ROW($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)::api_keys.imported_key
$$;

CREATE FUNCTION "apikey_import"(
	"owner" TEXT, /* Option < & str > */
	"name" TEXT, /* Option < & str > */
	"digest" bytea, /* Option < & [u8] > */
	"scopes" TEXT[] DEFAULT '{}', /* :: std :: option :: Option < Vec < Option < String > > > */
	"expires_at" timestamp with time zone DEFAULT NULL, /* Option < TimestampWithTimeZone > */
	"allowed_cidrs" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"environment" TEXT DEFAULT 'live', /* Option < & str > */
	"metadata" jsonb DEFAULT '{}', /* Option < JsonbText > */
	"rotation_interval" interval DEFAULT NULL, /* Option < Interval > */
	"webhook_url" TEXT DEFAULT NULL, /* Option < & str > */
	"rate_limit" INT DEFAULT NULL, /* Option < i32 > */
	"rate_window" interval DEFAULT NULL, /* Option < Interval > */
	"quota" bigint DEFAULT NULL, /* Option < i64 > */
	"quota_period" TEXT DEFAULT NULL, /* Option < & str > */
	"prefix" TEXT DEFAULT NULL, /* Option < & str > */
	"created_at" timestamp with time zone DEFAULT NULL /* Option < TimestampWithTimeZone > */
) RETURNS uuid /* Result < Uuid, ErrorReport > */
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_import_wrapper';

CREATE FUNCTION "apikey_import_many"(
	"keys" imported_key[] /* Option < ImportedKeyArray > */
) RETURNS bigint /* Result < i64, ErrorReport > */
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_import_many_wrapper';

CREATE FUNCTION "apikey_report_leaked"(
	"keys" TEXT[], /* :: std :: option :: Option < Vec < Option < String > > > */
	"source" TEXT, /* Option < & str > */
	"url" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"item" INT,  /* i32 */
	"label" TEXT,  /* String */
	"key_id" uuid,  /* Option < Uuid > */
	"owner" TEXT,  /* Option < String > */
	"prefix" TEXT  /* Option < String > */
)
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_report_leaked_wrapper';

CREATE FUNCTION "apikey_find_keys"(
	"text" TEXT /* & str */
) RETURNS TABLE (
	"prefix" TEXT,  /* String */
	"start" INT,  /* i32 */
	"length" INT,  /* i32 */
	"checksum_ok" bool  /* bool */
)
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_find_keys_wrapper';

REVOKE ALL ON FUNCTION api_keys.apikey_import(text, text, bytea, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, bigint, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_import_many(api_keys.imported_key[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.apikey_import(text, text, bytea, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, bigint, text, text, timestamptz) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_import_many(api_keys.imported_key[]) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) TO api_keys_admin;
