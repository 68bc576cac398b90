//! The limits a valid request must pass, in this order: the key's rate
//! limit, its owner's rate limit, the key's quota, its owner's quota. All
//! must admit; a request one of them refuses is taken back from those that
//! had counted it, so a refused request uses no budget. Counted last in a
//! verification, so that only requests that would otherwise succeed count.

use api_keys_core::code::Code;
use api_keys_core::http::Policy;
use api_keys_core::quota::Period;

use crate::error::{Error, Result};
use crate::runtime::owner_limits::{self, OwnerLimits};
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

/// One limit's decision, and how to take the request back from it.
struct Counted {
    refund: Box<dyn FnOnce()>,
}

/// Check and count one valid request of `key_id` (owned by `owner`).
pub fn apply(key_id: &pgrx::Uuid, owner: &str, key: KeyLimits) -> Result<Outcome> {
    let owner_limits = owner_limits::of(owner)?;
    let mut outcome = Outcome::default();
    if key.rate.is_none() && key.quota.is_none() && owner_limits.is_none() {
        return Ok(outcome);
    }
    let db = usage::this_database();
    let key_bytes = *key_id.as_bytes();
    let mut counted: Vec<Counted> = Vec::new();
    let refuse = |outcome: &mut Outcome, code: Code, retry: u32, counted: Vec<Counted>| {
        outcome.refused = Some(code);
        outcome.retry_after = Some(retry);
        outcome.remaining = Some(0);
        for c in counted.into_iter().rev() {
            (c.refund)();
        }
    };

    let rates = [
        (KEY_RATE, key.rate, key_bytes),
        (
            OWNER_RATE,
            owner_limits.as_ref().and_then(|o| o.rate),
            owner_limits.as_ref().map_or([0; 16], |o| o.id),
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
            refuse(&mut outcome, Code::RateLimited, d.retry_after_secs, counted);
            return Ok(outcome);
        }
        note_remaining(&mut outcome, u64::from(d.remaining));
        counted.push(Counted {
            refund: Box::new(move || ratelimit::refund(db, &subject, window_ms)),
        });
    }

    let quotas = [
        (KEY_QUOTA, key.quota, None),
        (
            OWNER_QUOTA,
            owner_limits.as_ref().and_then(|o| o.quota),
            owner_limits.as_ref(),
        ),
    ];
    for (name, limit, owner_side) in quotas {
        let Some((limit, period)) = limit else {
            continue;
        };
        let subject = quota_subject(key_id, owner, owner_side);
        let d = quota::admit(subject, limit, period)?;
        outcome
            .policies
            .push(Policy::of_quota(name, limit, period, xact::clock(), &d));
        if !d.admitted {
            refuse(&mut outcome, Code::QuotaExceeded, d.reset_secs, counted);
            return Ok(outcome);
        }
        note_remaining(&mut outcome, d.remaining);
        let (key_id, owner_id, owner_name) = (*key_id, owner_side.map(|o| o.id), owner.to_string());
        counted.push(Counted {
            refund: Box::new(move || {
                let subject = match &owner_id {
                    Some(id) => Subject::Owner {
                        id,
                        owner: &owner_name,
                    },
                    None => Subject::Key(&key_id),
                };
                quota::refund(subject, period)
            }),
        });
    }
    Ok(outcome)
}

fn quota_subject<'a>(
    key_id: &'a pgrx::Uuid,
    owner: &'a str,
    owner_limits: Option<&'a OwnerLimits>,
) -> Subject<'a> {
    match owner_limits {
        Some(o) => Subject::Owner { id: &o.id, owner },
        None => Subject::Key(key_id),
    }
}

fn note_remaining(outcome: &mut Outcome, remaining: u64) {
    outcome.remaining = Some(outcome.remaining.map_or(remaining, |r| r.min(remaining)));
}
