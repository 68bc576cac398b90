//! The SQL surface: every function a user calls, one file per area. Each
//! `#[pg_extern]` checks its arguments ([`args`]), asks the runtime
//! ([`crate::runtime`]) to do the work, and returns `Result<_, ErrorReport>`
//! so that an [`Error`] becomes the PostgreSQL error with its SQLSTATE.
//!
//! - [`create`] — `apikey_create`;
//! - [`import`] — `apikey_import`, `apikey_import_many`: keys made elsewhere;
//! - [`leaked`] — `apikey_report_leaked`, `apikey_find_keys`;
//! - [`update`], [`list`] — `apikey_update`, `apikey_list`;
//! - [`rotate`], [`revoke`] — `apikey_rotate`, `apikey_revoke`;
//! - [`verify`] — `apikey_verify`;
//! - [`context`] — `apikey_authenticate` and the accessors for RLS;
//! - [`postgrest`] — the PostgREST pre-request hook's body;
//! - [`lifecycle`] — keys due for rotation or expiring, announcements,
//!   history;
//! - [`usage`] — `apikey_usage`;
//! - [`owner_limits`] — limits an owner's keys share, quotas' use, an
//!   owner's usage.

// pgrx raises the `ErrorReport` a `#[pg_extern]` returns; that is the way
// to give an error its SQLSTATE, so its size is not worth boxing. And pgrx
// needs a function's result row written out with `name!` where it is used.
#![allow(clippy::result_large_err, clippy::type_complexity)]

pub mod args;
pub mod context;
pub mod create;
pub mod import;
pub mod leaked;
pub mod lifecycle;
pub mod list;
pub mod owner_limits;
pub mod postgrest;
pub mod revoke;
pub mod rotate;
pub mod update;
pub mod usage;
pub mod verify;

use api_keys_core::{digest, key};

use crate::error::{Error, Result};
use crate::runtime::{context as request_context, key_lookup, pepper, xact};
use crate::settings;

/// Reading what the administrators read (keys, events, usage) is refused
/// inside a key-authenticated transaction (42501): a key's holder must not
/// see other owners' keys through a role that happens to hold
/// api_keys_admin.
fn forbid_key_context() -> Result<()> {
    if request_context::current().is_some() {
        return Err(Error::ManagementFromKey);
    }
    Ok(())
}

/// Key management is refused inside a key-authenticated transaction (42501),
/// on an older release's schema (55000), and where nothing can be written
/// (25006).
fn forbid_management() -> Result<()> {
    forbid_key_context()?;
    if !key_lookup::schema_is_current()? {
        return Err(Error::SchemaOutdated);
    }
    xact::require_writable()
}

/// A freshly generated key under the current brand, its digest under the
/// newest pepper when one is configured.
fn new_key(environment: &str) -> Result<key::NewKey> {
    let mut new = key::generate(&settings::brand(), environment)
        .map_err(|e| Error::invalid(e.to_string()))?;
    // `generate` gave the plain SHA-256: only a pepper changes it.
    pepper::with_peppers(|peppers| {
        if !peppers.is_empty() {
            new.digest = digest::for_storage(peppers, &new.key);
        }
    })?;
    Ok(new)
}
