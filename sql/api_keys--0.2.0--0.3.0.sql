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
    prefix            text,         -- the first characters of the key, shown by apikey_list
    created_at        timestamptz   -- when it was made elsewhere; NULL: now
);

CREATE FUNCTION api_keys.imported_key(
    owner text, name text, digest bytea,
    scopes text[] DEFAULT '{}', expires_at timestamptz DEFAULT NULL,
    allowed_cidrs text[] DEFAULT NULL, environment text DEFAULT 'live',
    metadata jsonb DEFAULT '{}', rotation_interval interval DEFAULT NULL,
    webhook_url text DEFAULT NULL, rate_limit integer DEFAULT NULL,
    rate_window interval DEFAULT NULL, prefix text DEFAULT NULL,
    created_at timestamptz DEFAULT NULL)
RETURNS api_keys.imported_key
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ROW($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)::api_keys.imported_key
$$;

-- apikey_list says which keys are imported: a new result column.
DROP FUNCTION api_keys.apikey_list(text, text, text);
CREATE FUNCTION "apikey_list"(
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
	"origin" TEXT  /* String */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_list_wrapper';

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

REVOKE ALL ON FUNCTION api_keys.apikey_list(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_import(text, text, bytea, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_import_many(api_keys.imported_key[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.apikey_list(text, text, text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_import(text, text, bytea, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval, text, timestamptz) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_import_many(api_keys.imported_key[]) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_report_leaked(text[], text, text) TO api_keys_admin;
