//! Usage counts without a write per request: verifications are counted per
//! key, day (UTC) and answer code in shared memory, and moved into
//! `api_keys.usage` by the usage flusher ([`crate::runtime::flusher`]). Needs
//! the library in `shared_preload_libraries`.
//!
//! The table holds at most `api_keys.usage_max_entries` (database, key,
//! day, code) counters between two flushes; beyond that new counters are
//! dropped and the flusher logs how many were.

use std::cell::Cell;
use std::ffi::CStr;
use std::ptr;

use api_keys_core::code::Code;
use pgrx::pg_sys;

use crate::runtime::{shmem, xact};
use crate::settings::{self, USAGE_MAX_ENTRIES as MAX_ENTRIES};

/// The segment and its LWLock tranche.
const SEGMENT: &CStr = c"api_keys usage counts";

/// One counter: verifications of `key` in database `db` on `day` answered
/// `code`.
#[derive(Clone, Copy)]
pub struct Entry {
    used: bool,
    pub db: u32,
    pub key: [u8; 16],
    pub day: i32,
    code: u8,
    pub count: u64,
}

impl Entry {
    pub fn code(&self) -> Code {
        Code::from_index(self.code).unwrap_or(Code::Malformed)
    }
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

/// Ask for the shared memory. Called from `_PG_init` when preloaded.
pub fn init() {
    shmem::register(&SHMEM);
}

static SHMEM: shmem::Segment = shmem::Segment {
    name: SEGMENT,
    size: segment_size,
    init: init_table,
    attach: attach_table,
};

unsafe fn init_table(base: *mut std::ffi::c_void, lock: *mut pg_sys::LWLock) {
    let table = base as *mut Table;
    let cap = capacity();
    // SAFETY: `base` is a fresh segment of `segment_size()` bytes: room for
    // the header and `cap` entries.
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
    // SAFETY: set once per process at shared-memory startup, before any
    // verification reads it.
    unsafe { TABLE = base as *mut Table };
}

/// The shared table, when the library was preloaded.
fn table() -> Option<&'static mut Table> {
    // SAFETY: TABLE is written only at shared-memory startup and then points
    // to the segment for the server's life; callers hold its lock while they
    // read or change entries.
    unsafe { TABLE.as_mut() }
}

/// Run `f` on the table under its lock. `f` must not raise an error.
fn locked<R>(table: &mut Table, f: impl FnOnce(&mut Table) -> R) -> R {
    // SAFETY: the lock lives in shared memory with the table; `f` raises no
    // error, so the lock is always released.
    unsafe { pg_sys::LWLockAcquire(table.lock, pg_sys::LWLockMode::LW_EXCLUSIVE) };
    let r = f(table);
    // SAFETY: acquired above.
    unsafe { pg_sys::LWLockRelease(table.lock) };
    r
}

fn entries(table: &mut Table) -> &mut [Entry] {
    // SAFETY: `capacity` entries follow the header (see `segment_size`).
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

/// The current database's OID.
pub fn this_database() -> u32 {
    // SAFETY: a global of the current backend.
    unsafe { pg_sys::MyDatabaseId.to_u32() }
}

fn counted_here() -> bool {
    if let Some(known) = COUNTED_HERE.with(Cell::get) {
        return known;
    }
    // SAFETY: get_database_name looks up the current database in the
    // syscache; the name is copied at once.
    let counted = table().is_some()
        && unsafe {
            let name = pg_sys::get_database_name(pg_sys::MyDatabaseId);
            !name.is_null() && {
                let name = CStr::from_ptr(name).to_string_lossy().into_owned();
                settings::usage_databases().contains(&name)
            }
        };
    COUNTED_HERE.with(|c| c.set(Some(counted)));
    counted
}

/// Today, in days since 2000-01-01 UTC (PostgreSQL's epoch).
fn today() -> i32 {
    (xact::clock() / 86_400_000_000) as i32
}

/// Count one verification of `key` answered `code`. No-op unless this
/// database is counted.
pub fn count(key: &[u8; 16], code: Code) {
    // A standby cannot store counts; after a promotion it counts.
    if !counted_here() || xact::on_standby() {
        return;
    }
    let Some(table) = table() else { return };
    let (db, day, code) = (this_database(), today(), code.index());
    locked(table, |table| {
        let (taken, max, capacity) = (table.taken, table.max_entries, table.capacity);
        let mut counted = false;
        let mut took = false;
        for i in shmem::probe(hash(db, key, day, code), capacity) {
            let e = &mut entries(table)[i];
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
        if took {
            table.taken += 1;
        }
        if !counted {
            table.dropped += 1;
        }
    });
}

/// Take database `db`'s counters out of shared memory, and how many counts
/// were dropped for want of room (reset).
pub fn drain(db: u32) -> (Vec<Entry>, u64) {
    let Some(table) = table() else {
        return (Vec::new(), 0);
    };
    locked(table, |table| {
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
        (mine, std::mem::take(&mut table.dropped))
    })
}
