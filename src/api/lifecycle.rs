//! Lifecycle policy: keys due for rotation, keys about to expire, the
//! announcement of both as events, and an owner's history. Granted to
//! `api_keys_admin`.

use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{JsonB, Uuid};

use crate::api::{args, forbid_key_context, forbid_management};
use crate::error::{Error, Result};
use crate::runtime::events::{self, Action};
use crate::runtime::storage::{self, Stmt};

/// A key coming due: id, owner, name, prefix, due time, webhook address.
type DueRow = (
    Uuid,
    String,
    String,
    String,
    TimestampWithTimeZone,
    Option<String>,
);

/// The keys `stmt` finds coming due within `within`, each with its due time
/// as JSON; with `unannounced`, only those not announced for that time yet.
fn due(
    client: &SpiClient<'_>,
    stmt: Stmt,
    within: Interval,
    unannounced: bool,
) -> Result<Vec<(DueRow, JsonB)>> {
    let args: [DatumWithOid; 2] = [within.into(), unannounced.into()];
    let table = storage::run(client, stmt, &args)?;
    let mut rows = Vec::with_capacity(table.len());
    for r in table {
        rows.push((
            (
                r.get::<Uuid>(1)?.expect("id"),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<String>(4)?.unwrap_or_default(),
                r.get::<TimestampWithTimeZone>(5)?.expect("due time"),
                r.get::<String>(6)?,
            ),
            r.get::<JsonB>(7)?.expect("due time"),
        ));
    }
    Ok(rows)
}

fn due_rows(stmt: Stmt, within: Option<Interval>) -> Result<TableIterator<'static, DueRow>> {
    forbid_key_context()?;
    let within = args::window("within", within)?;
    let rows = Spi::connect(|client| due(client, stmt, within, false))?;
    Ok(TableIterator::new(rows.into_iter().map(|(row, _)| row)))
}

/// The two listings of keys coming due share their row type, which pgrx
/// needs written out where `name!` is used.
macro_rules! due_listing {
    ($(#[$doc:meta])* $name:ident, $stmt:expr, $default_within:tt) => {
        $(#[$doc])*
        #[pg_extern(stable, parallel_unsafe, security_definer)]
        #[search_path(pg_catalog, pg_temp)]
        fn $name(
            within: default!(Option<Interval>, $default_within),
        ) -> Result<
            TableIterator<
                'static,
                (
                    name!(key_id, Uuid),
                    name!(owner, String),
                    name!(name, String),
                    name!(prefix, String),
                    name!(due_at, TimestampWithTimeZone),
                    name!(webhook_url, Option<String>),
                ),
            >,
            ErrorReport,
        > {
            Ok(due_rows($stmt, within)?)
        }
    };
}

due_listing!(
    /// `apikey_due_for_rotation`: keys whose rotation interval has run out,
    /// or runs out within `within`.
    apikey_due_for_rotation,
    Stmt::KeysDueForRotation,
    "'0'"
);

due_listing!(
    /// `apikey_expiring`: keys that expire within `within`.
    apikey_expiring,
    Stmt::KeysExpiring,
    "'7 days'"
);

/// `apikey_announce_due`: record (and NOTIFY) a `rotation_due` event for
/// every key due for rotation within `rotation_within` and an `expiring`
/// event for every key expiring within `expiry_within`, once per key and due
/// time. Meant to be called periodically (pg_cron, the webhook worker).
/// Returns how many events it recorded.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_announce_due(
    rotation_within: default!(Option<Interval>, "'0'"),
    expiry_within: default!(Option<Interval>, "'7 days'"),
) -> Result<i32, ErrorReport> {
    forbid_management()?;
    let batches = [
        (
            Action::RotationDue,
            Stmt::KeysDueForRotation,
            "next_rotation_at",
            args::window("rotation_within", rotation_within)?,
        ),
        (
            Action::Expiring,
            Stmt::KeysExpiring,
            "expires_at",
            args::window("expiry_within", expiry_within)?,
        ),
    ];
    let announced = Spi::connect_mut(|client| {
        storage::run(client, Stmt::LockAnnouncements, &[])?;
        let mut announced = 0;
        for (action, stmt, field, within) in batches {
            for ((id, ..), due_at) in due(client, stmt, within, true)? {
                events::record(client, action, id, serde_json::json!({ field: due_at.0 }))?;
                announced += 1;
            }
        }
        Ok::<_, Error>(announced)
    })?;
    Ok(announced)
}

/// `apikey_history`: an owner's events (all owners when NULL), oldest
/// first, from `since` on. Never holds a secret.
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_history(
    owner: Option<&str>,
    since: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(event_id, Uuid),
            name!(at, TimestampWithTimeZone),
            name!(action, String),
            name!(key_id, Uuid),
            name!(owner, String),
            name!(session_role, String),
            name!(acting_role, String),
            name!(changes, JsonB),
        ),
    >,
    ErrorReport,
> {
    forbid_key_context()?;
    let rows = Spi::connect(|client| {
        let args: [DatumWithOid; 2] = [owner.into(), since.into()];
        let table = storage::run(client, Stmt::History, &args)?;
        let mut rows = Vec::with_capacity(table.len());
        for r in table {
            rows.push((
                r.get::<Uuid>(1)?.expect("id"),
                r.get::<TimestampWithTimeZone>(2)?.expect("at"),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<Uuid>(4)?.expect("key_id"),
                r.get::<String>(5)?.unwrap_or_default(),
                r.get::<String>(6)?.unwrap_or_default(),
                r.get::<String>(7)?.unwrap_or_default(),
                r.get::<JsonB>(8)?.unwrap_or(JsonB(serde_json::json!({}))),
            ));
        }
        Ok::<_, Error>(rows)
    })?;
    Ok(TableIterator::new(rows))
}
