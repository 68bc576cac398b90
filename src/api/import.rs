//! Importing keys made elsewhere: `apikey_import` (one key) and
//! `apikey_import_many` (an array the caller's own query fills, so the
//! function never reads a table its caller names). A key is imported by the
//! SHA-256 of the whole key as its user presents it; the key may have any
//! format (see [`api_keys_core::imported`] for the strings verification
//! looks up), keeps its id-less prefix if one is given, and is marked
//! `imported`. Rotating one makes a native key.

use std::collections::HashMap;

use api_keys_core::quota::Period;
use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

use crate::api::args::{self, ImportedKeyArray, ImportedKeyFields, JsonbText};
use crate::api::forbid_management;
use crate::error::{Error, Result};
use crate::runtime::events::{self, Action};
use crate::runtime::storage::{self, Stmt};

/// The import statement's arguments, one element per key, checked.
#[derive(Default)]
struct Batch {
    owners: Vec<String>,
    names: Vec<String>,
    digests: Vec<Vec<u8>>,
    scopes: Vec<String>,
    expires_at: Vec<Option<TimestampWithTimeZone>>,
    allowed_cidrs: Vec<Option<String>>,
    environments: Vec<String>,
    metadata: Vec<JsonB>,
    rotation_intervals: Vec<Option<Interval>>,
    webhook_urls: Vec<Option<String>>,
    rate_limits: Vec<Option<i32>>,
    rate_windows: Vec<Option<Interval>>,
    quotas: Vec<Option<i64>>,
    quota_periods: Vec<Option<&'static str>>,
    prefixes: Vec<String>,
    created_at: Vec<Option<TimestampWithTimeZone>>,
    /// Where each digest first appears (from 1), to refuse it twice.
    seen: HashMap<[u8; 32], usize>,
}

/// A PostgreSQL array literal of `items`, each quoted.
fn array_literal(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}

impl Batch {
    /// Check one key's fields (NULL fields take apikey_import's defaults)
    /// and add it; `item` is its place in an array, for messages.
    fn add(&mut self, item: Option<usize>, f: ImportedKeyFields) -> Result<()> {
        let at = |e: Error| match (item, e) {
            (Some(i), Error::InvalidArgument { message, hint }) => Error::InvalidArgument {
                message: format!("keys[{i}]: {message}"),
                hint,
            },
            (_, e) => e,
        };
        let owner = args::required_text("owner", f.owner.as_deref()).map_err(at)?;
        let name = args::required_text("name", f.name.as_deref()).map_err(at)?;
        let digest = args::digest(f.digest.as_deref()).map_err(at)?;
        let environment =
            args::environment(Some(f.environment.as_deref().unwrap_or("live"))).map_err(at)?;
        let scopes = args::scopes(f.scopes).map_err(at)?;
        let allowed_cidrs = args::cidrs(f.allowed_cidrs).map_err(at)?;
        let expires_at = args::expiry(f.expires_at).map_err(at)?;
        let metadata = args::metadata(f.metadata).map_err(at)?;
        let rotation_interval = args::rotation_interval(f.rotation_interval).map_err(at)?;
        let webhook_url = args::webhook_url(f.webhook_url.as_deref()).map_err(at)?;
        let (rate_limit, rate_window) =
            args::rate_limit(f.rate_limit, f.rate_window).map_err(at)?;
        let rate_window = rate_limit.map(|_| rate_window.unwrap_or_else(args::default_rate_window));
        let (quota, quota_period) = args::quota(f.quota, f.quota_period.as_deref()).map_err(at)?;
        let quota_period = quota.map(|_| quota_period.unwrap_or(Period::Month).as_str());
        let prefix = args::shown_prefix(f.prefix.as_deref(), &digest).map_err(at)?;
        let created_at = args::created_at(f.created_at).map_err(at)?;
        let place = self.owners.len() + 1;
        if let Some(&first) = self.seen.get(&digest) {
            return Err(Error::DuplicateDigest {
                item: Some(place),
                stored_as: None,
                same_as: Some(first),
            });
        }
        self.seen.insert(digest, place);
        self.owners.push(owner.to_string());
        self.names.push(name.to_string());
        self.digests.push(digest.to_vec());
        self.scopes.push(array_literal(&scopes));
        self.expires_at.push(expires_at);
        self.allowed_cidrs
            .push(allowed_cidrs.as_deref().map(array_literal));
        self.environments.push(environment.to_string());
        self.metadata.push(metadata);
        self.rotation_intervals.push(rotation_interval);
        self.webhook_urls.push(webhook_url.map(str::to_string));
        self.rate_limits.push(rate_limit);
        self.rate_windows.push(rate_window);
        self.quotas.push(quota);
        self.quota_periods.push(quota_period);
        self.prefixes.push(prefix);
        self.created_at.push(created_at);
        Ok(())
    }

    /// Store every key with its `imported` event, in one statement; the
    /// number stored and the first key's id. A digest stored already (or
    /// meanwhile) is an error, and the statement's work is undone with it.
    fn store(self, in_array: bool) -> Result<(i64, Option<Uuid>)> {
        let n = self.owners.len();
        if n == 0 {
            return Ok((0, None));
        }
        Spi::connect_mut(|client| {
            let args: [DatumWithOid; 18] = [
                self.owners.into(),
                self.names.into(),
                self.digests.into(),
                self.scopes.into(),
                self.expires_at.into(),
                self.allowed_cidrs.into(),
                self.environments.into(),
                self.metadata.into(),
                self.rotation_intervals.into(),
                self.webhook_urls.into(),
                self.rate_limits.into(),
                self.rate_windows.into(),
                self.quotas.into(),
                self.quota_periods.into(),
                self.prefixes.into(),
                self.created_at.into(),
                Action::Imported.as_str().into(),
                events::acting_role().into(),
            ];
            let row = storage::run(client, Stmt::ImportKeys, &args)?.first();
            let stored: i64 = row.get(1)?.unwrap_or(0);
            let first: Option<Uuid> = row.get(2)?;
            let duplicate: Option<i64> = row.get(3)?;
            let stored_as: Option<Uuid> = row.get(4)?;
            if duplicate.is_some() || stored != n as i64 {
                return Err(Error::DuplicateDigest {
                    item: in_array.then(|| duplicate.unwrap_or(0) as usize),
                    stored_as,
                    same_as: None,
                });
            }
            Ok((stored, first))
        })
    }
}

/// `apikey_import`: store a key made elsewhere by the SHA-256 of the whole
/// key (`digest`), with the attributes `apikey_create` takes, the prefix to
/// show it by, and when it was made. Returns its id.
#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_import(
    owner: Option<&str>,
    name: Option<&str>,
    digest: Option<&[u8]>,
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
    prefix: default!(Option<&str>, "NULL"),
    created_at: default!(Option<TimestampWithTimeZone>, "NULL"),
) -> Result<Uuid, ErrorReport> {
    forbid_management()?;
    let mut batch = Batch::default();
    batch.add(
        None,
        ImportedKeyFields {
            owner: owner.map(str::to_string),
            name: name.map(str::to_string),
            digest: digest.map(<[u8]>::to_vec),
            scopes,
            expires_at,
            allowed_cidrs,
            environment: environment.map(str::to_string),
            metadata,
            rotation_interval,
            webhook_url: webhook_url.map(str::to_string),
            rate_limit,
            rate_window,
            quota,
            quota_period: quota_period.map(str::to_string),
            prefix: prefix.map(str::to_string),
            created_at,
        },
    )?;
    let (_, id) = batch.store(false)?;
    Ok(id.ok_or_else(|| Error::Internal("the import stored no key".into()))?)
}

/// `apikey_import_many`: import every key of `keys` (made with
/// `api_keys.imported_key(...)`, typically `array_agg` over the caller's
/// own table) in one statement: all or none. Returns how many.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_import_many(keys: Option<ImportedKeyArray>) -> Result<i64, ErrorReport> {
    forbid_management()?;
    let keys = keys.ok_or_else(|| Error::invalid("keys must not be NULL"))?;
    let mut batch = Batch::default();
    keys.each(|item, fields| {
        let fields = fields.ok_or_else(|| Error::invalid(format!("keys[{item}] is NULL")))?;
        batch.add(Some(item), fields)
    })?;
    let (stored, _) = batch.store(true)?;
    Ok(stored)
}
