//! The extension's shared memory: fixed-size open-addressing hash tables
//! (rate-limit windows, usage counts, last-used times, ...), each in a
//! segment of its own with one LWLock, asked for when the library is loaded
//! by `shared_preload_libraries` and set up once by the postmaster.
//!
//! A [`SharedTable`] holds at most `max` entries in a power-of-two number
//! of slots, at least twice `max`, so probe paths stay short. Every access
//! goes through [`SharedTable::locked`], which holds the lock for a few
//! hundred instructions and raises no error meanwhile.

use std::ffi::{c_void, CStr};
use std::marker::PhantomData;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use pgrx::pg_sys;

/// What a table holds: a small `Copy` record with a key.
pub trait Entry: Copy {
    type Key: Copy + Eq;
    fn key(&self) -> Self::Key;
    /// A well-spread hash of the key.
    fn hash(key: &Self::Key) -> u64;
}

#[derive(Clone, Copy)]
#[repr(C)]
struct Slot<E> {
    used: bool,
    entry: E,
}

/// The table as it lies in shared memory: a header (with room for the
/// owner's own `H`), then the slots.
#[repr(C)]
pub struct Table<E, H = ()> {
    /// Whatever else the table's owner keeps beside the entries.
    pub header: H,
    lock: *mut pg_sys::LWLock,
    capacity: u32,
    max: u32,
    taken: u32,
    /// Set while a process holds the lock and may be changing slots: a table
    /// found with it set after that process died may be half-written.
    busy: bool,
    /// Entries that found no room since [`Table::take_dropped`] last asked.
    dropped: u64,
    slots: [Slot<E>; 0],
}

/// Slots of a table for at most `max` entries (at least 16).
fn slots_for(max: u32) -> u32 {
    max.max(16).saturating_mul(2).next_power_of_two()
}

/// The slots a linear probe visits, once round a table of `capacity` (a
/// power of two) slots, for an entry that hashes to `hash`.
fn probe(hash: u64, capacity: u32) -> impl Iterator<Item = usize> {
    let mask = capacity as usize - 1;
    let start = hash as usize & mask;
    (0..=mask).map(move |i| (start + i) & mask)
}

/// A hash of 16 random bytes (key ids are random UUIDs) mixed with a
/// database OID and a small number.
pub fn hash_key(db: u32, key: &[u8; 16], extra: u64) -> u64 {
    let h = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"))
        ^ (u64::from(db) << 32)
        ^ extra.rotate_left(8);
    h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
}

impl<E: Entry, H> Table<E, H> {
    fn slots(&mut self) -> &mut [Slot<E>] {
        // SAFETY: `capacity` slots follow the header (see `SharedTable::size`).
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr(), self.capacity as usize) }
    }

    /// The entry with `key`, if any.
    pub fn get(&mut self, key: &E::Key) -> Option<&mut E> {
        let capacity = self.capacity;
        let slots = self.slots();
        for i in probe(E::hash(key), capacity) {
            if !slots[i].used {
                return None;
            }
            if slots[i].entry.key() == *key {
                return Some(&mut slots[i].entry);
            }
        }
        None
    }

    /// The entry with `key`, made with `new` when missing and there is room
    /// (a slot whose entry `reusable` says may go, or a free one while fewer
    /// than `max` are taken). None: the table is full; counted as dropped.
    pub fn upsert(
        &mut self,
        key: &E::Key,
        new: impl FnOnce() -> E,
        reusable: impl Fn(&E) -> bool,
    ) -> Option<&mut E> {
        let (capacity, taken, max) = (self.capacity, self.taken, self.max);
        let mut found = None;
        let mut reuse = None;
        let mut free = None;
        let slots = self.slots();
        for i in probe(E::hash(key), capacity) {
            if !slots[i].used {
                free = Some(i);
                break;
            }
            if slots[i].entry.key() == *key {
                found = Some(i);
                break;
            }
            if reuse.is_none() && reusable(&slots[i].entry) {
                reuse = Some(i);
            }
        }
        if let Some(i) = found {
            return Some(&mut self.slots()[i].entry);
        }
        let at = match (reuse, free) {
            (Some(i), _) => i,
            (None, Some(i)) if taken < max => {
                self.taken += 1;
                i
            }
            _ => {
                self.dropped += 1;
                return None;
            }
        };
        let slot = &mut self.slots()[at];
        *slot = Slot {
            used: true,
            entry: new(),
        };
        Some(&mut slot.entry)
    }

    /// Keep only the entries `keep` says to keep (it may change them), and
    /// lay those out again: open addressing cannot free a slot in place
    /// without breaking other entries' probe paths.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut E) -> bool) {
        let mut kept = Vec::with_capacity(self.taken as usize);
        for slot in self.slots().iter_mut() {
            if slot.used && keep(&mut slot.entry) {
                kept.push(slot.entry);
            }
            slot.used = false;
        }
        self.taken = 0;
        let capacity = self.capacity;
        for entry in kept {
            let slots = self.slots();
            if let Some(i) = probe(E::hash(&entry.key()), capacity).find(|&i| !slots[i].used) {
                slots[i] = Slot { used: true, entry };
                self.taken += 1;
            }
        }
    }

    /// Every entry, in slot order.
    pub fn entries(&mut self) -> impl Iterator<Item = &mut E> {
        self.slots()
            .iter_mut()
            .filter(|s| s.used)
            .map(|s| &mut s.entry)
    }

    /// How many entries the table holds, and at most.
    pub fn fill(&self) -> (u32, u32) {
        (self.taken, self.max)
    }

    /// How many entries found no room since the last call (reset).
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

/// A table in a shared-memory segment of its own.
pub struct SharedTable<E: Entry, H: Copy + Default = ()> {
    name: &'static CStr,
    /// The most entries, read once at server start (a setting).
    max: fn() -> i32,
    table: AtomicPtr<Table<E, H>>,
    _entries: PhantomData<E>,
}

// SAFETY: the pointer is written once per process at shared-memory startup
// and the table it points to is only touched under its LWLock.
unsafe impl<E: Entry, H: Copy + Default> Sync for SharedTable<E, H> {}

impl<E: Entry, H: Copy + Default> SharedTable<E, H> {
    pub const fn new(name: &'static CStr, max: fn() -> i32) -> Self {
        SharedTable {
            name,
            max,
            table: AtomicPtr::new(ptr::null_mut()),
            _entries: PhantomData,
        }
    }

    fn max(&self) -> u32 {
        (self.max)().max(16) as u32
    }

    /// Whether the table exists (the library was preloaded).
    pub fn available(&self) -> bool {
        !self.table.load(Ordering::Relaxed).is_null()
    }

    /// Run `f` on the table under its lock; None when the library was not
    /// preloaded. `f` must not raise an error (it may allocate).
    pub fn locked<R>(&self, f: impl FnOnce(&mut Table<E, H>) -> R) -> Option<R> {
        let table = self.table.load(Ordering::Relaxed);
        if table.is_null() {
            return None;
        }
        // SAFETY: the table lives in shared memory for the server's life;
        // its lock is held while it is read or changed, and `f` raises no
        // error, so the lock is always released and `busy` cleared.
        unsafe {
            let table = &mut *table;
            pg_sys::LWLockAcquire(table.lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
            table.busy = true;
            let r = f(table);
            table.busy = false;
            pg_sys::LWLockRelease(table.lock);
            Some(r)
        }
    }

    /// The entries, read by a postmaster whose other processes have all
    /// exited; None when one of them died while changing the table.
    pub fn entries_at_exit(&self) -> Option<Vec<E>> {
        // SAFETY: called by the postmaster after every other process has
        // exited: nothing else can touch the table.
        let table = unsafe { self.table.load(Ordering::Relaxed).as_mut()? };
        (!table.busy).then(|| table.entries().map(|e| *e).collect())
    }
}

impl<E: Entry, H: Copy + Default> Segment for SharedTable<E, H> {
    fn name(&self) -> &'static CStr {
        self.name
    }

    fn size(&self) -> usize {
        std::mem::size_of::<Table<E, H>>()
            + slots_for(self.max()) as usize * std::mem::size_of::<Slot<E>>()
    }

    unsafe fn init(&self, base: *mut c_void, lock: *mut pg_sys::LWLock) {
        let table = base as *mut Table<E, H>;
        let capacity = slots_for(self.max());
        // SAFETY: `base` is a fresh segment of `self.size()` bytes: room for
        // the header and `capacity` slots, which start out unused.
        unsafe {
            ptr::write(
                table,
                Table {
                    header: H::default(),
                    lock,
                    capacity,
                    max: self.max(),
                    taken: 0,
                    busy: false,
                    dropped: 0,
                    slots: [],
                },
            );
            let slots = (*table).slots.as_mut_ptr();
            for i in 0..capacity as usize {
                ptr::addr_of_mut!((*slots.add(i)).used).write(false);
            }
        }
    }

    unsafe fn attach(&self, base: *mut c_void) {
        self.table
            .store(base as *mut Table<E, H>, Ordering::Relaxed);
    }
}

/// One segment: its name (also its LWLock tranche's), its size, and how to
/// set it up the first time and find it in this process.
pub trait Segment: Sync {
    fn name(&self) -> &'static CStr;
    fn size(&self) -> usize;
    /// Write a new segment at `base` (uninitialized memory) guarded by `lock`.
    ///
    /// # Safety
    /// `base` points to `self.size()` writable bytes of shared memory.
    unsafe fn init(&self, base: *mut c_void, lock: *mut pg_sys::LWLock);
    /// Remember where the segment is.
    ///
    /// # Safety
    /// `base` is the segment `init` set up.
    unsafe fn attach(&self, base: *mut c_void);
}

// Registered during `_PG_init`, read by the postmaster's hooks: one thread.
// Reached through raw pointers (`&raw`), as `static mut` references are not
// allowed; clippy's deref_addrof does not know that.
static mut SEGMENTS: Vec<&'static dyn Segment> = Vec::new();
static mut PREV_SHMEM_REQUEST: pg_sys::shmem_request_hook_type = None;
static mut PREV_SHMEM_STARTUP: pg_sys::shmem_startup_hook_type = None;

/// Ask for `segment`; only while `shared_preload_libraries` is processed.
#[allow(clippy::deref_addrof)]
pub fn register(segment: &'static dyn Segment) {
    // SAFETY: runs in the postmaster during _PG_init, single-threaded,
    // before any hook can read SEGMENTS; the previous hooks are chained.
    unsafe {
        debug_assert!(pg_sys::process_shared_preload_libraries_in_progress);
        let segments = &mut *(&raw mut SEGMENTS);
        if segments.is_empty() {
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
    // SAFETY: called by the postmaster once, after _PG_init filled SEGMENTS.
    unsafe {
        if let Some(prev) = PREV_SHMEM_REQUEST {
            prev();
        }
        for segment in (*(&raw const SEGMENTS)).iter() {
            pg_sys::RequestAddinShmemSpace(segment.size());
            pg_sys::RequestNamedLWLockTranche(segment.name().as_ptr(), 1);
        }
    }
}

/// Called once the segments are set up in the postmaster (a new shared
/// memory: at server start and after a crash's reinitialization).
static mut AFTER_STARTUP: Option<fn()> = None;

/// Run `f` in the postmaster each time shared memory is set up anew.
#[allow(clippy::deref_addrof)]
pub fn after_startup(f: fn()) {
    // SAFETY: set during _PG_init in the postmaster, before the hook runs.
    unsafe { AFTER_STARTUP = Some(f) };
}

#[allow(clippy::deref_addrof)]
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn shmem_startup() {
    // SAFETY: called in every process that attaches to shared memory, with
    // the segments requested above; AddinShmemInitLock serializes the one
    // initialization among them.
    unsafe {
        if let Some(prev) = PREV_SHMEM_STARTUP {
            prev();
        }
        let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock; // AddinShmemInitLock
        pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut fresh = false;
        for segment in (*(&raw const SEGMENTS)).iter() {
            let mut found = false;
            let base = pg_sys::ShmemInitStruct(segment.name().as_ptr(), segment.size(), &mut found);
            if !found {
                let lock = &raw mut (*pg_sys::GetNamedLWLockTranche(segment.name().as_ptr())).lock;
                segment.init(base, lock);
                fresh = true;
            }
            segment.attach(base);
        }
        pg_sys::LWLockRelease(init_lock);
        if fresh && !pg_sys::IsUnderPostmaster {
            if let Some(f) = AFTER_STARTUP {
                f();
            }
        }
    }
}
