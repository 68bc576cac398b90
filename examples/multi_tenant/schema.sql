-- A multi-tenant application whose API callers are authenticated by api_keys
-- and authorized by row-level security.
--
-- Run it as a superuser, in a database where you want the application:
--     psql -v ON_ERROR_STOP=1 -d mydb -f examples/multi_tenant/schema.sql
-- It can be run again in another database of the same cluster (roles are
-- cluster-wide and created only when missing).
--
-- Who is who:
--   app_owner      owns the schema and the table (NOLOGIN). FORCE ROW LEVEL
--                  SECURITY makes the policies apply to it as well.
--   web_anon       the role every API request runs as (PostgREST's
--                  db-anon-role). It holds table privileges; the policies
--                  decide which rows, from the request's API key.
--   authenticator  the role PostgREST (or your backend) logs in as. It has
--                  no privileges of its own (NOINHERIT) and only switches to
--                  web_anon for each request.
--   api_keys_admin created by the extension: may issue and revoke keys.
--
-- A key's owner is the tenant; its scopes say what it may do:
--   read:documents    SELECT the tenant's documents
--   write:documents   INSERT and UPDATE them
--   delete:documents  DELETE them
-- The policies enforce the scopes on every row; the PostgREST routes at the
-- end make a request without the scope a 403 that names it.

CREATE EXTENSION IF NOT EXISTS api_keys;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'app_owner') THEN
        CREATE ROLE app_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'web_anon') THEN
        CREATE ROLE web_anon NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticator') THEN
        -- Give it a password (ALTER ROLE authenticator PASSWORD '...') when
        -- your pg_hba.conf asks for one.
        CREATE ROLE authenticator LOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_auth_members
                    WHERE roleid = 'web_anon'::regrole AND member = 'authenticator'::regrole) THEN
        GRANT web_anon TO authenticator;
    END IF;
END
$$;

CREATE SCHEMA app AUTHORIZATION app_owner;

CREATE TABLE app.documents (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The tenant is the owner of the API key. A new row gets the caller's
    -- tenant by default, so clients never have to send it.
    tenant     text NOT NULL DEFAULT api_keys.apikey_current_owner(),
    title      text NOT NULL,
    body       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_tenant_idx ON app.documents (tenant);
ALTER TABLE app.documents OWNER TO app_owner;

-- Row-level security, also for the table's owner.
ALTER TABLE app.documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.documents FORCE ROW LEVEL SECURITY;

-- No key, or a key of another tenant, or a key without the scope: no row.
-- The accessors return NULL / false when the transaction is not
-- authenticated, so every comparison below is then false.
--
-- Each accessor call is wrapped in a scalar subquery, (SELECT ...): the
-- planner then evaluates it once per query (an InitPlan) instead of once per
-- row, and can use an index on tenant. Written bare, the policy is just as
-- correct but calls both functions on every row scanned: on a 100,000-row
-- scan that costs about 0.5 microseconds per row, an order of magnitude more
-- than the scan itself (see README.md, "What the policy costs").
CREATE POLICY documents_select ON app.documents
    FOR SELECT
    USING (tenant = (SELECT api_keys.apikey_current_owner())
           AND (SELECT api_keys.apikey_has_scope('read:documents')));

CREATE POLICY documents_insert ON app.documents
    FOR INSERT
    WITH CHECK (tenant = (SELECT api_keys.apikey_current_owner())
                AND (SELECT api_keys.apikey_has_scope('write:documents')));

-- UPDATE needs the row to be visible (read) and writable, and the new
-- version must stay in the caller's tenant.
CREATE POLICY documents_update ON app.documents
    FOR UPDATE
    USING (tenant = (SELECT api_keys.apikey_current_owner())
           AND (SELECT api_keys.apikey_has_scope('write:documents')))
    WITH CHECK (tenant = (SELECT api_keys.apikey_current_owner()));

CREATE POLICY documents_delete ON app.documents
    FOR DELETE
    USING (tenant = (SELECT api_keys.apikey_current_owner())
           AND (SELECT api_keys.apikey_has_scope('delete:documents')));

-- Privileges: web_anon may touch the table at all; the policies pick rows.
GRANT USAGE ON SCHEMA app TO web_anon;
GRANT SELECT, INSERT, UPDATE, DELETE ON app.documents TO web_anon;
-- id and created_at are the server's; a client may name the tenant on
-- INSERT (the policy then checks it is its own) but never move a row.
REVOKE INSERT, UPDATE ON app.documents FROM web_anon;
GRANT INSERT (tenant, title, body), UPDATE (title, body) ON app.documents TO web_anon;

-- Through PostgREST: the scope each request on /documents needs. Without
-- it, api_keys.postgrest_pre_request() answers 403 insufficient_scope
-- (naming the scope) before the query runs; the policies above still hold
-- for anything the routes do not cover. GET also covers HEAD.
INSERT INTO api_keys.postgrest_routes (method, path, required_scope) VALUES
    ('GET',    '/documents', 'read:documents'),
    ('POST',   '/documents', 'write:documents'),
    ('PUT',    '/documents', 'write:documents'),
    ('PATCH',  '/documents', 'write:documents'),
    ('DELETE', '/documents', 'delete:documents');
