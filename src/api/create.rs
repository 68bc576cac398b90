//! `apikey_create`: issue a key. The only time the full key is returned.

use api_keys_core::quota::Period;
use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;

use crate::api::args::{self, JsonbText};
use crate::api::{forbid_management, new_key};
use crate::error::Error;
use crate::runtime::events::{self, shown, Action, Created};
use crate::runtime::storage::{self, Stmt};
use crate::runtime::{catalog, direct_insert};
use crate::upgrade::Arity;

/// The columns a new key gives, in the order of `sql/queries/insert_key.sql`.
const KEY_COLUMNS: [&std::ffi::CStr; 15] = [
    c"digest",
    c"prefix",
    c"owner",
    c"name",
    c"scopes",
    c"allowed_cidrs",
    c"environment",
    c"metadata",
    c"expires_at",
    c"rotation_interval",
    c"webhook_url",
    c"rate_limit",
    c"rate_window",
    c"quota",
    c"quota_period",
];

#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_create(
    // Refuses the call of 0.1.0's definition (7 arguments): see upgrade.rs.
    _arity: Arity<13>,
    owner: Option<&str>,
    name: Option<&str>,
    scopes: default!(Option<Vec<Option<String>>>, "'{}'"),
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
    allowed_cidrs: default!(Option<Vec<Option<String>>>, "NULL"),
    environment: default!(Option<&str>, "'live'"),
    metadata: default!(Option<JsonbText>, "'{}'"),
    rotation_interval: default!(Option<Interval>, "NULL"),
    webhook_url: default!(Option<&str>, "NULL"),
    rate_limit: default!(Option<i32>, "NULL"),
    rate_window: default!(Option<Interval>, "NULL"),
    quota: default!(Option<i64>, "NULL"),
    quota_period: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(id, Uuid),
            name!(key, String),
            name!(prefix, String),
            name!(created_at, TimestampWithTimeZone),
            name!(expires_at, Option<TimestampWithTimeZone>),
        ),
    >,
    ErrorReport,
> {
    forbid_management()?;
    let owner = args::required_text("owner", owner)?;
    let name = args::required_text("name", name)?;
    let environment = args::environment(environment)?;
    let scopes = args::scopes(scopes)?;
    let allowed_cidrs = args::cidrs(allowed_cidrs)?;
    let expires_at = args::expiry(expires_at)?;
    let metadata = args::metadata(metadata)?;
    let rotation_interval = args::rotation_interval(rotation_interval)?;
    let webhook_url = args::webhook_url(webhook_url)?;
    let (rate_limit, rate_window) = args::rate_limit(rate_limit, rate_window)?;
    let rate_window = rate_limit.map(|_| rate_window.unwrap_or_else(args::default_rate_window));
    let (quota, quota_period) = args::quota(quota, quota_period)?;
    let quota_period = quota.map(|_| quota_period.unwrap_or(Period::Month).as_str());
    let new = new_key(environment)?;
    let changes = serde_json::json!({
        "name": name,
        "scopes": scopes,
        "allowed_cidrs": allowed_cidrs,
        "environment": environment,
        "metadata": metadata.0,
        "expires_at": shown(&expires_at),
        "rotation_interval": shown(&rotation_interval),
        "webhook_url": webhook_url,
        "rate_limit": rate_limit,
        "rate_window": shown(&rate_window),
        "quota": quota,
        "quota_period": quota_period,
    });

    let values: [DatumWithOid; 15] = [
        (&new.digest[..]).into(),
        new.prefix.as_str().into(),
        owner.into(),
        name.into(),
        scopes.into(),
        allowed_cidrs.into(),
        environment.into(),
        events::jsonb(&metadata.0),
        expires_at.into(),
        rotation_interval.into(),
        webhook_url.into(),
        rate_limit.into(),
        rate_window.into(),
        quota.into(),
        quota_period.into(),
    ];
    // Both rows without a statement when the tables allow it (see
    // direct_insert.rs); either falls back to its statement.
    let keys = catalog::members()?.keys;
    let direct = direct_insert::insert(keys, &KEY_COLUMNS, &values, |row| {
        (
            row.get::<Uuid>(c"id"),
            row.get::<TimestampWithTimeZone>(c"created_at"),
        )
    })?;
    let (id, created_at) = match direct {
        Some((Some(id), Some(created_at))) => {
            let key = Created {
                key_id: id,
                owner,
                name,
                prefix: &new.prefix,
                created_at,
                expires_at,
                rotation_interval,
                webhook_url,
            };
            if events::record_created(&key, &changes)?.is_none() {
                Spi::connect_mut(|client| events::record(client, Action::Created, id, changes))
                    .map_err(Error::from)?;
            }
            (id, created_at)
        }
        Some(_) => {
            return Err(Error::Internal("a new key without id or creation time".into()).into())
        }
        None => Spi::connect_mut(|client| {
            let row = storage::run(client, Stmt::InsertKey, &values)?.first();
            let id: Uuid = row.get(1)?.expect("INSERT RETURNING id");
            let created_at: TimestampWithTimeZone =
                row.get(2)?.expect("INSERT RETURNING created_at");
            events::record(client, Action::Created, id, changes)?;
            Ok::<_, Error>((id, created_at))
        })?,
    };
    Ok(TableIterator::once((
        id, new.key, new.prefix, created_at, expires_at,
    )))
}
