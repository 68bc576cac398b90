//! `apikey_rotate`: a new key with the same attributes; the old one keeps
//! working until `now() + grace`. At no moment is neither key usable.

use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;

use crate::api::{args, forbid_management, new_key};
use crate::error::Error;
use crate::runtime::events::{self, shown, Action};
use crate::runtime::storage::{self, Stmt};

#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_rotate(
    key_id: Option<Uuid>,
    grace: default!(Option<Interval>, "'0'"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(old_key_id, Uuid),
            name!(new_key_id, Uuid),
            name!(key, String),
            name!(prefix, String),
            name!(grace_expires_at, TimestampWithTimeZone),
        ),
    >,
    ErrorReport,
> {
    forbid_management()?;
    let key_id = args::key_id(key_id)?;
    let grace = args::grace(grace)?;
    let row = Spi::connect_mut(|client| {
        let args: [DatumWithOid; 1] = [key_id.into()];
        let old = storage::run(client, Stmt::LockKeyForRotation, &args)?;
        if old.is_empty() {
            return Err(Error::UnknownKey { key_id });
        }
        let old = old.first();
        let environment: String = old.get(1)?.unwrap_or_default();
        // The first reason in this order: revoked, already rotated, expired.
        let reason = if old.get::<bool>(2)? == Some(true) {
            Some("it is revoked")
        } else if old.get::<Uuid>(4)?.is_some() {
            Some("it was already rotated")
        } else if old.get::<bool>(3)? == Some(true) {
            Some("it is expired")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::NotRotatable { key_id, reason });
        }

        let new = new_key(&environment)?;
        let args: [DatumWithOid; 3] = [
            key_id.into(),
            (&new.digest[..]).into(),
            new.prefix.as_str().into(),
        ];
        let new_id: Uuid = storage::run(client, Stmt::InsertSuccessor, &args)?
            .first()
            .get(1)?
            .expect("RETURNING id");

        let args: [DatumWithOid; 3] = [key_id.into(), new_id.into(), grace.into()];
        let grace_expires_at: TimestampWithTimeZone =
            storage::run(client, Stmt::MarkRotated, &args)?
                .first()
                .get(1)?
                .expect("RETURNING grace_expires_at");
        events::record(
            client,
            Action::Rotated,
            key_id,
            serde_json::json!({
                "replaced_by_key_id": new_id.to_string(),
                "grace_expires_at": shown(&grace_expires_at),
            }),
        )?;
        events::record(
            client,
            Action::Created,
            new_id,
            serde_json::json!({ "rotated_from_key_id": key_id.to_string() }),
        )?;
        Ok((key_id, new_id, new.key, new.prefix, grace_expires_at))
    })?;
    Ok(TableIterator::once(row))
}
