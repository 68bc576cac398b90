//! The limits a valid request must pass, in this order: the key's rate
//! limit, its owner's rate limit, the key's quota, its owner's quota. All
//! must admit; a request one of them refuses is taken back from those that
//! had counted it, so a refused request uses no budget. Counted last in a
//! verification, so that only requests that would otherwise succeed count.

use api_keys_core::code::Code;
use api_keys_core::http::Policy;
use api_keys_core::quota::Period;

use crate::error::{Error, Result};
use crate::runtime::owner_limits;
use crate::runtime::quota::{self, Subject};
use crate::runtime::{ratelimit, usage, xact};

/// The names of the policies, as the RateLimit header fields show them.
pub const KEY_RATE: &str = api_keys_core::http::KEY_POLICY;
pub const OWNER_RATE: &str = "owner";
pub const KEY_QUOTA: &str = "key-quota";
pub const OWNER_QUOTA: &str = "owner-quota";

/// A key's own limits, as its row holds them.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyLimits {
    /// Requests per window (milliseconds).
    pub rate: Option<(u32, i64)>,
    /// Valid verifications per period.
    pub quota: Option<(u64, Period)>,
}

/// What the limits made of a request.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// `rate_limited` or `quota_exceeded` when a limit refused it.
    pub refused: Option<Code>,
    /// For a refusal: seconds until a retry can succeed.
    pub retry_after: Option<u32>,
    /// The fewest requests left under any limit (None: no limit applies).
    pub remaining: Option<u64>,
    /// Every limit the request was counted against, for the RateLimit
    /// header fields.
    pub policies: Vec<Policy<'static>>,
}

/// A limit that counted the request: the subject (a key's or an owner's
/// id) and what identifies the counter, so that it can be taken back.
enum Counted {
    Rate([u8; 16], i64),
    Quota([u8; 16], Period),
}

/// Take the request back from every limit that counted it.
fn refund(db: u32, counted: &[Counted]) {
    for c in counted.iter().rev() {
        match c {
            Counted::Rate(subject, window_ms) => ratelimit::refund(db, subject, *window_ms),
            Counted::Quota(subject, period) => quota::refund(subject, *period),
        }
    }
}

/// Check and count one valid request of `key_id` (owned by `owner`).
pub fn apply(key_id: &pgrx::Uuid, owner: &str, key: KeyLimits) -> Result<Outcome> {
    let owner_limits = owner_limits::of(owner)?;
    let mut outcome = Outcome::default();
    if key.rate.is_none() && key.quota.is_none() && owner_limits.is_none() {
        return Ok(outcome);
    }
    let db = usage::this_database();
    let mut counted: Vec<Counted> = Vec::new();
    let owner_id = owner_limits.as_ref().map(|o| o.id);

    let rates = [
        (KEY_RATE, key.rate, *key_id.as_bytes()),
        (
            OWNER_RATE,
            owner_limits.as_ref().and_then(|o| o.rate),
            owner_id.unwrap_or_default(),
        ),
    ];
    for (name, rate, subject) in rates {
        let Some((limit, window_ms)) = rate else {
            continue;
        };
        let d = ratelimit::admit(db, &subject, limit, window_ms)
            .ok_or(Error::NeedsPreload("rate limits"))?;
        outcome
            .policies
            .push(Policy::of_rate(name, limit, window_ms, &d));
        if !d.admitted {
            refund(db, &counted);
            return Ok(outcome.refused_with(Code::RateLimited, d.retry_after_secs));
        }
        outcome.note_remaining(u64::from(d.remaining));
        counted.push(Counted::Rate(subject, window_ms));
    }

    let quotas = [
        (KEY_QUOTA, key.quota, Subject::Key(key_id)),
        (
            OWNER_QUOTA,
            owner_limits.as_ref().and_then(|o| o.quota),
            match &owner_limits {
                Some(o) => Subject::Owner { id: &o.id, owner },
                None => Subject::Key(key_id),
            },
        ),
    ];
    for (name, limit, subject) in quotas {
        let Some((limit, period)) = limit else {
            continue;
        };
        let d = quota::admit(subject, limit, period)?;
        outcome
            .policies
            .push(Policy::of_quota(name, limit, period, xact::clock(), &d));
        if !d.admitted {
            refund(db, &counted);
            return Ok(outcome.refused_with(Code::QuotaExceeded, d.reset_secs));
        }
        outcome.note_remaining(d.remaining);
        counted.push(Counted::Quota(subject.id(), period));
    }
    Ok(outcome)
}

impl Outcome {
    fn refused_with(mut self, code: Code, retry_after: u32) -> Outcome {
        self.refused = Some(code);
        self.retry_after = Some(retry_after);
        self.remaining = Some(0);
        self
    }

    fn note_remaining(&mut self, remaining: u64) {
        self.remaining = Some(self.remaining.map_or(remaining, |r| r.min(remaining)));
    }
}
