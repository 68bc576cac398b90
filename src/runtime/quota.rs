//! Usage quotas, counted in shared memory: for each (database, subject,
//! period) the valid verifications so far, where the subject is a key or
//! an owner (its `owner_limits.id`). A count starts from what the workers
//! stored in `api_keys.usage` for the period plus what they have not
//! stored yet, read once (as the extension's owner) when the period's first
//! verification of the subject meets no count in shared memory: after a
//! server start, a crash, or a new period. A clean shutdown saves the
//! counts with the usage counts; a crash loses at most the uses of one
//! flush interval. Needs the library in `shared_preload_libraries`.

use api_keys_core::quota::{self, Period, QuotaDecision};
use pgrx::datum::{Date, DatumWithOid};
use pgrx::prelude::*;

use crate::error::{Error, Result};
use crate::runtime::shmem::{self, hash_key, Entry, SharedTable};
use crate::runtime::storage::{self, Stmt};
use crate::runtime::{catalog, privilege, usage, xact};
use crate::settings;

/// Valid verifications of `subject` in database `db` in the period that
/// starts on day `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Used {
    pub db: u32,
    pub subject: [u8; 16],
    pub period: i32,
    pub used: u64,
}

impl Entry for Used {
    type Key = (u32, [u8; 16], i32);
    fn key(&self) -> Self::Key {
        (self.db, self.subject, self.period)
    }
    fn hash(k: &Self::Key) -> u64 {
        hash_key(k.0, &k.1, u64::from(k.2 as u32))
    }
}

pub static USED: SharedTable<Used> =
    SharedTable::new(c"api_keys quotas", || settings::QUOTA_MAX_COUNTS.get());

/// Ask for the shared memory. Called from `_PG_init` when preloaded.
pub fn init() {
    shmem::register(&USED);
}

/// Whether the counters exist (the library was preloaded).
pub fn available() -> bool {
    USED.available()
}

/// Whose quota: a key's, or an owner's (for all its keys).
#[derive(Clone, Copy, Debug)]
pub enum Subject<'a> {
    Key(&'a pgrx::Uuid),
    Owner { id: &'a [u8; 16], owner: &'a str },
}

impl Subject<'_> {
    /// The id its counters go by.
    pub fn id(&self) -> [u8; 16] {
        match self {
            Subject::Key(k) => *k.as_bytes(),
            Subject::Owner { id, .. } => **id,
        }
    }
}

/// The table is full of this period's counts: refuse rather than let a
/// request through uncounted (retry after a second, as for a full
/// rate-limit table).
const FULL: QuotaDecision = QuotaDecision {
    admitted: false,
    remaining: 0,
    reset_secs: 1,
};

/// Decide one request of `subject` against `limit` per `period`, and count
/// it when admitted. Refused loudly without the preloaded library.
pub fn admit(subject: Subject<'_>, limit: u64, period: Period) -> Result<QuotaDecision> {
    if !available() {
        return Err(Error::NeedsPreload("quotas"));
    }
    let now = xact::clock();
    let key = (usage::this_database(), subject.id(), period.start(now));
    let count = |e: &mut Used| {
        let d = quota::decide(limit, e.used, period, now);
        if d.admitted {
            e.used += 1;
        }
        d
    };
    if let Some(d) = USED.locked(|t| t.get(&key).map(count)).flatten() {
        return Ok(d);
    }
    let start = used_so_far(subject, key.2)?;
    let decided = USED.locked(|t| {
        let new = || Used {
            db: key.0,
            subject: key.1,
            period: key.2,
            used: start,
        };
        // A count of an earlier period is of no use any more.
        t.upsert(&key, new, |e| e.period < key.2).map(count)
    });
    Ok(decided.flatten().unwrap_or(FULL))
}

/// Take back a request [`admit`] counted for the subject `id` (another
/// limit refused it).
pub fn refund(id: &[u8; 16], period: Period) {
    let now = xact::clock();
    let key = (usage::this_database(), *id, period.start(now));
    USED.locked(|t| {
        if let Some(e) = t.get(&key) {
            e.used = e.used.saturating_sub(1);
        }
    });
}

/// The valid verifications of `subject` in the current `period`: the count
/// in shared memory, or where there is none, what was stored plus what was
/// not stored yet.
pub fn used(subject: Subject<'_>, period: Period) -> Result<u64> {
    let now = xact::clock();
    let key = (usage::this_database(), subject.id(), period.start(now));
    if let Some(n) = USED.locked(|t| t.get(&key).map(|e| e.used)).flatten() {
        return Ok(n);
    }
    used_so_far(subject, key.2)
}

/// Stored valid verifications from day `from` on, plus those not stored
/// yet; read as the extension's owner with search_path pinned. (Read in
/// this order, a flush in between can only make the count a little low,
/// never high.)
fn used_so_far(subject: Subject<'_>, from: i32) -> Result<u64> {
    catalog::check_names()?;
    let owner = catalog::members()?.owner;
    let from_date = Date::try_from(from).map_err(|e| Error::Internal(e.to_string()))?;
    let (stored, keys) = privilege::run_as(owner, || {
        Spi::connect(|client| {
            let row = match subject {
                Subject::Key(k) => {
                    let args: [DatumWithOid; 2] = [(*k).into(), from_date.into()];
                    let row = storage::run(client, Stmt::ValidUsesOfKey, &args)?.first();
                    (row.get::<i64>(1)?.unwrap_or(0), vec![*k])
                }
                Subject::Owner { owner, .. } => {
                    let args: [DatumWithOid; 2] = [owner.into(), from_date.into()];
                    let row = storage::run(client, Stmt::ValidUsesOfOwner, &args)?.first();
                    (
                        row.get::<i64>(1)?.unwrap_or(0),
                        row.get::<Vec<pgrx::Uuid>>(2)?.unwrap_or_default(),
                    )
                }
            };
            Ok::<_, Error>(row)
        })
    })?;
    let keys: Vec<[u8; 16]> = keys.iter().map(|k| *k.as_bytes()).collect();
    Ok(stored.max(0) as u64 + usage::pending_valid(&keys, from))
}
