//! Key management: create, revoke, rotate, update, list. Granted to
//! `api_keys_admin`; refused inside a key-authenticated transaction.

use api_keys_core::{cidr, digest, interval, key, lifecycle, scope};
use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

use crate::context::forbid_management;
use crate::error::{warn, ApiKeyError, OrRaise, Result};
use crate::events::{self, Action};
use crate::metadata_arg::JsonbText;
use crate::ratelimit;
use crate::settings;
use crate::storage::{self, Stmt};

/// Longest owner or name accepted, in bytes.
const MAX_TEXT_LEN: usize = 1024;

/// A required text argument: not NULL, not empty, not huge.
fn required_text<'a>(what: &str, value: Option<&'a str>) -> Result<&'a str> {
    match value {
        None => Err(ApiKeyError::invalid(format!("{what} must not be NULL"))),
        Some("") => Err(ApiKeyError::invalid(format!("{what} must not be empty"))),
        Some(v) if v.len() > MAX_TEXT_LEN => Err(ApiKeyError::invalid(format!(
            "{what} is too long ({} bytes; at most {MAX_TEXT_LEN})",
            v.len()
        ))),
        Some(v) => Ok(v),
    }
}

/// Validate and normalize granted scopes (`read` → `read:*`).
fn normalize_scopes(scopes: Option<Vec<Option<String>>>) -> Result<Vec<String>> {
    let scopes = scopes.unwrap_or_default();
    let mut texts = Vec::with_capacity(scopes.len());
    for s in &scopes {
        match s {
            Some(s) => texts.push(s.as_str()),
            None => return Err(ApiKeyError::invalid("scopes must not contain NULL")),
        }
    }
    scope::normalize_all(&texts).map_err(|e| ApiKeyError::invalid(e.to_string()))
}

/// Validate and normalize allowed networks. NULL and `'{}'` both mean any
/// address (stored as NULL); a wildcard network is accepted with a WARNING.
fn normalize_cidrs(cidrs: Option<Vec<Option<String>>>) -> Result<Option<Vec<String>>> {
    let Some(cidrs) = cidrs else { return Ok(None) };
    if cidrs.is_empty() {
        return Ok(None);
    }
    let mut texts = Vec::with_capacity(cidrs.len());
    for c in &cidrs {
        match c {
            Some(c) => texts.push(c.as_str()),
            None => return Err(ApiKeyError::invalid("allowed_cidrs must not contain NULL")),
        }
    }
    let parsed = cidr::parse_allowed(&texts).map_err(|e| ApiKeyError::invalid(e.to_string()))?;
    for w in &parsed.warnings {
        warn(w);
    }
    Ok(Some(parsed.normalized))
}

/// An expiry must lie in the future; `'infinity'` means never (NULL).
fn normalize_expiry(
    expires_at: Option<TimestampWithTimeZone>,
) -> Result<Option<TimestampWithTimeZone>> {
    let Some(ts) = expires_at else {
        return Ok(None);
    };
    if ts.is_infinity() {
        return Ok(None);
    }
    let now = unsafe { pgrx::pg_sys::GetCurrentTransactionStartTimestamp() };
    if pgrx::pg_sys::TimestampTz::from(ts) <= now {
        return Err(ApiKeyError::invalid_with_hint(
            format!("expires_at {ts} is not in the future"),
            "Pass NULL (or 'infinity') for a key that never expires.",
        ));
    }
    Ok(Some(ts))
}

/// Metadata must be a JSON object, nested at most 127 levels; NULL means `{}`.
fn normalize_metadata(metadata: Option<JsonbText>) -> Result<JsonB> {
    let Some(JsonbText(text)) = metadata else {
        return Ok(JsonB(serde_json::json!({})));
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        ApiKeyError::invalid(format!(
            "metadata cannot be taken: {e} (at most 127 levels of nesting)"
        ))
    })?;
    if value.is_object() {
        Ok(JsonB(value))
    } else {
        Err(ApiKeyError::invalid(format!(
            "metadata must be a JSON object, not {}",
            truncate(&text, 80)
        )))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn validate_environment(environment: Option<&str>) -> Result<&str> {
    let env = environment.ok_or_else(|| ApiKeyError::invalid("environment must not be NULL"))?;
    key::validate_label(key::LabelKind::Environment, env)
        .map_err(|e| ApiKeyError::invalid(e.to_string()))?;
    Ok(env)
}

/// A freshly generated key under the current brand, its digest under the
/// newest pepper when one is configured.
fn new_key(environment: &str) -> Result<key::NewKey> {
    let mut new = key::generate(&settings::brand(), environment)
        .map_err(|e| ApiKeyError::invalid(e.to_string()))?;
    new.digest = settings::with_peppers(|peppers| digest::for_storage(peppers, &new.key));
    Ok(new)
}

/// A rotation interval must be positive; `'0'` (in an update) clears it.
fn normalize_rotation_interval(interval: Option<Interval>) -> Result<Option<Interval>> {
    match interval {
        Some(i) if is_negative(&i) => Err(ApiKeyError::invalid(format!(
            "rotation_interval {i} is negative"
        ))),
        Some(i) if is_zero(&i) => Ok(None),
        other => Ok(other),
    }
}

/// A rate limit: `limit` requests per `window` (default one minute, from one
/// second to one day). `limit` 0 (in an update) removes the limit.
fn normalize_rate_limit(
    limit: Option<i32>,
    window: Option<Interval>,
) -> Result<(Option<i32>, Option<Interval>)> {
    if let Some(w) = &window {
        let micros = length(w);
        if !(1_000_000..=interval::DAY_MICROS).contains(&micros) {
            return Err(ApiKeyError::invalid(format!(
                "rate_window {w} is not between 1 second and 1 day"
            )));
        }
    }
    match limit {
        Some(n) if n < 0 => Err(ApiKeyError::invalid(format!("rate_limit {n} is negative"))),
        Some(0) => Ok((None, None)),
        Some(n) => {
            if !ratelimit::available() {
                return Err(ApiKeyError::RateLimitsUnavailable);
            }
            Ok((Some(n), window))
        }
        None => Ok((None, window)),
    }
}

/// The window of a rate limit given without one.
fn default_rate_window() -> Interval {
    Interval::new(0, 0, 60_000_000).expect("one minute")
}

/// A webhook address must be http or https; `''` (in an update) clears it.
fn normalize_webhook_url(url: Option<&str>) -> Result<Option<&str>> {
    match url {
        None | Some("") => Ok(None),
        Some(u) => lifecycle::validate_webhook_url(u)
            .map(Some)
            .map_err(|e| ApiKeyError::invalid(e.to_string())),
    }
}

/// A value for an event's `changes` (times in ISO 8601, whatever DateStyle).
pub(crate) fn shown<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

#[allow(clippy::too_many_arguments)]
// The Rust names of the functions whose signature changed in 0.2.0 carry
// the version: their C symbols must differ from 0.1.0's, which `legacy`
// answers with a clear error until `ALTER EXTENSION api_keys UPDATE` runs.
#[pg_extern(name = "apikey_create", volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_create_v2(
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
) -> TableIterator<
    'static,
    (
        name!(id, Uuid),
        name!(key, String),
        name!(prefix, String),
        name!(created_at, TimestampWithTimeZone),
        name!(expires_at, Option<TimestampWithTimeZone>),
    ),
> {
    let row = create(NewKeyArgs {
        owner,
        name,
        scopes,
        expires_at,
        allowed_cidrs,
        environment,
        metadata,
        rotation_interval,
        webhook_url,
        rate_limit,
        rate_window,
    })
    .or_raise();
    TableIterator::once(row)
}

/// `apikey_create`'s arguments, as given.
struct NewKeyArgs<'a> {
    owner: Option<&'a str>,
    name: Option<&'a str>,
    scopes: Option<Vec<Option<String>>>,
    expires_at: Option<TimestampWithTimeZone>,
    allowed_cidrs: Option<Vec<Option<String>>>,
    environment: Option<&'a str>,
    metadata: Option<JsonbText>,
    rotation_interval: Option<Interval>,
    webhook_url: Option<&'a str>,
    rate_limit: Option<i32>,
    rate_window: Option<Interval>,
}

fn create(
    args: NewKeyArgs<'_>,
) -> Result<(
    name!(id, Uuid),
    name!(key, String),
    name!(prefix, String),
    name!(created_at, TimestampWithTimeZone),
    name!(expires_at, Option<TimestampWithTimeZone>),
)> {
    forbid_management()?;
    let owner = required_text("owner", args.owner)?;
    let name = required_text("name", args.name)?;
    let environment = validate_environment(args.environment)?;
    let scopes = normalize_scopes(args.scopes)?;
    let allowed_cidrs = normalize_cidrs(args.allowed_cidrs)?;
    let expires_at = normalize_expiry(args.expires_at)?;
    let metadata = normalize_metadata(args.metadata)?;
    let rotation_interval = normalize_rotation_interval(args.rotation_interval)?;
    let webhook_url = normalize_webhook_url(args.webhook_url)?;
    let (rate_limit, rate_window) = normalize_rate_limit(args.rate_limit, args.rate_window)?;
    let rate_window = rate_limit.map(|_| rate_window.unwrap_or_else(default_rate_window));
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
    });

    let (id, created_at) = Spi::connect_mut(|client| {
        let args: [DatumWithOid; 13] = [
            (&new.digest[..]).into(),
            new.prefix.as_str().into(),
            owner.into(),
            name.into(),
            scopes.clone().into(),
            allowed_cidrs.clone().into(),
            environment.into(),
            metadata.into(),
            expires_at.into(),
            rotation_interval.into(),
            webhook_url.into(),
            rate_limit.into(),
            rate_window.into(),
        ];
        let table = storage::run(client, Stmt::Insert, &args)?.first();
        let id: Option<Uuid> = table.get(1)?;
        let created_at: Option<TimestampWithTimeZone> = table.get(2)?;
        if let Some(id) = id {
            events::record(client, Action::Created, id, changes)?;
        }
        Ok::<_, pgrx::spi::SpiError>((id, created_at))
    })
    .unwrap_or_else(|e| error!("api_keys: storing the key failed: {e}"));
    Ok((
        id.expect("INSERT RETURNING id"),
        new.key,
        new.prefix,
        created_at.expect("INSERT RETURNING created_at"),
        expires_at,
    ))
}

/// `apikey_revoke`: true when the key was not revoked before and is now.
#[pg_extern(volatile, parallel_unsafe, security_definer, strict)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_revoke(key_id: Uuid) -> bool {
    forbid_management().or_raise();
    Spi::connect_mut(|client| {
        let args: [DatumWithOid; 1] = [key_id.into()];
        let table = storage::update_once(
            client,
            "UPDATE api_keys.keys
                SET revoked_at = pg_catalog.now(),
                    grace_expires_at = CASE WHEN grace_expires_at > pg_catalog.now()
                                            THEN pg_catalog.now() ELSE grace_expires_at END
              WHERE id = $1 AND revoked_at IS NULL
             RETURNING id",
            &args,
        )?;
        let revoked = !table.is_empty();
        if revoked {
            events::record(client, Action::Revoked, key_id, serde_json::json!({}))?;
        }
        Ok::<_, pgrx::spi::SpiError>(revoked)
    })
    .unwrap_or_else(|e| error!("api_keys: revoke failed: {e}"))
}

/// `apikey_rotate`: a new key with the same attributes; the old one works
/// until `now() + grace`.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_rotate(
    key_id: Option<Uuid>,
    grace: default!(Option<Interval>, "'0'"),
) -> TableIterator<
    'static,
    (
        name!(old_key_id, Uuid),
        name!(new_key_id, Uuid),
        name!(key, String),
        name!(prefix, String),
        name!(grace_expires_at, TimestampWithTimeZone),
    ),
> {
    TableIterator::once(rotate(key_id, grace).or_raise())
}

/// An interval's length in microseconds, as PostgreSQL compares intervals.
fn length(i: &Interval) -> i128 {
    interval::total_micros(i.months(), i.days(), i.micros())
}

pub(crate) fn is_negative(i: &Interval) -> bool {
    length(i) < 0
}

fn is_zero(i: &Interval) -> bool {
    i.months() == 0 && i.days() == 0 && i.micros() == 0
}

fn rotate(
    key_id: Option<Uuid>,
    grace: Option<Interval>,
) -> Result<(
    name!(old_key_id, Uuid),
    name!(new_key_id, Uuid),
    name!(key, String),
    name!(prefix, String),
    name!(grace_expires_at, TimestampWithTimeZone),
)> {
    forbid_management()?;
    let key_id = key_id.ok_or_else(|| ApiKeyError::invalid("key_id must not be NULL"))?;
    let grace = grace.unwrap_or_else(|| Interval::new(0, 0, 0).expect("zero interval"));
    if is_negative(&grace) {
        return Err(ApiKeyError::invalid(format!("grace {grace} is negative")));
    }
    Spi::connect_mut(|client| {
        let args: [DatumWithOid; 1] = [key_id.into()];
        let old = storage::update_once(
            client,
            "SELECT environment,
                    revoked_at IS NOT NULL,
                    (expires_at <= pg_catalog.now() OR grace_expires_at <= pg_catalog.now()) IS TRUE,
                    replaced_by_key_id
               FROM api_keys.keys WHERE id = $1 FOR UPDATE",
            &args,
        )
        .map_err(spi_failed)?;
        if old.is_empty() {
            return Err(ApiKeyError::UnknownKey {
                key_id: key_id.to_string(),
            });
        }
        let old = old.first();
        let environment: String = old.get(1).map_err(spi_failed)?.unwrap_or_default();
        let reason = if old.get::<bool>(2).map_err(spi_failed)? == Some(true) {
            Some("it is revoked")
        } else if old.get::<Uuid>(4).map_err(spi_failed)?.is_some() {
            Some("it was already rotated")
        } else if old.get::<bool>(3).map_err(spi_failed)? == Some(true) {
            Some("it is expired")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ApiKeyError::NotRotatable {
                key_id: key_id.to_string(),
                reason,
            });
        }

        let new = new_key(&environment)?;
        let args: [DatumWithOid; 3] = [
            key_id.into(),
            (&new.digest[..]).into(),
            new.prefix.as_str().into(),
        ];
        let inserted = storage::update_once(
            client,
            "INSERT INTO api_keys.keys
                    (digest, prefix, owner, name, scopes, allowed_cidrs, environment, metadata,
                     expires_at, rotation_interval, webhook_url, rate_limit, rate_window)
             SELECT $2, $3, owner, name, scopes, allowed_cidrs, environment, metadata,
                    expires_at, rotation_interval, webhook_url, rate_limit, rate_window
               FROM api_keys.keys WHERE id = $1
             RETURNING id",
            &args,
        )
        .map_err(spi_failed)?;
        let new_id: Uuid = inserted
            .first()
            .get(1)
            .map_err(spi_failed)?
            .expect("RETURNING id");

        let args: [DatumWithOid; 3] = [key_id.into(), new_id.into(), grace.into()];
        let updated = storage::update_once(
            client,
            "UPDATE api_keys.keys
                SET replaced_by_key_id = $2, grace_expires_at = pg_catalog.now() + $3
              WHERE id = $1
             RETURNING grace_expires_at",
            &args,
        )
        .map_err(spi_failed)?;
        let grace_expires_at: TimestampWithTimeZone = updated
            .first()
            .get(1)
            .map_err(spi_failed)?
            .expect("RETURNING grace_expires_at");
        events::record(
            client,
            Action::Rotated,
            key_id,
            serde_json::json!({
                "replaced_by_key_id": new_id.to_string(),
                "grace_expires_at": shown(&grace_expires_at),
            }),
        )
        .map_err(spi_failed)?;
        events::record(
            client,
            Action::Created,
            new_id,
            serde_json::json!({ "rotated_from_key_id": key_id.to_string() }),
        )
        .map_err(spi_failed)?;
        Ok((key_id, new_id, new.key, new.prefix, grace_expires_at))
    })
}

fn spi_failed(e: pgrx::spi::SpiError) -> ApiKeyError {
    error!("api_keys: internal query failed: {e}")
}

/// `apikey_update`: NULL leaves a field as it is; `allowed_cidrs => '{}'`
/// clears the network list, `expires_at => 'infinity'` clears the expiry,
/// `rotation_interval => '0'` the rotation policy, `webhook_url => ''` the
/// webhook.
#[allow(clippy::too_many_arguments)]
#[pg_extern(name = "apikey_update", volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_update_v2(
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
) -> bool {
    update(UpdateArgs {
        key_id,
        name,
        scopes,
        allowed_cidrs,
        expires_at,
        metadata,
        rotation_interval,
        webhook_url,
        rate_limit,
        rate_window,
    })
    .or_raise()
}

/// `apikey_update`'s arguments, as given.
struct UpdateArgs<'a> {
    key_id: Option<Uuid>,
    name: Option<&'a str>,
    scopes: Option<Vec<Option<String>>>,
    allowed_cidrs: Option<Vec<Option<String>>>,
    expires_at: Option<TimestampWithTimeZone>,
    metadata: Option<JsonbText>,
    rotation_interval: Option<Interval>,
    webhook_url: Option<&'a str>,
    rate_limit: Option<i32>,
    rate_window: Option<Interval>,
}

fn update(args: UpdateArgs<'_>) -> Result<bool> {
    forbid_management()?;
    let Some(key_id) = args.key_id else {
        return Ok(false);
    };
    let name = args
        .name
        .map(|n| required_text("name", Some(n)))
        .transpose()?;
    let scopes = args.scopes.map(|s| normalize_scopes(Some(s))).transpose()?;
    let change_cidrs = args.allowed_cidrs.is_some();
    let allowed_cidrs = normalize_cidrs(args.allowed_cidrs)?;
    let change_expiry = args.expires_at.is_some();
    let expires_at = normalize_expiry(args.expires_at)?;
    let metadata = args
        .metadata
        .map(|m| normalize_metadata(Some(m)))
        .transpose()?;
    let change_rotation = args.rotation_interval.is_some();
    let rotation_interval = normalize_rotation_interval(args.rotation_interval)?;
    let change_webhook = args.webhook_url.is_some();
    let webhook_url = normalize_webhook_url(args.webhook_url)?;
    let change_limit = args.rate_limit.is_some();
    let (rate_limit, rate_window) = normalize_rate_limit(args.rate_limit, args.rate_window)?;

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

    Spi::connect_mut(|client| {
        let args: [DatumWithOid; 16] = [
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
            default_rate_window().into(),
        ];
        let table = storage::update_once(
            client,
            "UPDATE api_keys.keys
                SET name              = COALESCE($2, name),
                    scopes            = COALESCE($3, scopes),
                    allowed_cidrs     = CASE WHEN $4 THEN $5 ELSE allowed_cidrs END,
                    expires_at        = CASE WHEN $6 THEN $7 ELSE expires_at END,
                    metadata          = COALESCE($8, metadata),
                    rotation_interval = CASE WHEN $9 THEN $10 ELSE rotation_interval END,
                    webhook_url       = CASE WHEN $11 THEN $12 ELSE webhook_url END,
                    rate_limit        = CASE WHEN $13 THEN $14 ELSE rate_limit END,
                    rate_window       = CASE WHEN (CASE WHEN $13 THEN $14 ELSE rate_limit END) IS NULL THEN NULL
                                             ELSE COALESCE($15, rate_window, $16) END
              WHERE id = $1
             RETURNING id",
            &args,
        )?;
        let updated = !table.is_empty();
        if updated {
            events::record(client, Action::Updated, key_id, changes.into())?;
        }
        Ok::<_, pgrx::spi::SpiError>(updated)
    })
    .map_err(spi_failed)
}

/// `apikey_list`: an owner's keys (all owners when `owner` is NULL), never
/// the key or its digest.
// pgrx needs the row type written out where `name!` is used.
#[allow(clippy::type_complexity)]
#[pg_extern(name = "apikey_list", stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_list_v2(
    owner: Option<&str>,
    status: default!(Option<&str>, "'active'"),
    search: default!(Option<&str>, "NULL"),
) -> TableIterator<
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
    ),
> {
    TableIterator::new(list(owner, status, search).or_raise())
}

#[allow(clippy::type_complexity)]
fn list(
    owner: Option<&str>,
    status: Option<&str>,
    search: Option<&str>,
) -> Result<
    Vec<(
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
    )>,
> {
    let status = status.unwrap_or("all");
    if !matches!(status, "active" | "expired" | "revoked" | "all") {
        return Err(ApiKeyError::invalid_with_hint(
            format!("invalid status \"{}\"", truncate(status, 64).escape_debug()),
            "status is one of active, expired, revoked, all",
        ));
    }
    Spi::connect(|client| {
        let args: [DatumWithOid; 3] = [owner.into(), status.into(), search.into()];
        let table = storage::select_once(
            client,
            "SELECT id, name, prefix, scopes, allowed_cidrs, environment, metadata, status,
                    created_at, expires_at, last_used_at, revoked_at, replaced_by_key_id, grace_expires_at,
                    rotation_interval, created_at + rotation_interval, webhook_url, rate_limit, rate_window
               FROM (SELECT k.*,
                            CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked'
                                 WHEN (k.expires_at <= pg_catalog.now()
                                       OR k.grace_expires_at <= pg_catalog.now()) IS TRUE THEN 'expired'
                                 ELSE 'active' END AS status
                       FROM api_keys.keys k
                      WHERE ($1::text IS NULL OR k.owner = $1)
                        AND ($3::text IS NULL
                             OR pg_catalog.strpos(pg_catalog.lower(k.name), pg_catalog.lower($3)) > 0)) s
              WHERE $2 = 'all' OR s.status = $2
              ORDER BY created_at, id",
            &args,
        )?;
        let mut rows = Vec::with_capacity(table.len());
        for r in table {
            rows.push((
                r.get::<Uuid>(1)?.expect("id"),
                r.get::<String>(2)?.unwrap_or_default(),
                r.get::<String>(3)?.unwrap_or_default(),
                r.get::<Vec<String>>(4)?.unwrap_or_default(),
                r.get::<Vec<String>>(5)?,
                r.get::<String>(6)?.unwrap_or_default(),
                r.get::<JsonB>(7)?.unwrap_or(JsonB(serde_json::json!({}))),
                r.get::<String>(8)?.unwrap_or_default(),
                r.get::<TimestampWithTimeZone>(9)?.expect("created_at"),
                r.get::<TimestampWithTimeZone>(10)?,
                r.get::<TimestampWithTimeZone>(11)?,
                r.get::<TimestampWithTimeZone>(12)?,
                r.get::<Uuid>(13)?,
                r.get::<TimestampWithTimeZone>(14)?,
                r.get::<Interval>(15)?,
                r.get::<TimestampWithTimeZone>(16)?,
                r.get::<String>(17)?,
                r.get::<i32>(18)?,
                r.get::<Interval>(19)?,
            ));
        }
        Ok::<_, pgrx::spi::SpiError>(rows)
    })
    .map_err(spi_failed)
}

/// The C entry points of 0.1.0's `apikey_create`, `apikey_update` and
/// `apikey_list`, whose arguments or columns changed. A database still on
/// 0.1.0's SQL after the 0.2.0 library was installed calls these: they
/// refuse cleanly (55000) instead of reading arguments that are not there.
/// Verification and the request context need no update and keep working.
mod legacy {
    use pgrx::prelude::*;

    fn update_first() -> ! {
        crate::error::ApiKeyError::SchemaOutdated.raise()
    }

    #[pg_extern(sql = false)]
    fn apikey_create() -> Option<i32> {
        update_first()
    }

    #[pg_extern(sql = false)]
    fn apikey_update() -> Option<i32> {
        update_first()
    }

    #[pg_extern(sql = false)]
    fn apikey_list() -> Option<i32> {
        update_first()
    }
}
