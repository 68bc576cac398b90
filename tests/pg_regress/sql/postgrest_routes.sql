-- PostgREST routes: which scope a request needs, by method and path pattern.

-- Administrators manage the table; a plain role cannot even read it.
SET ROLE regress_admin;
INSERT INTO api_keys.postgrest_routes (method, path, required_scope) VALUES
    ('*',      '/**',             'api'),
    ('*',      '/*',              'read:tables'),
    ('get',    '/documents',      'read:documents'),
    ('POST',   '/documents',      'write:documents'),
    ('*',      '/rpc/*',          'rpc:call'),
    ('*',      '/rpc/health',     NULL),
    ('DELETE', '/report_*',       'delete:reports'),
    ('GET',    '/',               NULL);
SELECT method, path, required_scope FROM api_keys.postgrest_routes ORDER BY path COLLATE "C", method COLLATE "C";
RESET ROLE;
SET ROLE regress_app;
SELECT count(*) FROM api_keys.postgrest_routes;
INSERT INTO api_keys.postgrest_routes VALUES ('*', '/secret', NULL);
RESET ROLE;

-- The most specific route wins; GET covers HEAD; paths are read as
-- PostgREST decodes them.
SELECT method, path, api_keys.postgrest_required_scope(method, path) AS required_scope
  FROM (VALUES ('GET', '/documents'), ('HEAD', '/documents'), ('POST', '/documents'),
               ('PATCH', '/documents'), ('GET', '/doc%75ments'), ('GET', '/projects'),
               ('POST', '/rpc/do_it'), ('POST', '/%72pc/do_it'), ('GET', '/rpc/health'),
               ('DELETE', '/report_daily'), ('GET', '/report_daily'), ('GET', '/'),
               ('HEAD', '/'), ('POST', '/')) AS r(method, path);
-- Outside a PostgREST request (no request.method or request.path): none.
SELECT api_keys.postgrest_required_scope() IS NULL AS no_request;
BEGIN;
SELECT set_config('request.method', 'DELETE', true), set_config('request.path', '/report_q3', true);
SELECT api_keys.postgrest_required_scope() AS from_the_request_settings;
ROLLBACK;

-- Bad rows and bad lookups: 22023 naming the value.
SELECT error_of($$INSERT INTO api_keys.postgrest_routes VALUES ('OPTIONS', '/x', NULL)$$);
SELECT error_of($$INSERT INTO api_keys.postgrest_routes VALUES ('GET', 'documents', NULL)$$);
SELECT error_of($$INSERT INTO api_keys.postgrest_routes VALUES ('GET', '/api/documents', NULL)$$);
SELECT error_of($$INSERT INTO api_keys.postgrest_routes VALUES ('GET', '/my%20table', NULL)$$);
SELECT error_of($$INSERT INTO api_keys.postgrest_routes VALUES ('GET', '/**/x', NULL)$$);
SELECT error_of($$INSERT INTO api_keys.postgrest_routes VALUES ('GET', '/x', 'read:a//b')$$);
SELECT error_of($$INSERT INTO api_keys.postgrest_routes VALUES (NULL, '/x', NULL)$$);
SELECT error_of($$UPDATE api_keys.postgrest_routes SET path = '/documents/' WHERE path = '/documents'$$);
SELECT error_of($$SELECT api_keys.postgrest_required_scope('BREW', '/x')$$);
SELECT error_of($$SELECT api_keys.postgrest_required_scope('GET', 'documents')$$);
SELECT error_of($$SELECT api_keys.postgrest_pre_request('read:a//b')$$);
SELECT error_of($$SELECT * FROM api_keys.postgrest_check('')$$);
SELECT error_of($$SET api_keys.postgrest_realm = 'say "hi"'$$);
SELECT error_of($$SELECT set_config('api_keys.postgrest_realm', 'caf' || chr(233), false)$$);

-- The attack: the hook reads the routes as the extension's owner, so a
-- caller who plants a table, a function or a temporary table of the same
-- names in its search_path changes nothing.
CREATE SCHEMA regress_evil AUTHORIZATION regress_app;
SET ROLE regress_app;
CREATE TABLE regress_evil.postgrest_routes (method text, path text, required_scope text);
INSERT INTO regress_evil.postgrest_routes VALUES ('*', '/**', NULL);
CREATE FUNCTION regress_evil.upper(text) RETURNS text LANGUAGE sql AS 'SELECT ''*''';
CREATE TEMPORARY TABLE postgrest_routes (method text, path text, required_scope text);
INSERT INTO postgrest_routes VALUES ('*', '/**', NULL);
SET search_path = pg_temp, regress_evil, public;
SELECT api_keys.postgrest_required_scope('DELETE', '/report_daily') AS still_the_real_route;
RESET search_path;
RESET ROLE;
DROP SCHEMA regress_evil CASCADE;

-- The routes are configuration: pg_dump keeps them.
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS t(oid) JOIN pg_class c ON c.oid = t.oid
 WHERE e.extname = 'api_keys' AND c.relname = 'postgrest_routes';
DELETE FROM api_keys.postgrest_routes;
