//! `apikey_revoke`: permanent, effective at commit.

use pgrx::callbacks::{register_xact_callback, PgXactCallbackEvent};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;

use crate::api::{args, forbid_management};
use crate::error::Error;
use crate::runtime::events::{self, Action};
use crate::runtime::storage::{self, Stmt};
use crate::runtime::{ratelimit, usage};

/// true when the key was not revoked before and is now; false when it is
/// unknown or already revoked. A rotation grace still running ends now.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_revoke(key_id: Option<Uuid>) -> Result<bool, ErrorReport> {
    forbid_management()?;
    let key_id = args::key_id(key_id)?;
    let revoked = Spi::connect_mut(|client| {
        let args: [DatumWithOid; 1] = [key_id.into()];
        let revoked = !storage::run(client, Stmt::RevokeKey, &args)?.is_empty();
        if revoked {
            events::record(client, Action::Revoked, key_id, serde_json::json!({}))?;
            // The key's rate-limit slot is free once the revocation commits.
            let db = usage::this_database();
            register_xact_callback(PgXactCallbackEvent::Commit, move || {
                ratelimit::forget(db, key_id.as_bytes())
            });
        }
        Ok::<_, Error>(revoked)
    })?;
    Ok(revoked)
}
