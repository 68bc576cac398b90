-- The extension's objects, and the shape of each one that an upgrade script
-- would have to change. Adding, renaming or dropping an object (or changing a
-- column, index, constraint, function signature, volatility, SECURITY
-- DEFINER, search_path or grant) without updating this expected output
-- fails here: when it fails, update the expected output AND ship the upgrade
-- script (sql/api_keys--<old>--<new>.sql) that makes the same change.
-- Role names that depend on who installed the extension are shown as <owner>.
-- (The schema api_keys is not listed as a member: CREATE EXTENSION creates
-- it from the control file's `schema`, and the extension depends on it.)

-- 1. Every object that belongs to the extension. (A table's row type and
-- the array types are left out: PostgreSQL 17 and 18 record them as members
-- too, 15 and 16 do not; they come and go with their table or type.)
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) AS member
  FROM pg_depend d
  JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
 WHERE e.extname = 'api_keys' AND d.deptype = 'e'
   AND NOT EXISTS (SELECT FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
                    WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
                      AND (t.typcategory = 'A' OR c.relkind <> 'c'))
 ORDER BY pg_describe_object(d.classid, d.objid, d.objsubid) COLLATE "C";

-- Settings of the extension itself (not the objects' contents).
SELECT extrelocatable, n.nspname AS schema,
       (SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_class c
         WHERE c.oid = ANY (e.extconfig)) AS dumped_tables,
       e.extcondition
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'api_keys';

-- 2. Columns of the extension's tables and composite types, in order.
SELECT c.relname, c.relkind, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, pg_get_expr(ad.adbin, ad.adrelid) AS default
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
 WHERE c.relnamespace = 'api_keys'::regnamespace AND c.relkind IN ('r', 'c', 'v', 'm', 'p', 'f')
 ORDER BY c.relname COLLATE "C", a.attnum;

-- 3. Constraints, indexes and triggers of the extension's tables. (NOT NULL,
-- a constraint of its own from PostgreSQL 18 on, is shown with the columns.)
SELECT conrelid::regclass AS "table", conname, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint
 WHERE connamespace = 'api_keys'::regnamespace AND contype <> 'n'
 ORDER BY conrelid::regclass::text COLLATE "C", conname COLLATE "C";
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) AS definition
  FROM pg_index
 WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'api_keys'::regnamespace)
 ORDER BY indexrelid::regclass::text COLLATE "C";

SELECT tgrelid::regclass AS "table", tgname, pg_get_triggerdef(oid) AS definition
  FROM pg_trigger
 WHERE NOT tgisinternal
   AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'api_keys'::regnamespace)
 ORDER BY tgrelid::regclass::text COLLATE "C", tgname COLLATE "C";

-- 4. Functions: signature and the attributes the contract relies on
-- (vol: v volatile, s stable; par: u unsafe, s safe).
SELECT p.oid::regprocedure AS function,
       CASE WHEN p.proretset THEN 'SETOF ' ELSE '' END || format_type(p.prorettype, NULL) AS returns,
       p.provolatile AS vol, p.proparallel AS par, p.prosecdef AS secdef,
       p.proisstrict AS strict, p.proconfig AS config
  FROM pg_proc p
 WHERE p.pronamespace = 'api_keys'::regnamespace
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- Argument names, defaults and result columns (callers use named arguments
-- and read result columns by name).
\x on
SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments, pg_get_function_result(p.oid) AS result
  FROM pg_proc p
 WHERE p.pronamespace = 'api_keys'::regnamespace
 ORDER BY p.oid::regprocedure::text COLLATE "C";
\x off

-- 5. Grants on the extension's functions, table and schema. (MAINTAIN, a
-- privilege from PostgreSQL 17 on, is left out: only the owner has it.)
WITH ext AS (SELECT extowner FROM pg_extension WHERE extname = 'api_keys'),
objs AS (
  SELECT 'function ' || p.oid::regprocedure::text AS object,
         coalesce(p.proacl, acldefault('f', p.proowner)) AS acl
    FROM pg_proc p WHERE p.pronamespace = 'api_keys'::regnamespace
  UNION ALL
  SELECT 'relation ' || c.oid::regclass::text, coalesce(c.relacl, acldefault('r', c.relowner))
    FROM pg_class c WHERE c.relnamespace = 'api_keys'::regnamespace AND c.relkind IN ('r', 'v', 'S')
  UNION ALL
  SELECT 'schema ' || n.nspname, coalesce(n.nspacl, acldefault('n', n.nspowner))
    FROM pg_namespace n WHERE n.nspname = 'api_keys'
)
SELECT object, grantee, string_agg(privilege_type, ',' ORDER BY privilege_type) AS privileges FROM (
  SELECT o.object,
         CASE WHEN a.grantee = 0 THEN 'PUBLIC'
              WHEN a.grantee = ext.extowner THEN '<owner>'
              ELSE pg_get_userbyid(a.grantee)::text END AS grantee,
         a.privilege_type
    FROM objs o CROSS JOIN ext CROSS JOIN LATERAL aclexplode(o.acl) a
   WHERE a.privilege_type <> 'MAINTAIN'
) g(object, grantee, privilege_type)
 GROUP BY object, grantee
 ORDER BY object COLLATE "C", grantee COLLATE "C";

-- Column privileges: what the background workers' role may touch.
SELECT * FROM (
    SELECT a.attrelid::regclass::text AS relation, a.attname::text AS attname,
           pg_get_userbyid(g.grantee)::text AS grantee,
           string_agg(g.privilege_type, ',' ORDER BY g.privilege_type) AS privileges
      FROM pg_attribute a CROSS JOIN LATERAL aclexplode(a.attacl) g
     WHERE a.attrelid IN ('api_keys.keys'::regclass, 'api_keys.usage'::regclass, 'api_keys.events'::regclass)
       AND a.attacl IS NOT NULL
     GROUP BY 1, 2, 3) c
 ORDER BY relation COLLATE "C", attname COLLATE "C", grantee COLLATE "C";

-- The roles the extension creates: the administrators' group, and the role
-- the background workers act as. Neither can log in.
SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolbypassrls FROM pg_roles
 WHERE rolname IN ('api_keys_admin', 'api_keys_worker') ORDER BY rolname COLLATE "C";

-- 6. Settings (defined when the library loads; load it first). The internal
-- api_keys.current_key is hidden from pg_settings on purpose.
SELECT api_keys.apikey_current_key_id() IS NULL AS library_loaded;
SELECT name, vartype, context, boot_val, unit, min_val, max_val
  FROM pg_settings WHERE name LIKE 'api\_keys.%'
 ORDER BY name COLLATE "C";
