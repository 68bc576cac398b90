//! What a PostgREST request presents: the key and, when the operator named
//! a header for it, the client address, read from PostgREST's
//! `request.headers` setting (a JSON object with lower-case header names).
//!
//! - The key comes from `x-api-key`, else from `Authorization: Bearer <key>`
//!   (scheme case-insensitive).
//! - The client address comes only from the header the operator named; when
//!   it holds a comma-separated list (`x-forwarded-for`), the last entry is
//!   used: the address the trusted proxy itself saw.
//! - Anything unreadable (not JSON, not an object, not strings, not an
//!   address) counts as absent. Nothing here can fail or panic.

use std::net::IpAddr;

/// The longest `request.headers` value read; longer counts as absent.
pub const MAX_HEADERS_LEN: usize = 64 * 1024;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Presented {
    pub key: Option<String>,
    pub client_ip: Option<IpAddr>,
}

pub fn presented(headers_json: Option<&str>, ip_header: Option<&str>) -> Presented {
    let Some(json) = headers_json.filter(|j| j.len() <= MAX_HEADERS_LEN) else {
        return Presented::default();
    };
    let Ok(serde_json::Value::Object(headers)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return Presented::default();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.as_str());
    let key = header("x-api-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .or_else(|| {
            let auth = header("authorization")?.trim();
            let (scheme, token) = auth.split_once(char::is_whitespace)?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
        });
    let client_ip = ip_header
        .map(|h| h.trim().to_ascii_lowercase())
        .and_then(|h| header(&h).map(str::to_string))
        .and_then(|v| {
            v.rsplit(',')
                .next()
                .and_then(|last| last.trim().parse::<IpAddr>().ok())
        });
    Presented { key, client_ip }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn key_sources() {
        let p = presented(Some(r#"{"x-api-key": " ak_live_x "}"#), None);
        assert_eq!(p.key.as_deref(), Some("ak_live_x"));
        let p = presented(Some(r#"{"authorization": "Bearer ak_live_y"}"#), None);
        assert_eq!(p.key.as_deref(), Some("ak_live_y"));
        let p = presented(Some(r#"{"authorization": "bearer   ak_live_y"}"#), None);
        assert_eq!(p.key.as_deref(), Some("ak_live_y"));
        let p = presented(
            Some(r#"{"x-api-key": "a", "authorization": "Bearer b"}"#),
            None,
        );
        assert_eq!(p.key.as_deref(), Some("a"));
        for none in [
            r#"{"authorization": "Basic abc"}"#,
            r#"{"authorization": "Bearer"}"#,
            r#"{"x-api-key": ""}"#,
            r#"{"x-api-key": 42}"#,
            r#"[1]"#,
            "not json",
            "",
        ] {
            assert_eq!(presented(Some(none), None).key, None, "{none}");
        }
        assert_eq!(presented(None, None), Presented::default());
    }

    #[test]
    fn client_address_only_from_the_named_header() {
        let h = r#"{"x-api-key": "k", "x-forwarded-for": "203.0.113.9, 10.0.0.7", "x-real-ip": "bogus"}"#;
        assert_eq!(presented(Some(h), None).client_ip, None);
        assert_eq!(
            presented(Some(h), Some("X-Forwarded-For")).client_ip,
            ip("10.0.0.7")
        );
        assert_eq!(presented(Some(h), Some("x-real-ip")).client_ip, None);
        assert_eq!(presented(Some(h), Some("x-other")).client_ip, None);
        let v6 = r#"{"x-ip": "2001:db8::1"}"#;
        assert_eq!(
            presented(Some(v6), Some("x-ip")).client_ip,
            ip("2001:db8::1")
        );
    }

    #[test]
    fn huge_headers_count_as_absent() {
        let big = format!(
            r#"{{"x-api-key": "k", "pad": "{}"}}"#,
            "x".repeat(MAX_HEADERS_LEN)
        );
        assert_eq!(presented(Some(&big), None), Presented::default());
    }

    proptest! {
        #[test]
        fn never_panics(json in "\\PC{0,200}", header in "\\PC{0,20}") {
            let _ = presented(Some(&json), Some(&header));
        }

        #[test]
        fn never_panics_on_json_shaped_input(k in "\\PC{0,40}", v in "\\PC{0,40}") {
            let json = serde_json::json!({ "x-api-key": k, "authorization": v, "x-forwarded-for": v }).to_string();
            let p = presented(Some(&json), Some("x-forwarded-for"));
            if !k.trim().is_empty() {
                prop_assert_eq!(p.key, Some(k.trim().to_string()));
            }
        }
    }
}
