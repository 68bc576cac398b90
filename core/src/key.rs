//! The key format: `<brand>_<environment>_<body>`.
//!
//! - `brand` and `environment`: `[a-z][a-z0-9]{0,15}`.
//! - `body`: 43 characters drawn uniformly from the 62-character alphabet
//!   `0-9A-Za-z` with the operating system's CSPRNG (43 × log2 62 ≈ 256.03
//!   bits), then 6 characters of checksum: the CRC-32 of everything before
//!   the checksum, as a zero-padded base-62 number. CRC-32 catches every
//!   change of a single character, so a mistyped or made-up key is refused
//!   without a lookup, and secret scanners can check a candidate offline.
//! - `prefix`: the key up to and including the first 8 characters of the
//!   body; it names a key in lists and logs and is useless on its own.
//!
//! Parsing accepts any brand of the right grammar, so keys keep working
//! after the configured brand changes.

use thiserror::Error;

/// Random characters in a body.
pub const BODY_RANDOM_LEN: usize = 43;
/// Checksum characters ending a body.
pub const CHECKSUM_LEN: usize = 6;
/// Characters in a body.
pub const BODY_LEN: usize = BODY_RANDOM_LEN + CHECKSUM_LEN;
/// The longest key (two 16-character labels make 83).
pub const MAX_KEY_LEN: usize = 128;
/// Body characters included in the prefix.
pub const PREFIX_BODY_CHARS: usize = 8;
/// The longest brand or environment.
pub const MAX_LABEL_LEN: usize = 16;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Which label a value is for (used in messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    Brand,
    Environment,
}

impl LabelKind {
    fn name(self) -> &'static str {
        match self {
            LabelKind::Brand => "brand",
            LabelKind::Environment => "environment",
        }
    }
}

/// Why a key could not be made.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("invalid {kind} {value}: must match [a-z][a-z0-9]{{0,15}}")]
    InvalidLabel { kind: &'static str, value: String },
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// Why a presented key is malformed. Callers answer `malformed` whatever the
/// reason; the reason helps tests and debugging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    TooLong,
    BadCharacter,
    BadBrand,
    BadEnvironment,
    BadBody,
    BadChecksum,
}

/// A key just generated: the only time the whole key exists.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub key: String,
    pub prefix: String,
    pub digest: [u8; 32],
}

/// A presented key that passed the format and checksum checks; borrowed
/// from the input, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub brand: &'a str,
    pub environment: &'a str,
    pub body: &'a str,
    whole: &'a str,
}

impl<'a> ParsedKey<'a> {
    /// The key up to and including the first 8 characters of the body.
    pub fn prefix(&self) -> &'a str {
        let end = self.brand.len() + self.environment.len() + 2 + PREFIX_BODY_CHARS;
        &self.whole[..end]
    }

    /// The whole key.
    pub fn as_str(&self) -> &'a str {
        self.whole
    }
}

/// A value for messages: escaped, and cut to 64 characters.
pub(crate) fn quoted(value: &str) -> String {
    const MAX: usize = 64;
    let cut: String = value.chars().take(MAX).collect();
    let more = if value.chars().nth(MAX).is_some() {
        "…"
    } else {
        ""
    };
    format!("{:?}{more}", cut)
}

fn label_ok(value: &[u8]) -> bool {
    match value.split_first() {
        Some((first, rest)) => {
            value.len() <= MAX_LABEL_LEN
                && first.is_ascii_lowercase()
                && rest
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        }
        None => false,
    }
}

/// Check a brand or environment against `[a-z][a-z0-9]{0,15}`.
pub fn validate_label(kind: LabelKind, value: &str) -> Result<(), KeyError> {
    if label_ok(value.as_bytes()) {
        Ok(())
    } else {
        Err(KeyError::InvalidLabel {
            kind: kind.name(),
            value: quoted(value),
        })
    }
}

fn checksum(head: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(head) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Generate a new key under `brand` and `environment`.
pub fn generate(brand: &str, environment: &str) -> Result<NewKey, KeyError> {
    validate_label(LabelKind::Brand, brand)?;
    validate_label(LabelKind::Environment, environment)?;
    let mut key = String::with_capacity(brand.len() + environment.len() + 2 + BODY_LEN);
    key.push_str(brand);
    key.push('_');
    key.push_str(environment);
    key.push('_');
    let mut filled = 0;
    let mut buf = [0u8; 64];
    while filled < BODY_RANDOM_LEN {
        getrandom::getrandom(&mut buf).map_err(|e| KeyError::Random(e.to_string()))?;
        for &b in &buf {
            // 248 = 4 × 62: rejection sampling keeps every character uniform.
            if b < 248 && filled < BODY_RANDOM_LEN {
                key.push(ALPHABET[(b % 62) as usize] as char);
                filled += 1;
            }
        }
    }
    let sum = checksum(key.as_bytes());
    key.extend(sum.iter().map(|&b| b as char));
    let prefix_len = brand.len() + environment.len() + 2 + PREFIX_BODY_CHARS;
    let prefix = key[..prefix_len].to_string();
    let digest = crate::digest::sha256(&key);
    Ok(NewKey {
        key,
        prefix,
        digest,
    })
}

/// Parse a presented key. Any input, of any length or bytes, is answered
/// without panicking; input longer than [`MAX_KEY_LEN`] is refused before
/// it is read.
pub fn parse(candidate: &[u8]) -> Result<ParsedKey<'_>, Malformed> {
    if candidate.len() > MAX_KEY_LEN {
        return Err(Malformed::TooLong);
    }
    if !candidate
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return Err(Malformed::BadCharacter);
    }
    // Only ASCII from here on, so every slice is on a char boundary.
    let whole = std::str::from_utf8(candidate).map_err(|_| Malformed::BadCharacter)?;
    let mut parts = whole.splitn(3, '_');
    let brand = parts.next().unwrap_or("");
    let environment = parts.next().ok_or(Malformed::BadEnvironment)?;
    let body = parts.next().ok_or(Malformed::BadBody)?;
    if !label_ok(brand.as_bytes()) {
        return Err(Malformed::BadBrand);
    }
    if !label_ok(environment.as_bytes()) {
        return Err(Malformed::BadEnvironment);
    }
    if body.len() != BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Malformed::BadBody);
    }
    let split = whole.len() - CHECKSUM_LEN;
    if checksum(&candidate[..split]) != candidate[split..] {
        return Err(Malformed::BadChecksum);
    }
    Ok(ParsedKey {
        brand,
        environment,
        body,
        whole,
    })
}

/// Whether `candidate` is a well-formed key with a correct checksum.
pub fn is_well_formed(candidate: &[u8]) -> bool {
    parse(candidate).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_key_has_the_format() {
        let k = generate("ak", "live").unwrap();
        assert!(k.key.starts_with("ak_live_"));
        assert_eq!(k.key.len(), "ak_live_".len() + BODY_LEN);
        assert!(k.key["ak_live_".len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(k.prefix, &k.key[..16]);
        assert_eq!(k.digest, crate::digest::sha256(&k.key));
        let p = parse(k.key.as_bytes()).unwrap();
        assert_eq!(
            (p.brand, p.environment, p.prefix()),
            ("ak", "live", k.prefix.as_str())
        );
    }

    #[test]
    fn keys_differ() {
        assert_ne!(
            generate("ak", "live").unwrap().key,
            generate("ak", "live").unwrap().key
        );
    }

    #[test]
    fn longest_labels_fit() {
        let k = generate("abcdefghijklmnop", "qrstuvwxyz012345").unwrap();
        assert!(k.key.len() <= MAX_KEY_LEN);
        assert!(parse(k.key.as_bytes()).is_ok());
    }

    #[test]
    fn labels() {
        for ok in ["a", "ak", "live", "test", "a1", "abcdefghijklmnop"] {
            assert!(validate_label(LabelKind::Brand, ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "A",
            "Live",
            "1a",
            "a-b",
            "a_b",
            "abcdefghijklmnopq",
            "é",
            "a b",
        ] {
            assert!(
                validate_label(LabelKind::Environment, bad).is_err(),
                "{bad}"
            );
        }
        let msg = validate_label(LabelKind::Environment, "Live!")
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            "invalid environment \"Live!\": must match [a-z][a-z0-9]{0,15}"
        );
        let long = validate_label(LabelKind::Brand, &"x".repeat(10_000))
            .unwrap_err()
            .to_string();
        assert!(long.len() < 150, "{long}");
    }

    #[test]
    fn generate_rejects_bad_labels() {
        assert!(matches!(
            generate("Ak", "live"),
            Err(KeyError::InvalidLabel { kind: "brand", .. })
        ));
        assert!(matches!(
            generate("ak", ""),
            Err(KeyError::InvalidLabel {
                kind: "environment",
                ..
            })
        ));
    }

    #[test]
    fn an_older_brand_still_parses() {
        let k = generate("oldbrand", "test").unwrap();
        assert_eq!(parse(k.key.as_bytes()).unwrap().brand, "oldbrand");
    }

    #[test]
    fn malformed_reasons() {
        let k = generate("ak", "live").unwrap().key;
        assert_eq!(parse(&vec![b'a'; 1 << 20]), Err(Malformed::TooLong));
        assert!(parse(b"").is_err());
        assert_eq!(parse(b"ak_live"), Err(Malformed::BadBody));
        assert_eq!(parse(b"ak_live_\0"), Err(Malformed::BadCharacter));
        assert_eq!(parse("ak_live_é".as_bytes()), Err(Malformed::BadCharacter));
        assert_eq!(parse(&k.as_bytes()[..k.len() - 1]), Err(Malformed::BadBody));
        assert_eq!(
            parse(format!("Ak{}", &k[2..]).as_bytes()),
            Err(Malformed::BadBrand)
        );
        let made_up = format!("ak_live_{}", "a".repeat(BODY_LEN));
        assert_eq!(parse(made_up.as_bytes()), Err(Malformed::BadChecksum));
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn key_like_strings_never_panic(s in "[a-z_]{0,5}_[a-z0-9_]{0,5}_[A-Za-z0-9_\u{0}é]{0,60}") {
            let _ = parse(s.as_bytes());
        }

        #[test]
        fn generated_keys_round_trip(brand in "[a-z][a-z0-9]{0,15}", env in "[a-z][a-z0-9]{0,15}") {
            let k = generate(&brand, &env).unwrap();
            let p = parse(k.key.as_bytes()).unwrap();
            prop_assert_eq!(p.brand, brand.as_str());
            prop_assert_eq!(p.environment, env.as_str());
            prop_assert_eq!(p.body.len(), BODY_LEN);
            prop_assert_eq!(p.prefix(), k.prefix.as_str());
            prop_assert_eq!(p.as_str(), k.key.as_str());
        }

        #[test]
        fn any_single_changed_character_is_caught(pos in 0usize..128, byte in any::<u8>()) {
            let k = generate("ak", "live").unwrap().key;
            let pos = pos % k.len();
            let mut bytes = k.into_bytes();
            prop_assume!(bytes[pos] != byte);
            bytes[pos] = byte;
            prop_assert!(parse(&bytes).is_err());
        }
    }
}
