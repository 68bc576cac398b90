//! Lifecycle policy: keys due for rotation, keys about to expire, the
//! announcement of both as events, and an owner's history. Granted to
//! `api_keys_admin`.

use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

use crate::context::forbid_management;
use crate::error::{ApiKeyError, OrRaise, Result};
use crate::events::{self, Action};

/// A look-ahead window must not be NULL or negative.
fn window(what: &str, within: Option<Interval>) -> Result<Interval> {
    let within = within.ok_or_else(|| ApiKeyError::invalid(format!("{what} must not be NULL")))?;
    if crate::manage::is_negative(&within) {
        return Err(ApiKeyError::invalid(format!("{what} {within} is negative")));
    }
    Ok(within)
}

/// Active (not revoked, not expired, not rotated away) keys whose next
/// rotation falls before `now() + $1`, as `(id, owner, name, prefix, due,
/// webhook_url)`.
const DUE_FOR_ROTATION: &str = "
    SELECT id, owner, name, prefix, created_at + rotation_interval AS due, webhook_url
      FROM api_keys.keys
     WHERE rotation_interval IS NOT NULL
       AND revoked_at IS NULL AND replaced_by_key_id IS NULL
       AND (expires_at IS NULL OR expires_at > pg_catalog.now())
       AND created_at + rotation_interval <= pg_catalog.now() + $1";

/// Active keys whose expiry falls before `now() + $1`, in the same shape.
const EXPIRING: &str = "
    SELECT id, owner, name, prefix, expires_at AS due, webhook_url
      FROM api_keys.keys
     WHERE expires_at > pg_catalog.now()
       AND expires_at <= pg_catalog.now() + $1
       AND revoked_at IS NULL AND replaced_by_key_id IS NULL";

type DueRow = (
    name!(key_id, Uuid),
    name!(owner, String),
    name!(name, String),
    name!(prefix, String),
    name!(due_at, TimestampWithTimeZone),
    name!(webhook_url, Option<String>),
);

fn due_rows(sql: &str, within: Interval) -> Vec<DueRow> {
    Spi::connect(|client| {
        let args: [DatumWithOid; 1] = [within.into()];
        let table = client.select(&format!("{sql} ORDER BY due, id"), None, &args)?;
        let mut rows = Vec::with_capacity(table.len());
        for r in table {
            rows.push((
                r.get::<Uuid>(1)?.expect("id"),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<String>(4)?.unwrap_or_default(),
                r.get::<TimestampWithTimeZone>(5)?.expect("due time"),
                r.get::<String>(6)?,
            ));
        }
        Ok::<_, pgrx::spi::SpiError>(rows)
    })
    .unwrap_or_else(|e| error!("api_keys: internal query failed: {e}"))
}

/// `apikey_due_for_rotation`: keys whose rotation interval has run out, or
/// runs out within `within`.
// pgrx needs the row type written out where `name!` is used.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_due_for_rotation(
    within: default!(Option<Interval>, "'0'"),
) -> TableIterator<
    'static,
    (
        name!(key_id, Uuid),
        name!(owner, String),
        name!(name, String),
        name!(prefix, String),
        name!(due_at, TimestampWithTimeZone),
        name!(webhook_url, Option<String>),
    ),
> {
    let within = window("within", within).or_raise();
    TableIterator::new(due_rows(DUE_FOR_ROTATION, within))
}

/// `apikey_expiring`: keys that expire within `within`.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_expiring(
    within: default!(Option<Interval>, "'7 days'"),
) -> TableIterator<
    'static,
    (
        name!(key_id, Uuid),
        name!(owner, String),
        name!(name, String),
        name!(prefix, String),
        name!(due_at, TimestampWithTimeZone),
        name!(webhook_url, Option<String>),
    ),
> {
    let within = window("within", within).or_raise();
    TableIterator::new(due_rows(EXPIRING, within))
}

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
) -> i32 {
    announce_due(rotation_within, expiry_within).or_raise()
}

fn announce_due(rotation_within: Option<Interval>, expiry_within: Option<Interval>) -> Result<i32> {
    forbid_management()?;
    let rotation_within = window("rotation_within", rotation_within)?;
    let expiry_within = window("expiry_within", expiry_within)?;
    let batches = [
        (
            Action::RotationDue,
            DUE_FOR_ROTATION,
            "next_rotation_at",
            rotation_within,
        ),
        (Action::Expiring, EXPIRING, "expires_at", expiry_within),
    ];
    Spi::connect_mut(|client| {
        // One announcer at a time; the next statement's snapshot then sees
        // what an earlier announcer committed, so nothing is announced twice.
        client.update(
            "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('api_keys.announce_due'))",
            None,
            &[],
        )?;
        let mut announced = 0;
        for (action, due_sql, field, within) in batches {
            // Announced already: an event of this kind for this due time.
            let sql = format!(
                "SELECT d.id, pg_catalog.to_jsonb(d.due) FROM ({due_sql}) AS d
                  WHERE NOT EXISTS (
                        SELECT FROM api_keys.events e
                         WHERE e.key_id = d.id AND e.action = $2
                           AND (e.changes ->> $3)::timestamptz = d.due)
                  ORDER BY d.due, d.id"
            );
            let args: [DatumWithOid; 3] = [within.into(), action.as_str().into(), field.into()];
            let due: Vec<(Uuid, JsonB)> = client
                .select(&sql, None, &args)?
                .map(|r| {
                    Ok((
                        r.get::<Uuid>(1)?.expect("id"),
                        r.get::<JsonB>(2)?.expect("due"),
                    ))
                })
                .collect::<std::result::Result<_, pgrx::spi::SpiError>>()?;
            for (id, due_at) in due {
                events::record(client, action, id, serde_json::json!({ field: due_at.0 }))?;
                announced += 1;
            }
        }
        Ok::<_, pgrx::spi::SpiError>(announced)
    })
    .map_err(|e| error!("api_keys: internal query failed: {e}"))
}

/// `apikey_history`: an owner's events (all owners when NULL), oldest
/// first, from `since` on. Never holds a secret.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_history(
    owner: Option<&str>,
    since: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> TableIterator<
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
> {
    let rows = Spi::connect(|client| {
        let args: [DatumWithOid; 2] = [owner.into(), since.into()];
        let table = client.select(
            "SELECT id, at, action, key_id, owner, session_role, acting_role, changes
               FROM api_keys.events
              WHERE ($1::text IS NULL OR owner = $1)
                AND ($2::timestamptz IS NULL OR at >= $2)
              ORDER BY at, id",
            None,
            &args,
        )?;
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
        Ok::<_, pgrx::spi::SpiError>(rows)
    })
    .unwrap_or_else(|e| error!("api_keys: internal query failed: {e}"));
    TableIterator::new(rows)
}
