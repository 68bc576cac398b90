-- The installed version of extension $1.
SELECT e.extversion::pg_catalog.text
  FROM pg_catalog.pg_extension e
 WHERE e.oid OPERATOR(pg_catalog.=) $1
