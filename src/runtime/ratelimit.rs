//! Rate-limit counters in shared memory: no table row is written per
//! request, so limits cost no write and work in READ ONLY transactions and on
//! a standby (each server counts its own requests). Needs the library in
//! `shared_preload_libraries`; without it, rate-limited keys are refused
//! loudly (see [`admit`]).
//!
//! One open-addressing table of `api_keys.rate_limit_max_keys` keys (twice
//! as many slots), under one LWLock held for a few hundred instructions. A
//! key whose windows are over (idle for two windows) is forgotten: its slot
//! is reused, and a full table is compacted (at most once a second). When
//! every tracked key is still live the table is full and a new key is
//! refused (`rate_limited`, retry after 1 s) rather than let through
//! uncounted.

use std::ffi::CStr;
use std::ptr;

use api_keys_core::ratelimit::{Decision, Window};
use pgrx::pg_sys;

use crate::runtime::{shmem, xact};
use crate::settings::RATE_LIMIT_MAX_KEYS as MAX_KEYS;

/// The segment and its LWLock tranche.
const SEGMENT: &CStr = c"api_keys rate limits";

#[derive(Clone, Copy)]
struct Slot {
    used: bool,
    key: [u8; 16],
    window_ms: i64,
    window: Window,
}

#[repr(C)]
struct Table {
    lock: *mut pg_sys::LWLock,
    /// Slots (a power of two).
    capacity: u32,
    /// Most keys tracked at once (`api_keys.rate_limit_max_keys`).
    max_keys: u32,
    /// Slots taken by keys (stale ones included until a compaction).
    taken: u32,
    /// When the table was last compacted (at most once a second when full).
    compacted_ms: i64,
    slots: [Slot; 0],
}

static mut TABLE: *mut Table = ptr::null_mut();

fn capacity() -> u32 {
    shmem::slots_for(MAX_KEYS.get())
}

fn segment_size() -> usize {
    std::mem::size_of::<Table>() + capacity() as usize * std::mem::size_of::<Slot>()
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
    // the header and `cap` slots.
    unsafe {
        ptr::write(
            table,
            Table {
                lock,
                capacity: cap,
                max_keys: MAX_KEYS.get().max(16) as u32,
                taken: 0,
                compacted_ms: 0,
                slots: [],
            },
        );
        let slots = (*table).slots.as_mut_ptr();
        for i in 0..cap as usize {
            ptr::write(
                slots.add(i),
                Slot {
                    used: false,
                    key: [0; 16],
                    window_ms: 0,
                    window: Window::default(),
                },
            );
        }
    }
}

unsafe fn attach_table(base: *mut std::ffi::c_void) {
    // SAFETY: set once per process at shared-memory startup, before any
    // verification reads it.
    unsafe { TABLE = base as *mut Table };
}

/// Whether the counters exist (the library was preloaded).
pub fn available() -> bool {
    // SAFETY: TABLE is written only at shared-memory startup.
    unsafe { !TABLE.is_null() }
}

/// Milliseconds on the server's clock.
fn now_ms() -> i64 {
    xact::clock() / 1000
}

/// Count one request of `key` against `limit` per `window_ms`. `None`: the
/// library is not preloaded, there are no counters.
pub fn admit(key: &[u8; 16], limit: u32, window_ms: i64) -> Option<Decision> {
    // SAFETY: TABLE is written only at shared-memory startup.
    let table = unsafe { TABLE };
    if table.is_null() {
        return None;
    }
    let now = now_ms();
    // SAFETY: the table lives in shared memory for the server's life; its
    // lock is held while it is read or changed, and `admit_locked` raises no
    // error, so the lock is always released.
    unsafe {
        pg_sys::LWLockAcquire((*table).lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let decision = admit_locked(&mut *table, key, limit, window_ms, now);
        pg_sys::LWLockRelease((*table).lock);
        Some(decision)
    }
}

/// The table is full: refuse rather than let a request through uncounted.
const FULL: Decision = Decision {
    admitted: false,
    remaining: 0,
    retry_after_secs: 1,
    reset_secs: 1,
};

/// Find or place `key` and decide. Runs under the table's lock: no error;
/// allocates only to compact a full table.
fn admit_locked(
    table: &mut Table,
    key: &[u8; 16],
    limit: u32,
    window_ms: i64,
    now: i64,
) -> Decision {
    let idx = match place(table, key, window_ms, now) {
        Some(idx) => idx,
        None if now - table.compacted_ms < 1000 => return FULL,
        None => {
            table.compacted_ms = now;
            compact(table, now);
            match place(table, key, window_ms, now) {
                Some(idx) => idx,
                None => return FULL,
            }
        }
    };
    let slot = &mut slots(table)[idx];
    if slot.window_ms != window_ms {
        // The key's window changed (apikey_update): start counting afresh.
        slot.window_ms = window_ms;
        slot.window = Window::default();
    }
    slot.window.admit(now, limit, window_ms)
}

fn slots(table: &mut Table) -> &mut [Slot] {
    // SAFETY: `capacity` slots follow the header (see `segment_size`).
    unsafe { std::slice::from_raw_parts_mut(table.slots.as_mut_ptr(), table.capacity as usize) }
}

/// Key ids are random UUIDs: their first bytes are hash enough.
fn hash(key: &[u8; 16]) -> u64 {
    u64::from_le_bytes(key[..8].try_into().expect("8 bytes"))
}

/// The slot of `key`: where it is, or a stale slot on its probe path, or a
/// new one while fewer than `max_keys` are taken. None: the table is full.
fn place(table: &mut Table, key: &[u8; 16], window_ms: i64, now: i64) -> Option<usize> {
    let (taken, max_keys, capacity) = (table.taken, table.max_keys, table.capacity);
    let slots = slots(table);
    let mut reusable = None;
    let mut empty = None;
    for idx in shmem::probe(hash(key), capacity) {
        let slot = &slots[idx];
        if !slot.used {
            empty = Some(idx);
            break;
        }
        if slot.key == *key {
            return Some(idx);
        }
        if reusable.is_none() && slot.window.is_stale(now, slot.window_ms) {
            reusable = Some(idx);
        }
    }
    let fresh = Slot {
        used: true,
        key: *key,
        window_ms,
        window: Window::default(),
    };
    if let Some(idx) = reusable {
        slots[idx] = fresh;
        return Some(idx);
    }
    match empty {
        Some(idx) if taken < max_keys => {
            slots[idx] = fresh;
            table.taken += 1;
            Some(idx)
        }
        _ => None,
    }
}

/// Drop every stale key and lay the live ones out again (open addressing
/// cannot free a slot in place without breaking other keys' probe paths).
fn compact(table: &mut Table, now: i64) {
    let live: Vec<Slot> = slots(table)
        .iter()
        .filter(|s| s.used && !s.window.is_stale(now, s.window_ms))
        .copied()
        .collect();
    for slot in slots(table).iter_mut() {
        slot.used = false;
    }
    table.taken = 0;
    let capacity = table.capacity;
    for slot in live {
        let slots = slots(table);
        if let Some(idx) = shmem::probe(hash(&slot.key), capacity).find(|&i| !slots[i].used) {
            slots[idx] = slot;
            table.taken += 1;
        }
    }
}
