//! The limits an owner's keys share (`api_keys.owner_limits`), cached per
//! backend: verification asks for them on every valid key, so the table is
//! read once per owner and again only after a change commits (which
//! invalidates every backend's cache) or the extension is re-created.
//! Where no owner has limits, one look at the table answers for all.

use std::cell::RefCell;
use std::collections::HashMap;

use api_keys_core::quota::Period;
use pgrx::datum::Interval;

use crate::error::Result;
use crate::runtime::{catalog, key_lookup};

/// One owner's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerLimits {
    /// Names the owner's counters in shared memory.
    pub id: [u8; 16],
    /// Requests per window (milliseconds).
    pub rate: Option<(u32, i64)>,
    /// Valid verifications per period.
    pub quota: Option<(u64, Period)>,
}

#[derive(Default)]
struct Cache {
    generation: u64,
    /// Whether any owner has limits (None: not looked yet).
    any: Option<bool>,
    by_owner: HashMap<String, Option<OwnerLimits>>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The limits of `owner`, if it has any.
pub fn of(owner: &str) -> Result<Option<OwnerLimits>> {
    let members = catalog::members()?;
    let Some(_) = members.owner_limits else {
        return Ok(None); // an older release's schema
    };
    let generation = catalog::generation();
    let cached = CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.generation != generation {
            *c = Cache {
                generation,
                ..Cache::default()
            };
        }
        match c.any {
            Some(false) => Some(None),
            Some(true) => c.by_owner.get(owner).cloned(),
            None => None,
        }
    });
    if let Some(limits) = cached {
        return Ok(limits);
    }
    // Read through the table's primary key, found by OID, as verification
    // reads keys: no SQL, no privilege of the caller needed.
    let (any, row) = key_lookup::owner_limits(owner)?;
    let limits = row.map(|(id, rate, window, quota, period)| OwnerLimits {
        id: *id.as_bytes(),
        rate: rate
            .zip(window)
            .map(|(limit, w)| (limit.max(0) as u32, window_ms(&w))),
        quota: quota
            .zip(period.and_then(|p| Period::parse(&p).ok()))
            .map(|(n, p)| (n.max(0) as u64, p)),
    });
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        c.any = Some(any);
        if any {
            c.by_owner.insert(owner.to_string(), limits.clone());
        }
    });
    Ok(limits)
}

/// An interval's length in milliseconds.
pub fn window_ms(window: &Interval) -> i64 {
    (api_keys_core::interval::total_micros(window.months(), window.days(), window.micros()) / 1000)
        as i64
}
