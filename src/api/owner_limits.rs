//! Limits an owner's keys share, and what quotas have used: a rate limit
//! and a quota for all of an owner's keys together, checked with each key's
//! own (both must admit); the usage of an owner summed over its keys.
//! Granted to `api_keys_admin`.

use api_keys_core::quota::Period;
use pgrx::datum::{Date, DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;

use crate::api::{args, forbid_key_context, forbid_management};
use crate::error::{Error, Result};
use crate::runtime::quota::{self, Subject};
use crate::runtime::storage::{self, Stmt};
use crate::runtime::{catalog, owner_limits, xact};

/// `apikey_set_owner_limits`: set, change or remove the limits all of
/// `owner`'s keys share. NULL leaves a limit as it is; `rate_limit => 0`
/// removes the rate limit, `quota => 0` the quota. Returns the owner's
/// limits as they are now (no row: none left).
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_set_owner_limits(
    owner: Option<&str>,
    rate_limit: default!(Option<i32>, "NULL"),
    rate_window: default!(Option<Interval>, "NULL"),
    quota: default!(Option<i64>, "NULL"),
    quota_period: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(owner, String),
            name!(rate_limit, Option<i32>),
            name!(rate_window, Option<Interval>),
            name!(quota, Option<i64>),
            name!(quota_period, Option<String>),
        ),
    >,
    ErrorReport,
> {
    forbid_management()?;
    let owner = args::required_text("owner", owner)?;
    let (new_rate, new_window) = args::rate_limit(rate_limit, rate_window)?;
    let (new_quota, new_period) = args::quota(quota, quota_period)?;
    let rows = Spi::connect_mut(|client| {
        let args: [DatumWithOid; 1] = [owner.into()];
        let current = storage::run(client, Stmt::LockOwnerLimits, &args)?;
        let (mut rate, mut window, mut limit, mut period) = if current.is_empty() {
            (None, None, None, None)
        } else {
            let r = current.first();
            (
                r.get::<i32>(1)?,
                r.get::<Interval>(2)?,
                r.get::<i64>(3)?,
                r.get::<String>(4)?.and_then(|p| Period::parse(&p).ok()),
            )
        };
        if rate_limit.is_some() {
            rate = new_rate;
            window = new_rate.map(|_| {
                new_window
                    .or(window)
                    .unwrap_or_else(args::default_rate_window)
            });
        } else if rate.is_some() && new_window.is_some() {
            window = new_window;
        }
        if quota.is_some() {
            limit = new_quota;
            period = new_quota.and(new_period.or(period).or(Some(Period::Month)));
        } else if limit.is_some() && new_period.is_some() {
            period = new_period;
        }
        let mut rows = Vec::new();
        if rate.is_none() && limit.is_none() {
            storage::run(client, Stmt::DeleteOwnerLimits, &args)?;
        } else {
            let args: [DatumWithOid; 5] = [
                owner.into(),
                rate.into(),
                window.into(),
                limit.into(),
                period.map(Period::as_str).into(),
            ];
            let r = storage::run(client, Stmt::UpsertOwnerLimits, &args)?.first();
            rows.push((
                r.get::<String>(1)?.unwrap_or_default(),
                r.get::<i32>(2)?,
                r.get::<Interval>(3)?,
                r.get::<i64>(4)?,
                r.get::<String>(5)?,
            ));
        }
        Ok::<_, Error>(rows)
    })?;
    // Every backend reads the new limits from the next verification on.
    catalog::invalidate_owner_limits()?;
    Ok(TableIterator::new(rows))
}

/// `apikey_owner_limits`: the limits of `owner` (every owner's when NULL).
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_owner_limits(
    owner: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(owner, String),
            name!(rate_limit, Option<i32>),
            name!(rate_window, Option<Interval>),
            name!(quota, Option<i64>),
            name!(quota_period, Option<String>),
            name!(updated_at, TimestampWithTimeZone),
        ),
    >,
    ErrorReport,
> {
    forbid_key_context()?;
    let rows = Spi::connect(|client| {
        let args: [DatumWithOid; 1] = [owner.into()];
        storage::run(client, Stmt::ListOwnerLimits, &args)?
            .map(|r| {
                Ok((
                    r.get::<String>(1)?.unwrap_or_default(),
                    r.get::<i32>(2)?,
                    r.get::<Interval>(3)?,
                    r.get::<i64>(4)?,
                    r.get::<String>(5)?,
                    r.get::<TimestampWithTimeZone>(6)?.expect("updated_at"),
                ))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    Ok(TableIterator::new(rows))
}

/// One quota's state in the current period: owner, key (NULL: the owner's
/// quota), key name, quota, period, used, remaining, when it resets.
type QuotaRow = (
    String,
    Option<Uuid>,
    Option<String>,
    i64,
    String,
    i64,
    i64,
    TimestampWithTimeZone,
);

fn quota_row(
    owner: String,
    key: Option<(Uuid, String)>,
    limit: i64,
    period: Period,
    used: u64,
) -> Result<QuotaRow> {
    let now = xact::clock();
    let resets = i64::from(period.end(period.start(now))) * 86_400_000_000;
    let resets_at =
        TimestampWithTimeZone::try_from(resets).map_err(|e| Error::Internal(e.to_string()))?;
    let used = i64::try_from(used).unwrap_or(i64::MAX);
    let (key_id, name) = key.unzip();
    Ok((
        owner,
        key_id,
        name,
        limit,
        period.as_str().to_string(),
        used,
        (limit - used).max(0),
        resets_at,
    ))
}

/// `apikey_quotas`: every quota of `owner` (every owner's when NULL), the
/// owner's own and its keys', with what the current period has used.
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_quotas(
    owner: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(owner, String),
            name!(key_id, Option<Uuid>),
            name!(name, Option<String>),
            name!(quota, i64),
            name!(quota_period, String),
            name!(used, i64),
            name!(remaining, i64),
            name!(resets_at, TimestampWithTimeZone),
        ),
    >,
    ErrorReport,
> {
    forbid_key_context()?;
    let (owners, keys) = Spi::connect(|client| {
        let args: [DatumWithOid; 1] = [owner.into()];
        let owners = storage::run(client, Stmt::ListOwnerLimits, &args)?
            .map(|r| Ok(r.get::<String>(1)?.unwrap_or_default()))
            .collect::<Result<Vec<_>>>()?;
        let keys = storage::run(client, Stmt::KeysWithQuotas, &args)?
            .map(|r| {
                Ok((
                    r.get::<Uuid>(1)?.expect("id"),
                    r.get::<String>(2)?.unwrap_or_default(),
                    r.get::<String>(3)?.unwrap_or_default(),
                    r.get::<i64>(4)?.unwrap_or(0),
                    r.get::<String>(5)?.unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok::<_, Error>((owners, keys))
    })?;
    let mut rows = Vec::new();
    for name in owners {
        let Some(limits) = owner_limits::of(&name)? else {
            continue;
        };
        let Some((limit, period)) = limits.quota else {
            continue;
        };
        let used = quota::used(
            Subject::Owner {
                id: &limits.id,
                owner: &name,
            },
            period,
        )?;
        rows.push(quota_row(name, None, limit as i64, period, used)?);
    }
    for (id, owner, name, limit, period) in keys {
        let Ok(period) = Period::parse(&period) else {
            continue;
        };
        let used = quota::used(Subject::Key(&id), period)?;
        rows.push(quota_row(owner, Some((id, name)), limit, period, used)?);
    }
    Ok(TableIterator::new(rows))
}

/// `apikey_owner_usage`: an owner's verifications summed over its keys, per
/// day (UTC) and code, from `since` to `until`.
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_owner_usage(
    owner: Option<&str>,
    since: default!(Option<Date>, "NULL"),
    until: default!(Option<Date>, "NULL"),
) -> Result<
    TableIterator<'static, (name!(day, Date), name!(code, String), name!(count, i64))>,
    ErrorReport,
> {
    forbid_key_context()?;
    let owner = args::required_text("owner", owner)?;
    let rows = Spi::connect(|client| {
        let args: [DatumWithOid; 3] = [owner.into(), since.into(), until.into()];
        storage::run(client, Stmt::UsageOfOwnerByDay, &args)?
            .map(|r| {
                Ok((
                    r.get::<Date>(1)?.expect("day"),
                    r.get::<String>(2)?.unwrap_or_default(),
                    r.get::<i64>(3)?.unwrap_or(0),
                ))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    Ok(TableIterator::new(rows))
}
