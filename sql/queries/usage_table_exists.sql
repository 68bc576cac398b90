-- Whether the extension (with its usage table) is installed here.
SELECT pg_catalog.to_regclass('api_keys.usage') IS NOT NULL
