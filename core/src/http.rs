//! The HTTP answer to an API request, from the outcome of its key's
//! verification: the status, the headers and (for a refusal) the error body.
//! The PostgREST hook sends it with `RAISE SQLSTATE 'PGRST'` (a refusal) or
//! through `response.headers` (an accepted request of a rate-limited key).
//!
//! | code | status | headers |
//! | --- | --- | --- |
//! | `valid` | 200 | the RateLimit fields of a limited key |
//! | `missing` | 401 | `WWW-Authenticate: Bearer realm="…"` |
//! | `malformed`, `not_found`, `revoked`, `expired` | 401 | `WWW-Authenticate: Bearer realm="…", error="invalid_token"` |
//! | `ip_not_allowed` | 403 | none |
//! | `insufficient_scope` | 403 | `WWW-Authenticate: Bearer realm="…", error="insufficient_scope", scope="…"` |
//! | `rate_limited`, `quota_exceeded` | 429 | `Retry-After`, `RateLimit-Policy`, `RateLimit` |
//!
//! The challenges follow RFC 6750 §3 (no `error` attribute when no key was
//! sent, §3.1); the RateLimit fields follow
//! draft-ietf-httpapi-ratelimit-headers-10: `RateLimit-Policy:
//! "key";q=100;w=60` and `RateLimit: "key";r=42;t=30`. Any other code is
//! refused as an invalid token (401): an outcome this module does not know
//! never lets a request through. The code is taken as text, so a new code
//! is one arm of [`Kind::of`].
//!
//! Header values never hold a control character or a non-ASCII byte,
//! whatever the realm or scope: quoted strings are escaped, anything else
//! is dropped.

use serde_json::{json, Map, Value};

use crate::quota::{Period, QuotaDecision};
use crate::ratelimit::Decision;

/// The name of the policy of a key's own rate limit.
pub const KEY_POLICY: &str = "key";

/// One quota policy of the RateLimit header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy<'a> {
    /// The policy's name (a structured-field String).
    pub name: &'a str,
    /// `q`: requests allowed per window.
    pub quota: u32,
    /// `w`: the window, in whole seconds.
    pub window_secs: u32,
    /// `r`: requests left.
    pub remaining: u32,
    /// `t`: seconds until more requests are left.
    pub reset_secs: u32,
}

impl<'a> Policy<'a> {
    /// The policy `name` of a rate limit of `limit` requests per `window_ms`,
    /// as its limiter decided. The window in whole seconds is rounded up (a
    /// header field has no fractions; a client keeping to `limit` per the
    /// longer window keeps to the limit).
    pub fn of_rate(name: &'a str, limit: u32, window_ms: i64, decision: &Decision) -> Policy<'a> {
        Policy {
            name,
            quota: limit,
            window_secs: u32::try_from((window_ms.max(1) + 999) / 1000).unwrap_or(u32::MAX),
            remaining: decision.remaining,
            reset_secs: decision.reset_secs,
        }
    }

    /// The policy `name` of a quota of `quota` per `period`, in the period
    /// that holds `now` (microseconds since 2000-01-01), as decided.
    pub fn of_quota(
        name: &'a str,
        quota: u64,
        period: Period,
        now: i64,
        decision: &QuotaDecision,
    ) -> Policy<'a> {
        let start = period.start(now);
        Policy {
            name,
            quota: u32::try_from(quota).unwrap_or(u32::MAX),
            window_secs: u32::try_from(period.end(start) - start)
                .unwrap_or(0)
                .saturating_mul(86_400),
            remaining: u32::try_from(decision.remaining).unwrap_or(u32::MAX),
            reset_secs: decision.reset_secs,
        }
    }
}

/// PostgREST's error body: `code`, `message`, and optionally `details` and
/// `hint`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub details: Option<String>,
    pub hint: Option<String>,
}

/// What to answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// Header names and values, in the order they are sent.
    pub headers: Vec<(&'static str, String)>,
    /// The error body of a refusal; None when the request may proceed.
    pub error: Option<ErrorBody>,
}

/// How a code is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Accepted,
    NoKey,
    InvalidToken,
    Forbidden,
    InsufficientScope,
    TooMany,
}

impl Kind {
    fn of(code: &str) -> Kind {
        match code {
            "valid" => Kind::Accepted,
            "missing" => Kind::NoKey,
            "ip_not_allowed" => Kind::Forbidden,
            "insufficient_scope" => Kind::InsufficientScope,
            "rate_limited" | "quota_exceeded" => Kind::TooMany,
            // malformed, not_found, revoked, expired, and anything unknown.
            _ => Kind::InvalidToken,
        }
    }
}

const KEY_HINT: &str = "Send a valid API key in the x-api-key header or as Authorization: Bearer.";

/// The answer to a request whose verification answered `code` (or
/// `missing` when it presented no key). `policies`: the rate-limit policies
/// the request was counted against; `realm`: the challenges' realm (empty:
/// none); `required_scope`: the scope the request needed, if any.
pub fn answer(
    code: &str,
    policies: &[Policy<'_>],
    realm: &str,
    required_scope: Option<&str>,
) -> Answer {
    let kind = Kind::of(code);
    let challenge = |attributes: &[(&str, &str)]| {
        let mut parts: Vec<String> = Vec::new();
        if !realm.is_empty() {
            parts.push(format!("realm={}", quoted(realm)));
        }
        parts.extend(attributes.iter().map(|(k, v)| format!("{k}={}", quoted(v))));
        let value = if parts.is_empty() {
            "Bearer".to_string()
        } else {
            format!("Bearer {}", parts.join(", "))
        };
        vec![("WWW-Authenticate", value)]
    };
    let (status, mut headers, details, hint) = match kind {
        Kind::Accepted => (200, Vec::new(), None, None),
        Kind::NoKey => (401, challenge(&[]), None, Some(KEY_HINT)),
        Kind::InvalidToken => (
            401,
            challenge(&[("error", "invalid_token")]),
            None,
            Some(KEY_HINT),
        ),
        Kind::Forbidden => (403, Vec::new(), None, None),
        Kind::InsufficientScope => {
            let scope = required_scope.unwrap_or("");
            let mut attributes = vec![("error", "insufficient_scope")];
            if !scope.is_empty() {
                attributes.push(("scope", scope));
            }
            let details = (!scope.is_empty())
                .then(|| format!("This request needs the scope {}.", visible(scope)));
            (403, challenge(&attributes), details, None)
        }
        Kind::TooMany => {
            let seconds = retry_after(policies);
            let details = Some(format!("Retry after {seconds} seconds."));
            (
                429,
                vec![("Retry-After", seconds.to_string())],
                details,
                None,
            )
        }
    };
    if matches!(kind, Kind::Accepted | Kind::TooMany) {
        headers.extend(ratelimit_fields(policies));
    }
    let error = (kind != Kind::Accepted).then(|| ErrorBody {
        code: visible(code),
        message: format!("API key not accepted: {}", visible(code)),
        details,
        hint: hint.map(str::to_string),
    });
    Answer {
        status,
        headers,
        error,
    }
}

/// Seconds until a retry can succeed: the longest wait among the policies
/// with nothing left (so `Retry-After` is never earlier than their `t`);
/// without such a policy, the longest wait of any; at least 1.
fn retry_after(policies: &[Policy<'_>]) -> u32 {
    let exhausted = policies.iter().filter(|p| p.remaining == 0);
    exhausted
        .map(|p| p.reset_secs)
        .max()
        .or_else(|| policies.iter().map(|p| p.reset_secs).max())
        .unwrap_or(1)
        .max(1)
}

/// `RateLimit-Policy` and `RateLimit`, one list member per policy; none
/// without policies.
fn ratelimit_fields(policies: &[Policy<'_>]) -> Vec<(&'static str, String)> {
    if policies.is_empty() {
        return Vec::new();
    }
    let policy = policies
        .iter()
        .map(|p| format!("{};q={};w={}", sf_string(p.name), p.quota, p.window_secs))
        .collect::<Vec<_>>()
        .join(", ");
    let limit = policies
        .iter()
        .map(|p| format!("{};r={};t={}", sf_string(p.name), p.remaining, p.reset_secs))
        .collect::<Vec<_>>()
        .join(", ");
    vec![("RateLimit-Policy", policy), ("RateLimit", limit)]
}

impl Answer {
    /// The MESSAGE of `RAISE SQLSTATE 'PGRST'`: the error body as a JSON
    /// object. None when the request may proceed.
    pub fn pgrst_message(&self) -> Option<String> {
        let e = self.error.as_ref()?;
        let mut body = Map::new();
        body.insert("code".into(), json!(e.code));
        body.insert("message".into(), json!(e.message));
        if let Some(d) = &e.details {
            body.insert("details".into(), json!(d));
        }
        if let Some(h) = &e.hint {
            body.insert("hint".into(), json!(h));
        }
        Some(Value::Object(body).to_string())
    }

    /// The DETAIL of `RAISE SQLSTATE 'PGRST'`: the status and the headers
    /// (PostgREST requires the `headers` object, empty or not).
    pub fn pgrst_detail(&self) -> String {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect();
        json!({ "status": self.status, "headers": headers }).to_string()
    }

    /// The new value of `response.headers` (PostgREST's JSON array of
    /// one-header objects, which it sends with a successful response):
    /// `existing` with this answer's headers, replacing any of the same
    /// name. None when there is nothing to add, or when `existing` is set
    /// but not such an array (it is left for PostgREST to report).
    pub fn response_headers(&self, existing: Option<&str>) -> Option<String> {
        if self.headers.is_empty() {
            return None;
        }
        let mut list = match existing.map(str::trim).filter(|e| !e.is_empty()) {
            None => Vec::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(items)) => items,
                _ => return None,
            },
        };
        let ours = |name: &str| {
            self.headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        list.retain(|item| match item {
            Value::Object(o) => !o.keys().any(|k| ours(k)),
            _ => true,
        });
        list.extend(
            self.headers
                .iter()
                .map(|(name, value)| json!({ *name: value })),
        );
        Some(Value::Array(list).to_string())
    }
}

/// `s` without control characters or non-ASCII (what a header value may
/// safely hold).
fn visible(s: &str) -> String {
    s.chars().filter(|c| matches!(c, ' '..='~')).collect()
}

/// An RFC 9110 quoted-string of the visible ASCII of `s`.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in visible(s).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A structured-field String (RFC 9651 §3.3.3): the same escaping.
fn sf_string(s: &str) -> String {
    quoted(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::Code;
    use crate::ratelimit::Decision;
    use proptest::prelude::*;

    fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
        a.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    fn key_policy(remaining: u32, reset_secs: u32) -> Policy<'static> {
        Policy {
            name: KEY_POLICY,
            quota: 100,
            window_secs: 60,
            remaining,
            reset_secs,
        }
    }

    #[test]
    fn every_row_of_the_table() {
        let a = answer("missing", &[], "api", None);
        assert_eq!(a.status, 401);
        assert_eq!(
            a.headers,
            vec![("WWW-Authenticate", r#"Bearer realm="api""#.to_string())]
        );
        for code in ["malformed", "not_found", "revoked", "expired"] {
            let a = answer(code, &[], "api", Some("read:x"));
            assert_eq!(a.status, 401, "{code}");
            assert_eq!(
                header(&a, "WWW-Authenticate"),
                Some(r#"Bearer realm="api", error="invalid_token""#)
            );
            assert_eq!(a.error.as_ref().unwrap().code, code);
        }
        let a = answer("ip_not_allowed", &[], "api", None);
        assert_eq!((a.status, a.headers.len()), (403, 0));
        let a = answer("insufficient_scope", &[], "api", Some("write:documents"));
        assert_eq!(a.status, 403);
        assert_eq!(
            header(&a, "WWW-Authenticate"),
            Some(r#"Bearer realm="api", error="insufficient_scope", scope="write:documents""#)
        );
        for code in ["rate_limited", "quota_exceeded"] {
            let a = answer(code, &[key_policy(0, 30)], "api", None);
            assert_eq!(a.status, 429);
            assert_eq!(
                a.headers,
                vec![
                    ("Retry-After", "30".to_string()),
                    ("RateLimit-Policy", r#""key";q=100;w=60"#.to_string()),
                    ("RateLimit", r#""key";r=0;t=30"#.to_string()),
                ]
            );
            assert_eq!(a.error.as_ref().unwrap().code, code);
        }
        let a = answer("valid", &[key_policy(42, 30)], "api", None);
        assert_eq!((a.status, a.error.clone()), (200, None));
        assert_eq!(header(&a, "RateLimit"), Some(r#""key";r=42;t=30"#));
        assert_eq!(answer("valid", &[], "api", None).headers, vec![]);
    }

    #[test]
    fn every_code_has_an_answer() {
        for code in Code::ALL {
            let a = answer(code.as_str(), &[key_policy(0, 5)], "api", Some("read:x"));
            assert_eq!(a.error.is_none(), code == Code::Valid, "{code}");
            if code != Code::Valid {
                assert_eq!(a.error.unwrap().code, code.as_str());
            }
        }
        // Unknown codes are refused, never accepted.
        assert_eq!(answer("", &[], "api", None).status, 401);
        assert_eq!(answer("Valid", &[], "api", None).status, 401);
    }

    #[test]
    fn the_pgrst_json() {
        let a = answer("insufficient_scope", &[], "api", Some("write:documents"));
        assert_eq!(
            a.pgrst_message().unwrap(),
            r#"{"code":"insufficient_scope","details":"This request needs the scope write:documents.","message":"API key not accepted: insufficient_scope"}"#
        );
        assert_eq!(
            a.pgrst_detail(),
            r#"{"headers":{"WWW-Authenticate":"Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"write:documents\""},"status":403}"#
        );
        let a = answer("ip_not_allowed", &[], "api", None);
        assert_eq!(a.pgrst_detail(), r#"{"headers":{},"status":403}"#);
        assert_eq!(answer("valid", &[], "api", None).pgrst_message(), None);
    }

    #[test]
    fn no_realm_no_attribute() {
        let a = answer("missing", &[], "", None);
        assert_eq!(header(&a, "WWW-Authenticate"), Some("Bearer"));
        let a = answer("revoked", &[], "", None);
        assert_eq!(
            header(&a, "WWW-Authenticate"),
            Some(r#"Bearer error="invalid_token""#)
        );
    }

    #[test]
    fn hostile_realm_and_scope_are_escaped() {
        let a = answer(
            "insufficient_scope",
            &[],
            "a\"b\\c\r\nX-Evil: 1",
            Some("x\"\n"),
        );
        let v = header(&a, "WWW-Authenticate").unwrap();
        assert_eq!(
            v,
            r#"Bearer realm="a\"b\\cX-Evil: 1", error="insufficient_scope", scope="x\"""#
        );
    }

    #[test]
    fn retry_after_is_never_before_an_exhausted_policys_reset() {
        let owner = Policy {
            name: "owner",
            ..key_policy(10, 90)
        };
        let a = answer("rate_limited", &[key_policy(0, 20), owner], "api", None);
        assert_eq!(header(&a, "Retry-After"), Some("20"));
        assert_eq!(
            header(&a, "RateLimit"),
            Some(r#""key";r=0;t=20, "owner";r=10;t=90"#)
        );
        assert_eq!(
            header(&a, "RateLimit-Policy"),
            Some(r#""key";q=100;w=60, "owner";q=100;w=60"#)
        );
        // Without a known policy: one second.
        assert_eq!(
            header(&answer("rate_limited", &[], "api", None), "Retry-After"),
            Some("1")
        );
    }

    #[test]
    fn policies_from_the_limiters() {
        let decision = Decision {
            admitted: true,
            remaining: 119,
            retry_after_secs: 0,
            reset_secs: 75,
        };
        assert_eq!(
            Policy::of_rate(KEY_POLICY, 120, 1_500, &decision),
            Policy {
                name: "key",
                quota: 120,
                window_secs: 2,
                remaining: 119,
                reset_secs: 75
            }
        );
        // A quota of February 2024 (29 days), more than u32 can say.
        let now = i64::from(crate::quota::days_from_civil(2024, 2, 10)) * 86_400_000_000;
        let q = QuotaDecision {
            admitted: true,
            remaining: 5_000_000_000,
            reset_secs: 9,
        };
        assert_eq!(
            Policy::of_quota("key-quota", 6_000_000_000, Period::Month, now, &q),
            Policy {
                name: "key-quota",
                quota: u32::MAX,
                window_secs: 29 * 86_400,
                remaining: u32::MAX,
                reset_secs: 9
            }
        );
    }

    #[test]
    fn response_headers_append_and_replace() {
        let a = answer("valid", &[key_policy(41, 30)], "api", None);
        let ours =
            r#"[{"RateLimit-Policy":"\"key\";q=100;w=60"},{"RateLimit":"\"key\";r=41;t=30"}]"#;
        assert_eq!(a.response_headers(None).unwrap(), ours);
        assert_eq!(a.response_headers(Some("")).unwrap(), ours);
        let existing = r#"[{"Cache-Control": "no-store"}, {"ratelimit": "old"}]"#;
        assert_eq!(
            a.response_headers(Some(existing)).unwrap(),
            r#"[{"Cache-Control":"no-store"},{"RateLimit-Policy":"\"key\";q=100;w=60"},{"RateLimit":"\"key\";r=41;t=30"}]"#
        );
        assert_eq!(a.response_headers(Some("{\"not\": \"an array\"}")), None);
        assert_eq!(
            answer("valid", &[], "api", None).response_headers(Some(existing)),
            None
        );
    }

    fn is_header_value(v: &str) -> bool {
        v.chars().all(|c| matches!(c, ' '..='~'))
    }

    proptest! {
        #[test]
        fn any_outcome_is_a_well_formed_answer(
            code in prop_oneof![
                Just("valid".to_string()), Just("missing".to_string()),
                Just("rate_limited".to_string()), Just("quota_exceeded".to_string()),
                Just("insufficient_scope".to_string()), "\\PC{0,20}",
            ],
            realm in "\\PC{0,20}", scope in proptest::option::of("\\PC{0,20}"),
            policies in proptest::collection::vec((0u32..1000, 1u32..100_000, 0u32..1000, 1u32..100_000), 0..3),
        ) {
            let policies: Vec<Policy> = policies.iter().map(|&(q, w, r, t)| Policy {
                name: KEY_POLICY, quota: q, window_secs: w, remaining: r, reset_secs: t,
            }).collect();
            let a = answer(&code, &policies, &realm, scope.as_deref());
            prop_assert!([200, 401, 403, 429].contains(&a.status));
            prop_assert_eq!(a.error.is_none(), a.status == 200);
            for (_, v) in &a.headers {
                prop_assert!(is_header_value(v), "{:?}", v);
            }
            if a.status == 401 {
                prop_assert!(header(&a, "WWW-Authenticate").unwrap().starts_with("Bearer"));
            }
            if a.status == 429 {
                let retry: u32 = header(&a, "Retry-After").unwrap().parse().unwrap();
                prop_assert!(retry >= 1);
                for p in policies.iter().filter(|p| p.remaining == 0) {
                    prop_assert!(retry >= p.reset_secs);
                }
            }
            match a.pgrst_message() {
                None => prop_assert_eq!(a.status, 200),
                Some(m) => {
                    let body: Value = serde_json::from_str(&m).unwrap();
                    prop_assert!(body["code"].is_string() && body["message"].is_string());
                    for k in ["details", "hint"] {
                        prop_assert!(body.get(k).is_none_or(Value::is_string));
                    }
                }
            }
            let detail: Value = serde_json::from_str(&a.pgrst_detail()).unwrap();
            prop_assert_eq!(detail["status"].as_u64(), Some(u64::from(a.status)));
            prop_assert!(detail["headers"].as_object().unwrap().values().all(Value::is_string));
        }
    }
}
