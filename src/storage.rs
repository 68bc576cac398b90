//! Storage: every statement the extension runs against `api_keys.keys`,
//! prepared once per backend and kept (plancache re-plans them when the
//! table changes, for example after the extension is re-created).
//!
//! All names are schema-qualified: the functions that call into here are
//! SECURITY DEFINER with `search_path = pg_catalog, pg_temp`.

use std::cell::{Cell, RefCell};

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, BuiltinOid, PgOid};
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiResult, SpiTupleTable};

/// A statement the extension prepares once per backend.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(usize)]
pub enum Stmt {
    /// Everything verification needs, by digest. Columns are listed in
    /// [`lookup_columns`].
    Lookup,
    /// [`Stmt::Lookup`] against the 0.1.0 schema (no rate-limit columns),
    /// so verification keeps working between installing a newer library and
    /// `ALTER EXTENSION api_keys UPDATE`.
    LookupSchema010,
    /// Record a successful use, never waiting for another session's lock.
    TouchLastUsed,
    /// Store a new key.
    Insert,
}

const STMT_COUNT: usize = 4;

impl Stmt {
    fn sql(self) -> &'static str {
        match self {
            Stmt::Lookup => {
                "SELECT k.id, k.owner, k.name, k.scopes, k.environment, k.metadata, k.expires_at,
                        k.revoked_at IS NOT NULL,
                        (k.expires_at <= pg_catalog.now() OR k.grace_expires_at <= pg_catalog.now()) IS TRUE,
                        k.allowed_cidrs,
                        (k.last_used_at IS NULL
                         OR k.last_used_at <= pg_catalog.now() - pg_catalog.make_interval(secs => $2)),
                        k.rate_limit,
                        (pg_catalog.date_part('epoch', k.rate_window) * 1000)::int8
                   FROM api_keys.keys k
                  WHERE k.digest = $1"
            }
            Stmt::LookupSchema010 => {
                "SELECT k.id, k.owner, k.name, k.scopes, k.environment, k.metadata, k.expires_at,
                        k.revoked_at IS NOT NULL,
                        (k.expires_at <= pg_catalog.now() OR k.grace_expires_at <= pg_catalog.now()) IS TRUE,
                        k.allowed_cidrs,
                        (k.last_used_at IS NULL
                         OR k.last_used_at <= pg_catalog.now() - pg_catalog.make_interval(secs => $2)),
                        NULL::int4, NULL::int8
                   FROM api_keys.keys k
                  WHERE k.digest = $1"
            }
            Stmt::TouchLastUsed => {
                "UPDATE api_keys.keys k SET last_used_at = pg_catalog.now()
                   FROM (SELECT id FROM api_keys.keys WHERE id = $1 FOR UPDATE SKIP LOCKED) l
                  WHERE k.id = l.id"
            }
            Stmt::Insert => {
                "INSERT INTO api_keys.keys
                        (digest, prefix, owner, name, scopes, allowed_cidrs, environment, metadata,
                         expires_at, rotation_interval, webhook_url, rate_limit, rate_window)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 RETURNING id, created_at"
            }
        }
    }

    fn arg_types(self) -> Vec<PgOid> {
        use BuiltinOid::*;
        let oids: &[BuiltinOid] = match self {
            Stmt::Lookup | Stmt::LookupSchema010 => &[BYTEAOID, FLOAT8OID],
            Stmt::TouchLastUsed => &[UUIDOID],
            Stmt::Insert => &[
                BYTEAOID,
                TEXTOID,
                TEXTOID,
                TEXTOID,
                TEXTARRAYOID,
                TEXTARRAYOID,
                TEXTOID,
                JSONBOID,
                TIMESTAMPTZOID,
                INTERVALOID,
                TEXTOID,
                INT4OID,
                INTERVALOID,
            ],
        };
        oids.iter().map(|o| PgOid::BuiltIn(*o)).collect()
    }

    fn mutating(self) -> bool {
        !matches!(self, Stmt::Lookup | Stmt::LookupSchema010)
    }
}

/// Column ordinals (1-based) of [`Stmt::Lookup`].
pub mod lookup_columns {
    pub const ID: usize = 1;
    pub const OWNER: usize = 2;
    pub const NAME: usize = 3;
    pub const SCOPES: usize = 4;
    pub const ENVIRONMENT: usize = 5;
    pub const METADATA: usize = 6;
    pub const EXPIRES_AT: usize = 7;
    pub const REVOKED: usize = 8;
    pub const EXPIRED: usize = 9;
    pub const ALLOWED_CIDRS: usize = 10;
    pub const TOUCH_DUE: usize = 11;
    pub const RATE_LIMIT: usize = 12;
    pub const RATE_WINDOW_MS: usize = 13;
}

thread_local! {
    static PLANS: RefCell<[Option<OwnedPreparedStatement>; STMT_COUNT]> =
        const { RefCell::new([None, None, None, None]) };

    /// Whether the key table has this library's columns (None: not known
    /// since the last relation cache invalidation).
    static SCHEMA_CURRENT: Cell<Option<bool>> = const { Cell::new(None) };
    static INVALIDATION_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn forget_schema(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    SCHEMA_CURRENT.with(|s| s.set(None));
}

/// Whether this database's `api_keys.keys` has the columns this library
/// uses (false while it still has an older release's schema, before
/// `ALTER EXTENSION api_keys UPDATE`). Cached until the next relation cache
/// invalidation, so the check is two syscache lookups now and then.
pub fn schema_is_current() -> bool {
    if let Some(known) = SCHEMA_CURRENT.with(Cell::get) {
        return known;
    }
    if !INVALIDATION_REGISTERED.with(Cell::get) {
        unsafe {
            pg_sys::CacheRegisterRelcacheCallback(Some(forget_schema), pg_sys::Datum::from(0))
        };
        INVALIDATION_REGISTERED.with(|r| r.set(true));
    }
    let current = unsafe {
        let nsp = pg_sys::get_namespace_oid(c"api_keys".as_ptr(), true);
        let rel = pg_sys::get_relname_relid(c"keys".as_ptr(), nsp);
        // No table at all: say current, and let the statement report it.
        rel == pg_sys::InvalidOid
            || pg_sys::SearchSysCacheExistsAttName(rel, c"rate_limit".as_ptr())
    };
    SCHEMA_CURRENT.with(|s| s.set(Some(current)));
    current
}

/// The lookup statement for this database's schema.
pub fn lookup() -> Stmt {
    if schema_is_current() {
        Stmt::Lookup
    } else {
        Stmt::LookupSchema010
    }
}

/// Run a kept statement with `args` inside an SPI connection.
pub fn run<'conn>(
    client: &SpiClient<'conn>,
    stmt: Stmt,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    let idx = stmt as usize;
    let missing = PLANS.with(|p| p.borrow()[idx].is_none());
    if missing {
        let types = stmt.arg_types();
        let prepared = if stmt.mutating() {
            client.prepare_mut(stmt.sql(), &types)?
        } else {
            client.prepare(stmt.sql(), &types)?
        };
        let kept = prepared.keep();
        PLANS.with(|p| p.borrow_mut()[idx] = Some(kept));
    }
    PLANS.with(|p| {
        let plans = p.borrow();
        let plan = plans[idx].as_ref().expect("plan prepared above");
        // SAFETY: the plan is kept in TopMemoryContext for the backend's life;
        // executing it does not re-enter this module.
        client.select(plan, None, args)
    })
}

/// Whether verification may record usage (`last_used_at`) in this
/// transaction: not READ ONLY, not on a standby, and not under REPEATABLE
/// READ or SERIALIZABLE, where updating a row another session changed after
/// the snapshot would fail the caller's transaction with 40001.
pub fn can_record_usage() -> bool {
    unsafe {
        !pg_sys::XactReadOnly
            && !pg_sys::RecoveryInProgress()
            && pg_sys::XactIsoLevel < pg_sys::XACT_REPEATABLE_READ as i32
    }
}

/// Rows of a one-off (not hot) statement, run with the given arguments.
pub fn select_once<'conn>(
    client: &SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    client.select(sql, None, args)
}

/// Run a one-off statement that writes.
pub fn update_once<'conn>(
    client: &mut SpiClient<'conn>,
    sql: &str,
    args: &[DatumWithOid<'_>],
) -> SpiResult<SpiTupleTable<'conn>> {
    client.update(sql, None, args)
}
