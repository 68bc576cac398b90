//! Usage counts without a write per request: verifications are counted per
//! key, day (UTC) and answer code in shared memory, and a background worker
//! per database listed in `api_keys.usage_databases` moves the counts into
//! `api_keys.usage` every `api_keys.usage_flush_interval`. Needs the library
//! in `shared_preload_libraries`.
//!
//! A clean shutdown flushes (the worker flushes when told to stop); a crash
//! loses at most one interval. The table holds at most
//! `api_keys.usage_max_entries` (database, key, day, code) counters between
//! two flushes; beyond that new counters are dropped and the worker logs how
//! many were.

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::ptr;
use std::time::Duration;

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::datum::DatumWithOid;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::shmem;

pub static DATABASES: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static MAX_ENTRIES: GucSetting<i32> = GucSetting::<i32>::new(100_000);
pub static FLUSH_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(10);

/// The segment and its LWLock tranche.
const SEGMENT: &CStr = c"api_keys usage counts";

#[derive(Clone, Copy)]
struct Entry {
    used: bool,
    db: u32,
    key: [u8; 16],
    day: i32,
    code: u8,
    count: u64,
}

const EMPTY: Entry = Entry {
    used: false,
    db: 0,
    key: [0; 16],
    day: 0,
    code: 0,
    count: 0,
};

#[repr(C)]
struct Table {
    lock: *mut pg_sys::LWLock,
    capacity: u32,
    max_entries: u32,
    taken: u32,
    /// Counts that found no room since the last flush.
    dropped: u64,
    entries: [Entry; 0],
}

static mut TABLE: *mut Table = ptr::null_mut();

fn capacity() -> u32 {
    shmem::slots_for(MAX_ENTRIES.get())
}

fn segment_size() -> usize {
    std::mem::size_of::<Table>() + capacity() as usize * std::mem::size_of::<Entry>()
}

fn databases() -> Vec<String> {
    DATABASES
        .get()
        .and_then(|c| c.into_string().ok())
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .collect()
}

/// Define the settings and, when preloaded, ask for shared memory and start
/// one flusher per listed database. Called from `_PG_init`.
pub fn init() {
    if unsafe { !pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    GucRegistry::define_string_guc(
        c"api_keys.usage_databases",
        c"Databases whose verifications are counted in api_keys.usage (comma-separated).",
        c"One background worker per database moves the counts into the table. Empty: no usage counts.",
        &DATABASES,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"api_keys.usage_max_entries",
        c"Most (database, key, day, code) usage counters held between two flushes.",
        c"Beyond it new counters are dropped (and the number dropped is logged).",
        &MAX_ENTRIES,
        16,
        50_000_000,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"api_keys.usage_flush_interval",
        c"Time between two flushes of usage counts into api_keys.usage.",
        c"A crash loses at most this much of the counts.",
        &FLUSH_INTERVAL,
        1,
        3600,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    crate::shmem::register(&SHMEM);
    for db in databases() {
        BackgroundWorkerBuilder::new(&format!("api_keys usage flusher for {db}"))
            .set_type("api_keys usage flusher")
            .set_library("api_keys")
            .set_function("api_keys_usage_flusher")
            .enable_spi_access()
            .set_extra(&db)
            .set_restart_time(Some(Duration::from_secs(5)))
            .load();
    }
}

static SHMEM: crate::shmem::Segment = crate::shmem::Segment {
    name: SEGMENT,
    size: segment_size,
    init: init_table,
    attach: attach_table,
};

unsafe fn init_table(base: *mut std::ffi::c_void, lock: *mut pg_sys::LWLock) {
    let table = base as *mut Table;
    let cap = capacity();
    unsafe {
        ptr::write(
            table,
            Table {
                lock,
                capacity: cap,
                max_entries: MAX_ENTRIES.get().max(16) as u32,
                taken: 0,
                dropped: 0,
                entries: [],
            },
        );
        let entries = (*table).entries.as_mut_ptr();
        for i in 0..cap as usize {
            ptr::write(entries.add(i), EMPTY);
        }
    }
}

unsafe fn attach_table(base: *mut std::ffi::c_void) {
    unsafe { TABLE = base as *mut Table };
}

fn entries(table: &mut Table) -> &mut [Entry] {
    unsafe { std::slice::from_raw_parts_mut(table.entries.as_mut_ptr(), table.capacity as usize) }
}

fn hash(db: u32, key: &[u8; 16], day: i32, code: u8) -> u64 {
    let h = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"))
        ^ (u64::from(db) << 32)
        ^ (u64::from(day as u32) << 8)
        ^ u64::from(code);
    h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32
}

thread_local! {
    /// Whether this backend's database is counted (None: not looked up yet).
    static COUNTED_HERE: Cell<Option<bool>> = const { Cell::new(None) };
}

fn counted_here() -> bool {
    if let Some(known) = COUNTED_HERE.with(Cell::get) {
        return known;
    }
    let counted = unsafe {
        if TABLE.is_null() {
            false
        } else {
            let name = pg_sys::get_database_name(pg_sys::MyDatabaseId);
            !name.is_null() && {
                let name = CStr::from_ptr(name).to_string_lossy().into_owned();
                databases().contains(&name)
            }
        }
    };
    COUNTED_HERE.with(|c| c.set(Some(counted)));
    counted
}

/// Today, in days since 2000-01-01 UTC (PostgreSQL's epoch).
fn today() -> i32 {
    unsafe { (pg_sys::GetCurrentTimestamp() / 86_400_000_000) as i32 }
}

/// Count one verification of `key` answered `code` (an index into the
/// verification codes). No-op unless this database is counted.
pub fn count(key: &[u8; 16], code: u8) {
    // A standby cannot store counts; after a promotion it counts.
    if !counted_here() || unsafe { pg_sys::RecoveryInProgress() } {
        return;
    }
    let table = unsafe { &mut *TABLE };
    let db = unsafe { pg_sys::MyDatabaseId.to_u32() };
    let day = today();
    unsafe { pg_sys::LWLockAcquire(table.lock, pg_sys::LWLockMode::LW_EXCLUSIVE) };
    let (taken, max, capacity) = (table.taken, table.max_entries, table.capacity);
    let mut counted = false;
    let mut took = false;
    {
        let slots = entries(table);
        for i in shmem::probe(hash(db, key, day, code), capacity) {
            let e = &mut slots[i];
            if !e.used {
                if taken < max {
                    *e = Entry {
                        used: true,
                        db,
                        key: *key,
                        day,
                        code,
                        count: 1,
                    };
                    took = true;
                    counted = true;
                }
                break;
            }
            if e.db == db && e.key == *key && e.day == day && e.code == code {
                e.count += 1;
                counted = true;
                break;
            }
        }
    }
    if took {
        table.taken += 1;
    }
    if !counted {
        table.dropped += 1;
    }
    unsafe { pg_sys::LWLockRelease(table.lock) };
}

/// Take this database's counters out of shared memory, and how many counts
/// were dropped for want of room (reset).
fn drain(db: u32) -> (Vec<Entry>, u64) {
    let table = unsafe { &mut *TABLE };
    unsafe { pg_sys::LWLockAcquire(table.lock, pg_sys::LWLockMode::LW_EXCLUSIVE) };
    let mut mine = Vec::new();
    let mut others = Vec::new();
    for e in entries(table).iter_mut() {
        if e.used {
            if e.db == db {
                mine.push(*e);
            } else {
                others.push(*e);
            }
        }
        *e = EMPTY;
    }
    // Open addressing cannot free a slot in place: lay the others out again.
    table.taken = 0;
    let capacity = table.capacity;
    for e in others {
        let slots = entries(table);
        if let Some(i) =
            shmem::probe(hash(e.db, &e.key, e.day, e.code), capacity).find(|&i| !slots[i].used)
        {
            slots[i] = e;
            table.taken += 1;
        }
    }
    let dropped = std::mem::take(&mut table.dropped);
    unsafe { pg_sys::LWLockRelease(table.lock) };
    (mine, dropped)
}

/// Move this database's counts into `api_keys.usage`. Nothing is taken out
/// of shared memory while the extension is not installed here.
fn flush() {
    if unsafe { pg_sys::RecoveryInProgress() } {
        return;
    }
    BackgroundWorker::transaction(|| {
        let installed =
            Spi::get_one::<bool>("SELECT pg_catalog.to_regclass('api_keys.usage') IS NOT NULL")
                .ok()
                .flatten()
                .unwrap_or(false);
        if !installed {
            return;
        }
        let (drained, dropped) = drain(unsafe { pg_sys::MyDatabaseId.to_u32() });
        if dropped > 0 {
            log!("api_keys: {dropped} usage counts dropped: raise api_keys.usage_max_entries");
        }
        if drained.is_empty() {
            return;
        }
        let keys: Vec<pgrx::Uuid> = drained
            .iter()
            .map(|e| pgrx::Uuid::from_bytes(e.key))
            .collect();
        let days: Vec<i32> = drained.iter().map(|e| e.day).collect();
        let codes: Vec<String> = drained
            .iter()
            .map(|e| crate::verify::Code::from_index(e.code).as_str().to_string())
            .collect();
        let counts: Vec<i64> = drained.iter().map(|e| e.count as i64).collect();
        let args: [DatumWithOid; 4] = [keys.into(), days.into(), codes.into(), counts.into()];
        Spi::run_with_args(
            "INSERT INTO api_keys.usage AS u (key_id, day, code, count)
             SELECT k, DATE '2000-01-01' + d, c, n
               FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::int4[]),
                               pg_catalog.unnest($3::text[]), pg_catalog.unnest($4::int8[])) AS t (k, d, c, n)
             ON CONFLICT (key_id, day, code) DO UPDATE SET count = u.count + EXCLUDED.count",
            &args,
        )
        .unwrap_or_else(|e| error!("api_keys: flushing usage counts failed: {e}"));
    });
}

/// The flusher: one per database in `api_keys.usage_databases`.
#[pgrx::pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn api_keys_usage_flusher(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = BackgroundWorker::get_extra().to_string();
    BackgroundWorker::connect_worker_to_spi(Some(&db), None);
    loop {
        let interval = Duration::from_secs(FLUSH_INTERVAL.get().max(1) as u64);
        let go_on = BackgroundWorker::wait_latch(Some(interval));
        if BackgroundWorker::sighup_received() {
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        flush();
        if !go_on {
            break;
        }
    }
}
