-- api_keys 0.1.0 -> 0.2.0: key lifecycle policy.
--
-- Adds the rotation policy, webhook address and rate limit to keys, the
-- audit table api_keys.events, the usage table api_keys.usage, and the
-- lifecycle and usage functions; verification
-- results gain remaining and retry_after; apikey_create, apikey_update
-- and apikey_list gain parameters or columns, so they are replaced. Keys made
-- by 0.1.0 keep their digests and verify as before.

ALTER TABLE api_keys.keys
    ADD COLUMN rotation_interval interval,
    ADD COLUMN webhook_url text,
    ADD CONSTRAINT keys_rotation_interval_positive CHECK (rotation_interval > interval '0'),
    ADD COLUMN rate_limit integer,
    ADD COLUMN rate_window interval,
    ADD CONSTRAINT keys_webhook_url_http CHECK (webhook_url ~* '^https?://'),
    ADD CONSTRAINT keys_rate_limit_complete CHECK ((rate_limit IS NULL) = (rate_window IS NULL)),
    ADD CONSTRAINT keys_rate_limit_positive
        CHECK (rate_limit > 0 AND rate_window >= interval '1 second' AND rate_window <= interval '1 day');

ALTER TYPE api_keys.verification
    ADD ATTRIBUTE remaining integer,
    ADD ATTRIBUTE retry_after integer;

-- What happened to which key, when, and by which role: appended by every
-- management function (and by apikey_announce_due), never updated. Holds no
-- secret. Sent with NOTIFY api_keys_events as it is written.
CREATE TABLE api_keys.events (
    id           uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    action       text        NOT NULL CHECK (action IN ('created', 'updated', 'rotated', 'revoked',
                                                        'rotation_due', 'expiring')),
    key_id       uuid        NOT NULL,   -- no foreign key: history outlives a deleted key row
    owner        text        NOT NULL,
    session_role text        NOT NULL,   -- session_user
    acting_role  text        NOT NULL,   -- the role in effect (SET ROLE), not the definer
    changes      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX events_owner_at_idx ON api_keys.events (owner, at);
CREATE INDEX events_key_idx ON api_keys.events (key_id, action);

COMMENT ON TABLE api_keys.events IS
    'Audit log of the api_keys extension: one row per key event, append-only, no secrets.';

SELECT pg_catalog.pg_extension_config_dump('api_keys.events', '');

CREATE FUNCTION api_keys.events_append_only() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'api_keys.events is append-only'
        USING ERRCODE = '42501',
              HINT = 'To prune old events, a superuser disables trigger events_append_only first.';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON api_keys.events
    FOR EACH ROW EXECUTE FUNCTION api_keys.events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON api_keys.events
    FOR EACH STATEMENT EXECUTE FUNCTION api_keys.events_append_only();

DROP FUNCTION api_keys.apikey_create(text, text, text[], timestamptz, text[], text, jsonb);
DROP FUNCTION api_keys.apikey_update(uuid, text, text[], text[], timestamptz, jsonb);
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
AS 'MODULE_PATHNAME', 'apikey_create_v2_wrapper';

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
	"rate_window" interval DEFAULT NULL /* Option < Interval > */
) RETURNS bool /* bool */
VOLATILE SECURITY DEFINER PARALLEL UNSAFE 
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_update_v2_wrapper';

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
	"rate_window" interval  /* Option < Interval > */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE 
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_list_v2_wrapper';

CREATE  FUNCTION "apikey_due_for_rotation"(
	"within" interval DEFAULT '0' /* Option < Interval > */
) RETURNS TABLE (
	"key_id" uuid,  /* Uuid */
	"owner" TEXT,  /* String */
	"name" TEXT,  /* String */
	"prefix" TEXT,  /* String */
	"due_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"webhook_url" TEXT  /* Option < String > */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_due_for_rotation_wrapper';

CREATE  FUNCTION "apikey_expiring"(
	"within" interval DEFAULT '7 days' /* Option < Interval > */
) RETURNS TABLE (
	"key_id" uuid,  /* Uuid */
	"owner" TEXT,  /* String */
	"name" TEXT,  /* String */
	"prefix" TEXT,  /* String */
	"due_at" timestamp with time zone,  /* TimestampWithTimeZone */
	"webhook_url" TEXT  /* Option < String > */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_expiring_wrapper';

CREATE  FUNCTION "apikey_announce_due"(
	"rotation_within" interval DEFAULT '0', /* Option < Interval > */
	"expiry_within" interval DEFAULT '7 days' /* Option < Interval > */
) RETURNS INT /* i32 */
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_announce_due_wrapper';

CREATE  FUNCTION "apikey_history"(
	"owner" TEXT, /* Option < & str > */
	"since" timestamp with time zone DEFAULT NULL /* Option < TimestampWithTimeZone > */
) RETURNS TABLE (
	"event_id" uuid,  /* Uuid */
	"at" timestamp with time zone,  /* TimestampWithTimeZone */
	"action" TEXT,  /* String */
	"key_id" uuid,  /* Uuid */
	"owner" TEXT,  /* String */
	"session_role" TEXT,  /* String */
	"acting_role" TEXT,  /* String */
	"changes" jsonb  /* JsonB */
)
STABLE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'apikey_history_wrapper';

-- Verifications per key, day (UTC) and answer code, moved here from shared
-- memory by the usage flusher (see api_keys.usage_databases). No secret.
CREATE TABLE api_keys.usage (
    key_id uuid   NOT NULL,
    day    date   NOT NULL,
    code   text   NOT NULL,
    count  bigint NOT NULL CHECK (count > 0),
    PRIMARY KEY (key_id, day, code)
);
SELECT pg_catalog.pg_extension_config_dump('api_keys.usage', '');

-- An owner's usage (every owner's when NULL), per key, day and code.
CREATE FUNCTION api_keys.apikey_usage(owner text, since date DEFAULT NULL, until date DEFAULT NULL)
RETURNS TABLE (day date, key_id uuid, name text, code text, count bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.day, u.key_id, k.name, u.code, u.count
      FROM api_keys.usage u
      JOIN api_keys.keys k ON k.id = u.key_id
     WHERE ($1 IS NULL OR k.owner = $1)
       AND ($2 IS NULL OR u.day >= $2)
       AND ($3 IS NULL OR u.day <= $3)
     ORDER BY u.day, k.name, u.key_id, u.code
$$;

CREATE OR REPLACE FUNCTION api_keys.postgrest_pre_request() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    failure text := api_keys.postgrest_authenticate();
BEGIN
    IF failure = 'rate_limited' THEN
        RAISE SQLSTATE 'PT429'
            USING MESSAGE = 'API key not accepted: rate_limited',
                  DETAIL = failure,
                  HINT = 'Retry after the number of seconds in the Retry-After header.';
    ELSIF failure IS NOT NULL THEN
        RAISE SQLSTATE 'PT401'
            USING MESSAGE = 'API key not accepted: ' || failure,
                  DETAIL = failure,
                  HINT = 'Send a valid key in the x-api-key header.';
    END IF;
END
$$;
REVOKE ALL ON TABLE api_keys.events FROM PUBLIC;
GRANT SELECT ON TABLE api_keys.events TO api_keys_admin;
REVOKE ALL ON FUNCTION api_keys.events_append_only() FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_create(text, text, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_update(uuid, text, text[], text[], timestamptz, jsonb, interval, text, integer, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_list(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_due_for_rotation(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_expiring(interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_announce_due(interval, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION api_keys.apikey_history(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.apikey_create(text, text, text[], timestamptz, text[], text, jsonb, interval, text, integer, interval) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_update(uuid, text, text[], text[], timestamptz, jsonb, interval, text, integer, interval) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_list(text, text, text) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_due_for_rotation(interval) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_expiring(interval) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_announce_due(interval, interval) TO api_keys_admin;
GRANT EXECUTE ON FUNCTION api_keys.apikey_history(text, timestamptz) TO api_keys_admin;
REVOKE ALL ON TABLE api_keys.usage FROM PUBLIC;
GRANT SELECT ON TABLE api_keys.usage TO api_keys_admin;
REVOKE ALL ON FUNCTION api_keys.apikey_usage(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_keys.apikey_usage(text, date, date) TO api_keys_admin;
