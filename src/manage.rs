//! Key management: create, revoke, rotate, update, list. Granted to
//! `api_keys_admin`; refused inside a key-authenticated transaction.

use api_keys_core::{cidr, key, scope};
use pgrx::datum::{DatumWithOid, Interval, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::{JsonB, Uuid};

use crate::context::forbid_management;
use crate::error::{warn, ApiKeyError, OrRaise, Result};
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

/// Metadata must be a JSON object; NULL means `{}`.
fn normalize_metadata(metadata: Option<JsonB>) -> Result<JsonB> {
    match metadata {
        None => Ok(JsonB(serde_json::json!({}))),
        Some(JsonB(v)) if v.is_object() => Ok(JsonB(v)),
        Some(JsonB(v)) => Err(ApiKeyError::invalid(format!(
            "metadata must be a JSON object, not {}",
            truncate(&v.to_string(), 80)
        ))),
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

/// A freshly generated key under the current brand.
fn new_key(environment: &str) -> Result<key::NewKey> {
    key::generate(&settings::brand(), environment).map_err(|e| ApiKeyError::invalid(e.to_string()))
}

#[allow(clippy::too_many_arguments)]
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_create(
    owner: Option<&str>,
    name: Option<&str>,
    scopes: default!(Option<Vec<Option<String>>>, "'{}'"),
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
    allowed_cidrs: default!(Option<Vec<Option<String>>>, "NULL"),
    environment: default!(Option<&str>, "'live'"),
    metadata: default!(Option<JsonB>, "'{}'"),
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
    let row = create(
        owner,
        name,
        scopes,
        expires_at,
        allowed_cidrs,
        environment,
        metadata,
    )
    .or_raise();
    TableIterator::once(row)
}

fn create(
    owner: Option<&str>,
    name: Option<&str>,
    scopes: Option<Vec<Option<String>>>,
    expires_at: Option<TimestampWithTimeZone>,
    allowed_cidrs: Option<Vec<Option<String>>>,
    environment: Option<&str>,
    metadata: Option<JsonB>,
) -> Result<(
    name!(id, Uuid),
    name!(key, String),
    name!(prefix, String),
    name!(created_at, TimestampWithTimeZone),
    name!(expires_at, Option<TimestampWithTimeZone>),
)> {
    forbid_management()?;
    let owner = required_text("owner", owner)?;
    let name = required_text("name", name)?;
    let environment = validate_environment(environment)?;
    let scopes = normalize_scopes(scopes)?;
    let allowed_cidrs = normalize_cidrs(allowed_cidrs)?;
    let expires_at = normalize_expiry(expires_at)?;
    let metadata = normalize_metadata(metadata)?;
    let new = new_key(environment)?;

    let (id, created_at) = Spi::connect_mut(|client| {
        let args: [DatumWithOid; 9] = [
            (&new.digest[..]).into(),
            new.prefix.as_str().into(),
            owner.into(),
            name.into(),
            scopes.clone().into(),
            allowed_cidrs.clone().into(),
            environment.into(),
            metadata.into(),
            expires_at.into(),
        ];
        let table = storage::run(client, Stmt::Insert, &args)?.first();
        let id: Option<Uuid> = table.get(1)?;
        let created_at: Option<TimestampWithTimeZone> = table.get(2)?;
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
        Ok::<_, pgrx::spi::SpiError>(!table.is_empty())
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

fn is_negative(i: &Interval) -> bool {
    // The same normalization PostgreSQL's interval comparison uses.
    let total = i128::from(i.months()) * 30 * 86_400_000_000
        + i128::from(i.days()) * 86_400_000_000
        + i128::from(i.micros());
    total < 0
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
                    (digest, prefix, owner, name, scopes, allowed_cidrs, environment, metadata, expires_at)
             SELECT $2, $3, owner, name, scopes, allowed_cidrs, environment, metadata, expires_at
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
        Ok((key_id, new_id, new.key, new.prefix, grace_expires_at))
    })
}

fn spi_failed(e: pgrx::spi::SpiError) -> ApiKeyError {
    error!("api_keys: internal query failed: {e}")
}

/// `apikey_update`: NULL leaves a field as it is; `allowed_cidrs => '{}'`
/// clears the network list, `expires_at => 'infinity'` clears the expiry.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_update(
    key_id: Option<Uuid>,
    name: default!(Option<&str>, "NULL"),
    scopes: default!(Option<Vec<Option<String>>>, "NULL"),
    allowed_cidrs: default!(Option<Vec<Option<String>>>, "NULL"),
    expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
    metadata: default!(Option<JsonB>, "NULL"),
) -> bool {
    update(key_id, name, scopes, allowed_cidrs, expires_at, metadata).or_raise()
}

fn update(
    key_id: Option<Uuid>,
    name: Option<&str>,
    scopes: Option<Vec<Option<String>>>,
    allowed_cidrs: Option<Vec<Option<String>>>,
    expires_at: Option<TimestampWithTimeZone>,
    metadata: Option<JsonB>,
) -> Result<bool> {
    forbid_management()?;
    let Some(key_id) = key_id else {
        return Ok(false);
    };
    let name = name.map(|n| required_text("name", Some(n))).transpose()?;
    let scopes = scopes.map(|s| normalize_scopes(Some(s))).transpose()?;
    let change_cidrs = allowed_cidrs.is_some();
    let allowed_cidrs = normalize_cidrs(allowed_cidrs)?;
    let change_expiry = expires_at.is_some();
    let expires_at = normalize_expiry(expires_at)?;
    let metadata = metadata.map(|m| normalize_metadata(Some(m))).transpose()?;

    Spi::connect_mut(|client| {
        let args: [DatumWithOid; 8] = [
            key_id.into(),
            name.into(),
            scopes.into(),
            change_cidrs.into(),
            allowed_cidrs.into(),
            change_expiry.into(),
            expires_at.into(),
            metadata.into(),
        ];
        let table = storage::update_once(
            client,
            "UPDATE api_keys.keys
                SET name          = COALESCE($2, name),
                    scopes        = COALESCE($3, scopes),
                    allowed_cidrs = CASE WHEN $4 THEN $5 ELSE allowed_cidrs END,
                    expires_at    = CASE WHEN $6 THEN $7 ELSE expires_at END,
                    metadata      = COALESCE($8, metadata)
              WHERE id = $1
             RETURNING id",
            &args,
        )?;
        Ok::<_, pgrx::spi::SpiError>(!table.is_empty())
    })
    .map_err(spi_failed)
}

/// `apikey_list`: an owner's keys (all owners when `owner` is NULL), never
/// the key or its digest.
// pgrx needs the row type written out where `name!` is used.
#[allow(clippy::type_complexity)]
#[pg_extern(stable, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_list(
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
                    created_at, expires_at, last_used_at, revoked_at, replaced_by_key_id, grace_expires_at
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
            ));
        }
        Ok::<_, pgrx::spi::SpiError>(rows)
    })
    .map_err(spi_failed)
}
