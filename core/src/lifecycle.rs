//! Key lifecycle inputs that need no database: the webhook address a key's
//! events are delivered to, and the server-side peppers that turn the stored
//! digest into an HMAC.

use thiserror::Error;

/// Longest webhook address accepted, in bytes.
pub const MAX_WEBHOOK_URL_LEN: usize = 2048;

/// Shortest pepper accepted, in bytes (128 bits).
pub const MIN_PEPPER_LEN: usize = 16;

/// Most peppers accepted at once (each one is a lookup for an unknown key).
pub const MAX_PEPPERS: usize = 4;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WebhookUrlError {
    #[error("webhook_url \"{0}\" is not an http or https URL")]
    Scheme(String),
    #[error("webhook_url \"{0}\" has no host")]
    NoHost(String),
    #[error("webhook_url \"{0}\" contains a space or control character")]
    BadCharacter(String),
    #[error("webhook_url carries credentials (user:password@); put them in the delivery worker, not the URL")]
    Credentials,
    #[error("webhook_url is too long ({0} bytes; at most {MAX_WEBHOOK_URL_LEN})")]
    TooLong(usize),
}

/// A value for an error message: credentials (`user:password@`) masked,
/// control characters replaced, at most 100 characters.
fn shown(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i);
    let masked = match url[after_scheme..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..after_scheme], &url[after_scheme + at..]),
        None => url.to_string(),
    };
    masked
        .chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Check a webhook address: `http://` or `https://`, a host, no credentials,
/// no whitespace or control characters. Returns it unchanged when valid.
pub fn validate_webhook_url(url: &str) -> Result<&str, WebhookUrlError> {
    if url.len() > MAX_WEBHOOK_URL_LEN {
        return Err(WebhookUrlError::TooLong(url.len()));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(WebhookUrlError::BadCharacter(shown(url)));
    }
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err(WebhookUrlError::Scheme(shown(url)));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(WebhookUrlError::Credentials);
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    if host.is_empty() {
        return Err(WebhookUrlError::NoHost(shown(url)));
    }
    Ok(url)
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PepperError {
    #[error("the file holds no pepper (only blank lines or comments)")]
    Empty,
    #[error("pepper number {0} is shorter than {MIN_PEPPER_LEN} bytes")]
    TooShort(usize),
    #[error("at most {MAX_PEPPERS} peppers are accepted, got {0}")]
    TooMany(usize),
}

/// Parse the pepper file (`api_keys.pepper_file`): one pepper per line,
/// newest first; blank lines and lines starting with `#` are ignored,
/// surrounding spaces too. A file without any pepper is an error: a
/// configured pepper file that turned empty must fail closed, never turn
/// the pepper off. Errors name a bad pepper's position, never its text.
pub fn parse_peppers(file: &str) -> Result<Vec<Vec<u8>>, PepperError> {
    let peppers: Vec<&str> = file
        .lines()
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with('#'))
        .collect();
    if peppers.is_empty() {
        return Err(PepperError::Empty);
    }
    if peppers.len() > MAX_PEPPERS {
        return Err(PepperError::TooMany(peppers.len()));
    }
    peppers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if p.len() < MIN_PEPPER_LEN {
                Err(PepperError::TooShort(i + 1))
            } else {
                Ok(p.as_bytes().to_vec())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn good_urls() {
        for u in [
            "https://hooks.example.com/api-keys",
            "http://127.0.0.1:8080/hook?x=1",
            "HTTPS://EXAMPLE.COM",
            "http://[::1]:9000/h",
        ] {
            assert_eq!(validate_webhook_url(u), Ok(u), "{u}");
        }
    }

    #[test]
    fn bad_urls() {
        use WebhookUrlError::*;
        assert!(matches!(validate_webhook_url("ftp://x/y"), Err(Scheme(_))));
        assert!(matches!(
            validate_webhook_url("example.com/hook"),
            Err(Scheme(_))
        ));
        assert!(matches!(
            validate_webhook_url("javascript:alert(1)"),
            Err(Scheme(_))
        ));
        assert!(matches!(validate_webhook_url("https://"), Err(NoHost(_))));
        assert!(matches!(
            validate_webhook_url("https:///path"),
            Err(NoHost(_))
        ));
        assert!(matches!(
            validate_webhook_url("http://:80/"),
            Err(NoHost(_))
        ));
        assert!(matches!(
            validate_webhook_url("https://u:p@host/"),
            Err(Credentials)
        ));
        assert!(!validate_webhook_url("https://u:secret@host/")
            .unwrap_err()
            .to_string()
            .contains("secret"));
        assert!(matches!(
            validate_webhook_url("https://h/a b"),
            Err(BadCharacter(_))
        ));
        assert!(matches!(
            validate_webhook_url("https://h/\n"),
            Err(BadCharacter(_))
        ));
        let long = format!("https://h/{}", "a".repeat(MAX_WEBHOOK_URL_LEN));
        assert!(matches!(validate_webhook_url(&long), Err(TooLong(_))));
    }

    #[test]
    fn errors_never_show_credentials() {
        for u in [
            "ftp://user:hunter2@h/x",
            "https://user:hunter2@h/a b",
            "user:hunter2@h",
        ] {
            let msg = validate_webhook_url(u).unwrap_err().to_string();
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    #[test]
    fn error_shows_at_most_100_characters() {
        let u = format!("ftp://{}", "x".repeat(500));
        let msg = validate_webhook_url(&u).unwrap_err().to_string();
        assert!(msg.len() < 200, "{msg}");
    }

    #[test]
    fn peppers() {
        // A configured file with no pepper fails closed.
        assert_eq!(parse_peppers(""), Err(PepperError::Empty));
        assert_eq!(
            parse_peppers("  \n# a comment\n\n"),
            Err(PepperError::Empty)
        );
        let p = parse_peppers(" 0123456789abcdef \r\n# older:\nfedcba9876543210fedcba\n").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], b"0123456789abcdef");
        assert_eq!(
            parse_peppers("0123456789abcdef\nshort"),
            Err(PepperError::TooShort(2))
        );
        let five = ["0123456789abcdef"; 5].join("\n");
        assert_eq!(parse_peppers(&five), Err(PepperError::TooMany(5)));
    }

    #[test]
    fn pepper_errors_never_show_the_pepper() {
        let e = parse_peppers("secretsecretsecretsecret\ntiny-secret").unwrap_err();
        assert!(!e.to_string().contains("secret"));
    }

    proptest! {
        #[test]
        fn any_input_never_panics(s in ".{0,300}") {
            let _ = validate_webhook_url(&s);
            let _ = parse_peppers(&s);
        }

        #[test]
        fn accepted_urls_are_http_with_a_host(s in "[ -~]{0,80}") {
            if let Ok(u) = validate_webhook_url(&s) {
                let l = u.to_ascii_lowercase();
                prop_assert!(l.starts_with("http://") || l.starts_with("https://"));
                prop_assert!(!u.contains(' '));
            }
        }
    }
}
