//! The server-side peppers, read from the file named by
//! `api_keys.pepper_file` and cached per backend.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime};

use api_keys_core::lifecycle::parse_peppers;

use crate::error::{Error, Result};
use crate::settings;

/// The pepper file as last read by this backend.
struct PepperCache {
    path: String,
    modified: Option<SystemTime>,
    checked: Instant,
    peppers: Vec<Vec<u8>>,
}

thread_local! {
    static PEPPERS: RefCell<Option<PepperCache>> = const { RefCell::new(None) };
}

/// How often a backend looks whether the pepper file changed.
const RECHECK: Duration = Duration::from_secs(1);

fn file_error(path: &str, problem: impl std::fmt::Display) -> Error {
    Error::PepperFile {
        path: path.to_string(),
        problem: problem.to_string(),
    }
}

/// Call `f` with the accepted peppers, newest first (empty: digests are
/// plain SHA-256). The file is read when the setting changes and re-read
/// when the file changes (checked at most once a second). A file that
/// cannot be read or parsed is an error: keys are never silently made or
/// checked without the configured pepper.
pub fn with_peppers<R>(f: impl FnOnce(&[Vec<u8>]) -> R) -> Result<R> {
    let Some(path) = settings::pepper_file() else {
        return Ok(f(&[]));
    };
    PEPPERS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let fresh = matches!(&*cache, Some(c) if c.path == path && c.checked.elapsed() < RECHECK);
        if !fresh {
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .map_err(|e| file_error(&path, e))?;
            let unchanged =
                matches!(&*cache, Some(c) if c.path == path && c.modified == Some(modified));
            if unchanged {
                if let Some(c) = cache.as_mut() {
                    c.checked = Instant::now();
                }
            } else {
                let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, e))?;
                let peppers = parse_peppers(&text).map_err(|e| file_error(&path, e))?;
                *cache = Some(PepperCache {
                    path,
                    modified: Some(modified),
                    checked: Instant::now(),
                    peppers,
                });
            }
        }
        Ok(f(cache
            .as_ref()
            .map(|c| c.peppers.as_slice())
            .unwrap_or(&[])))
    })
}
