//! Leaked keys: `apikey_report_leaked` revokes every real key among those
//! presented (a secret-scanning partner's report, a key found in a support
//! ticket) and says which were real; `apikey_find_keys` finds strings of
//! the key format in any text, offline, without handing out more than a
//! prefix.

use api_keys_core::scan;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::Uuid;

use crate::api::{args, forbid_management};
use crate::error::{Error, Result};
use crate::runtime::events::{self, Action};
use crate::runtime::presented;
use crate::runtime::storage::{self, Stmt};

/// A real key that was not revoked before: revoked now.
const TRUE_POSITIVE: &str = "true_positive";
/// A real key, revoked before this report.
const ALREADY_REVOKED: &str = "already_revoked";
/// Not a key of this database.
const FALSE_POSITIVE: &str = "false_positive";

/// One answer of a leak report: the key's place in the array (from 1), the
/// label, and for a real key its id, owner and prefix.
type Answer = (
    i32,
    &'static str,
    Option<Uuid>,
    Option<String>,
    Option<String>,
);

/// Look the presented keys up and revoke the real, unrevoked ones in one
/// statement; record a `revoked` event for each with the reason, source and
/// URL. Every presented key gets an answer, in order.
fn report(keys: &[Option<String>], source: &str, url: Option<&str>) -> Result<Vec<Answer>> {
    let mut items = Vec::new();
    let mut digests = Vec::new();
    let mut ranks = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        for (rank, d) in presented::digests(k.as_deref())?
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            items.push(i as i32 + 1);
            digests.push(d.to_vec());
            ranks.push(rank as i32);
        }
    }
    let mut answers: Vec<Answer> = (1..=keys.len() as i32)
        .map(|i| (i, FALSE_POSITIVE, None, None, None))
        .collect();
    let changes = serde_json::json!({ "reason": "leaked", "source": source, "url": url });
    Spi::connect_mut(|client| {
        let args: [DatumWithOid; 3] = [items.into(), digests.into(), ranks.into()];
        let mut revoked_now = Vec::new();
        for r in storage::run(client, Stmt::RevokeLeaked, &args)? {
            let item: i32 = r.get(1)?.expect("item");
            let id: Uuid = r.get(2)?.expect("id");
            let now: bool = r.get(5)?.unwrap_or(false);
            let label = if now { TRUE_POSITIVE } else { ALREADY_REVOKED };
            answers[item as usize - 1] = (item, label, Some(id), r.get(3)?, r.get(4)?);
            if now {
                revoked_now.push(id);
            }
        }
        revoked_now.sort_by_key(|id| *id.as_bytes());
        revoked_now.dedup();
        for id in revoked_now {
            events::record(client, Action::Revoked, id, changes.clone())?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(answers)
}

/// `apikey_report_leaked`: revoke at once every key of `keys` that exists
/// and is not revoked yet, with the reason `leaked` (source and URL in the
/// audit log and the `revoked` event, never the key), and answer for each
/// presented key, in order: `true_positive` (a real key, revoked now),
/// `already_revoked`, or `false_positive` (not a key of this database:
/// unknown, malformed, NULL). All or nothing, and idempotent. At most
/// 10,000 keys per call.
#[pg_extern(volatile, parallel_unsafe, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn apikey_report_leaked(
    keys: Option<Vec<Option<String>>>,
    source: Option<&str>,
    url: default!(Option<&str>, "NULL"),
) -> Result<
    TableIterator<
        'static,
        (
            name!(item, i32),
            name!(label, String),
            name!(key_id, Option<Uuid>),
            name!(owner, Option<String>),
            name!(prefix, Option<String>),
        ),
    >,
    ErrorReport,
> {
    forbid_management()?;
    let keys = args::reported_keys(keys)?;
    let source = args::required_text("source", source)?;
    let url = args::leak_url(url)?;
    let answers = report(&keys, source, url)?;
    Ok(TableIterator::new(answers.into_iter().map(
        |(item, label, id, owner, prefix)| (item, label.to_string(), id, owner, prefix),
    )))
}

/// `apikey_find_keys`: every substring of `text` that has the key's shape,
/// with its prefix, where it starts (in characters, from 1, as `substr`
/// counts), its length, and whether its checksum is right. Never the rest
/// of the key. Runs as its caller: it reads nothing but its argument.
#[pg_extern(immutable, parallel_safe, strict)]
fn apikey_find_keys(
    text: &str,
) -> TableIterator<
    'static,
    (
        name!(prefix, String),
        name!(start, i32),
        name!(length, i32),
        name!(checksum_ok, bool),
    ),
> {
    let found: Vec<_> = scan::find_keys(text)
        .into_iter()
        .map(|f| {
            (
                f.prefix.to_string(),
                i32::try_from(f.char_start + 1).unwrap_or(i32::MAX),
                f.len as i32,
                f.checksum_ok,
            )
        })
        .collect();
    TableIterator::new(found)
}
