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
