//! Which scope a PostgREST request needs: the routes of the table
//! `api_keys.postgrest_routes` (method, path pattern, required scope) and
//! the one that applies to a request's `request.method` and `request.path`.
//!
//! # Paths
//!
//! PostgREST serves `/` (the OpenAPI description), `/name` (a table or
//! view) and `/rpc/name` (a function). `request.path` is the raw path, so
//! it is read as PostgREST itself reads it (WAI's `decodePathSegments`):
//! split at `/`, each segment percent-decoded. `/doc%75ments` is
//! `/documents` here as it is to PostgREST, so an encoded path cannot
//! dodge a route.
//!
//! # Patterns
//!
//! A pattern is written as PostgREST names things, decoded: `/` or
//! `/`-separated segments, at most two, a two-segment pattern's first
//! matching `rpc`. In a segment `*` matches any run of characters (`/*`:
//! every table and view, `/rpc/*`: every function, `/report_*`); a final
//! segment `**` matches one or more segments (`/**`: everything but `/`).
//! Refused: an empty segment (`//`, a trailing `/`), `**` mixed with other
//! characters or not last, `%`, `?`, `#` and control characters, more than
//! [`MAX_PATTERN_BYTES`].
//!
//! # Methods
//!
//! `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`, or `*` for any. A `GET`
//! route also covers `HEAD` (HEAD is a GET without the body).
//!
//! # Precedence
//!
//! Of the routes that match, the one with the most characters other than
//! `*` in its pattern wins; then the fewest `*`; then the exact method over
//! `GET` (for HEAD) over `*`; then the pattern first in byte order.

use std::cmp::{Ordering, Reverse};
use std::fmt;

use crate::scope::quote_truncated;

/// Longest accepted pattern, in bytes.
pub const MAX_PATTERN_BYTES: usize = 1024;

/// The methods a route can name (besides `*`), as PostgREST runs the
/// pre-request for them.
pub const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// An invalid method or pattern, naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError(String);

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouteError {}

/// A route's method: one of [`METHODS`], or any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Any,
    Only(&'static str),
}

impl Method {
    /// A route's method: `*` or one of [`METHODS`], upper case.
    pub fn parse(text: &str) -> Result<Method, RouteError> {
        if text == "*" {
            return Ok(Method::Any);
        }
        request_method(text).map(Method::Only).ok_or_else(|| {
            RouteError(format!(
                "method {} is not one of GET, HEAD, POST, PUT, PATCH, DELETE, *",
                quote_truncated(text)
            ))
        })
    }

    /// How well this route's method fits a request's: None when it does not.
    fn rank(self, request: &str) -> Option<u8> {
        match self {
            Method::Only(m) if m == request => Some(2),
            Method::Only("GET") if request == "HEAD" => Some(1),
            Method::Only(_) => None,
            Method::Any => Some(0),
        }
    }
}

/// A request method PostgREST runs the pre-request for, as [`METHODS`]
/// spells it.
pub fn request_method(text: &str) -> Option<&'static str> {
    METHODS.iter().copied().find(|m| *m == text)
}

/// A request's method (`request.method`): one of [`METHODS`], or an error
/// naming it.
pub fn parse_request_method(text: &str) -> Result<&'static str, RouteError> {
    request_method(text).ok_or_else(|| {
        RouteError(format!(
            "method {} is not one of GET, HEAD, POST, PUT, PATCH, DELETE",
            quote_truncated(text)
        ))
    })
}

/// A request's path (`request.path`) starts with `/`, or is an error
/// naming it.
pub fn check_request_path(text: &str) -> Result<(), RouteError> {
    if text.starts_with('/') {
        Ok(())
    } else {
        Err(RouteError(format!(
            "path {} does not start with /",
            quote_truncated(text)
        )))
    }
}

/// The route methods that can apply to a request of `method`: its own,
/// `GET` for `HEAD`, and `*`.
pub fn candidate_methods(method: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = request_method(method).into_iter().collect();
    if method == "HEAD" {
        out.push("GET");
    }
    out.push("*");
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// A segment, `*` matching any run of characters.
    Glob(String),
    /// A final `**`: one or more segments.
    Rest,
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<Seg>,
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, RouteError> {
        let bad = |why: &str| RouteError(format!("path pattern {} {why}", quote_truncated(text)));
        if text.len() > MAX_PATTERN_BYTES {
            return Err(bad(&format!("is longer than {MAX_PATTERN_BYTES} bytes")));
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(bad("must start with / (for example /documents or /rpc/*)"));
        };
        if let Some(c) = text
            .chars()
            .find(|c| matches!(c, '%' | '?' | '#') || c.is_control())
        {
            return Err(bad(&format!(
                "contains {c:?}: write names as PostgREST decodes them, without the query string"
            )));
        }
        if rest.is_empty() {
            return Ok(Pattern {
                text: text.to_string(),
                segments: Vec::new(),
            });
        }
        let parts: Vec<&str> = rest.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad("has an empty segment"));
        }
        if parts.len() > 2 {
            return Err(bad(
                "has more than two segments: PostgREST serves /, /name and /rpc/name",
            ));
        }
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            if *part == "**" {
                if i + 1 != parts.len() {
                    return Err(bad("has ** before its last segment"));
                }
                segments.push(Seg::Rest);
            } else if part.contains("**") {
                return Err(bad(
                    "mixes ** with other characters (** must be a whole segment)",
                ));
            } else {
                segments.push(Seg::Glob(part.to_string()));
            }
        }
        if let [Seg::Glob(first), _] = segments.as_slice() {
            if !glob(first, "rpc") {
                return Err(bad(
                    "has two segments but the first does not match rpc (/rpc/name)",
                ));
            }
        }
        Ok(Pattern {
            text: text.to_string(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern matches a request path's decoded segments.
    pub fn matches(&self, path: &[String]) -> bool {
        match self.segments.last() {
            Some(Seg::Rest) => {
                let fixed = self.segments.len() - 1;
                path.len() > fixed && self.fixed_match(&path[..fixed])
            }
            _ => path.len() == self.segments.len() && self.fixed_match(path),
        }
    }

    fn fixed_match(&self, path: &[String]) -> bool {
        self.segments.iter().zip(path).all(|(s, p)| match s {
            Seg::Glob(g) => glob(g, p),
            Seg::Rest => true,
        })
    }

    /// (characters other than `*`, `*` characters).
    fn weight(&self) -> (usize, usize) {
        let stars = self.text.chars().filter(|c| *c == '*').count();
        (self.text.chars().count() - stars, stars)
    }
}

/// Whether `text` matches `pattern`, whose `*` match any run of characters.
/// No recursion; at most (pattern × text) steps.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            resume = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((star, at)) = resume {
            pi = star + 1;
            ti = at + 1;
            resume = Some((star, at + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A request's raw path as PostgREST reads it: split at `/` after one
/// leading `/`, each segment percent-decoded (a `%` not followed by two hex
/// digits stays), invalid UTF-8 replaced. `/` and the empty path have no
/// segments.
pub fn path_segments(raw: &str) -> Vec<String> {
    if raw.is_empty() || raw == "/" {
        return Vec::new();
    }
    let rest = raw.strip_prefix('/').unwrap_or(raw);
    rest.split('/').map(percent_decode).collect()
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One row of the route table, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub pattern: Pattern,
    /// None: a valid key, no scope.
    pub required_scope: Option<String>,
}

/// The route that applies to a request of `method` on `raw_path`, if any.
pub fn applicable<'a>(routes: &'a [Route], method: &str, raw_path: &str) -> Option<&'a Route> {
    let path = path_segments(raw_path);
    routes
        .iter()
        .filter_map(|r| Some((r.method.rank(method)?, r)))
        .filter(|(_, r)| r.pattern.matches(&path))
        .max_by(|(ma, a), (mb, b)| precedence((*ma, a), (*mb, b)))
        .map(|(_, r)| r)
}

fn precedence(a: (u8, &Route), b: (u8, &Route)) -> Ordering {
    let key = |(rank, r): (u8, &Route)| {
        let (literal, stars) = r.pattern.weight();
        (
            literal,
            Reverse(stars),
            rank,
            Reverse(r.pattern.as_str().to_string()),
        )
    };
    key(a).cmp(&key(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn route(method: &str, pattern: &str, scope: Option<&str>) -> Route {
        Route {
            method: Method::parse(method).unwrap(),
            pattern: Pattern::parse(pattern).unwrap(),
            required_scope: scope.map(str::to_string),
        }
    }

    fn scope_of<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<&'a str> {
        applicable(routes, method, path).and_then(|r| r.required_scope.as_deref())
    }

    #[test]
    fn patterns() {
        for ok in [
            "/",
            "/documents",
            "/*",
            "/**",
            "/rpc/*",
            "/rpc/**",
            "/report_*",
            "/*/x",
            "/my table",
        ] {
            assert!(Pattern::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("documents", "must start with /"),
            ("", "must start with /"),
            ("//", "empty segment"),
            ("/documents/", "empty segment"),
            ("/a/b/c", "more than two segments"),
            ("/api/documents", "first does not match rpc"),
            ("/**/x", "before its last segment"),
            ("/a**", "mixes **"),
            ("/my%20table", "contains '%'"),
            ("/documents?select=id", "contains '?'"),
            ("/a\nb", "contains '\\n'"),
        ] {
            let e = Pattern::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains(why) && e.starts_with("path pattern \""),
                "{bad}: {e}"
            );
        }
        assert!(Pattern::parse(&format!("/{}", "x".repeat(MAX_PATTERN_BYTES))).is_err());
        assert_eq!(
            Method::parse("get").unwrap_err().to_string(),
            r#"method "get" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, *"#
        );
        assert_eq!(Method::parse("*"), Ok(Method::Any));
        assert_eq!(Method::parse("PATCH"), Ok(Method::Only("PATCH")));
    }

    #[test]
    fn paths_as_postgrest_reads_them() {
        assert_eq!(path_segments("/"), Vec::<String>::new());
        assert_eq!(path_segments(""), Vec::<String>::new());
        assert_eq!(path_segments("/documents"), ["documents"]);
        assert_eq!(path_segments("/rpc/fn"), ["rpc", "fn"]);
        assert_eq!(path_segments("/doc%75ments"), ["documents"]);
        assert_eq!(path_segments("/%72pc/f%6E"), ["rpc", "fn"]);
        assert_eq!(path_segments("/a%2Fb"), ["a/b"]);
        assert_eq!(path_segments("/my%20table"), ["my table"]);
        assert_eq!(path_segments("/100%"), ["100%"]);
        assert_eq!(path_segments("/a%zz"), ["a%zz"]);
        assert_eq!(path_segments("/a%4"), ["a%4"]);
        assert_eq!(path_segments("/documents/"), ["documents", ""]);
        assert_eq!(path_segments("/%ff"), ["\u{fffd}"]);
    }

    #[test]
    fn globs() {
        assert!(glob("*", ""));
        assert!(glob("*", "anything"));
        assert!(glob("report_*", "report_daily"));
        assert!(glob("report_*", "report_"));
        assert!(!glob("report_*", "reports"));
        assert!(glob("*_log", "audit_log"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("a*b*c", "aXbYbZ"));
        assert!(glob("rpc", "rpc"));
        assert!(!glob("rpc", "rpcx"));
        assert!(!glob("", "x"));
        assert!(glob("ü*", "über"));
    }

    #[test]
    fn precedence_most_specific_wins() {
        let routes = vec![
            route("*", "/**", Some("api")),
            route("*", "/*", Some("tables")),
            route("GET", "/*", Some("read")),
            route("*", "/documents", Some("documents")),
            route("POST", "/documents", Some("write:documents")),
            route("*", "/rpc/*", Some("rpc")),
            route("*", "/rpc/health", None),
            route("DELETE", "/report_*", Some("delete:reports")),
        ];
        assert_eq!(scope_of(&routes, "GET", "/documents"), Some("documents"));
        assert_eq!(
            scope_of(&routes, "POST", "/documents"),
            Some("write:documents")
        );
        assert_eq!(scope_of(&routes, "GET", "/doc%75ments"), Some("documents"));
        assert_eq!(scope_of(&routes, "GET", "/projects"), Some("read"));
        assert_eq!(scope_of(&routes, "HEAD", "/projects"), Some("read"));
        assert_eq!(scope_of(&routes, "PATCH", "/projects"), Some("tables"));
        assert_eq!(scope_of(&routes, "POST", "/rpc/do_it"), Some("rpc"));
        assert_eq!(scope_of(&routes, "POST", "/%72pc/do_it"), Some("rpc"));
        // A route without a scope wins like any other, and needs no scope.
        let health = applicable(&routes, "GET", "/rpc/health").unwrap();
        assert_eq!(health.pattern.as_str(), "/rpc/health");
        assert_eq!(health.required_scope, None);
        assert_eq!(
            scope_of(&routes, "DELETE", "/report_daily"),
            Some("delete:reports")
        );
        assert_eq!(scope_of(&routes, "GET", "/report_daily"), Some("read"));
        // `/` is matched by no `**`.
        assert!(applicable(&routes, "GET", "/").is_none());
        assert!(applicable(&[route("GET", "/", Some("x"))], "GET", "/").is_some());
        // `*` matches an empty name; `/rpc` (a table named rpc) is not a function.
        assert_eq!(scope_of(&routes, "GET", "/rpc"), Some("read"));
    }

    #[test]
    fn ties_are_broken_deterministically() {
        let a = route("*", "/a*", Some("a"));
        let b = route("*", "/*a", Some("b"));
        for routes in [vec![a.clone(), b.clone()], vec![b, a]] {
            assert_eq!(scope_of(&routes, "GET", "/aa"), Some("b")); // "/*a" < "/a*"
        }
        let exact = route("*", "/documents", Some("exact"));
        let starred = route("*", "/documents*", Some("starred"));
        assert_eq!(
            scope_of(&[starred, exact], "GET", "/documents"),
            Some("exact")
        );
    }

    #[test]
    fn request_methods_and_paths() {
        assert_eq!(parse_request_method("HEAD"), Ok("HEAD"));
        let long = "G".repeat(10_000);
        let e = parse_request_method(&long).unwrap_err().to_string();
        assert!(e.len() < 200 && e.contains("(10000 bytes)"), "{e}");
        assert_eq!(
            parse_request_method("*").unwrap_err().to_string(),
            r#"method "*" is not one of GET, HEAD, POST, PUT, PATCH, DELETE"#
        );
        assert!(check_request_path("/").is_ok());
        assert_eq!(
            check_request_path("documents").unwrap_err().to_string(),
            r#"path "documents" does not start with /"#
        );
    }

    #[test]
    fn candidates() {
        assert_eq!(candidate_methods("HEAD"), ["HEAD", "GET", "*"]);
        assert_eq!(candidate_methods("POST"), ["POST", "*"]);
        assert_eq!(candidate_methods("BREW"), ["*"]);
    }

    proptest! {
        #[test]
        fn never_panics(pattern in "\\PC{0,40}", path in "\\PC{0,60}", method in "\\PC{0,8}") {
            let _ = Method::parse(&method);
            if let Ok(p) = Pattern::parse(&pattern) {
                let r = Route { method: Method::Any, pattern: p, required_scope: None };
                let _ = applicable(std::slice::from_ref(&r), &method, &path);
            }
            let _ = path_segments(&path);
        }

        /// A literal pattern matches exactly its path, encoded or not.
        #[test]
        fn a_literal_pattern_matches_its_path(name in "[A-Za-z0-9_ .-]{1,20}") {
            let p = Pattern::parse(&format!("/{name}")).unwrap();
            let (plain, longer, rpc) = (format!("/{name}"), format!("/{name}x"), format!("/rpc/{name}"));
            let encoded: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
            let encoded = format!("/{encoded}");
            prop_assert!(p.matches(&path_segments(&plain)));
            prop_assert!(p.matches(&path_segments(&encoded)));
            prop_assert!(!p.matches(&path_segments(&longer)));
            prop_assert!(!p.matches(&path_segments(&rpc)));
        }

        /// The order does not depend on the order of the rows.
        #[test]
        fn order_independent(path in "/[a-c]{0,3}(/[a-c]{0,3})?", method in prop_oneof![Just("GET"), Just("HEAD"), Just("POST")]) {
            let mut routes = vec![
                route("*", "/**", Some("1")), route("*", "/*", Some("2")), route("GET", "/*", Some("3")),
                route("*", "/a*", Some("4")), route("*", "/*a", Some("5")), route("HEAD", "/a", Some("6")),
                route("*", "/rpc/*", Some("7")), route("POST", "/rpc/**", Some("8")),
            ];
            let first = scope_of(&routes, method, &path).map(str::to_string);
            routes.reverse();
            prop_assert_eq!(first, scope_of(&routes, method, &path).map(str::to_string));
        }
    }
}
