//! The hot path's read: one key by digest, straight through the unique
//! index `api_keys.keys_digest_idx`, without SPI (which builds an executor
//! per call: the largest cost of a verification, measured in bench/).
//!
//! Visibility is what SPI would give a VOLATILE function: the command
//! counter is advanced and a fresh transaction snapshot taken per lookup,
//! so a revocation counts from its commit (READ COMMITTED) and the
//! transaction's snapshot is used under REPEATABLE READ and SERIALIZABLE.
//!
//! Relation, index and attribute numbers are found by name once per backend
//! and forgotten at every relation cache invalidation, so a re-created
//! extension or an older release's table (without the rate-limit columns,
//! before `ALTER EXTENSION api_keys UPDATE`) is found as it is.

use std::cell::Cell;

use pgrx::pg_sys;
use pgrx::prelude::*;

/// Attribute numbers of the columns verification reads.
#[derive(Clone, Copy, Debug)]
pub struct Columns {
    pub id: i16,
    pub owner: i16,
    pub name: i16,
    pub scopes: i16,
    pub environment: i16,
    pub metadata: i16,
    pub expires_at: i16,
    pub revoked_at: i16,
    pub grace_expires_at: i16,
    pub allowed_cidrs: i16,
    pub last_used_at: i16,
    /// Absent in an older release's table.
    pub rate_limit: Option<i16>,
    pub rate_window: Option<i16>,
}

#[derive(Clone, Copy, Debug)]
struct KeyTable {
    relation: pg_sys::Oid,
    digest_index: pg_sys::Oid,
    /// The row type `api_keys.verification`.
    verification_type: pg_sys::Oid,
    columns: Columns,
}

thread_local! {
    static KEY_TABLE: Cell<Option<KeyTable>> = const { Cell::new(None) };
    static INVALIDATION_REGISTERED: Cell<bool> = const { Cell::new(false) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn forget(_arg: pg_sys::Datum, _relid: pg_sys::Oid) {
    KEY_TABLE.with(|t| t.set(None));
}

fn attnum(relation: pg_sys::Oid, name: &std::ffi::CStr) -> Option<i16> {
    let n = unsafe { pg_sys::get_attnum(relation, name.as_ptr()) };
    (n > 0).then_some(n)
}

fn key_table() -> KeyTable {
    if let Some(t) = KEY_TABLE.with(Cell::get) {
        return t;
    }
    if !INVALIDATION_REGISTERED.with(Cell::get) {
        unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(forget), pg_sys::Datum::from(0)) };
        INVALIDATION_REGISTERED.with(|r| r.set(true));
    }
    let missing =
        || -> ! { error!("api_keys.keys is missing or damaged; re-create the extension") };
    let (relation, digest_index, verification_type) = unsafe {
        let nsp = pg_sys::get_namespace_oid(c"api_keys".as_ptr(), false);
        (
            pg_sys::get_relname_relid(c"keys".as_ptr(), nsp),
            pg_sys::get_relname_relid(c"keys_digest_idx".as_ptr(), nsp),
            pg_sys::GetSysCacheOid(
                pg_sys::SysCacheIdentifier::TYPENAMENSP as _,
                pg_sys::Anum_pg_type_oid as _,
                pg_sys::Datum::from(c"verification".as_ptr()),
                pg_sys::Datum::from(nsp),
                pg_sys::Datum::from(0),
                pg_sys::Datum::from(0),
            ),
        )
    };
    if relation == pg_sys::InvalidOid
        || digest_index == pg_sys::InvalidOid
        || verification_type == pg_sys::InvalidOid
    {
        missing();
    }
    let col = |name: &std::ffi::CStr| attnum(relation, name).unwrap_or_else(|| missing());
    let table = KeyTable {
        relation,
        digest_index,
        verification_type,
        columns: Columns {
            id: col(c"id"),
            owner: col(c"owner"),
            name: col(c"name"),
            scopes: col(c"scopes"),
            environment: col(c"environment"),
            metadata: col(c"metadata"),
            expires_at: col(c"expires_at"),
            revoked_at: col(c"revoked_at"),
            grace_expires_at: col(c"grace_expires_at"),
            allowed_cidrs: col(c"allowed_cidrs"),
            last_used_at: col(c"last_used_at"),
            rate_limit: attnum(relation, c"rate_limit"),
            rate_window: attnum(relation, c"rate_window"),
        },
    };
    KEY_TABLE.with(|t| t.set(Some(table)));
    table
}

/// The row type `api_keys.verification`.
pub fn verification_type() -> pg_sys::Oid {
    key_table().verification_type
}

/// Whether this database's key table has this library's columns (false
/// while it still has an older release's schema).
pub fn schema_is_current() -> bool {
    key_table().columns.rate_limit.is_some()
}

/// A key row found by [`find`], readable while the lookup lasts.
pub struct KeyRow {
    slot: *mut pg_sys::TupleTableSlot,
    pub columns: Columns,
}

impl KeyRow {
    /// The raw value of a column (pointing into the table's buffer for
    /// by-reference types: copy it before the lookup ends).
    pub fn datum(&self, attnum: i16) -> Option<pg_sys::Datum> {
        let i = (attnum - 1) as usize;
        unsafe {
            if *(*self.slot).tts_isnull.add(i) {
                None
            } else {
                Some(*(*self.slot).tts_values.add(i))
            }
        }
    }

    pub fn is_null(&self, attnum: i16) -> bool {
        self.datum(attnum).is_none()
    }

    /// A timestamptz column, in microseconds since 2000-01-01.
    pub fn timestamp(&self, attnum: i16) -> Option<i64> {
        self.datum(attnum).map(|d| d.value() as i64)
    }

    pub fn get<T: FromDatum>(&self, attnum: i16) -> Option<T> {
        let d = self.datum(attnum)?;
        unsafe { T::from_datum(d, false) }
    }

    pub fn key_id(&self) -> pgrx::Uuid {
        self.get::<pgrx::Uuid>(self.columns.id)
            .expect("id is NOT NULL")
    }

    /// The key's rate limit as (requests, window in milliseconds).
    pub fn rate_limit(&self) -> Option<(i32, i64)> {
        let limit = self.get::<i32>(self.columns.rate_limit?)?;
        let window = self.datum(self.columns.rate_window?)?;
        let iv = unsafe { &*(window.cast_mut_ptr::<pg_sys::Interval>()) };
        let micros = api_keys_core::interval::total_micros(iv.month, iv.day, iv.time);
        Some((limit, (micros / 1000) as i64))
    }
}

/// Look up the key with the first of `digests` that is stored, and give it
/// (or None) to `f` while its row is readable.
pub fn find<R>(digests: &[[u8; 32]], f: impl FnOnce(Option<&KeyRow>) -> R) -> R {
    let table = key_table();
    unsafe {
        // What SPI does for a VOLATILE function: see this transaction's own
        // earlier changes, then take a fresh snapshot.
        pg_sys::CommandCounterIncrement();
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot());
        let heap = pg_sys::table_open(table.relation, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let index = pg_sys::index_open(
            table.digest_index,
            pg_sys::AccessShareLock as pg_sys::LOCKMODE,
        );
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        #[cfg(not(feature = "pg18"))]
        let scan = pg_sys::index_beginscan(heap, index, snapshot, 1, 0);
        // PostgreSQL 18 takes an instrumentation struct (none here).
        #[cfg(feature = "pg18")]
        let scan = pg_sys::index_beginscan(heap, index, snapshot, std::ptr::null_mut(), 1, 0);
        let mut found = false;
        for digest in digests {
            let value = (&digest[..]).into_datum().expect("a bytea");
            let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
            pg_sys::ScanKeyInit(
                &mut key,
                1,
                pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                pg_sys::Oid::from(pg_sys::F_BYTEAEQ),
                value,
            );
            pg_sys::index_rescan(scan, &mut key, 1, std::ptr::null_mut(), 0);
            if pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot) {
                found = true;
                break;
            }
        }
        let result = if found {
            let natts = (*(*heap).rd_att).natts;
            pg_sys::slot_getsomeattrs(slot, natts);
            f(Some(&KeyRow {
                slot,
                columns: table.columns,
            }))
        } else {
            f(None)
        };
        pg_sys::index_endscan(scan);
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        pg_sys::index_close(index, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        pg_sys::table_close(heap, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        pg_sys::UnregisterSnapshot(snapshot);
        result
    }
}
