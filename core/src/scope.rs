//! Scope grammar and matching.
//!
//! A scope is `action:resource`.
//!
//! * `action` is `[a-z][a-z0-9_.-]*`, or `*` for any action. Actions are
//!   independent: `write` does not imply `read`.
//! * `resource` is `*` (everything: any path of any length), or a path of
//!   `/`-separated segments of `[A-Za-z0-9_.-]+`. In a path a segment `*`
//!   matches exactly one segment, and a final segment `**` matches one or
//!   more remaining segments.
//! * A bare action `read` means `read:*`; that is its normalized form, and
//!   [`Scope`]'s `Display` prints the normalized form.
//!
//! Invalid (a [`ScopeError`] naming the scope and saying why):
//!
//! * empty input, more than [`MAX_SCOPE_BYTES`] bytes, more than
//!   [`MAX_SEGMENTS`] resource segments, whitespace anywhere (nothing is
//!   trimmed);
//! * an empty action or resource (`:x`, `read:`), empty segments (`a//b`, a
//!   leading or trailing `/`);
//! * `**` anywhere but as the final segment, and `*` mixed with other
//!   characters inside a segment (`proj*`, `***`);
//! * any character outside the grammar (a second `:` included).
//!
//! # Matching
//!
//! A concrete resource is a path of one or more literal segments; a scope
//! denotes a set of (action, concrete resource) pairs. Granted `G` *covers*
//! required `R` iff every pair `R` could denote is also denoted by `G`.
//! Wildcards in a required scope are therefore requests for the whole set
//! they denote, not wildcards that match anything granted:
//!
//! * granted `read:projects/*` covers required `read:projects/42` and
//!   `read:projects/*`, but not `read:projects/42/files` nor
//!   `write:projects/42`;
//! * granted `read:projects/42` does *not* cover required `read:projects/*`;
//! * granted `*:projects/**` covers `write:projects/42/files/7`, but not
//!   `write:projects` (`**` needs at least one segment);
//! * required `read` (= `read:*`, everything) is covered only by a grant of
//!   everything: resource `*`, or equivalently a resource that is just `**`;
//! * granted action `*` covers any action; required action `*` is covered
//!   only by granted action `*`.
//!
//! A resource that is just `**` denotes exactly what `*` denotes (every path
//! has at least one segment), so the two match identically; the text is kept
//! as written (normalization only expands a bare action).
//!
//! Two matching paths exist and share one matcher: [`Scope::covers`] /
//! [`ScopeSet::covers`] over parsed scopes, and [`any_covers`], which
//! validates and matches stored strings without allocating.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// Longest accepted scope, in bytes.
pub const MAX_SCOPE_BYTES: usize = 256;
/// Most resource segments accepted in one scope.
pub const MAX_SEGMENTS: usize = 32;

/// What is wrong with a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopeProblem {
    #[error("scope is empty")]
    Empty,
    #[error("longer than {MAX_SCOPE_BYTES} bytes")]
    TooLong,
    #[error("contains whitespace")]
    Whitespace,
    #[error("empty action")]
    EmptyAction,
    #[error("action must be `*` or start with a lower-case letter a-z")]
    ActionStart,
    #[error("action contains {0:?}; allowed are a-z, 0-9, `_`, `.`, `-`")]
    ActionChar(char),
    #[error("empty resource")]
    EmptyResource,
    #[error("empty resource segment")]
    EmptySegment,
    #[error("more than {MAX_SEGMENTS} resource segments")]
    TooManySegments,
    #[error("`**` is only allowed as the last resource segment")]
    RestNotLast,
    #[error("`*` must be a whole resource segment (`*` or a final `**`)")]
    MixedWildcard,
    #[error("resource contains {0:?}; allowed are A-Z, a-z, 0-9, `_`, `.`, `-`, `/`")]
    ResourceChar(char),
}

/// An invalid scope: names the scope (escaped, truncated) and what is wrong.
///
/// Displays as e.g. `invalid scope "read:a//b": empty resource segment`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {shown}: {problem}")]
pub struct ScopeError {
    shown: String,
    problem: ScopeProblem,
}

impl ScopeError {
    fn new(input: &str, problem: ScopeProblem) -> Self {
        ScopeError {
            shown: quote_truncated(input),
            problem,
        }
    }

    /// What is wrong.
    pub fn problem(&self) -> ScopeProblem {
        self.problem
    }

    /// The offending scope as shown in the message (`{:?}`-escaped, cut
    /// after 80 characters).
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// `{:?}` of `input`, cut after 80 characters (then followed by `…` and the
/// full length), so a huge input cannot blow up a message.
pub(crate) fn quote_truncated(input: &str) -> String {
    const MAX_CHARS: usize = 80;
    match input.char_indices().nth(MAX_CHARS) {
        None => format!("{input:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &input[..cut], input.len()),
    }
}

/// One resource segment of a parsed path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A literal segment, `[A-Za-z0-9_.-]+`.
    Literal(String),
    /// `*`: exactly one segment.
    One,
    /// `**` (only last): one or more segments.
    Rest,
}

/// A resource: everything, or a path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `*`: every path of any length.
    Any,
    /// One or more segments; [`Seg::Rest`] can only be last.
    Path(Vec<Seg>),
}

/// A parsed, valid scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// `None` is the action `*`.
    action: Option<String>,
    resource: Resource,
}

impl Scope {
    /// Parse and validate a scope (`read` is `read:*`).
    pub fn parse(text: &str) -> Result<Scope, ScopeError> {
        let r = parse_ref(text).map_err(|p| ScopeError::new(text, p))?;
        Ok(Scope {
            action: r.action.map(str::to_owned),
            resource: match r.path {
                None => Resource::Any,
                Some(path) => Resource::Path(
                    path.split('/')
                        .map(|s| match SegRef::of(s) {
                            SegRef::Literal(l) => Seg::Literal(l.to_owned()),
                            SegRef::One => Seg::One,
                            SegRef::Rest => Seg::Rest,
                        })
                        .collect(),
                ),
            },
        })
    }

    /// The action; `None` is `*` (any action).
    pub fn action(&self) -> Option<&str> {
        self.action.as_deref()
    }

    /// The resource.
    pub fn resource(&self) -> &Resource {
        &self.resource
    }

    /// Whether this (granted) scope covers `required`: every action and
    /// concrete resource `required` could denote is denoted by `self`. See
    /// the module documentation.
    pub fn covers(&self, required: &Scope) -> bool {
        covers_parts(
            self.action(),
            self.seg_refs(),
            required.action(),
            required.seg_refs(),
        )
    }

    fn seg_refs(&self) -> SegIter<'_> {
        match &self.resource {
            Resource::Any => SegIter::Any(false),
            Resource::Path(segs) => SegIter::Owned(segs.iter()),
        }
    }
}

impl FromStr for Scope {
    type Err = ScopeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s)
    }
}

impl fmt::Display for Scope {
    /// The normalized form: `action:resource`, `*` for any action or any
    /// resource.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action.as_deref().unwrap_or("*"))?;
        f.write_str(":")?;
        match &self.resource {
            Resource::Any => f.write_str("*"),
            Resource::Path(segs) => {
                for (i, seg) in segs.iter().enumerate() {
                    if i > 0 {
                        f.write_str("/")?;
                    }
                    f.write_str(match seg {
                        Seg::Literal(l) => l,
                        Seg::One => "*",
                        Seg::Rest => "**",
                    })?;
                }
                Ok(())
            }
        }
    }
}

/// Validate and normalize granted scopes (`read` → `read:*`), removing exact
/// duplicates of the normalized form (the first occurrence keeps its place).
/// The first invalid scope is the error.
pub fn normalize_all(granted: &[&str]) -> Result<Vec<String>, ScopeError> {
    let mut seen = HashSet::with_capacity(granted.len());
    let mut out = Vec::with_capacity(granted.len());
    for text in granted {
        let normalized = Scope::parse(text)?.to_string();
        if seen.insert(normalized.clone()) {
            out.push(normalized);
        }
    }
    Ok(out)
}

/// A set of granted scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    scopes: Vec<Scope>,
}

impl ScopeSet {
    /// Parse granted scopes; the first invalid one is the error.
    pub fn new(granted: &[&str]) -> Result<ScopeSet, ScopeError> {
        let scopes = granted
            .iter()
            .map(|s| Scope::parse(s))
            .collect::<Result<_, _>>()?;
        Ok(ScopeSet { scopes })
    }

    /// Whether any granted scope covers `required`.
    pub fn covers(&self, required: &Scope) -> bool {
        self.scopes.iter().any(|g| g.covers(required))
    }

    /// The granted scopes, in order.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        ScopeSet {
            scopes: iter.into_iter().collect(),
        }
    }
}

/// Hot path of verification: whether any of the `granted` scope strings
/// (normally stored, normalized ones, but any valid form works) covers
/// `required`. Does not allocate: each string is validated and matched in
/// place. A granted string that is somehow invalid covers nothing.
///
/// Agrees with [`ScopeSet::covers`] on valid input (both use one matcher).
pub fn any_covers<S: AsRef<str>>(granted: impl IntoIterator<Item = S>, required: &Scope) -> bool {
    granted.into_iter().any(|g| match parse_ref(g.as_ref()) {
        Ok(g) => covers_parts(
            g.action,
            g.seg_refs(),
            required.action(),
            required.seg_refs(),
        ),
        Err(_) => false,
    })
}

// ---------------------------------------------------------------------------
// Borrowed, validated view and the one matcher both paths use.

/// A validated scope borrowed from its text.
#[derive(Debug, Clone, Copy)]
struct ScopeRef<'a> {
    /// `None` is `*`.
    action: Option<&'a str>,
    /// `None` is resource `*`; otherwise a validated path.
    path: Option<&'a str>,
}

impl<'a> ScopeRef<'a> {
    fn seg_refs(&self) -> SegIter<'a> {
        match self.path {
            None => SegIter::Any(false),
            Some(p) => SegIter::Text(p.split('/')),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SegRef<'a> {
    Literal(&'a str),
    One,
    Rest,
}

impl<'a> SegRef<'a> {
    /// Of an already validated segment.
    fn of(s: &'a str) -> SegRef<'a> {
        match s {
            "*" => SegRef::One,
            "**" => SegRef::Rest,
            l => SegRef::Literal(l),
        }
    }
}

/// The segments of a resource; resource `*` is the same as a lone `**`.
enum SegIter<'a> {
    /// Resource `*`: yields one `Rest`; the flag is "already yielded".
    Any(bool),
    Owned(std::slice::Iter<'a, Seg>),
    Text(std::str::Split<'a, char>),
}

impl<'a> Iterator for SegIter<'a> {
    type Item = SegRef<'a>;
    fn next(&mut self) -> Option<SegRef<'a>> {
        match self {
            SegIter::Any(done) => {
                if *done {
                    None
                } else {
                    *done = true;
                    Some(SegRef::Rest)
                }
            }
            SegIter::Owned(it) => it.next().map(|s| match s {
                Seg::Literal(l) => SegRef::Literal(l),
                Seg::One => SegRef::One,
                Seg::Rest => SegRef::Rest,
            }),
            SegIter::Text(it) => it.next().map(SegRef::of),
        }
    }
}

/// The matcher. `None` actions are `*`. Segment sequences are valid paths
/// (`Rest` only last); resource `*` is passed as a lone `Rest`.
///
/// Walks both paths in step; at position `i`, with all earlier positions
/// covered:
/// * granted `Rest`: needs one or more segments from `i` on; required has a
///   segment (or `Rest`) at `i`, so all of its paths qualify → covered; if
///   required already ended, its paths are too short → not covered.
/// * granted ends: required must end too (equal fixed length).
/// * granted `*`: covers a required literal or `*`, not a required `Rest`
///   (which denotes paths longer than granted `*` allows if it is last, and
///   paths shorter than a granted `*/**` needs).
/// * granted literal: covers only the same literal.
fn covers_parts<'g, 'r>(
    granted_action: Option<&str>,
    mut granted: impl Iterator<Item = SegRef<'g>>,
    required_action: Option<&str>,
    mut required: impl Iterator<Item = SegRef<'r>>,
) -> bool {
    let action_ok = match (granted_action, required_action) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(g), Some(r)) => g == r,
    };
    if !action_ok {
        return false;
    }
    loop {
        match (granted.next(), required.next()) {
            (None, None) => return true,
            (Some(SegRef::Rest), Some(_)) => return true,
            (Some(_), None) | (None, Some(_)) => return false,
            (Some(SegRef::One), Some(SegRef::Literal(_) | SegRef::One)) => {}
            (Some(SegRef::One), Some(SegRef::Rest)) => return false,
            (Some(SegRef::Literal(g)), Some(SegRef::Literal(r))) => {
                if g != r {
                    return false;
                }
            }
            (Some(SegRef::Literal(_)), Some(SegRef::One | SegRef::Rest)) => return false,
        }
    }
}

/// Validate `text` without allocating.
fn parse_ref(text: &str) -> Result<ScopeRef<'_>, ScopeProblem> {
    if text.is_empty() {
        return Err(ScopeProblem::Empty);
    }
    if text.len() > MAX_SCOPE_BYTES {
        return Err(ScopeProblem::TooLong);
    }
    if text.chars().any(char::is_whitespace) {
        return Err(ScopeProblem::Whitespace);
    }
    let (action, resource) = match text.split_once(':') {
        Some((a, r)) => (a, Some(r)),
        None => (text, None),
    };
    let action = parse_action(action)?;
    let path = match resource {
        None | Some("*") => None,
        Some("") => return Err(ScopeProblem::EmptyResource),
        Some(r) => {
            validate_path(r)?;
            Some(r)
        }
    };
    Ok(ScopeRef { action, path })
}

fn parse_action(a: &str) -> Result<Option<&str>, ScopeProblem> {
    if a == "*" {
        return Ok(None);
    }
    let mut chars = a.chars();
    match chars.next() {
        None => return Err(ScopeProblem::EmptyAction),
        Some('a'..='z') => {}
        Some(_) => return Err(ScopeProblem::ActionStart),
    }
    if let Some(c) = chars.find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '.' | '-')) {
        return Err(ScopeProblem::ActionChar(c));
    }
    Ok(Some(a))
}

fn validate_path(path: &str) -> Result<(), ScopeProblem> {
    let mut count = 0usize;
    let mut segments = path.split('/').peekable();
    while let Some(seg) = segments.next() {
        count += 1;
        if count > MAX_SEGMENTS {
            return Err(ScopeProblem::TooManySegments);
        }
        match seg {
            "" => return Err(ScopeProblem::EmptySegment),
            "*" => {}
            "**" => {
                if segments.peek().is_some() {
                    return Err(ScopeProblem::RestNotLast);
                }
            }
            _ => {
                if let Some(c) = seg
                    .chars()
                    .find(|c| !matches!(c, 'A'..='Z' | 'a'..='z' | '0'..='9' | '_' | '.' | '-'))
                {
                    return Err(if c == '*' {
                        ScopeProblem::MixedWildcard
                    } else {
                        ScopeProblem::ResourceChar(c)
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(text: &str) -> Scope {
        Scope::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// (granted, required, expected) — contract examples and decisions.
    const COVERS: &[(&str, &str, bool)] = &[
        // Contract examples.
        ("read:projects/*", "read:projects/42", true),
        ("read:projects/*", "read:projects/42/files", false),
        ("read:projects/*", "write:projects/42", false),
        ("*:projects/**", "write:projects/42/files/7", true),
        ("write", "read", false),
        ("write:*", "read:x", false),
        ("read", "read:projects/42/files", true),
        ("read", "read:x", true),
        ("read:*", "read:a/b/c/d", true),
        // Required wildcards are requests for the whole set.
        ("read:projects/*", "read:projects/*", true),
        ("read:projects/42", "read:projects/*", false),
        ("read:projects/**", "read:projects/*", true),
        ("read:projects/**", "read:projects/*/files", true),
        ("read:projects/**", "read:projects/**", true),
        ("read:projects/*", "read:projects/**", false),
        ("read:projects/*/**", "read:projects/**", false),
        ("read:projects/*/**", "read:projects/x/**", true),
        ("read:projects/*/files", "read:projects/*/files", true),
        ("read:projects/42/files", "read:projects/*/files", false),
        // `**` needs at least one segment.
        ("read:projects/**", "read:projects", false),
        ("*:projects/**", "write:projects", false),
        ("read:projects/**", "read:projects/42", true),
        // Required `read` (= `read:*`) only by a grant of everything.
        ("read:*", "read", true),
        ("read", "read:*", true),
        ("read:**", "read", true),
        ("read", "read:**", true),
        ("read:**", "read:a/b", true),
        ("read:projects/**", "read", false),
        ("read:*/**", "read", false),
        ("read:projects", "read", false),
        ("read:*/x", "read:*", false),
        // Literal vs literal and lengths.
        ("read:a/b", "read:a/b", true),
        ("read:a/b", "read:a/c", false),
        ("read:a/b", "read:a", false),
        ("read:a", "read:a/b", false),
        ("read:Projects", "read:projects", false),
        // Actions.
        ("*:*", "read", true),
        ("*", "write:a/b", true),
        ("*:a", "write:a", true),
        ("*:a", "write:b", false),
        ("read", "*", false),
        ("read", "*:a", false),
        ("*:*", "*:*", true),
        ("*:a", "*:a", true),
        ("*:a/*", "*:a", false),
        ("read.all", "read", false),
        ("read", "readx", false),
    ];

    #[test]
    fn covers_table() {
        for &(g, r, want) in COVERS {
            let (gs, rs) = (s(g), s(r));
            assert_eq!(gs.covers(&rs), want, "granted {g} required {r}");
            assert_eq!(
                any_covers(&[g], &rs),
                want,
                "any_covers granted {g} required {r}"
            );
            let set = ScopeSet::new(&[g]).unwrap();
            assert_eq!(set.covers(&rs), want, "set granted {g} required {r}");
        }
    }

    #[test]
    fn sets_cover_if_any_member_does() {
        let granted = ["read:projects/*", "write:projects/42"];
        let set = ScopeSet::new(&granted).unwrap();
        for (r, want) in [
            ("read:projects/7", true),
            ("write:projects/42", true),
            ("write:projects/7", false),
            ("delete:projects/42", false),
        ] {
            assert_eq!(set.covers(&s(r)), want, "{r}");
            assert_eq!(any_covers(&granted, &s(r)), want, "{r}");
        }
        assert!(!ScopeSet::default().covers(&s("read")));
        assert!(!any_covers(&[] as &[&str], &s("read")));
        // A stored string that is somehow invalid covers nothing, others still count.
        assert!(!any_covers(&["read:a//b"], &s("read:a/x/b")));
        assert!(any_covers(&["bad scope", "read"], &s("read:x")));
    }

    #[test]
    fn valid_and_normalized() {
        for (text, normal) in [
            ("read", "read:*"),
            ("read:*", "read:*"),
            ("*", "*:*"),
            ("*:*", "*:*"),
            ("read:**", "read:**"),
            ("a", "a:*"),
            ("a0_.-z", "a0_.-z:*"),
            ("read:projects/*", "read:projects/*"),
            ("read:projects/**", "read:projects/**"),
            ("read:*/x/**", "read:*/x/**"),
            ("read:A-Z_a.z-09", "read:A-Z_a.z-09"),
            ("read:..", "read:.."),
            ("*:projects/**", "*:projects/**"),
        ] {
            assert_eq!(s(text).to_string(), normal, "{text}");
            assert_eq!(text.parse::<Scope>().unwrap(), s(normal));
        }
    }

    #[test]
    fn invalid_table() {
        use ScopeProblem as P;
        let long_path = vec!["a"; MAX_SEGMENTS + 1].join("/");
        let ok_path = vec!["a"; MAX_SEGMENTS].join("/");
        let too_long = format!("read:{}", "a".repeat(MAX_SCOPE_BYTES));
        let max_long = format!("read:{}", "a".repeat(MAX_SCOPE_BYTES - 5));
        assert!(Scope::parse(&format!("read:{ok_path}")).is_ok());
        assert!(Scope::parse(&max_long).is_ok());
        let cases: Vec<(String, ScopeProblem)> = vec![
            ("".into(), P::Empty),
            (too_long, P::TooLong),
            (format!("read:{long_path}"), P::TooManySegments),
            (" read".into(), P::Whitespace),
            ("read ".into(), P::Whitespace),
            ("read: x".into(), P::Whitespace),
            ("read:a\tb".into(), P::Whitespace),
            ("read:a\u{a0}".into(), P::Whitespace),
            (":x".into(), P::EmptyAction),
            (":".into(), P::EmptyAction),
            ("Read".into(), P::ActionStart),
            ("1read".into(), P::ActionStart),
            ("_read".into(), P::ActionStart),
            ("**".into(), P::ActionStart),
            ("**:x".into(), P::ActionStart),
            ("reAd".into(), P::ActionChar('A')),
            ("re*".into(), P::ActionChar('*')),
            ("read/x".into(), P::ActionChar('/')),
            ("read:".into(), P::EmptyResource),
            ("read:a//b".into(), P::EmptySegment),
            ("read:/a".into(), P::EmptySegment),
            ("read:a/".into(), P::EmptySegment),
            ("read:/".into(), P::EmptySegment),
            ("read:**/a".into(), P::RestNotLast),
            ("read:a/**/b".into(), P::RestNotLast),
            ("read:a/**/**".into(), P::RestNotLast),
            ("read:proj*".into(), P::MixedWildcard),
            ("read:*proj".into(), P::MixedWildcard),
            ("read:***".into(), P::MixedWildcard),
            ("read:a/b*c".into(), P::MixedWildcard),
            ("read:a:b".into(), P::ResourceChar(':')),
            ("read::".into(), P::ResourceChar(':')),
            ("read:é".into(), P::ResourceChar('é')),
            ("read:a?".into(), P::ResourceChar('?')),
        ];
        for (text, problem) in cases {
            let err = Scope::parse(&text).expect_err(&text);
            assert_eq!(err.problem(), problem, "{text:?}");
            assert!(!any_covers(&[text.as_str()], &s("*:*")));
            assert!(normalize_all(&["read", text.as_str()]).is_err());
            assert!(ScopeSet::new(&[text.as_str()]).is_err());
        }
    }

    #[test]
    fn error_messages() {
        let msg = |t: &str| Scope::parse(t).unwrap_err().to_string();
        assert_eq!(
            msg("read:a//b"),
            r#"invalid scope "read:a//b": empty resource segment"#
        );
        assert_eq!(
            msg("read: x"),
            r#"invalid scope "read: x": contains whitespace"#
        );
        assert_eq!(
            msg("read:a/**/b"),
            r#"invalid scope "read:a/**/b": `**` is only allowed as the last resource segment"#
        );
        assert_eq!(
            msg("read:proj*"),
            r#"invalid scope "read:proj*": `*` must be a whole resource segment (`*` or a final `**`)"#
        );
        assert_eq!(
            msg("read:a\"b"),
            r#"invalid scope "read:a\"b": resource contains '"'; allowed are A-Z, a-z, 0-9, `_`, `.`, `-`, `/`"#
        );
        let huge = format!("read:{}", "x".repeat(10_000));
        let m = msg(&huge);
        assert!(m.len() < 200, "{m}");
        assert!(m.starts_with(r#"invalid scope "read:xxx"#), "{m}");
        assert!(m.ends_with("… (10005 bytes): longer than 256 bytes"), "{m}");
        let segs = msg(&format!("read:{}", vec!["a"; 40].join("/")));
        assert!(segs.ends_with("more than 32 resource segments"), "{segs}");
        // Escaping of control characters and multi-byte truncation.
        assert_eq!(quote_truncated("a\nb"), r#""a\nb""#);
        let wide = "é".repeat(100);
        assert_eq!(
            quote_truncated(&wide),
            format!("{:?}… (200 bytes)", "é".repeat(80))
        );
        assert_eq!(
            quote_truncated(&"x".repeat(80)),
            format!("{:?}", "x".repeat(80))
        );
    }

    #[test]
    fn normalize_all_dedups_keeping_first_order() {
        assert_eq!(
            normalize_all(&["write", "read:*", "read", "write:a", "*", "write:*"]).unwrap(),
            ["write:*", "read:*", "write:a", "*:*"]
        );
        assert_eq!(normalize_all(&[]).unwrap(), Vec::<String>::new());
        let err = normalize_all(&["read", "write:a//b", "bad x"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"invalid scope "write:a//b": empty resource segment"#
        );
        assert_eq!(err.shown(), r#""write:a//b""#);
    }

    /// Brute force: enumerate small patterns and check `covers` against
    /// literal set inclusion over concrete paths. Literals come from {a, b};
    /// the fresh `c` and lengths up to 5 suffice to witness non-inclusion
    /// for patterns of at most 3 segments.
    #[test]
    fn covers_is_set_inclusion() {
        let seg_texts = ["a", "b", "*"];
        let mut patterns = vec!["*".to_string()];
        for len in 1..=3usize {
            let mut combos: Vec<Vec<&str>> = vec![vec![]];
            for _ in 0..len {
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        seg_texts.iter().map(move |s| {
                            let mut c = c.clone();
                            c.push(s);
                            c
                        })
                    })
                    .collect();
            }
            for c in combos {
                patterns.push(c.join("/"));
                let mut with_rest = c.clone();
                with_rest.push("**");
                if with_rest.len() <= 3 {
                    patterns.push(with_rest.join("/"));
                }
            }
        }
        patterns.push("**".to_string());
        let mut concrete: Vec<String> = vec![];
        let mut level: Vec<String> = vec![String::new()];
        for _ in 1..=5 {
            level = level
                .iter()
                .flat_map(|p| {
                    ["a", "b", "c"].map(|s| {
                        if p.is_empty() {
                            s.to_string()
                        } else {
                            format!("{p}/{s}")
                        }
                    })
                })
                .collect();
            concrete.extend(level.iter().cloned());
        }
        let concrete: Vec<Scope> = concrete.iter().map(|c| s(&format!("x:{c}"))).collect();
        for g in &patterns {
            let gs = s(&format!("x:{g}"));
            let g_set: Vec<bool> = concrete.iter().map(|c| gs.covers(c)).collect();
            for r in &patterns {
                let rs = s(&format!("x:{r}"));
                let included = concrete
                    .iter()
                    .zip(&g_set)
                    .all(|(c, &in_g)| !rs.covers(c) || in_g);
                assert_eq!(gs.covers(&rs), included, "granted {g} required {r}");
            }
        }
        // Concrete matching itself, spot-checked.
        assert!(s("x:a/*").covers(&s("x:a/c")));
        assert!(!s("x:a/*").covers(&s("x:a/c/c")));
        assert!(s("x:*/**").covers(&s("x:c/c")));
        assert!(!s("x:*/**").covers(&s("x:c")));
    }

    // --- property tests -------------------------------------------------

    fn action() -> impl Strategy<Value = String> {
        prop_oneof![1 => Just("*".to_string()), 6 => "[a-z][a-z0-9_.-]{0,5}"]
    }

    fn literal() -> impl Strategy<Value = String> {
        prop_oneof![4 => "[a-c]", 1 => "[A-Za-z0-9_.-]{1,6}"]
    }

    fn resource() -> impl Strategy<Value = String> {
        let seg = prop_oneof![3 => literal(), 1 => Just("*".to_string())];
        prop_oneof![
            1 => Just("*".to_string()),
            6 => (prop::collection::vec(seg, 0..5), any::<bool>()).prop_filter_map(
                "empty path",
                |(mut segs, rest)| {
                    if rest {
                        segs.push("**".to_string());
                    }
                    (!segs.is_empty()).then(|| segs.join("/"))
                }
            ),
        ]
    }

    /// Valid scope texts, bare actions included.
    fn scope_text() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => action(),
            8 => (action(), resource()).prop_map(|(a, r)| format!("{a}:{r}")),
        ]
    }

    /// Valid concrete scopes: literal action and literal path.
    fn concrete_text() -> impl Strategy<Value = String> {
        (
            "[a-z][a-z0-9_.-]{0,5}",
            prop::collection::vec(literal(), 1..6),
        )
            .prop_map(|(a, segs)| format!("{a}:{}", segs.join("/")))
    }

    proptest! {
        #[test]
        fn valid_scope_covers_itself(t in scope_text()) {
            let sc = s(&t);
            prop_assert!(sc.covers(&sc));
            prop_assert!(any_covers(&[t.as_str()], &sc));
            let normal = sc.to_string();
            prop_assert!(any_covers(&[normal.as_str()], &sc));
        }

        #[test]
        fn everything_covers_all(t in scope_text()) {
            prop_assert!(s("*:*").covers(&s(&t)));
            prop_assert!(any_covers(&["*"], &s(&t)));
        }

        #[test]
        fn one_never_crosses_slash(
            a in "[a-z][a-z0-9_.-]{0,5}",
            x in literal(), y in literal(), z in literal(),
        ) {
            let g = s(&format!("{a}:{x}/*"));
            let (deeper, one, parent) = (
                s(&format!("{a}:{x}/{y}/{z}")),
                s(&format!("{a}:{x}/{y}")),
                s(&format!("{a}:{x}")),
            );
            prop_assert!(!g.covers(&deeper));
            prop_assert!(g.covers(&one));
            prop_assert!(!g.covers(&parent));
        }

        #[test]
        fn rest_needs_a_segment(
            a in "[a-z][a-z0-9_.-]{0,5}",
            prefix in prop::collection::vec(literal(), 1..4),
            tail in prop::collection::vec(literal(), 1..4),
        ) {
            let p = prefix.join("/");
            let g = s(&format!("{a}:{p}/**"));
            let bare = s(&format!("{a}:{p}"));
            let below = s(&format!("{a}:{p}/{}", tail.join("/")));
            prop_assert!(!g.covers(&bare));
            prop_assert!(g.covers(&below));
        }

        #[test]
        fn normalize_is_idempotent(ts in prop::collection::vec(scope_text(), 0..6)) {
            let refs: Vec<&str> = ts.iter().map(String::as_str).collect();
            let once = normalize_all(&refs).unwrap();
            let once_refs: Vec<&str> = once.iter().map(String::as_str).collect();
            let twice = normalize_all(&once_refs).unwrap();
            prop_assert_eq!(&once, &twice);
            for t in &ts {
                prop_assert_eq!(s(t), s(&s(t).to_string()));
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(t in any::<String>(), r in scope_text()) {
            let parsed = Scope::parse(&t);
            let required = s(&r);
            let _ = any_covers(&[t.as_str()], &required);
            let _ = normalize_all(&[t.as_str()]);
            match parsed {
                Ok(p) => {
                    prop_assert!(p.covers(&p));
                    prop_assert_eq!(any_covers(&[t.as_str()], &required), p.covers(&required));
                }
                Err(e) => {
                    prop_assert!(!any_covers(&[t.as_str()], &required));
                    prop_assert!(e.to_string().starts_with("invalid scope "));
                }
            }
        }

        #[test]
        fn grammar_like_strings_never_panic(
            t in "[a-z*:/A-Z.\\- ]{0,40}",
            r in scope_text(),
        ) {
            let required = s(&r);
            match Scope::parse(&t) {
                Ok(p) => prop_assert_eq!(any_covers(&[t.as_str()], &required), p.covers(&required)),
                Err(_) => prop_assert!(!any_covers(&[t.as_str()], &required)),
            }
        }

        #[test]
        fn any_covers_agrees_with_scope_set(
            granted in prop::collection::vec(scope_text(), 0..5),
            required in prop_oneof![scope_text(), concrete_text()],
        ) {
            let refs: Vec<&str> = granted.iter().map(String::as_str).collect();
            let set = ScopeSet::new(&refs).unwrap();
            let req = s(&required);
            prop_assert_eq!(any_covers(&refs, &req), set.covers(&req));
            let normal = normalize_all(&refs).unwrap();
            let normal_refs: Vec<&str> = normal.iter().map(String::as_str).collect();
            prop_assert_eq!(any_covers(&normal_refs, &req), set.covers(&req));
        }

        #[test]
        fn covering_a_pattern_covers_its_instances(
            g in scope_text(),
            r in scope_text(),
            c in concrete_text(),
        ) {
            // Transitivity over a concrete scope the required one covers.
            let (gs, rs, cs) = (s(&g), s(&r), s(&c));
            if gs.covers(&rs) && rs.covers(&cs) {
                prop_assert!(gs.covers(&cs));
            }
        }
    }
}
