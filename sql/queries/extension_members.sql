-- The tables, indexes and types of extension $1, found through its own
-- pg_depend entries (and the indexes of its tables), never by a name a
-- schema's owner could redirect, and the extension's owner: (kind, name,
-- oid).
SELECT 'table', c.relname::pg_catalog.text, c.oid
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
 WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND d.refobjid OPERATOR(pg_catalog.=) $1
   AND d.deptype OPERATOR(pg_catalog.=) 'e'
   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
   AND c.relkind OPERATOR(pg_catalog.=) 'r'
UNION ALL
SELECT 'index', i.relname::pg_catalog.text, i.oid
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_index x ON x.indrelid OPERATOR(pg_catalog.=) d.objid
  JOIN pg_catalog.pg_class i ON i.oid OPERATOR(pg_catalog.=) x.indexrelid
 WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND d.refobjid OPERATOR(pg_catalog.=) $1
   AND d.deptype OPERATOR(pg_catalog.=) 'e'
   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
UNION ALL
SELECT 'type', t.typname::pg_catalog.text, t.oid
  FROM pg_catalog.pg_depend d
  JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) d.objid
 WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND d.refobjid OPERATOR(pg_catalog.=) $1
   AND d.deptype OPERATOR(pg_catalog.=) 'e'
   AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass
UNION ALL
SELECT 'owner', '', e.extowner
  FROM pg_catalog.pg_extension e
 WHERE e.oid OPERATOR(pg_catalog.=) $1
