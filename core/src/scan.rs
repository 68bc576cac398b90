//! Finding keys in text: a log line, a support ticket, a column of a table.
//!
//! A candidate is a substring of the key's shape (see [`crate::key`]):
//!
//! ```text
//! (?<![A-Za-z0-9]) [a-z][a-z0-9]{0,15} _ [a-z][a-z0-9]{0,15} _ [0-9A-Za-z]{49} (?![A-Za-z0-9_])
//! ```
//!
//! that is, a brand and an environment label, each followed by `_`, then a
//! body of exactly 49 letters and digits; not preceded by a letter or digit
//! (an `_` before it is fine: `token_ak_live_…` holds a key) and not followed
//! by a letter, digit or `_`. Each candidate says whether its checksum is
//! right: a right one is a key of this format (or a one-in-four-billion
//! look-alike), a wrong one is a look-alike or a mistyped key. Nothing here
//! hands out more of a key than its prefix; the positions let the caller
//! cut it out of their own text if they must.
//!
//! Linear in the text: each start is tried once and a try reads at most
//! the 83 bytes of the longest key.

use crate::key::{self, BODY_LEN, MAX_LABEL_LEN, PREFIX_BODY_CHARS};

/// A key-shaped substring of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found<'a> {
    /// Where it starts, in bytes from the start of the text.
    pub byte_start: usize,
    /// Where it starts, in characters from the start of the text (0-based).
    pub char_start: usize,
    /// Its length in bytes, which is also its length in characters (a key
    /// is ASCII).
    pub len: usize,
    /// The key up to and including the first 8 body characters: what
    /// `apikey_list` shows, safe to log.
    pub prefix: &'a str,
    /// Whether the checksum is right.
    pub checksum_ok: bool,
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// The length of the label `[a-z][a-z0-9]{0,15}` at the start of `bytes`,
/// when it is followed by `_`.
fn label_then_underscore(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.first()?;
    if !first.is_ascii_lowercase() {
        return None;
    }
    let len = bytes
        .iter()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        .count();
    (len <= MAX_LABEL_LEN && bytes.get(len) == Some(&b'_')).then_some(len)
}

/// The length of the key-shaped substring starting at `bytes[0]`, if any
/// (the character before it was checked by the caller).
fn shape_at(bytes: &[u8]) -> Option<usize> {
    let brand = label_then_underscore(bytes)?;
    let env_start = brand + 1;
    let environment = label_then_underscore(&bytes[env_start..])?;
    let body_start = env_start + environment + 1;
    let body = bytes[body_start..]
        .iter()
        .take(BODY_LEN + 1)
        .take_while(|&&b| is_alnum(b))
        .count();
    let end = body_start + body;
    let ends_well = bytes.get(end).is_none_or(|&b| !is_alnum(b) && b != b'_');
    (body == BODY_LEN && ends_well).then_some(end)
}

/// Every key-shaped substring of `text`, in order, none overlapping.
pub fn find_keys(text: &str) -> Vec<Found<'_>> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut chars = 0; // characters before `counted`
    let mut counted = 0;
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_lowercase() && (i == 0 || !is_alnum(bytes[i - 1]));
        if let Some(len) = starts.then(|| shape_at(&bytes[i..])).flatten() {
            // Count the characters up to here: every byte that does not
            // continue a UTF-8 sequence starts one.
            chars += bytes[counted..i]
                .iter()
                .filter(|&&b| b & 0xC0 != 0x80)
                .count();
            counted = i;
            let candidate = &text[i..i + len];
            let head = candidate.find('_').unwrap_or(0) + 1;
            let head = head + candidate[head..].find('_').unwrap_or(0) + 1;
            found.push(Found {
                byte_start: i,
                char_start: chars,
                len,
                prefix: &candidate[..head + PREFIX_BODY_CHARS],
                checksum_ok: key::is_well_formed(candidate.as_bytes()),
            });
            i += len;
        } else {
            i += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::generate;
    use proptest::prelude::*;

    fn keys() -> (String, String) {
        (
            generate("ak", "live").unwrap().key,
            generate("acme", "test").unwrap().key,
        )
    }

    #[test]
    fn finds_keys_in_a_log_line_with_positions_in_characters() {
        let (a, b) = keys();
        let text = format!("café: Authorization: Bearer {a}\nx-api-key={b}.");
        let found = find_keys(&text);
        assert_eq!(found.len(), 2, "{found:?}");
        let start_a = text.find(&a).unwrap();
        assert_eq!(found[0].byte_start, start_a);
        assert_eq!(
            found[0].char_start,
            start_a - 1,
            "é is two bytes, one character"
        );
        assert_eq!(found[0].len, a.len());
        assert_eq!(found[0].prefix, &a[..16]);
        assert!(found[0].checksum_ok);
        assert_eq!(&text[found[1].byte_start..][..found[1].len], b);
        assert_eq!(found[1].prefix, &b[..18]);
        assert!(found[1].checksum_ok);
    }

    #[test]
    fn look_alikes_are_found_with_a_wrong_checksum() {
        let made_up = format!("ak_live_{}", "a".repeat(49));
        let (a, _) = keys();
        let typo = format!(
            "{}{}{}",
            &a[..20],
            if &a[20..21] == "x" { "y" } else { "x" },
            &a[21..]
        );
        for s in [made_up, typo] {
            let found = find_keys(&s);
            assert_eq!(found.len(), 1, "{s}");
            assert!(!found[0].checksum_ok, "{s}");
        }
    }

    #[test]
    fn boundaries() {
        let (a, b) = keys();
        let cases: Vec<(String, usize)> = vec![
            (a.clone(), 1),
            (format!("{a} {b}"), 2),
            (format!("\"{a}\",'{b}'"), 2),
            (format!("token_{a}"), 1), // an underscore before is a separator
            (format!("X{a}"), 0),      // glued to a capital letter
            (format!("x{a}"), 1),      // brand `xak`: a look-alike (checked below)
            (format!("9{a}"), 0),      // glued to a digit
            (format!("{a}x"), 0),      // body longer than 49
            (format!("{a}_"), 0),      // followed by an underscore
            (format!("{a}{b}"), 0),    // glued together
            (format!("{a}-{b}"), 2),
            (a[..a.len() - 1].to_string(), 0),
            (a.to_uppercase(), 0),
            (format!("{}{}", "a".repeat(17), &a[2..]), 0), // brand too long
            (String::new(), 0),
            ("ak_live_".to_string(), 0),
        ];
        for (text, n) in cases {
            assert_eq!(find_keys(&text).len(), n, "{text}");
        }
        let text = format!("token_{a}");
        let found = find_keys(&text);
        assert_eq!(found[0].byte_start, 6);
        assert!(found[0].checksum_ok);
        let glued = format!("x{a}");
        let found = find_keys(&glued);
        assert_eq!((found[0].byte_start, found[0].checksum_ok), (0, false));
    }

    #[test]
    fn labels_are_taken_whole() {
        // `x_ak_live_…`: at `x` the body would be `live_…`; at `ak` it is a key.
        let (a, _) = keys();
        let text = format!("x_{a}");
        let found = find_keys(&text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].byte_start, 2);
        assert_eq!(found[0].prefix, &a[..16]);
    }

    #[test]
    fn long_and_hostile_text() {
        let (a, _) = keys();
        let mut text = "é_a_".repeat(100_000);
        text.push(' ');
        text.push_str(&a);
        let found = find_keys(&text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].char_start, 400_001);
        assert!(find_keys(&"a_".repeat(500_000)).is_empty());
        assert!(find_keys(&"\u{0}".repeat(1000)).is_empty());
    }

    proptest! {
        #[test]
        fn never_panics_and_every_candidate_has_the_shape(text in "\\PC{0,300}") {
            for f in find_keys(&text) {
                let s = &text[f.byte_start..f.byte_start + f.len];
                prop_assert!(s.len() <= key::MAX_KEY_LEN);
                prop_assert!(s.starts_with(f.prefix));
                prop_assert_eq!(text[..f.byte_start].chars().count(), f.char_start);
                prop_assert_eq!(f.checksum_ok, key::is_well_formed(s.as_bytes()));
            }
        }

        #[test]
        fn every_embedded_key_is_found(
            before in "[ -~é\n]{0,40}",
            after in "[ -~é\n]{0,40}",
            brand in "[a-z][a-z0-9]{0,15}",
            env in "[a-z][a-z0-9]{0,15}",
        ) {
            let k = generate(&brand, &env).unwrap().key;
            let text = format!("{before} {k} {after}");
            let found = find_keys(&text);
            let at = before.len() + 1;
            let hit = found.iter().find(|f| f.byte_start == at);
            prop_assert!(hit.is_some(), "{:?} in {:?}", k, found);
            let hit = hit.unwrap();
            prop_assert!(hit.checksum_ok);
            prop_assert_eq!(hit.len, k.len());
            prop_assert_eq!(hit.prefix, &k[..brand.len() + env.len() + 2 + PREFIX_BODY_CHARS]);
        }
    }
}
