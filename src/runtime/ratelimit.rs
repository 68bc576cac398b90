//! Rate-limit counters in shared memory: no table row is written per
//! request, so limits cost no write and work in READ ONLY transactions and on
//! a standby (each server counts its own requests). Needs the library in
//! `shared_preload_libraries`; without it, rate-limited keys are refused
//! loudly (see [`admit`]).
//!
//! One table of (database, key) windows, at most `api_keys.rate_limit_max_keys`
//! of them, and at most `api_keys.rate_limit_max_keys_per_database` of one
//! database, so that one database cannot take every slot from another. A
//! key whose windows are over (idle for two windows) is forgotten when
//! room is needed (the table is compacted at most once a second), and a
//! revoked key's slot is freed when the revocation commits. When the table
//! or a database's share holds only live keys, a new key is refused
//! (`rate_limited`, retry after 1 s) rather than let through uncounted.

use api_keys_core::ratelimit::{Decision, Window};

use crate::runtime::shmem::{self, hash_key, Entry, SharedTable, Table};
use crate::runtime::xact;
use crate::settings;

/// The windows of one rate-limited key of one database.
#[derive(Clone, Copy)]
#[repr(C)]
struct Limited {
    db: u32,
    key: [u8; 16],
    window_ms: i64,
    window: Window,
}

impl Entry for Limited {
    type Key = (u32, [u8; 16]);
    fn key(&self) -> Self::Key {
        (self.db, self.key)
    }
    fn hash(k: &Self::Key) -> u64 {
        hash_key(k.0, &k.1, 0)
    }
}

/// Databases whose slots are counted apart, at most.
const DATABASES: usize = 256;

/// Beside the windows: how many slots each database holds, and when the
/// table was last compacted.
#[derive(Clone, Copy)]
#[repr(C)]
struct Shares {
    compacted_ms: i64,
    /// (database OID, slots held); OID 0: an unused place.
    held: [(u32, u32); DATABASES],
}

impl Default for Shares {
    fn default() -> Self {
        Shares {
            compacted_ms: 0,
            held: [(0, 0); DATABASES],
        }
    }
}

impl Shares {
    /// The place of database `db`, made if there is room.
    fn of(&mut self, db: u32) -> Option<&mut (u32, u32)> {
        let at = self
            .held
            .iter()
            .position(|(d, _)| *d == db)
            .or_else(|| self.held.iter().position(|(d, n)| *d == 0 || *n == 0))?;
        let place = &mut self.held[at];
        if place.0 != db {
            *place = (db, 0);
        }
        Some(place)
    }

    fn recount(&mut self, table: impl Iterator<Item = u32>) {
        self.held = [(0, 0); DATABASES];
        for db in table {
            if let Some(place) = self.of(db) {
                place.1 += 1;
            }
        }
    }
}

static SLOTS: SharedTable<Limited, Shares> = SharedTable::new(c"api_keys rate limits", || {
    settings::RATE_LIMIT_MAX_KEYS.get()
});

/// Ask for the shared memory. Called from `_PG_init` when preloaded.
pub fn init() {
    shmem::register(&SLOTS);
}

/// Whether the counters exist (the library was preloaded).
pub fn available() -> bool {
    SLOTS.available()
}

/// The table is full: refuse rather than let a request through uncounted.
const FULL: Decision = Decision {
    admitted: false,
    remaining: 0,
    retry_after_secs: 1,
    reset_secs: 1,
};

/// Count one request of `key` in database `db` against `limit` per
/// `window_ms`. `None`: the library is not preloaded, there are no
/// counters.
pub fn admit(db: u32, key: &[u8; 16], limit: u32, window_ms: i64) -> Option<Decision> {
    let now = xact::clock() / 1000;
    let per_database = settings::RATE_LIMIT_MAX_KEYS_PER_DATABASE.get().max(1) as u32;
    SLOTS.locked(|t| {
        let Some(slot) = place(t, db, key, window_ms, now, per_database) else {
            return FULL;
        };
        if slot.window_ms != window_ms {
            // The key's window changed (apikey_update): start counting afresh.
            slot.window_ms = window_ms;
            slot.window = Window::default();
        }
        slot.window.admit(now, limit, window_ms)
    })
}

/// The slot of `key`: where it is, or a new one while the table and the
/// database's share have room (after compacting, at most once a second).
/// Runs under the table's lock: no error; allocates only to compact.
fn place<'t>(
    t: &'t mut Table<Limited, Shares>,
    db: u32,
    key: &[u8; 16],
    window_ms: i64,
    now: i64,
    per_database: u32,
) -> Option<&'t mut Limited> {
    if t.get(&(db, *key)).is_none() {
        let share_full = |t: &mut Table<Limited, Shares>| {
            t.header
                .of(db)
                .is_none_or(|(_, held)| *held >= per_database)
        };
        let table_full = |t: &Table<Limited, Shares>| t.fill().0 >= t.fill().1;
        if share_full(t) || table_full(t) {
            if now - t.header.compacted_ms < 1000 {
                return None;
            }
            t.header.compacted_ms = now;
            t.retain(|s| !s.window.is_stale(now, s.window_ms));
            let dbs: Vec<u32> = t.entries().map(|s| s.db).collect();
            t.header.recount(dbs.into_iter());
            if share_full(t) || table_full(t) {
                return None;
            }
        }
        let new = || Limited {
            db,
            key: *key,
            window_ms,
            window: Window::default(),
        };
        t.upsert(&(db, *key), new, |_| false)?;
        if let Some(place) = t.header.of(db) {
            place.1 += 1;
        }
    }
    t.get(&(db, *key))
}

/// Take back a request [`admit`] admitted for `key` in database `db` just
/// now (another limit refused it).
pub fn refund(db: u32, key: &[u8; 16], window_ms: i64) {
    let now = xact::clock() / 1000;
    SLOTS.locked(|t| {
        if let Some(slot) = t.get(&(db, *key)) {
            slot.window.refund(now, window_ms);
        }
    });
}

/// Forget `key`'s windows in database `db` (it was revoked).
pub fn forget(db: u32, key: &[u8; 16]) {
    SLOTS.locked(|t| {
        if t.get(&(db, *key)).is_some() {
            t.retain(|s| (s.db, s.key) != (db, *key));
            if let Some(place) = t.header.of(db) {
                place.1 = place.1.saturating_sub(1);
            }
        }
    });
}
