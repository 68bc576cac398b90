//! The extension's shared-memory segments (rate limits, usage counts): asked
//! for when the library is loaded by `shared_preload_libraries`, each with
//! one LWLock of its own, set up once by the postmaster.

use std::ffi::{c_void, CStr};

use pgrx::pg_sys;

/// One segment: its name (also its LWLock tranche's), its size, and how to
/// set it up the first time and find it in this process.
pub struct Segment {
    pub name: &'static CStr,
    pub size: fn() -> usize,
    /// Write a new segment at `base` (uninitialized memory) guarded by `lock`.
    pub init: unsafe fn(base: *mut c_void, lock: *mut pg_sys::LWLock),
    /// Remember where the segment is.
    pub attach: unsafe fn(base: *mut c_void),
}

// Registered during `_PG_init`, read by the postmaster's hooks: one thread.
// Reached through raw pointers (`&raw`), as `static mut` references are not
// allowed; clippy's deref_addrof does not know that.
static mut SEGMENTS: Vec<&'static Segment> = Vec::new();
static mut PREV_SHMEM_REQUEST: pg_sys::shmem_request_hook_type = None;
static mut PREV_SHMEM_STARTUP: pg_sys::shmem_startup_hook_type = None;

/// Ask for `segment`; only while `shared_preload_libraries` is processed.
#[allow(clippy::deref_addrof)]
pub fn register(segment: &'static Segment) {
    unsafe {
        debug_assert!(pg_sys::process_shared_preload_libraries_in_progress);
        let segments = &mut *(&raw mut SEGMENTS);
        if segments.is_empty() {
            // PostgreSQL 15 and later take requests in their own hook.
            PREV_SHMEM_REQUEST = pg_sys::shmem_request_hook;
            pg_sys::shmem_request_hook = Some(shmem_request);
            PREV_SHMEM_STARTUP = pg_sys::shmem_startup_hook;
            pg_sys::shmem_startup_hook = Some(shmem_startup);
        }
        segments.push(segment);
    }
}

#[allow(clippy::deref_addrof)]
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn shmem_request() {
    unsafe {
        if let Some(prev) = PREV_SHMEM_REQUEST {
            prev();
        }
        for segment in (*(&raw const SEGMENTS)).iter() {
            pg_sys::RequestAddinShmemSpace((segment.size)());
            pg_sys::RequestNamedLWLockTranche(segment.name.as_ptr(), 1);
        }
    }
}

#[allow(clippy::deref_addrof)]
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn shmem_startup() {
    unsafe {
        if let Some(prev) = PREV_SHMEM_STARTUP {
            prev();
        }
        let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock; // AddinShmemInitLock
        pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        for segment in (*(&raw const SEGMENTS)).iter() {
            let mut found = false;
            let base = pg_sys::ShmemInitStruct(segment.name.as_ptr(), (segment.size)(), &mut found);
            if !found {
                let lock = &raw mut (*pg_sys::GetNamedLWLockTranche(segment.name.as_ptr())).lock;
                (segment.init)(base, lock);
            }
            (segment.attach)(base);
        }
        pg_sys::LWLockRelease(init_lock);
    }
}

/// Slots of an open-addressing table for at most `max` entries (at least
/// 16): a power of two, at least twice `max`, so probe paths stay short.
pub fn slots_for(max: i32) -> u32 {
    (max.max(16) as u32).saturating_mul(2).next_power_of_two()
}

/// The slots a linear probe visits, once round a table of `capacity` (a
/// power of two) slots, for an entry that hashes to `hash`.
pub fn probe(hash: u64, capacity: u32) -> impl Iterator<Item = usize> {
    let mask = capacity as usize - 1;
    let start = hash as usize & mask;
    (0..=mask).map(move |i| (start + i) & mask)
}
