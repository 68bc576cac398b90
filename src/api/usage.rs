//! `apikey_usage`: how often an owner's keys were verified, per day, key
//! and answer code, as the background workers stored it.

use pgrx::datum::{Date, DatumWithOid};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;

use crate::api::forbid_key_context;
use crate::error::Error;
use crate::runtime::storage::{self, Stmt};

/// An owner's usage (every owner's when NULL), from `since` to `until`.
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_usage(
    owner: Option<&str>,
    since: default!(Option<Date>, "NULL"),
    until: default!(Option<Date>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(day, Date),
            name!(key_id, Uuid),
            name!(name, String),
            name!(code, String),
            name!(count, i64),
        ),
    >,
    ErrorReport,
> {
    forbid_key_context()?;
    let rows = Spi::connect(|client| {
        let args: [DatumWithOid; 3] = [owner.into(), since.into(), until.into()];
        storage::run(client, Stmt::UsageOfOwner, &args)?
            .map(|r| {
                Ok((
                    r.get::<Date>(1)?.expect("day"),
                    r.get::<Uuid>(2)?.expect("key_id"),
                    r.get::<String>(3)?.unwrap_or_default(),
                    r.get::<String>(4)?.unwrap_or_default(),
                    r.get::<i64>(5)?.unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>, Error>>()
    })?;
    Ok(TableIterator::new(rows))
}
