//! The key format: `<brand>_<environment>_<body>`.
//!
//! - `brand` and `environment` (labels): `[a-z][a-z0-9]{0,15}`.
//! - `body`: [`BODY_RANDOM_LEN`] (43) characters drawn uniformly from the
//!   62-character alphabet with the operating system's CSPRNG
//!   (43 × log2 62 ≈ 256.03 bits), then [`CHECKSUM_LEN`] (6) characters of
//!   checksum: the CRC-32 of every byte before the checksum
//!   (`<brand>_<environment>_` and the 43 random characters), written as a
//!   zero-padded 6-digit base-62 number, most significant digit first
//!   (62^6 > 2^32, so the first checksum digit is always `0`–`4`).
//!   CRC-32 detects every error burst of up to 32 bits, so it catches every
//!   change of a single character anywhere before the checksum, and a
//!   change inside the checksum no longer matches the recomputed one: a
//!   mistyped or made-up key is refused without a lookup, and secret
//!   scanners can check a candidate offline. The checksum is not a secret
//!   and not a MAC; it only guards the format.
//! - The alphabet, in digit order: `0-9`, then `A-Z`, then `a-z`
//!   (`0` = 0, `A` = 10, `a` = 36, `z` = 61), for both the random
//!   characters and the checksum digits. Changing it would invalidate every
//!   issued key.
//! - The whole key is at most [`MAX_KEY_LEN`] (128) bytes; two 16-character
//!   labels make 16 + 1 + 16 + 1 + 49 = 83.
//! - `prefix`: the key up to and including the first
//!   [`PREFIX_BODY_CHARS`] (8) characters of the body; it names a key in
//!   lists and logs and is useless on its own.
//!
//! [`parse`] accepts any brand of the right grammar (it does not know the
//! configured one), so keys keep working after the configured brand
//! changes. It runs on every verification: it allocates nothing and reads
//! nothing of an input longer than [`MAX_KEY_LEN`].

use std::fmt;

use thiserror::Error;

/// Random characters in a body (43 × log2 62 ≈ 256.03 bits).
pub const BODY_RANDOM_LEN: usize = 43;
/// Checksum characters ending a body.
pub const CHECKSUM_LEN: usize = 6;
/// Characters in a body: random part and checksum.
pub const BODY_LEN: usize = BODY_RANDOM_LEN + CHECKSUM_LEN;
/// The longest accepted key, in bytes (two 16-character labels make 83).
pub const MAX_KEY_LEN: usize = 128;
/// Body characters included in the prefix.
pub const PREFIX_BODY_CHARS: usize = 8;
/// The longest brand or environment.
pub const MAX_LABEL_LEN: usize = 16;

/// The grammar of a brand or environment, as shown in messages.
pub const LABEL_GRAMMAR: &str = "[a-z][a-z0-9]{0,15}";

/// Base-62 digits in value order: `0-9`, `A-Z`, `a-z`.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Random bytes below this (4 × 62) map uniformly onto the alphabet with
/// `b % 62`; the rest are dropped (rejection sampling).
const ACCEPT_BELOW: u8 = 248;

/// Random bytes asked of the operating system per call.
const RANDOM_CHUNK: usize = 64;

/// Calls to the operating system's generator before giving up. One call
/// almost always suffices (64 bytes hold 43 usable ones with overwhelming
/// probability); only a broken generator reaches the limit.
const MAX_RANDOM_CALLS: usize = 16;

/// Which label a value is for (used in messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    /// The first part of a key, naming the issuer (setting, default `ak`).
    Brand,
    /// The second part of a key (`live`, `test`, ...).
    Environment,
}

impl LabelKind {
    /// The label's name in messages: `brand` or `environment`.
    pub fn name(self) -> &'static str {
        match self {
            LabelKind::Brand => "brand",
            LabelKind::Environment => "environment",
        }
    }
}

impl fmt::Display for LabelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key could not be made, or a label is invalid.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum KeyError {
    /// A brand or environment does not match [`LABEL_GRAMMAR`]. `value` is
    /// already quoted, escaped and cut to 64 characters, ready for a
    /// message, e.g. `invalid environment "Live!": must match
    /// [a-z][a-z0-9]{0,15}`.
    #[error("invalid {kind} {value}: must match [a-z][a-z0-9]{{0,15}}")]
    InvalidLabel {
        /// `brand` or `environment`.
        kind: &'static str,
        /// The offending value, quoted and escaped for a message.
        value: String,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
}

/// Why a presented key is malformed. Callers answer `malformed` whatever the
/// reason; the reason helps tests and debugging. Checks run in this order,
/// and the first failing one is reported.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum Malformed {
    /// Longer than [`MAX_KEY_LEN`] bytes (refused before reading it).
    #[error("longer than 128 bytes")]
    TooLong,
    /// A byte other than `[A-Za-z0-9_]` (non-ASCII, NUL, space, ...).
    #[error("a character other than [A-Za-z0-9_]")]
    BadCharacter,
    /// The brand (up to the first `_`) does not match [`LABEL_GRAMMAR`].
    #[error("bad brand")]
    BadBrand,
    /// The environment is missing or does not match [`LABEL_GRAMMAR`].
    #[error("bad environment")]
    BadEnvironment,
    /// The body is missing, not [`BODY_LEN`] characters, or holds a `_`.
    #[error("bad body")]
    BadBody,
    /// Well-formed, but the checksum does not match.
    #[error("bad checksum")]
    BadChecksum,
}

/// A key just generated: the only time the whole key exists. Its `Debug`
/// output leaves the key out.
#[derive(Clone)]
pub struct NewKey {
    /// The whole key, to hand to the caller once and never store.
    pub key: String,
    /// The key up to and including the first 8 characters of the body.
    pub prefix: String,
    /// [`crate::digest::sha256`] of the whole key: what is stored.
    pub digest: [u8; 32],
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("key", &"<redacted>")
            .field("prefix", &self.prefix)
            .field("digest", &self.digest)
            .finish()
    }
}

/// A presented key that passed the format and checksum checks, borrowed
/// from the input (no allocation). Its `Debug` output leaves the body out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    /// The brand, any of the right grammar.
    pub brand: &'a str,
    /// The environment.
    pub environment: &'a str,
    /// The body: [`BODY_LEN`] characters of `[A-Za-z0-9]`, checksum last.
    pub body: &'a str,
    whole: &'a str,
}

impl<'a> ParsedKey<'a> {
    /// The key up to and including the first 8 characters of the body, a
    /// slice of the input.
    pub fn prefix(&self) -> &'a str {
        let end = self.brand.len() + self.environment.len() + 2 + PREFIX_BODY_CHARS;
        // `parse` guarantees `whole` is ASCII and longer than `end`.
        self.whole.get(..end).unwrap_or(self.whole)
    }

    /// The whole key, a slice of the input.
    pub fn as_str(&self) -> &'a str {
        self.whole
    }
}

impl fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey")
            .field("brand", &self.brand)
            .field("environment", &self.environment)
            .field("prefix", &self.prefix())
            .finish_non_exhaustive()
    }
}

/// A value for messages: `{:?}`-escaped (quotes, control and non-printable
/// characters) and cut to 64 characters, with `…` after the closing quote
/// when cut. The result is bounded whatever the input.
pub(crate) fn quoted(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

/// Whether `value` matches `[a-z][a-z0-9]{0,15}`.
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
///
/// The error names the label and the value (escaped, cut to 64
/// characters), e.g. `invalid environment "Live!": must match
/// [a-z][a-z0-9]{0,15}`.
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

/// The checksum of `head` (everything before it): CRC-32 as six base-62
/// digits, most significant first, zero-padded.
fn checksum(head: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(head);
    let mut out = [ALPHABET[0]; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Append [`BODY_RANDOM_LEN`] uniform alphabet characters to `out`, drawing
/// bytes from `fill` and dropping those at or above [`ACCEPT_BELOW`].
fn push_random_chars<F>(out: &mut String, fill: &mut F) -> Result<(), KeyError>
where
    F: FnMut(&mut [u8]) -> Result<(), getrandom::Error>,
{
    let mut buf = [0u8; RANDOM_CHUNK];
    let mut filled = 0;
    for _ in 0..MAX_RANDOM_CALLS {
        fill(&mut buf).map_err(|e| KeyError::Random(e.to_string()))?;
        for &b in buf.iter().filter(|&&b| b < ACCEPT_BELOW) {
            out.push(char::from(ALPHABET[usize::from(b % 62)]));
            filled += 1;
            if filled == BODY_RANDOM_LEN {
                return Ok(());
            }
        }
    }
    Err(KeyError::Random(format!(
        "no usable bytes in {} calls",
        MAX_RANDOM_CALLS
    )))
}

/// Generate a new key under `brand` and `environment`, both checked with
/// [`validate_label`], from the operating system's CSPRNG.
pub fn generate(brand: &str, environment: &str) -> Result<NewKey, KeyError> {
    generate_with(brand, environment, &mut getrandom::getrandom)
}

/// [`generate`] with the random source as a parameter (for tests).
fn generate_with<F>(brand: &str, environment: &str, fill: &mut F) -> Result<NewKey, KeyError>
where
    F: FnMut(&mut [u8]) -> Result<(), getrandom::Error>,
{
    validate_label(LabelKind::Brand, brand)?;
    validate_label(LabelKind::Environment, environment)?;
    let head_len = brand.len() + environment.len() + 2;
    let mut key = String::with_capacity(head_len + BODY_LEN);
    key.push_str(brand);
    key.push('_');
    key.push_str(environment);
    key.push('_');
    push_random_chars(&mut key, fill)?;
    let sum = checksum(key.as_bytes());
    key.extend(sum.iter().map(|&b| char::from(b)));
    debug_assert!(key.len() <= MAX_KEY_LEN);
    let prefix = key[..head_len + PREFIX_BODY_CHARS].to_string();
    let digest = crate::digest::sha256(&key);
    Ok(NewKey {
        key,
        prefix,
        digest,
    })
}

/// Split `s` at its first `_`: the part before, and the rest after it if
/// there is one.
fn split_underscore(s: &str) -> (&str, Option<&str>) {
    match s.bytes().position(|b| b == b'_') {
        // `_` is ASCII, so `i` and `i + 1` are char boundaries.
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// Parse a presented key, given as raw bytes (which may be anything: not
/// UTF-8, NUL, megabytes). Never panics and never allocates; input longer
/// than [`MAX_KEY_LEN`] is refused as [`Malformed::TooLong`] before any of
/// it is read. Checks, in order: length, characters, brand, environment,
/// body, checksum.
pub fn parse(candidate: &[u8]) -> Result<ParsedKey<'_>, Malformed> {
    if candidate.len() > MAX_KEY_LEN {
        return Err(Malformed::TooLong);
    }
    if !candidate
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(Malformed::BadCharacter);
    }
    // Only ASCII from here on, so every byte index is a char boundary.
    let whole = std::str::from_utf8(candidate).map_err(|_| Malformed::BadCharacter)?;
    let (brand, rest) = split_underscore(whole);
    if !label_ok(brand.as_bytes()) {
        return Err(Malformed::BadBrand);
    }
    let (environment, body) = split_underscore(rest.ok_or(Malformed::BadEnvironment)?);
    if !label_ok(environment.as_bytes()) {
        return Err(Malformed::BadEnvironment);
    }
    let body = body.ok_or(Malformed::BadBody)?;
    if body.len() != BODY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Malformed::BadBody);
    }
    let (head, sum) = candidate.split_at(candidate.len() - CHECKSUM_LEN);
    if checksum(head) != sum {
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
    use std::num::NonZeroU32;

    /// A key from a chosen random part, as `generate` would build it.
    fn assemble(brand: &str, environment: &str, random: &str) -> String {
        let head = format!("{brand}_{environment}_{random}");
        let sum = checksum(head.as_bytes());
        format!("{head}{}", std::str::from_utf8(&sum).unwrap())
    }

    fn all_bytes_from(value: u8) -> impl FnMut(&mut [u8]) -> Result<(), getrandom::Error> {
        move |buf: &mut [u8]| {
            buf.fill(value);
            Ok(())
        }
    }

    fn assert_key_format(k: &NewKey, brand: &str, environment: &str) {
        let head = format!("{brand}_{environment}_");
        assert!(k.key.starts_with(&head), "{}", k.key);
        assert_eq!(k.key.len(), head.len() + BODY_LEN);
        let body = &k.key[head.len()..];
        assert!(body.bytes().all(|b| ALPHABET.contains(&b)), "{body}");
        assert_eq!(k.prefix, &k.key[..head.len() + PREFIX_BODY_CHARS]);
        assert_eq!(k.digest, crate::digest::sha256(&k.key));
    }

    #[test]
    fn alphabet_is_62_distinct_alphanumerics_in_order() {
        assert_eq!(ALPHABET.len(), 62);
        assert!(ALPHABET.windows(2).all(|w| w[0] < w[1]));
        assert!(ALPHABET.iter().all(u8::is_ascii_alphanumeric));
        assert_eq!(usize::from(ACCEPT_BELOW), 4 * 62);
    }

    #[test]
    fn generated_key_has_the_format() {
        let k = generate("ak", "live").unwrap();
        assert_key_format(&k, "ak", "live");
        assert_eq!(k.key.len(), 8 + 49);
        assert_eq!(k.prefix.len(), "ak_live_".len() + 8);
        let p = parse(k.key.as_bytes()).unwrap();
        assert_eq!(
            (p.brand, p.environment, p.body, p.prefix(), p.as_str()),
            ("ak", "live", &k.key[8..], k.prefix.as_str(), k.key.as_str())
        );
        assert!(is_well_formed(k.key.as_bytes()));
    }

    #[test]
    fn keys_differ() {
        let a = generate("ak", "live").unwrap();
        let b = generate("ak", "live").unwrap();
        assert_ne!(a.key, b.key);
        assert_ne!(a.prefix, b.prefix);
        assert_ne!(a.digest, b.digest);
    }

    #[test]
    fn random_characters_look_uniform() {
        // 2000 keys, 86 000 characters: about 1387 of each; a 25% margin
        // is many standard deviations (≈37), so only a real bias fails.
        let mut counts = [0usize; 128];
        for _ in 0..2000 {
            let k = generate("ak", "live").unwrap().key;
            for b in k[8..8 + BODY_RANDOM_LEN].bytes() {
                counts[usize::from(b)] += 1;
            }
        }
        let expected = 2000 * BODY_RANDOM_LEN / 62;
        for &c in ALPHABET {
            let n = counts[usize::from(c)];
            assert!(
                n > expected * 3 / 4 && n < expected * 5 / 4,
                "{} drawn {n} times, expected about {expected}",
                char::from(c)
            );
        }
    }

    #[test]
    fn checksum_known_answers() {
        // Computed independently: Python zlib.crc32, base 62 by hand.
        assert_eq!(
            &checksum(format!("ak_live_{}", "0".repeat(43)).as_bytes()),
            b"09KvW5"
        );
        for key in [
            "ak_live_000000000000000000000000000000000000000000009KvW5",
            "ak_live_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg40byX4",
            "acme_test_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz47LXKh",
        ] {
            assert_eq!(parse(key.as_bytes()).map(|p| p.as_str()), Ok(key));
        }
    }

    #[test]
    fn rejection_sampling_maps_and_drops_bytes() {
        // Bytes 248..=255 are dropped, the rest map to ALPHABET[b % 62].
        let mut calls = 0;
        let mut fill = |buf: &mut [u8]| {
            calls += 1;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = match i % 4 {
                    0 => 255,
                    1 => 248,
                    2 => 247, // 247 % 62 = 61: 'z'
                    _ => 62,  // '0'
                };
            }
            Ok(())
        };
        let mut out = String::new();
        push_random_chars(&mut out, &mut fill).unwrap();
        assert_eq!(out.len(), BODY_RANDOM_LEN);
        assert_eq!(&out[..4], "z0z0");
        assert!(out.bytes().all(|b| b == b'z' || b == b'0'));
        assert_eq!(calls, 2); // 32 usable bytes per call of 64.

        let k = generate_with("ak", "live", &mut all_bytes_from(0)).unwrap();
        assert_eq!(
            k.key,
            "ak_live_000000000000000000000000000000000000000000009KvW5"
        );
        assert_eq!(k.prefix, "ak_live_00000000");
    }

    #[test]
    fn random_failure_is_an_error_not_a_panic() {
        let code = NonZeroU32::new(getrandom::Error::CUSTOM_START + 7).unwrap();
        let mut failing = |_: &mut [u8]| Err(getrandom::Error::from(code));
        assert!(matches!(
            generate_with("ak", "live", &mut failing),
            Err(KeyError::Random(_))
        ));
        // A source that never yields a usable byte ends, with an error.
        assert!(matches!(
            generate_with("ak", "live", &mut all_bytes_from(250)),
            Err(KeyError::Random(_))
        ));
    }

    #[test]
    fn longest_labels_fit() {
        let brand = "abcdefghijklmnop";
        let env = "qrstuvwxyz012345";
        assert_eq!((brand.len(), env.len()), (MAX_LABEL_LEN, MAX_LABEL_LEN));
        let k = generate(brand, env).unwrap();
        assert_key_format(&k, brand, env);
        assert_eq!(k.key.len(), 83);
        assert!(k.key.len() <= MAX_KEY_LEN);
        let p = parse(k.key.as_bytes()).unwrap();
        assert_eq!((p.brand, p.environment), (brand, env));
    }

    #[test]
    fn labels() {
        for ok in [
            "a",
            "z",
            "ak",
            "live",
            "test",
            "a1",
            "a0b1",
            "abcdefghijklmnop",
            "a123456789012345",
        ] {
            assert_eq!(validate_label(LabelKind::Brand, ok), Ok(()), "{ok}");
            assert_eq!(validate_label(LabelKind::Environment, ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "A",
            "Ak",
            "Live",
            "lIve",
            "1a",
            "0",
            "_a",
            "a_b",
            "a-b",
            "a b",
            " a",
            "a\n",
            "a\0",
            "abcdefghijklmnopq",
            "a1234567890123456",
            "é",
            "aé",
            "ａ",
        ] {
            assert!(validate_label(LabelKind::Brand, bad).is_err(), "{bad:?}");
            assert!(
                validate_label(LabelKind::Environment, bad).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn label_messages() {
        let msg = |kind, v: &str| validate_label(kind, v).unwrap_err().to_string();
        assert_eq!(
            msg(LabelKind::Environment, "Live!"),
            "invalid environment \"Live!\": must match [a-z][a-z0-9]{0,15}"
        );
        assert_eq!(
            msg(LabelKind::Brand, ""),
            "invalid brand \"\": must match [a-z][a-z0-9]{0,15}"
        );
        assert!(msg(LabelKind::Brand, "X").contains(LABEL_GRAMMAR));
        // Control and invisible characters are escaped.
        assert_eq!(
            msg(LabelKind::Brand, "a\0b\n\u{202e}\""),
            "invalid brand \"a\\0b\\n\\u{202e}\\\"\": must match [a-z][a-z0-9]{0,15}"
        );
        // Long values are cut to 64 characters.
        let long = msg(LabelKind::Brand, &"é".repeat(1_000_000));
        assert_eq!(
            long,
            format!(
                "invalid brand \"{}\"…: must match [a-z][a-z0-9]{{0,15}}",
                "é".repeat(64)
            )
        );
        let exactly_64 = msg(LabelKind::Brand, &"X".repeat(64));
        assert!(!exactly_64.contains('…'), "{exactly_64}");
        assert!(msg(LabelKind::Brand, &"X".repeat(65)).contains('…'));
        // Even the worst escaping stays small.
        assert!(msg(LabelKind::Brand, &"\u{10ffff}".repeat(10_000)).len() < 800);
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
        assert!(generate("abcdefghijklmnopq", "live").is_err());
        assert!(generate("ak", "abcdefghijklmnopq").is_err());
    }

    #[test]
    fn an_older_brand_still_parses() {
        for brand in ["oldbrand", "x", "acme2019"] {
            let k = generate(brand, "test").unwrap();
            let p = parse(k.key.as_bytes()).unwrap();
            assert_eq!((p.brand, p.environment), (brand, "test"));
        }
    }

    #[test]
    fn malformed_reasons() {
        let k = generate("ak", "live").unwrap().key;
        assert_eq!(parse(&vec![b'a'; 1 << 20]), Err(Malformed::TooLong));
        assert_eq!(parse(&vec![0xff; 1 << 20]), Err(Malformed::TooLong));
        assert!(!is_well_formed(&vec![b'a'; 1 << 20]));
        let padded = format!("{k}{}", "a".repeat(MAX_KEY_LEN + 1 - k.len()));
        assert_eq!(parse(padded.as_bytes()), Err(Malformed::TooLong));
        assert_eq!(parse(b""), Err(Malformed::BadBrand));
        assert_eq!(parse(b"ak"), Err(Malformed::BadEnvironment));
        assert_eq!(parse(b"ak_"), Err(Malformed::BadEnvironment));
        assert_eq!(parse(b"ak_live"), Err(Malformed::BadBody));
        assert_eq!(parse(b"ak_live_"), Err(Malformed::BadBody));
        assert_eq!(parse(b"_live_x"), Err(Malformed::BadBrand));
        assert_eq!(parse(b"ak__x"), Err(Malformed::BadEnvironment));
        assert_eq!(parse(b"ak_live_\0"), Err(Malformed::BadCharacter));
        assert_eq!(parse(b"ak_live_\xff\xfe"), Err(Malformed::BadCharacter));
        assert_eq!(parse("ak_live_é".as_bytes()), Err(Malformed::BadCharacter));
        assert_eq!(
            parse(format!("{k}\n").as_bytes()),
            Err(Malformed::BadCharacter)
        );
        assert_eq!(
            parse(format!(" {k}").as_bytes()),
            Err(Malformed::BadCharacter)
        );
        assert_eq!(parse(&k.as_bytes()[..k.len() - 1]), Err(Malformed::BadBody));
        assert_eq!(parse(format!("{k}a").as_bytes()), Err(Malformed::BadBody));
        assert_eq!(
            parse(format!("Ak{}", &k[2..]).as_bytes()),
            Err(Malformed::BadBrand)
        );
        assert_eq!(
            parse(format!("1k{}", &k[2..]).as_bytes()),
            Err(Malformed::BadBrand)
        );
        assert_eq!(
            parse(format!("ak_Live{}", &k[7..]).as_bytes()),
            Err(Malformed::BadEnvironment)
        );
        let long_brand = assemble(&"a".repeat(17), "live", &"0".repeat(43));
        assert_eq!(parse(long_brand.as_bytes()), Err(Malformed::BadBrand));
        let long_env = assemble("ak", &"a".repeat(17), &"0".repeat(43));
        assert_eq!(parse(long_env.as_bytes()), Err(Malformed::BadEnvironment));
        let underscore_in_body = assemble("ak", "live", &format!("{}_", "0".repeat(42)));
        assert_eq!(
            parse(underscore_in_body.as_bytes()),
            Err(Malformed::BadBody)
        );
        let made_up = format!("ak_live_{}", "a".repeat(BODY_LEN));
        assert_eq!(parse(made_up.as_bytes()), Err(Malformed::BadChecksum));
        // The checksum covers the labels: another brand is another key.
        let rebranded = format!("zz{}", &k[2..]);
        assert_eq!(parse(rebranded.as_bytes()), Err(Malformed::BadChecksum));
    }

    #[test]
    fn every_single_byte_change_is_caught_exhaustively() {
        for (brand, env) in [("ak", "live"), ("abcdefghijklmnop", "qrstuvwxyz012345")] {
            let k = generate(brand, env).unwrap().key;
            for pos in 0..k.len() {
                for byte in 0..=u8::MAX {
                    let mut bytes = k.clone().into_bytes();
                    if bytes[pos] == byte {
                        continue;
                    }
                    bytes[pos] = byte;
                    assert!(
                        parse(&bytes).is_err(),
                        "{k}: byte {pos} set to {byte} accepted"
                    );
                }
            }
        }
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let k = generate("ak", "live").unwrap();
        let body = &k.key[8..];
        let debug = format!("{k:?}");
        assert!(
            debug.contains(&k.prefix) && !debug.contains(body),
            "{debug}"
        );
        let p = parse(k.key.as_bytes()).unwrap();
        let debug = format!("{p:?}");
        assert!(
            debug.contains(&k.prefix) && !debug.contains(body),
            "{debug}"
        );
    }

    proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let r = parse(&bytes);
            prop_assert_eq!(r.is_ok(), is_well_formed(&bytes));
            if bytes.len() > MAX_KEY_LEN {
                prop_assert_eq!(r, Err(Malformed::TooLong));
            }
        }

        #[test]
        fn key_like_strings_never_panic(
            s in "[a-zA-Z0-9_]{0,20}_[a-z0-9_\u{0}]{0,20}_[A-Za-z0-9_\u{0}é\u{202e}😀]{0,60}"
        ) {
            if let Ok(p) = parse(s.as_bytes()) {
                // Anything accepted is a key: labels and body of the
                // grammar, reassembling to the input, checksum right.
                prop_assert!(label_ok(p.brand.as_bytes()));
                prop_assert!(label_ok(p.environment.as_bytes()));
                prop_assert_eq!(p.body.len(), BODY_LEN);
                prop_assert_eq!(format!("{}_{}_{}", p.brand, p.environment, p.body), s);
            }
        }

        #[test]
        fn long_input_is_too_long(
            len in (MAX_KEY_LEN + 1)..4096,
            byte in any::<u8>(),
        ) {
            let input = vec![byte; len];
            prop_assert_eq!(parse(&input), Err(Malformed::TooLong));
        }

        #[test]
        fn assembled_keys_parse(
            brand in "[a-z][a-z0-9]{0,15}",
            env in "[a-z][a-z0-9]{0,15}",
            random in "[A-Za-z0-9]{43}",
        ) {
            let key = assemble(&brand, &env, &random);
            let p = parse(key.as_bytes()).unwrap();
            prop_assert_eq!(p.brand, brand.as_str());
            prop_assert_eq!(p.environment, env.as_str());
            prop_assert_eq!(&p.body[..BODY_RANDOM_LEN], random.as_str());
        }

        #[test]
        fn generated_keys_round_trip(brand in "[a-z][a-z0-9]{0,15}", env in "[a-z][a-z0-9]{0,15}") {
            let k = generate(&brand, &env).unwrap();
            assert_key_format(&k, &brand, &env);
            prop_assert!(k.key.len() <= MAX_KEY_LEN);
            let p = parse(k.key.as_bytes()).unwrap();
            prop_assert_eq!(p.brand, brand.as_str());
            prop_assert_eq!(p.environment, env.as_str());
            prop_assert_eq!(p.body, &k.key[brand.len() + env.len() + 2..]);
            prop_assert_eq!(p.body.len(), BODY_LEN);
            prop_assert_eq!(p.prefix(), k.prefix.as_str());
            prop_assert_eq!(p.as_str(), k.key.as_str());
        }

        #[test]
        fn any_single_changed_character_is_caught(
            brand in "[a-z][a-z0-9]{0,15}",
            env in "[a-z][a-z0-9]{0,15}",
            pos in 0usize..MAX_KEY_LEN,
            byte in any::<u8>(),
        ) {
            let k = generate(&brand, &env).unwrap().key;
            let pos = pos % k.len();
            let mut bytes = k.into_bytes();
            prop_assume!(bytes[pos] != byte);
            bytes[pos] = byte;
            prop_assert!(parse(&bytes).is_err());
        }

        #[test]
        fn any_single_changed_char_is_caught_even_as_unicode(
            pos in 0usize..MAX_KEY_LEN,
            c in any::<char>(),
        ) {
            let k = generate("ak", "live").unwrap().key;
            let pos = pos % k.len();
            let mut chars: Vec<char> = k.chars().collect();
            prop_assume!(chars[pos] != c);
            chars[pos] = c;
            let changed: String = chars.into_iter().collect();
            prop_assert!(parse(changed.as_bytes()).is_err());
        }
    }
}
