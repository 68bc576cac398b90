-- The PostgREST routes whose method can apply to a request: $1 holds the
-- request's method, GET for a HEAD request, and `*`.
SELECT method, path, required_scope
  FROM api_keys.postgrest_routes
 WHERE method = ANY ($1)
