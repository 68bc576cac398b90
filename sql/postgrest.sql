-- PostgREST's db-pre-request hook. PostgREST answers HTTP 401 for SQLSTATE
-- PT401. The work is done by api_keys.postgrest_authenticate() (Rust).
CREATE FUNCTION api_keys.postgrest_pre_request() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    failure text := api_keys.postgrest_authenticate();
BEGIN
    IF failure IS NOT NULL THEN
        RAISE SQLSTATE 'PT401'
            USING MESSAGE = 'API key not accepted: ' || failure,
                  DETAIL = failure,
                  HINT = 'Send a valid key in the x-api-key header.';
    END IF;
END
$$;
COMMENT ON FUNCTION api_keys.postgrest_pre_request() IS
    'PostgREST db-pre-request: authenticates the x-api-key (or Authorization: Bearer) header; 401 otherwise.';
