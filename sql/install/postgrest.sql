-- PostgREST's db-pre-request hook. PostgREST answers HTTP 401 for SQLSTATE
-- PT401 and 429 for PT429 (a rate-limited key; postgrest_authenticate has
-- set the Retry-After header in response.headers). The work is done by
-- api_keys.postgrest_authenticate() (Rust).
CREATE FUNCTION api_keys.postgrest_pre_request() RETURNS void
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
COMMENT ON FUNCTION api_keys.postgrest_pre_request() IS
    'PostgREST db-pre-request: authenticates the x-api-key (or Authorization: Bearer) header; 401 otherwise.';
