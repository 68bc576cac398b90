-- The extension's storage: the key table, the verification result type and
-- the extension's roles. Runs first in the install script.

-- Everything below runs as the installing superuser with search_path set
-- to the extension's schema: until that schema is known to be the
-- installer's own and empty, every name and operator here is qualified.

-- Keys, owners, scopes and metadata are UTF-8 text: refuse other databases
-- before anything is created.
DO $$
BEGIN
    IF pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.<>) 'UTF8' THEN
        RAISE EXCEPTION 'api_keys needs a UTF8 database, not %', pg_catalog.getdatabaseencoding()
            USING ERRCODE = '0A000',
                  HINT = 'Create the database with ENCODING ''UTF8'' (TEMPLATE template0).';
    END IF;
END
$$;

-- The schema must be the installing superuser's own, empty, and closed to
-- CREATE by anyone else: a schema another role made (CREATE SCHEMA api_keys
-- before CREATE EXTENSION) would let that role rename it and put a
-- look-alike key table, function or operator in its place.
DO $$
DECLARE
    schema_oid pg_catalog.oid := pg_catalog.to_regnamespace('api_keys')::pg_catalog.oid;
    owner_name pg_catalog.text;
    open_to pg_catalog.text;
BEGIN
    SELECT r.rolname INTO owner_name
      FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.oid OPERATOR(pg_catalog.=) schema_oid;
    IF owner_name OPERATOR(pg_catalog.<>) CURRENT_USER::pg_catalog.text THEN
        RAISE EXCEPTION 'schema api_keys already exists and belongs to role "%"', owner_name
            USING ERRCODE = '42501',
                  HINT = 'The extension creates its schema itself. Drop the schema (or have '
                         'the installing superuser own it, empty), then CREATE EXTENSION again.';
    END IF;
    SELECT pg_catalog.string_agg(DISTINCT a.grantee::pg_catalog.regrole::pg_catalog.text, ', ') INTO open_to
      FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
     WHERE n.oid OPERATOR(pg_catalog.=) schema_oid
       AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner;
    IF open_to IS NOT NULL THEN
        RAISE EXCEPTION 'schema api_keys lets others create objects in it (%)', open_to
            USING ERRCODE = '42501',
                  HINT = 'REVOKE CREATE ON SCHEMA api_keys FROM those roles, then CREATE EXTENSION again.';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) schema_oid)
       OR EXISTS (SELECT FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) schema_oid)
       OR EXISTS (SELECT FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) schema_oid)
       OR EXISTS (SELECT FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) schema_oid)
       OR EXISTS (SELECT FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) schema_oid)
       OR EXISTS (SELECT FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) schema_oid)
       OR EXISTS (SELECT FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) schema_oid)
       OR EXISTS (SELECT FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) schema_oid)
       OR EXISTS (SELECT FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) schema_oid)
       OR EXISTS (SELECT FROM pg_catalog.pg_statistic_ext WHERE stxnamespace OPERATOR(pg_catalog.=) schema_oid)
    THEN
        RAISE EXCEPTION 'schema api_keys is not empty'
            USING ERRCODE = '42501',
                  HINT = 'The extension creates its schema itself; drop the existing schema first.';
    END IF;
END
$$;

-- The extension's roles are cluster-wide: create each only when no earlier
-- CREATE EXTENSION (in this or another database) made it already, and
-- refuse to adopt one that can log in or holds more than a group role
-- should. api_keys_admin may have members (that is its purpose: a DBA
-- grants it); api_keys_worker, which the background workers run as, may
-- not.
DO $$
DECLARE
    r record;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'api_keys_admin') THEN
        CREATE ROLE api_keys_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'api_keys_worker') THEN
        CREATE ROLE api_keys_worker NOLOGIN;
    END IF;
    FOR r IN SELECT rolname FROM pg_catalog.pg_roles
              WHERE rolname OPERATOR(pg_catalog.=) ANY ('{api_keys_admin,api_keys_worker}'::pg_catalog.name[])
                AND (rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)
    LOOP
        RAISE EXCEPTION 'role "%" exists and can log in or has attributes a group role must not have', r.rolname
            USING ERRCODE = '42501',
                  HINT = 'ALTER ROLE it NOLOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS (or drop it), then CREATE EXTENSION again.';
    END LOOP;
    IF EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                WHERE m.roleid OPERATOR(pg_catalog.=) pg_catalog.to_regrole('api_keys_worker')::pg_catalog.oid) THEN
        RAISE EXCEPTION 'role "api_keys_worker" has members'
            USING ERRCODE = '42501',
                  HINT = 'Only the extension''s background workers act as api_keys_worker: REVOKE it from its members.';
    END IF;
END
$$;

-- One row per key ever issued. The secret is never stored: `digest` is the
-- SHA-256 of the whole key, looked up through its unique index. An imported
-- key's `prefix` is what its import gave (possibly ''), not one we made.
CREATE TABLE api_keys.keys (
    id                 uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    digest             bytea       NOT NULL,
    prefix             text        NOT NULL,
    owner              text        NOT NULL CHECK (owner <> ''),
    name               text        NOT NULL CHECK (name <> ''),
    scopes             text[]      NOT NULL DEFAULT '{}',
    allowed_cidrs      text[],                      -- NULL: any address
    environment        text        NOT NULL,
    metadata           jsonb       NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT pg_catalog.now(),
    expires_at         timestamptz,                 -- NULL: never
    last_used_at       timestamptz,
    revoked_at         timestamptz,
    replaced_by_key_id uuid        REFERENCES api_keys.keys (id),
    grace_expires_at   timestamptz,                 -- set by rotation
    rotation_interval  interval,                    -- NULL: no rotation policy
    webhook_url        text,                        -- where a worker delivers this key's events
    rate_limit         integer,                     -- requests per rate_window; NULL: unlimited
    rate_window        interval,
    quota              bigint,                      -- valid verifications per quota_period; NULL: none
    quota_period       text,                        -- 'day' or 'month' (UTC)
    -- How the key was made: 'native' (apikey_create, apikey_rotate) or
    -- 'imported' (apikey_import: a digest made elsewhere, any format).
    origin             text        NOT NULL DEFAULT 'native' CHECK (origin IN ('native', 'imported')),
    CONSTRAINT keys_digest_length CHECK (pg_catalog.octet_length(digest) = 32),
    CONSTRAINT keys_rotation_complete
        CHECK ((replaced_by_key_id IS NULL) = (grace_expires_at IS NULL)),
    CONSTRAINT keys_rotation_interval_positive CHECK (rotation_interval > interval '0'),
    CONSTRAINT keys_webhook_url_http CHECK (webhook_url ~* '^https?://'),
    CONSTRAINT keys_rate_limit_complete CHECK ((rate_limit IS NULL) = (rate_window IS NULL)),
    CONSTRAINT keys_rate_limit_positive
        CHECK (rate_limit > 0 AND rate_window >= interval '1 second' AND rate_window <= interval '1 day'),
    CONSTRAINT keys_quota_complete CHECK ((quota IS NULL) = (quota_period IS NULL)),
    CONSTRAINT keys_quota_positive CHECK (quota > 0 AND quota_period IN ('day', 'month'))
);
CREATE UNIQUE INDEX keys_digest_idx ON api_keys.keys (digest);
CREATE INDEX keys_owner_idx ON api_keys.keys (owner, created_at);
-- A key has at most one successor, and a successor at most one predecessor.
CREATE UNIQUE INDEX keys_replaced_by_idx ON api_keys.keys (replaced_by_key_id);

COMMENT ON TABLE api_keys.keys IS
    'API keys issued by the api_keys extension. Holds digests only, never a key.';

-- pg_dump keeps the keys: dump and restore leave every key working.
SELECT pg_catalog.pg_extension_config_dump('api_keys.keys', '');

-- What happened to which key, when, and by which role: appended by every
-- management function (and by apikey_announce_due), never updated. Holds no
-- secret. Its id alone is sent with NOTIFY api_keys_events as it is written:
-- a webhook worker reads the rest here (readable by api_keys_admin only) and
-- replays what it missed by `xid` and `seq` (docs/lifecycle.md).
CREATE TABLE api_keys.events (
    id           uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    action       text        NOT NULL CHECK (action IN ('created', 'updated', 'rotated', 'revoked',
                                                        'rotation_due', 'expiring', 'imported')),
    key_id       uuid        NOT NULL,   -- no foreign key: history outlives a deleted key row
    owner        text        NOT NULL,
    session_role text        NOT NULL,   -- session_user
    acting_role  text        NOT NULL,   -- the role in effect (SET ROLE), not the definer
    changes      jsonb       NOT NULL DEFAULT '{}',
    -- The order events were recorded in (not the order they committed in).
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    -- The recording transaction (0 for events recorded before 0.3.0).
    xid          xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    -- The key as it was at the event: what a webhook delivers (NULL before 0.3.0).
    name             text,
    prefix           text,
    expires_at       timestamptz,
    next_rotation_at timestamptz,
    webhook_url      text
);
CREATE INDEX events_owner_at_idx ON api_keys.events (owner, at);
CREATE INDEX events_key_idx ON api_keys.events (key_id, action);
CREATE INDEX events_xid_idx ON api_keys.events (xid);

COMMENT ON TABLE api_keys.events IS
    'Audit log of the api_keys extension: one row per key event, append-only, no secrets.';

SELECT pg_catalog.pg_extension_config_dump('api_keys.events', '');
SELECT pg_catalog.pg_extension_config_dump('api_keys.events_seq_seq', '');

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

-- What apikey_verify answers.
-- Verifications per key, day (UTC) and answer code, moved here from shared
-- memory by the background workers. No secret.
CREATE TABLE api_keys.usage (
    key_id uuid   NOT NULL,
    day    date   NOT NULL,
    code   text   NOT NULL,
    count  bigint NOT NULL CHECK (count > 0),
    PRIMARY KEY (key_id, day, code)
);
SELECT pg_catalog.pg_extension_config_dump('api_keys.usage', '');

CREATE TYPE api_keys.verification AS (
    valid       boolean,
    code        text,
    key_id      uuid,
    owner       text,
    name        text,
    scopes      text[],
    environment text,
    metadata    jsonb,
    expires_at  timestamptz,
    remaining   integer,        -- rate-limited keys: requests left in the window
    retry_after integer         -- rate_limited: seconds until a retry can succeed
);

-- Limits shared by all of an owner's keys, checked with each key's own: a
-- rate limit and a quota of valid verifications per day or month. `id`
-- names the owner's counters in shared memory. Configuration: dumped.
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
