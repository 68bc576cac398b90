//! The extension's own tables, indexes and types, found by OID through the
//! extension's `pg_depend` entries, never by a name: whoever could create or
//! rename objects in a schema could otherwise hand the extension a
//! look-alike table. Cached per backend; forgotten when one of them (or
//! everything) is invalidated, for example by `DROP EXTENSION`.

use std::cell::{Cell, RefCell};

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::{Error, Result};
use crate::runtime::storage::{self, Stmt};

/// What the code uses of the extension's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Members {
    pub extension: pg_sys::Oid,
    /// `api_keys.keys` and its unique digest index.
    pub keys: pg_sys::Oid,
    pub keys_digest_idx: pg_sys::Oid,
    /// The row type `api_keys.verification`.
    pub verification: pg_sys::Oid,
    /// `api_keys.usage` (0.2.0 and later).
    pub usage: Option<pg_sys::Oid>,
    /// `api_keys.events` (0.2.0 and later).
    pub events: Option<pg_sys::Oid>,
    /// `api_keys.owner_limits` and its primary key (0.3.0 and later).
    pub owner_limits: Option<pg_sys::Oid>,
    pub owner_limits_pkey: Option<pg_sys::Oid>,
    /// `api_keys.postgrest_routes` (0.3.0 and later).
    pub postgrest_routes: Option<pg_sys::Oid>,
    /// The role that owns the extension (and its tables).
    pub owner: pg_sys::Oid,
}

thread_local! {
    static MEMBERS: RefCell<Option<Members>> = const { RefCell::new(None) };
    static CALLBACK_REGISTERED: Cell<bool> = const { Cell::new(false) };
    /// Bumped each time the cache is forgotten: what others derive from
    /// the members (a table's column numbers) is as old as this.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// How often the members were forgotten in this backend.
pub fn generation() -> u64 {
    GENERATION.with(Cell::get)
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn forget(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    MEMBERS.with(|m| {
        let mut m = m.borrow_mut();
        let ours = m.as_ref().is_some_and(|m| {
            relid == pg_sys::InvalidOid
                || relid == m.keys
                || relid == m.keys_digest_idx
                || Some(relid) == m.usage
                || Some(relid) == m.owner_limits
                || Some(relid) == m.postgrest_routes
        });
        if ours {
            *m = None;
            GENERATION.with(|g| g.set(g.get() + 1));
        }
    });
}

/// The extension's OID in this database, if it is installed.
pub fn extension_oid() -> Option<pg_sys::Oid> {
    // SAFETY: a catalog lookup by a static name; missing_ok.
    let oid = unsafe { pg_sys::get_extension_oid(c"api_keys".as_ptr(), true) };
    (oid != pg_sys::InvalidOid).then_some(oid)
}

fn missing(what: &str) -> Error {
    Error::Internal(format!(
        "the api_keys extension's {what} is missing; re-create the extension"
    ))
}

/// The extension's objects in this database (cached).
pub fn members() -> Result<Members> {
    if let Some(m) = MEMBERS.with(|m| *m.borrow()) {
        return Ok(m);
    }
    if !CALLBACK_REGISTERED.with(|r| r.replace(true)) {
        // SAFETY: registers a callback that only clears a thread-local; done
        // once per backend.
        unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(forget), pg_sys::Datum::from(0)) };
    }
    let extension = extension_oid().ok_or_else(|| missing("entry in pg_extension"))?;
    let found: Vec<(String, String, pg_sys::Oid)> = Spi::connect(|client| {
        let args: [DatumWithOid; 1] = [extension.into()];
        storage::run(client, Stmt::ExtensionMembers, &args)?
            .map(|r| {
                Ok((
                    r.get::<String>(1)?.unwrap_or_default(),
                    r.get::<String>(2)?.unwrap_or_default(),
                    r.get::<pg_sys::Oid>(3)?.unwrap_or(pg_sys::InvalidOid),
                ))
            })
            .collect::<Result<_>>()
    })?;
    let find = |kind: &str, name: &str| {
        found
            .iter()
            .find(|(k, n, _)| k == kind && n == name)
            .map(|(_, _, oid)| *oid)
    };
    let members = Members {
        extension,
        keys: find("table", "keys").ok_or_else(|| missing("table keys"))?,
        keys_digest_idx: find("index", "keys_digest_idx")
            .ok_or_else(|| missing("index keys_digest_idx"))?,
        verification: find("type", "verification").ok_or_else(|| missing("type verification"))?,
        usage: find("table", "usage"),
        events: find("table", "events"),
        owner_limits: find("table", "owner_limits"),
        owner_limits_pkey: find("index", "owner_limits_pkey"),
        postgrest_routes: find("table", "postgrest_routes"),
        owner: find("owner", "").ok_or_else(|| missing("owner"))?,
    };
    MEMBERS.with(|m| *m.borrow_mut() = Some(members));
    Ok(members)
}

/// Make every backend forget what it cached of `api_keys.owner_limits`,
/// when the current transaction commits.
pub fn invalidate_owner_limits() -> Result<()> {
    if let Some(table) = members()?.owner_limits {
        // SAFETY: queues a relcache invalidation of our own table, sent to
        // every backend at commit (and dropped at abort).
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(table) };
    }
    Ok(())
}

/// Refuse to go on when the names the extension's SQL statements use
/// (`api_keys.keys`, `api_keys.usage`, `api_keys.postgrest_routes`) are
/// not the extension's own tables:
/// statements name their tables, and only a superuser could have renamed or
/// replaced them, but code that runs with more privilege than its caller
/// checks anyway.
pub fn check_names() -> Result<()> {
    let m = members()?;
    // SAFETY: catalog lookups by static names; missing objects come back
    // as InvalidOid.
    let (keys, usage, routes) = unsafe {
        let nsp = pg_sys::get_namespace_oid(c"api_keys".as_ptr(), true);
        (
            pg_sys::get_relname_relid(c"keys".as_ptr(), nsp),
            pg_sys::get_relname_relid(c"usage".as_ptr(), nsp),
            pg_sys::get_relname_relid(c"postgrest_routes".as_ptr(), nsp),
        )
    };
    let found = |oid: pg_sys::Oid| (oid != pg_sys::InvalidOid).then_some(oid);
    if keys != m.keys || found(usage) != m.usage || found(routes) != m.postgrest_routes {
        return Err(Error::Internal(
            "a table the extension's statements name is not the extension's own".into(),
        ));
    }
    Ok(())
}
