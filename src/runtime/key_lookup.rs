//! The hot path's read: one key by digest, straight through the unique
//! index `api_keys.keys_digest_idx`, without SPI (which builds an executor
//! per call: the largest cost of a verification, measured in bench/), and
//! the `api_keys.verification` row formed from it.
//!
//! Visibility is what SPI would give a VOLATILE function: the command
//! counter is advanced and a fresh transaction snapshot taken per lookup,
//! so a revocation counts from its commit (READ COMMITTED) and the
//! transaction's snapshot is used under REPEATABLE READ and SERIALIZABLE.
//!
//! The relation, index and row type are the extension's own, found by OID
//! ([`crate::runtime::catalog`]); their attribute numbers are looked up once
//! per backend and again whenever the catalog cache is forgotten, so a
//! re-created extension or an older release's table (without the rate-limit
//! columns, before `ALTER EXTENSION api_keys UPDATE`) is found as it is.
//!
//! The found row's values point into a pinned buffer of the table: they
//! never leave this module. [`KeyRow`] hands out copies and typed answers.

use std::cell::Cell;

use std::net::IpAddr;

use api_keys_core::cidr;
use api_keys_core::code::Code;
use api_keys_core::quota::Period;
use api_keys_core::scope::{self, Scope};
use pgrx::datum::Interval;
use pgrx::heap_tuple::PgHeapTuple;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::{AllocatedByRust, PgMemoryContexts, PgTupleDesc};

use crate::error::{Error, Result};
use crate::runtime::limits::KeyLimits;
use crate::runtime::{catalog, compat};

/// Attribute numbers of the columns verification reads.
#[derive(Clone, Copy, Debug)]
struct Columns {
    id: i16,
    owner: i16,
    name: i16,
    scopes: i16,
    environment: i16,
    metadata: i16,
    expires_at: i16,
    revoked_at: i16,
    grace_expires_at: i16,
    allowed_cidrs: i16,
    last_used_at: i16,
    /// Absent in an older release's table.
    rate_limit: Option<i16>,
    rate_window: Option<i16>,
    quota: Option<i16>,
    quota_period: Option<i16>,
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
    /// The key table as last found, with the catalog generation it is from.
    static KEY_TABLE: Cell<Option<(u64, KeyTable)>> = const { Cell::new(None) };
    /// A copy of the answer row's descriptor (in `CacheMemoryContext`), with
    /// the type and the type cache's identifier of the shape it copies.
    static ANSWER_DESC: Cell<Option<(pg_sys::Oid, u64, pg_sys::TupleDesc)>> =
        const { Cell::new(None) };
}

fn attnum(relation: pg_sys::Oid, name: &std::ffi::CStr) -> Option<i16> {
    // SAFETY: a syscache lookup by a valid relation OID and a C string.
    let n = unsafe { pg_sys::get_attnum(relation, name.as_ptr()) };
    (n > 0).then_some(n)
}

fn missing() -> Error {
    Error::Internal("api_keys.keys is missing or damaged; re-create the extension".into())
}

fn key_table() -> Result<KeyTable> {
    let members = catalog::members()?;
    let generation = catalog::generation();
    if let Some((g, t)) = KEY_TABLE.with(Cell::get) {
        if g == generation && t.relation == members.keys {
            return Ok(t);
        }
    }
    let relation = members.keys;
    let col = |name: &std::ffi::CStr| attnum(relation, name).ok_or_else(missing);
    let table = KeyTable {
        relation,
        digest_index: members.keys_digest_idx,
        verification_type: members.verification,
        columns: Columns {
            id: col(c"id")?,
            owner: col(c"owner")?,
            name: col(c"name")?,
            scopes: col(c"scopes")?,
            environment: col(c"environment")?,
            metadata: col(c"metadata")?,
            expires_at: col(c"expires_at")?,
            revoked_at: col(c"revoked_at")?,
            grace_expires_at: col(c"grace_expires_at")?,
            allowed_cidrs: col(c"allowed_cidrs")?,
            last_used_at: col(c"last_used_at")?,
            rate_limit: attnum(relation, c"rate_limit"),
            rate_window: attnum(relation, c"rate_window"),
            quota: attnum(relation, c"quota"),
            quota_period: attnum(relation, c"quota_period"),
        },
    };
    KEY_TABLE.with(|t| t.set(Some((generation, table))));
    Ok(table)
}

/// Whether this database's key table has this library's columns (false
/// while it still has an older release's schema).
pub fn schema_is_current() -> Result<bool> {
    Ok(key_table()?.columns.quota.is_some())
}

/// A key row found by [`find`], readable while the lookup lasts.
pub struct KeyRow {
    slot: *mut pg_sys::TupleTableSlot,
    table: KeyTable,
}

impl KeyRow {
    /// The raw value of a column, pointing into the table's buffer for
    /// by-reference types.
    fn datum(&self, attnum: i16) -> Option<pg_sys::Datum> {
        let i = (attnum - 1) as usize;
        // SAFETY: `find` deformed every attribute of the slot, and the slot
        // lives (pinned) for as long as `self` is borrowed.
        unsafe {
            if *(*self.slot).tts_isnull.add(i) {
                None
            } else {
                Some(*(*self.slot).tts_values.add(i))
            }
        }
    }

    /// A column converted to an owned Rust value.
    fn get<T: FromDatum>(&self, attnum: i16) -> Option<T> {
        let d = self.datum(attnum)?;
        // SAFETY: the column's type is the one `T` reads (the table's
        // definition fixes it); the value is copied out.
        unsafe { T::from_datum(d, false) }
    }

    /// A timestamptz column, in microseconds since 2000-01-01.
    fn timestamp(&self, attnum: i16) -> Option<i64> {
        self.datum(attnum).map(|d| d.value() as i64)
    }

    pub fn key_id(&self) -> pgrx::Uuid {
        self.get::<pgrx::Uuid>(self.table.columns.id)
            .expect("id is NOT NULL")
    }

    pub fn owner(&self) -> String {
        self.get::<String>(self.table.columns.owner)
            .unwrap_or_default()
    }

    pub fn is_revoked(&self) -> bool {
        self.datum(self.table.columns.revoked_at).is_some()
    }

    /// Whether the key's expiry or its rotation grace has passed at `now`.
    pub fn has_expired(&self, now: i64) -> bool {
        let c = self.table.columns;
        let passed = |at: i16| self.timestamp(at).is_some_and(|t| t <= now);
        passed(c.expires_at) || passed(c.grace_expires_at)
    }

    /// When the key was last used, as stored.
    pub fn last_used_at(&self) -> Option<i64> {
        self.timestamp(self.table.columns.last_used_at)
    }

    /// The granted scopes, normalized, as owned strings (for the request
    /// context).
    pub fn scopes(&self) -> Vec<String> {
        self.get::<Vec<String>>(self.table.columns.scopes)
            .unwrap_or_default()
    }

    /// Whether a granted scope covers `required`, matched on the stored
    /// array's elements where they lie.
    pub fn scopes_cover(&self, required: &Scope) -> bool {
        self.with_text_array(self.table.columns.scopes, |granted| {
            scope::any_covers(granted, required)
        })
        .unwrap_or(false)
    }

    /// Whether the allowed networks let `client_ip` in: no list lets every
    /// address in, a list lets no unknown address in. Matched on the
    /// stored array's elements where they lie.
    pub fn network_allows(&self, client_ip: Option<IpAddr>) -> bool {
        let c = self.table.columns;
        match (self.datum(c.allowed_cidrs), client_ip) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(ip)) => self
                .with_text_array(c.allowed_cidrs, |allowed| cidr::any_contains(allowed, ip))
                .unwrap_or(false),
        }
    }

    /// `f` over the elements of a `text[]` column (NULL elements skipped),
    /// read where they lie in the table's buffer (or in a detoasted copy),
    /// never converted to owned strings.
    fn with_text_array<R>(
        &self,
        attnum: i16,
        f: impl FnOnce(&mut dyn Iterator<Item = &str>) -> R,
    ) -> Option<R> {
        let d = self.datum(attnum)?;
        // SAFETY: the column is a text[]: its datum points to an array
        // varlena in the pinned buffer, which outlives this call.
        unsafe { text_array::with_elements(d, f) }
    }

    /// The key's own rate limit and quota.
    pub fn limits(&self) -> KeyLimits {
        let c = self.table.columns;
        let rate = c.rate_limit.zip(c.rate_window).and_then(|(limit, window)| {
            let limit = self.get::<i32>(limit)?;
            let window = self.datum(window)?;
            // SAFETY: rate_window is an interval column: its datum points to
            // an Interval in the pinned buffer, read here and not kept.
            let iv = unsafe { &*(window.cast_mut_ptr::<pg_sys::Interval>()) };
            let micros = api_keys_core::interval::total_micros(iv.month, iv.day, iv.time);
            Some((limit.max(0) as u32, (micros / 1000) as i64))
        });
        let quota = c.quota.zip(c.quota_period).and_then(|(quota, period)| {
            let quota = self.get::<i64>(quota)?;
            let period = self.with_text(period, |p| Period::parse(p).ok())??;
            Some((quota.max(0) as u64, period))
        });
        KeyLimits { rate, quota }
    }

    /// `f` over a text column's value, read where it lies.
    fn with_text<R>(&self, attnum: i16, f: impl FnOnce(&str) -> R) -> Option<R> {
        let d = self.datum(attnum)?;
        // SAFETY: a text column; the &str borrowed from it lives only for
        // this call, while the buffer is pinned.
        let text = unsafe { <&str as FromDatum>::from_datum(d, false) }?;
        Some(f(text))
    }

    /// The `api_keys.verification` row answering `code` for this key, with
    /// the limits' `remaining` and `retry_after`; with `in_full` its name,
    /// scopes, environment, metadata and expiry too, else only its id and
    /// owner. The values are copied out of the table's buffer.
    pub fn answer(
        &self,
        code: Code,
        limited: Limited,
        in_full: bool,
    ) -> Result<PgHeapTuple<'static, AllocatedByRust>> {
        let c = self.table.columns;
        let detail = |attnum| if in_full { self.datum(attnum) } else { None };
        let found = [
            self.datum(c.id),
            self.datum(c.owner),
            detail(c.name),
            detail(c.scopes),
            detail(c.environment),
            detail(c.metadata),
            detail(c.expires_at),
        ];
        form_answer(self.table.verification_type, code, found, limited)
    }
}

/// The `api_keys.verification` row answering `code` when no key was found.
pub fn answer_without_key(code: Code) -> Result<PgHeapTuple<'static, AllocatedByRust>> {
    form_answer(
        key_table()?.verification_type,
        code,
        [None; 7],
        Limited::default(),
    )
}

/// What the limits add to an answer row.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limited {
    /// Requests left under the tightest limit.
    pub remaining: Option<u64>,
    /// For a refusal: seconds until a retry can succeed.
    pub retry_after: Option<u32>,
}

/// The descriptor of the answer row type, copied once per backend and
/// again whenever the type cache says the type's shape changed (an older
/// release's type has fewer fields, until `ALTER EXTENSION api_keys
/// UPDATE`). A replaced copy is not freed: a row formed with it may not
/// have been turned into a datum yet (a few hundred bytes per change).
fn answer_desc(verification_type: pg_sys::Oid) -> Result<pg_sys::TupleDesc> {
    // SAFETY: the type cache entry of a type found through the extension's
    // pg_depend entries (an unknown type raises an ERROR); its descriptor
    // is copied before anything can invalidate it.
    unsafe {
        let entry = pg_sys::lookup_type_cache(verification_type, pg_sys::TYPECACHE_TUPDESC as i32);
        let (desc, identifier) = ((*entry).tupDesc, (*entry).tupDesc_identifier);
        if desc.is_null() {
            return Err(Error::Internal(
                "type api_keys.verification is missing; re-create the extension".into(),
            ));
        }
        if let Some((t, i, copy)) = ANSWER_DESC.with(Cell::get) {
            if t == verification_type && i == identifier {
                return Ok(copy);
            }
        }
        let copy =
            PgMemoryContexts::CacheMemoryContext.switch_to(|_| pg_sys::CreateTupleDescCopy(desc));
        ANSWER_DESC.with(|c| c.set(Some((verification_type, identifier, copy))));
        Ok(copy)
    }
}

/// Form the answer row (copying by-reference values) from the code, the
/// key's `(id, owner, name, scopes, environment, metadata, expires_at)`
/// and what its limits decided.
fn form_answer(
    verification_type: pg_sys::Oid,
    code: Code,
    found: [Option<pg_sys::Datum>; 7],
    limited: Limited,
) -> Result<PgHeapTuple<'static, AllocatedByRust>> {
    let desc = answer_desc(verification_type)?;
    let [id, owner, name, scopes, environment, metadata, expires_at] = found;
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let fields = [
        (code == Code::Valid).into_datum(),
        code.as_str().into_datum(),
        id,
        owner,
        name,
        scopes,
        environment,
        metadata,
        expires_at,
        limited.remaining.map(clamp).into_datum(),
        limited.retry_after.map(u64::from).map(clamp).into_datum(),
    ];
    // An older release's type has fewer fields (before ALTER EXTENSION UPDATE).
    // SAFETY: `desc` lives for the backend (see `answer_desc`); the fields
    // match the type's in order and type, and forming the tuple copies them
    // out of the buffer.
    let natts = unsafe { (*desc).natts } as usize;
    unsafe {
        PgHeapTuple::from_datums(
            PgTupleDesc::from_pg_unchecked(desc),
            fields.into_iter().take(natts),
        )
    }
    .map_err(|e| Error::Internal(format!("cannot form api_keys.verification: {e}")))
}

/// Fetch the next row version the index scan finds that `scan`'s snapshot
/// sees into `slot` (through `version`, which must outlive the slot's use).
///
/// What `index_getnext_slot` does, without pruning the heap page: the
/// executor's fetch prunes dead row versions on the way (for this table,
/// those the background store's `last_used_at` updates leave), which
/// writes WAL, a full-page image when it is the page's first change after
/// a checkpoint (measured: 142 bytes per verification of random keys). A
/// verification writes nothing: pruning is left to the writers and VACUUM.
///
/// # Safety
/// `heap` and `scan` are open, `scan` rescanned with its keys.
unsafe fn next_visible(
    heap: pg_sys::Relation,
    scan: pg_sys::IndexScanDesc,
    slot: *mut pg_sys::TupleTableSlot,
    version: &mut pg_sys::HeapTupleData,
) -> bool {
    let forward = pg_sys::ScanDirection::ForwardScanDirection;
    // SAFETY (for the function): the steps of `heapam_index_fetch_tuple`
    // (pin the page, share-lock it, search the HOT chain from the index's
    // TID with the scan's snapshot, unlock) but `heap_page_prune_opt`;
    // the slot takes its own pin on the page of the version it stores.
    unsafe {
        if (*(*heap).rd_rel).relam != pg_sys::HEAP_TABLE_AM_OID {
            return pg_sys::index_getnext_slot(scan, forward, slot);
        }
        let mut buffer: pg_sys::Buffer = 0; // InvalidBuffer
        let mut found = false;
        loop {
            let tid = pg_sys::index_getnext_tid(scan, forward);
            if tid.is_null() {
                break;
            }
            let block = ((*tid).ip_blkid.bi_hi as u32) << 16 | (*tid).ip_blkid.bi_lo as u32;
            buffer = pg_sys::ReleaseAndReadBuffer(buffer, heap, block);
            pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_SHARE as i32);
            let mut all_dead = false;
            found = pg_sys::heap_hot_search_buffer(
                tid,
                heap,
                buffer,
                (*scan).xs_snapshot,
                version,
                &mut all_dead,
                true,
            );
            pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_UNLOCK as i32);
            // As index_fetch_heap: an index entry whose versions are all
            // dead is marked so (a hint, no WAL) when the scan moves on.
            if !(*scan).xactStartedInRecovery {
                (*scan).kill_prior_tuple = all_dead;
            }
            if found {
                pg_sys::ExecStoreBufferHeapTuple(version, slot, buffer);
                break;
            }
        }
        if buffer != 0 {
            pg_sys::ReleaseBuffer(buffer);
        }
        found
    }
}

/// Look up the key with the first of `digests` that is stored, and give it
/// (or None) to `f` while its row is readable.
pub fn find<R>(digests: &[[u8; 32]], f: impl FnOnce(Option<&KeyRow>) -> R) -> Result<R> {
    let table = key_table()?;
    let values: Vec<pg_sys::Datum> = digests
        .iter()
        .map(|d| (&d[..]).into_datum().expect("a bytea"))
        .collect();
    let eq = pg_sys::Oid::from(pg_sys::F_BYTEAEQ);
    // SAFETY: the relation and index are the extension's key table and its
    // digest index, found by OID in this backend; a bytea compared with
    // byteaeq.
    Ok(unsafe {
        probe(
            table.relation,
            table.digest_index,
            Some(eq),
            &values,
            |slot| f(slot.map(|slot| KeyRow { slot, table }).as_ref()),
        )
    })
}

/// Probe `index` of `relation` for the first of `values` (compared with the
/// index's first column by `eq`) that is stored, or with no `eq` for any
/// row, and give the row's slot (or None) to `f` while its buffer is pinned
/// and every attribute is deformed.
///
/// Visibility is what SPI would give a VOLATILE function: the command
/// counter is advanced and a fresh transaction snapshot taken.
///
/// # Safety
/// `relation` and `index` are a table and one of its indexes, looked up in
/// this transaction; `values` are of the index column's type and `eq` its
/// equality function. The slot must not be used after `f` returns.
unsafe fn probe<R>(
    relation: pg_sys::Oid,
    index: pg_sys::Oid,
    eq: Option<pg_sys::Oid>,
    values: &[pg_sys::Datum],
    f: impl FnOnce(Option<*mut pg_sys::TupleTableSlot>) -> R,
) -> R {
    let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    // SAFETY: everything opened here is closed before returning, in reverse
    // order (the relations' locks kept to the end of the transaction), and
    // the slot (which pins the buffer) outlives every use of it by `f`. An
    // ERROR raised inside unwinds through PostgreSQL's resource owners,
    // which release the locks, pins and snapshot.
    unsafe {
        pg_sys::CommandCounterIncrement();
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot());
        let heap = pg_sys::table_open(relation, lock);
        let index = pg_sys::index_open(index, lock);
        let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
        let nkeys = i32::from(eq.is_some());
        let scan = compat::index_beginscan(heap, index, snapshot, nkeys);
        // The found row version; the slot points to it (and pins its page).
        let mut version: pg_sys::HeapTupleData = std::mem::zeroed();
        let mut next = |scan, slot| next_visible(heap, scan, slot, &mut version);
        let found = match eq {
            None => {
                pg_sys::index_rescan(scan, std::ptr::null_mut(), 0, std::ptr::null_mut(), 0);
                next(scan, slot)
            }
            Some(eq) => values.iter().any(|value| {
                let mut key: pg_sys::ScanKeyData = std::mem::zeroed();
                pg_sys::ScanKeyEntryInitialize(
                    &mut key,
                    0,
                    1,
                    pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                    pg_sys::InvalidOid,
                    *(*index).rd_indcollation,
                    eq,
                    *value,
                );
                pg_sys::index_rescan(scan, &mut key, 1, std::ptr::null_mut(), 0);
                next(scan, slot)
            }),
        };
        let result = if found {
            pg_sys::slot_getsomeattrs(slot, (*(*heap).rd_att).natts);
            f(Some(slot))
        } else {
            f(None)
        };
        pg_sys::index_endscan(scan);
        pg_sys::ExecDropSingleTupleTableSlot(slot);
        // The locks stay to the end of the transaction, as a query's do
        // (releasing them here cost as much as taking them).
        let kept = pg_sys::NoLock as pg_sys::LOCKMODE;
        pg_sys::index_close(index, kept);
        pg_sys::table_close(heap, kept);
        pg_sys::UnregisterSnapshot(snapshot);
        result
    }
}

/// A column of a found row, copied out.
///
/// # Safety
/// `slot` is a deformed slot handed out by [`probe`], still readable.
unsafe fn column<T: FromDatum>(slot: *mut pg_sys::TupleTableSlot, attnum: i16) -> Option<T> {
    let i = (attnum - 1) as usize;
    // SAFETY: as the caller promises; the value is copied by `from_datum`.
    unsafe {
        if *(*slot).tts_isnull.add(i) {
            None
        } else {
            T::from_datum(*(*slot).tts_values.add(i), false)
        }
    }
}

/// One owner's row of `api_keys.owner_limits`: id, rate limit and window,
/// quota and period.
pub type OwnerLimitsRow = (
    pgrx::Uuid,
    Option<i32>,
    Option<Interval>,
    Option<i64>,
    Option<String>,
);

/// Whether any owner has limits, and a reader of one owner's row, through
/// the table's primary key (found by OID like the key table).
pub fn owner_limits(owner: &str) -> Result<(bool, Option<OwnerLimitsRow>)> {
    let members = catalog::members()?;
    let (Some(table), Some(index)) = (members.owner_limits, members.owner_limits_pkey) else {
        return Ok((false, None));
    };
    let col = |name: &std::ffi::CStr| attnum(table, name).ok_or_else(missing);
    let (id, rate, window, quota, period) = (
        col(c"id")?,
        col(c"rate_limit")?,
        col(c"rate_window")?,
        col(c"quota")?,
        col(c"quota_period")?,
    );
    // SAFETY: the extension's own table and its primary key (on owner, a
    // text compared with texteq under the index's collation).
    unsafe {
        if !probe(table, index, None, &[], |slot| slot.is_some()) {
            return Ok((false, None));
        }
        let value = owner.into_datum().expect("a text");
        let eq = pg_sys::Oid::from(pg_sys::F_TEXTEQ);
        let row = probe(table, index, Some(eq), &[value], |slot| {
            slot.map(|slot| {
                (
                    column::<pgrx::Uuid>(slot, id).expect("id is NOT NULL"),
                    column::<i32>(slot, rate),
                    column::<Interval>(slot, window),
                    column::<i64>(slot, quota),
                    column::<String>(slot, period),
                )
            })
        });
        Ok((true, row))
    }
}

/// Reading a `text[]` value in place: its header and elements where they
/// lie, instead of pgrx's `Array` (which looks the element type's layout
/// up and boxes an iterator on every call).
mod text_array {
    use pgrx::pg_sys;

    #[cfg(target_endian = "big")]
    compile_error!("text_array reads varlena headers in their little-endian layout");

    /// Offsets in an `ArrayType` (PostgreSQL's `array.h`): the varlena
    /// header, `ndim`, `dataoffset` (0: no NULL bitmap), `elemtype`, then
    /// `ndim` dimensions and `ndim` lower bounds.
    const NDIM: usize = 4;
    const DATAOFFSET: usize = 8;
    const ELEMTYPE: usize = 12;
    const DIMS: usize = 16;
    /// `MAXALIGN`, and the alignment of text elements (`typalign 'i'`).
    const MAXALIGN: usize = 8;
    const INTALIGN: usize = 4;

    fn align(n: usize, to: usize) -> usize {
        (n + to - 1) & !(to - 1)
    }

    /// A little-endian `u32` at `at` in `bytes`, if there are four bytes.
    fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    }

    /// `f` over the non-NULL elements of the `text[]` value `datum`, or
    /// None when it is not a one-piece text array this can read (then no
    /// element matches).
    ///
    /// # Safety
    /// `datum` is a non-NULL `text[]` value that stays valid for the call.
    pub unsafe fn with_elements<R>(
        datum: pg_sys::Datum,
        f: impl FnOnce(&mut dyn Iterator<Item = &str>) -> R,
    ) -> Option<R> {
        let ptr = datum.cast_mut_ptr::<u8>();
        // SAFETY (for the block): a varlena's first byte says which header
        // it has (little-endian layout, `varatt.h`): `xxxxxx00` a 4-byte
        // header with the total length, `xxxxxxx1` a 1-byte header (`0x01`:
        // a TOAST pointer), `xxxxxx10` compressed. The length is read from
        // the header before any other byte.
        unsafe {
            let first = *ptr;
            if first & 0x03 == 0x00 {
                let len = (ptr as *const u32).read_unaligned() as usize >> 2;
                elements(std::slice::from_raw_parts(ptr, len), f)
            } else if first & 0x01 == 0x01 && first != 0x01 {
                // A short value stored with a 1-byte header: its body is
                // the array after a 4-byte header, shifted by three bytes,
                // so copy it behind one (the element offsets count from
                // there).
                let len = (first >> 1) as usize;
                let mut copy = [0u8; 4 + 127];
                copy[..4].copy_from_slice(&(((len + 3) as u32) << 2).to_le_bytes());
                copy[4..len + 3].copy_from_slice(std::slice::from_raw_parts(ptr.add(1), len - 1));
                elements(&copy[..len + 3], f)
            } else {
                // Compressed or out of line: a plain copy of it, in the
                // current memory context.
                let flat = pg_sys::pg_detoast_datum(ptr as *mut pg_sys::varlena) as *const u8;
                let len = (flat as *const u32).read_unaligned() as usize >> 2;
                elements(std::slice::from_raw_parts(flat, len), f)
            }
        }
    }

    /// `f` over the elements of the array `bytes` (with its 4-byte header);
    /// every offset is checked against its length.
    fn elements<R>(bytes: &[u8], f: impl FnOnce(&mut dyn Iterator<Item = &str>) -> R) -> Option<R> {
        let ndim = u32_at(bytes, NDIM)? as usize;
        let dataoffset = u32_at(bytes, DATAOFFSET)? as usize;
        if u32_at(bytes, ELEMTYPE)? != pg_sys::TEXTOID.to_u32() || ndim > 6 {
            return None;
        }
        let mut count: usize = if ndim == 0 { 0 } else { 1 };
        for d in 0..ndim {
            count = count.checked_mul(u32_at(bytes, DIMS + 4 * d)? as usize)?;
        }
        let bitmap = (dataoffset != 0).then(|| DIMS + 8 * ndim);
        let start = if dataoffset != 0 {
            dataoffset
        } else {
            align(DIMS + 8 * ndim, MAXALIGN)
        };
        let mut at = start;
        let mut i = 0;
        let mut failed = false;
        let mut iter = std::iter::from_fn(|| loop {
            if i >= count || failed {
                return None;
            }
            let index = i;
            i += 1;
            if let Some(b) = bitmap {
                match bytes.get(b + index / 8) {
                    Some(bits) if bits & (1 << (index % 8)) == 0 => continue,
                    Some(_) => {}
                    None => {
                        failed = true;
                        return None;
                    }
                }
            }
            // Elements have 4-byte headers (arrays are built from
            // detoasted values), aligned to 4 bytes from the array's start.
            let element = u32_at(bytes, at)
                .filter(|h| h & 0x03 == 0)
                .map(|h| (h >> 2) as usize)
                .filter(|len| *len >= 4)
                .and_then(|len| Some((bytes.get(at + 4..at.checked_add(len)?)?, len)));
            let Some((text, len)) = element else {
                failed = true;
                return None;
            };
            at = align(at + len, INTALIGN);
            match std::str::from_utf8(text) {
                Ok(s) => return Some(s),
                Err(_) => continue,
            }
        });
        Some(f(&mut iter))
    }
}
