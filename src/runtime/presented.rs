//! What a presented string is looked up by: the digests of a native key
//! (one HMAC per configured pepper, newest first, then the plain SHA-256),
//! the SHA-256 of a string that may be an imported key (imported digests
//! are never peppered), or nothing at all: `malformed`, no table access.
//! The rule for imported keys is [`api_keys_core::imported`]; it runs only
//! for strings that are not native keys, so a native key costs what it cost
//! before imported keys existed. Shared by verification and by leak reports.

use api_keys_core::{digest, imported, key};

use crate::error::Result;
use crate::runtime::pepper;
use crate::settings;

/// The digests to look `candidate` up by, in order; None: malformed.
pub fn digests(candidate: Option<&str>) -> Result<Option<Vec<[u8; 32]>>> {
    let Some(candidate) = candidate else {
        return Ok(None);
    };
    if key::is_well_formed(candidate.as_bytes()) {
        // One digest without peppers; with them, newest pepper first.
        return pepper::with_peppers(|peppers| digest::lookup_candidates(peppers, candidate))
            .map(Some);
    }
    if imported::may_be_imported(candidate.as_bytes(), &settings::brand()) {
        return Ok(Some(vec![digest::sha256(candidate)]));
    }
    Ok(None)
}
