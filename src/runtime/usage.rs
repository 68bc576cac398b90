//! What verification records without writing a row: usage counts (per
//! database, key, UTC day and answer code) and last-used times (per database
//! and key), in shared memory. The background workers
//! ([`crate::runtime::workers`]) store them in `api_keys.usage` and
//! `api_keys.keys.last_used_at` at an interval. Needs the library in
//! `shared_preload_libraries`; without it nothing is recorded here and
//! verification falls back to updating `last_used_at` itself.
//!
//! Entries leave shared memory only after the transaction that stored them
//! committed ([`settle`]); a clean shutdown writes what is left to a file
//! that the next start reads back ([`crate::runtime::persist`]); a crash
//! loses at most one flush interval. When a table holds `max` entries, new ones are
//! dropped and counted (the workers log the count), and the workers are
//! woken early once a table is three-quarters full.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use api_keys_core::code::Code;
use pgrx::pg_sys;

use crate::runtime::shmem::{self, hash_key, Entry, Segment, SharedTable};
use crate::runtime::xact;
use crate::settings;

/// Verifications of `key` in database `db` on `day` answered `code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Count {
    pub db: u32,
    pub key: [u8; 16],
    /// Days since 2000-01-01 (UTC).
    pub day: i32,
    pub code: u8,
    pub count: u64,
}

impl Entry for Count {
    type Key = (u32, [u8; 16], i32, u8);
    fn key(&self) -> Self::Key {
        (self.db, self.key, self.day, self.code)
    }
    fn hash(k: &Self::Key) -> u64 {
        hash_key(k.0, &k.1, (u64::from(k.2 as u32) << 8) | u64::from(k.3))
    }
}

impl Count {
    pub fn code(&self) -> Code {
        Code::from_index(self.code).unwrap_or(Code::Malformed)
    }
}

/// The latest successful use of `key` in database `db`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct LastUse {
    pub db: u32,
    pub key: [u8; 16],
    /// Microseconds since 2000-01-01.
    pub at: i64,
}

impl Entry for LastUse {
    type Key = (u32, [u8; 16]);
    fn key(&self) -> Self::Key {
        (self.db, self.key)
    }
    fn hash(k: &Self::Key) -> u64 {
        hash_key(k.0, &k.1, 0)
    }
}

pub(crate) static COUNTS: SharedTable<Count> = SharedTable::new(c"api_keys usage counts", || {
    settings::USAGE_MAX_ENTRIES.get()
});
pub(crate) static LAST_USES: SharedTable<LastUse> =
    SharedTable::new(c"api_keys last used", || settings::LAST_USED_MAX_KEYS.get());

/// Where the launcher waits, so that a nearly full table can wake it.
struct WakerSegment;
static WAKER_SEGMENT: WakerSegment = WakerSegment;
static WAKER_SHARED: AtomicPtr<WakerShared> = AtomicPtr::new(std::ptr::null_mut());

#[repr(C)]
struct WakerShared {
    latch: AtomicPtr<pg_sys::Latch>,
    woken: AtomicBool,
}

impl Segment for WakerSegment {
    fn name(&self) -> &'static std::ffi::CStr {
        c"api_keys launcher latch"
    }
    fn size(&self) -> usize {
        std::mem::size_of::<WakerShared>()
    }
    unsafe fn init(&self, base: *mut c_void, _lock: *mut pg_sys::LWLock) {
        // SAFETY: `base` has room for a WakerShared.
        unsafe {
            std::ptr::write(
                base as *mut WakerShared,
                WakerShared {
                    latch: AtomicPtr::new(std::ptr::null_mut()),
                    woken: AtomicBool::new(false),
                },
            )
        };
    }
    unsafe fn attach(&self, base: *mut c_void) {
        WAKER_SHARED.store(base as *mut WakerShared, Ordering::Relaxed);
    }
}

fn waker() -> Option<&'static WakerShared> {
    // SAFETY: set at shared-memory startup; the struct lives for the
    // server's life and is made of atomics.
    unsafe { WAKER_SHARED.load(Ordering::Relaxed).as_ref() }
}

/// Ask for the shared memory. Called from `_PG_init` when preloaded.
pub fn init() {
    shmem::register(&COUNTS);
    shmem::register(&LAST_USES);
    shmem::register(&WAKER_SEGMENT);
}

/// The launcher: wake me here.
pub fn set_launcher_latch(latch: *mut pg_sys::Latch) {
    if let Some(w) = waker() {
        w.latch.store(latch, Ordering::Relaxed);
    }
}

/// The launcher: was I woken early (and reset that)?
pub fn take_wake_request() -> bool {
    waker().is_some_and(|w| w.woken.swap(false, Ordering::Relaxed))
}

/// Wake the launcher early, once until it looks.
fn wake_launcher() {
    let Some(w) = waker() else { return };
    if w.woken.swap(true, Ordering::Relaxed) {
        return;
    }
    let latch = w.latch.load(Ordering::Relaxed);
    if !latch.is_null() {
        // SAFETY: the launcher's latch is in its PGPROC in shared memory.
        unsafe { pg_sys::SetLatch(latch) };
    }
}

/// Whether the counters exist (the library was preloaded).
pub fn available() -> bool {
    LAST_USES.available()
}

/// The current database's OID.
pub fn this_database() -> u32 {
    // SAFETY: a global of the current backend.
    unsafe { pg_sys::MyDatabaseId.to_u32() }
}

/// Today, in days since 2000-01-01 UTC (PostgreSQL's epoch).
fn today() -> i32 {
    (xact::clock() / 86_400_000_000) as i32
}

fn nearly_full((taken, max): (u32, u32)) -> bool {
    taken >= max - max / 4
}

/// Record one verification of `key` answered `code`, and with `used` its
/// use at the transaction's time. False when nothing can be recorded here
/// (not preloaded, or a standby: nothing can be stored there).
pub fn record(key: &[u8; 16], code: Code, used: bool) -> bool {
    if !available() || xact::on_standby() {
        return false;
    }
    let db = this_database();
    let counted = COUNTS.locked(|t| {
        let k = (db, *key, today(), code.index());
        let new = || Count {
            db,
            key: *key,
            day: k.2,
            code: k.3,
            count: 0,
        };
        if let Some(e) = t.upsert(&k, new, |_| false) {
            e.count += 1;
        }
        nearly_full(t.fill())
    });
    let used = if used {
        let at = xact::now();
        LAST_USES.locked(|t| {
            let new = || LastUse { db, key: *key, at };
            if let Some(e) = t.upsert(&(db, *key), new, |_| false) {
                e.at = e.at.max(at);
            }
            nearly_full(t.fill())
        })
    } else {
        Some(false)
    };
    if counted == Some(true) || used == Some(true) {
        wake_launcher();
    }
    true
}

/// The unstored last uses of this database's keys.
pub fn pending_last_uses() -> HashMap<pgrx::Uuid, i64> {
    let db = this_database();
    LAST_USES
        .locked(|t| {
            t.entries()
                .filter(|e| e.db == db)
                .map(|e| (pgrx::Uuid::from_bytes(e.key), e.at))
                .collect()
        })
        .unwrap_or_default()
}

/// The databases that have something to store.
pub fn pending_databases() -> Vec<u32> {
    let mut dbs: Vec<u32> = Vec::new();
    COUNTS.locked(|t| dbs.extend(t.entries().map(|e| e.db)));
    LAST_USES.locked(|t| dbs.extend(t.entries().map(|e| e.db)));
    dbs.sort_unstable();
    dbs.dedup();
    dbs
}

/// Copies of database `db`'s entries, to store; they stay in shared memory
/// until [`settle`].
pub fn peek(db: u32) -> (Vec<Count>, Vec<LastUse>) {
    let counts = COUNTS
        .locked(|t| t.entries().filter(|e| e.db == db).map(|e| *e).collect())
        .unwrap_or_default();
    let uses = LAST_USES
        .locked(|t| t.entries().filter(|e| e.db == db).map(|e| *e).collect())
        .unwrap_or_default();
    (counts, uses)
}

/// Take what was stored out of shared memory: the stored counts are
/// subtracted (counting went on meanwhile), the stored times removed unless
/// a later use came in.
pub fn settle(counts: &[Count], uses: &[LastUse]) {
    let stored: HashMap<_, u64> = counts.iter().map(|c| (c.key(), c.count)).collect();
    COUNTS.locked(|t| {
        t.retain(|e| match stored.get(&e.key()) {
            Some(n) => {
                e.count = e.count.saturating_sub(*n);
                e.count > 0
            }
            None => true,
        })
    });
    let stored: HashMap<_, i64> = uses.iter().map(|u| (u.key(), u.at)).collect();
    LAST_USES.locked(|t| t.retain(|e| stored.get(&e.key()).is_none_or(|at| e.at > *at)));
}

/// Valid verifications of the `keys` of this database from day `from` on
/// that are counted here and not stored yet.
pub fn pending_valid(keys: &[[u8; 16]], from: i32) -> u64 {
    let db = this_database();
    let keys: std::collections::HashSet<&[u8; 16]> = keys.iter().collect();
    COUNTS
        .locked(|t| {
            t.entries()
                .filter(|e| {
                    e.db == db
                        && e.day >= from
                        && e.code == Code::Valid.index()
                        && keys.contains(&e.key)
                })
                .map(|e| e.count)
                .sum()
        })
        .unwrap_or(0)
}

/// Forget everything of database `db` (its extension or itself is gone).
pub fn discard(db: u32) {
    COUNTS.locked(|t| t.retain(|e| e.db != db));
    LAST_USES.locked(|t| t.retain(|e| e.db != db));
}

/// How many entries found no room since the last call: (counts, times).
pub fn take_dropped() -> (u64, u64) {
    (
        COUNTS.locked(|t| t.take_dropped()).unwrap_or(0),
        LAST_USES.locked(|t| t.take_dropped()).unwrap_or(0),
    )
}
