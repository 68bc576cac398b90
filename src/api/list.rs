//! `apikey_list`: an owner's keys (all owners when `owner` is NULL), never
//! the key or its digest; `origin` says which were imported.

use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

use crate::api::{args, forbid_key_context};
use crate::error::Error;
use crate::runtime::storage::{self, Stmt};
use crate::runtime::{key_lookup, usage};

#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_list(
    owner: Option<&str>,
    status: default!(Option<&str>, "'active'"),
    search: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(id, Uuid),
            name!(name, String),
            name!(prefix, String),
            name!(scopes, Vec<String>),
            name!(allowed_cidrs, Option<Vec<String>>),
            name!(environment, String),
            name!(metadata, JsonB),
            name!(status, String),
            name!(created_at, TimestampWithTimeZone),
            name!(expires_at, Option<TimestampWithTimeZone>),
            name!(last_used_at, Option<TimestampWithTimeZone>),
            name!(revoked_at, Option<TimestampWithTimeZone>),
            name!(replaced_by_key_id, Option<Uuid>),
            name!(grace_expires_at, Option<TimestampWithTimeZone>),
            name!(rotation_interval, Option<Interval>),
            name!(next_rotation_at, Option<TimestampWithTimeZone>),
            name!(webhook_url, Option<String>),
            name!(rate_limit, Option<i32>),
            name!(rate_window, Option<Interval>),
            name!(quota, Option<i64>),
            name!(quota_period, Option<String>),
            name!(origin, String),
        ),
    >,
    ErrorReport,
> {
    forbid_key_context()?;
    // 0.1.0's apikey_list (fewer columns) calls this symbol too.
    if !key_lookup::schema_is_current()? {
        return Err(Error::SchemaOutdated.into());
    }
    // Uses not stored yet are in shared memory: show the later time.
    let pending = usage::pending_last_uses();
    let status = args::status(status)?;
    let rows = Spi::connect(|client| {
        let args: [DatumWithOid; 3] = [owner.into(), status.into(), search.into()];
        let table = storage::run(client, Stmt::ListKeys, &args)?;
        let mut rows = Vec::with_capacity(table.len());
        for r in table {
            let id = r.get::<Uuid>(1)?.expect("id");
            rows.push((
                id,
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<Vec<String>>(4)?.unwrap_or_default(),
                r.get::<Vec<String>>(5)?,
                r.get::<String>(6)?.unwrap_or_default(),
                r.get::<JsonB>(7)?.unwrap_or(JsonB(serde_json::json!({}))),
                r.get::<String>(8)?.unwrap_or_default(),
                r.get::<TimestampWithTimeZone>(9)?.expect("created_at"),
                r.get::<TimestampWithTimeZone>(10)?,
                latest(r.get::<TimestampWithTimeZone>(11)?, pending.get(&id)),
                r.get::<TimestampWithTimeZone>(12)?,
                r.get::<Uuid>(13)?,
                r.get::<TimestampWithTimeZone>(14)?,
                r.get::<Interval>(15)?,
                r.get::<TimestampWithTimeZone>(16)?,
                r.get::<String>(17)?,
                r.get::<i32>(18)?,
                r.get::<Interval>(19)?,
                r.get::<i64>(20)?,
                r.get::<String>(21)?,
                r.get::<String>(22)?.unwrap_or_default(),
            ));
        }
        Ok::<_, Error>(rows)
    })?;
    Ok(TableIterator::new(rows))
}

/// The later of a stored time and an unstored one (microseconds since
/// 2000-01-01).
fn latest(
    stored: Option<TimestampWithTimeZone>,
    pending: Option<&i64>,
) -> Option<TimestampWithTimeZone> {
    let pending = pending.and_then(|at| TimestampWithTimeZone::try_from(*at).ok());
    match (stored, pending) {
        (Some(s), Some(p)) => Some(if i64::from(p) > i64::from(s) { p } else { s }),
        (s, p) => s.or(p),
    }
}
