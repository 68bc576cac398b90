//! `apikey_update`: change a key's attributes. NULL leaves a field as it
//! is; `allowed_cidrs => '{}'` clears the network list, `expires_at =>
//! 'infinity'` the expiry, `rotation_interval => '0'` the rotation policy,
//! `webhook_url => ''` the webhook, `rate_limit => 0` the rate limit.

use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;

use crate::api::args::{self, JsonbText};
use crate::api::forbid_management;
use crate::error::Error;
use crate::runtime::events::{self, shown, Action};
use crate::runtime::storage::{self, Stmt};
use crate::upgrade::Arity;

/// true when the key exists (and was updated); false when it is unknown.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_update(
    // Refuses the call of 0.1.0's definition (6 arguments): see upgrade.rs.
    _arity: Arity<12>,
    key_id: Option<Uuid>,
    name: default!(Option<&str>, "NULL"),
    scopes: default!(Option<Vec<Option<String>>>, "NULL"),
    allowed_cidrs: default!(Option<Vec<Option<String>>>, "NULL"),
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
    metadata: default!(Option<JsonbText>, "NULL"),
    rotation_interval: default!(Option<Interval>, "NULL"),
    webhook_url: default!(Option<&str>, "NULL"),
    rate_limit: default!(Option<i32>, "NULL"),
    rate_window: default!(Option<Interval>, "NULL"),
    quota: default!(Option<i64>, "NULL"),
    quota_period: default!(Option<&str>, "NULL"),
) -> Result<bool, ErrorReport> {
    forbid_management()?;
    let key_id = args::key_id(key_id)?;
    let name = name
        .map(|n| args::required_text("name", Some(n)))
        .transpose()?;
    let scopes = scopes.map(|s| args::scopes(Some(s))).transpose()?;
    let change_cidrs = allowed_cidrs.is_some();
    let allowed_cidrs = args::cidrs(allowed_cidrs)?;
    let change_expiry = expires_at.is_some();
    let expires_at = args::expiry(expires_at)?;
    let metadata = metadata.map(|m| args::metadata(Some(m))).transpose()?;
    let change_rotation = rotation_interval.is_some();
    let rotation_interval = args::rotation_interval(rotation_interval)?;
    let change_webhook = webhook_url.is_some();
    let webhook_url = args::webhook_url(webhook_url)?;
    let change_limit = rate_limit.is_some();
    let (rate_limit, rate_window) = args::rate_limit(rate_limit, rate_window)?;
    let change_quota = quota.is_some();
    let (quota, quota_period) = args::quota(quota, quota_period)?;
    let quota_period = quota_period.map(|p| p.as_str());

    let mut changes = serde_json::Map::new();
    if let Some(n) = name {
        changes.insert("name".into(), n.into());
    }
    if let Some(s) = &scopes {
        changes.insert("scopes".into(), s.clone().into());
    }
    if change_cidrs {
        changes.insert("allowed_cidrs".into(), serde_json::json!(allowed_cidrs));
    }
    if change_expiry {
        changes.insert("expires_at".into(), shown(&expires_at));
    }
    if let Some(m) = &metadata {
        changes.insert("metadata".into(), m.0.clone());
    }
    if change_rotation {
        changes.insert("rotation_interval".into(), shown(&rotation_interval));
    }
    if change_webhook {
        changes.insert("webhook_url".into(), serde_json::json!(webhook_url));
    }
    if change_limit {
        changes.insert("rate_limit".into(), serde_json::json!(rate_limit));
    }
    if rate_window.is_some() {
        changes.insert("rate_window".into(), shown(&rate_window));
    }
    if change_quota {
        changes.insert("quota".into(), serde_json::json!(quota));
    }
    if quota_period.is_some() {
        changes.insert("quota_period".into(), serde_json::json!(quota_period));
    }

    let updated = Spi::connect_mut(|client| {
        let args: [DatumWithOid; 19] = [
            key_id.into(),
            name.into(),
            scopes.into(),
            change_cidrs.into(),
            allowed_cidrs.into(),
            change_expiry.into(),
            expires_at.into(),
            metadata.into(),
            change_rotation.into(),
            rotation_interval.into(),
            change_webhook.into(),
            webhook_url.into(),
            change_limit.into(),
            rate_limit.into(),
            rate_window.into(),
            args::default_rate_window().into(),
            change_quota.into(),
            quota.into(),
            quota_period.into(),
        ];
        let updated = !storage::run(client, Stmt::UpdateKey, &args)?.is_empty();
        if updated {
            events::record(client, Action::Updated, key_id, changes.into())?;
        }
        Ok::<_, Error>(updated)
    })?;
    Ok(updated)
}
