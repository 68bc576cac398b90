//! Keys imported from other systems: which presented strings that are not
//! keys of this extension's format may be one, and so are looked up by
//! their SHA-256 digest.
//!
//! A native key ([`crate::key::parse`] accepts it) is always looked up. Any
//! other string is looked up as a possible imported key only when all of
//! these hold; otherwise it is `malformed`, without a lookup:
//!
//! 1. at most [`MAX_IMPORTED_KEY_LEN`] (1024) bytes, every one printable
//!    ASCII other than the space (`!` to `~`): no control character, no
//!    whitespace, nothing outside ASCII;
//! 2. at least [`MIN_IMPORTED_KEY_ALNUM`] (16) letters or digits: fewer is
//!    not a secret worth a lookup;
//! 3. it does not begin with the configured brand and `_` (`ak_` by
//!    default): those strings are ours and must have our format, so a
//!    mistyped key stays `malformed`;
//! 4. the part after its last `_` is not 49 letters or digits (a native
//!    body): a string of our shape with a wrong checksum, or with labels
//!    outside the grammar (`AK_live_…`), stays `malformed` whatever its
//!    brand.
//!
//! So NULL, the empty string, anything over 1024 bytes, anything with a
//! space, a control or a non-ASCII character, and every look-alike of the
//! native format are refused offline exactly as before imported keys
//! existed; a native key costs nothing more (this runs only after
//! [`crate::key::parse`] has refused a string). Keys of another system that
//! break these rules cannot be verified after an import: rotate them.

use crate::key::BODY_LEN;

/// The longest string looked up as an imported key, in bytes.
pub const MAX_IMPORTED_KEY_LEN: usize = 1024;

/// The fewest letters and digits a string looked up as an imported key has.
pub const MIN_IMPORTED_KEY_ALNUM: usize = 16;

/// Whether `candidate`, which is not a native key, may be an imported one
/// and is to be looked up by its SHA-256 digest. `brand` is the configured
/// brand (`api_keys.brand`).
pub fn may_be_imported(candidate: &[u8], brand: &str) -> bool {
    if candidate.len() > MAX_IMPORTED_KEY_LEN
        || !candidate.iter().all(|b| (b'!'..=b'~').contains(b))
    {
        return false;
    }
    if candidate
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .count()
        < MIN_IMPORTED_KEY_ALNUM
    {
        return false;
    }
    let brand = brand.as_bytes();
    if candidate.starts_with(brand) && candidate.get(brand.len()) == Some(&b'_') {
        return false;
    }
    match candidate.iter().rposition(|&b| b == b'_') {
        Some(last) => {
            let tail = &candidate[last + 1..];
            !(tail.len() == BODY_LEN && tail.iter().all(u8::is_ascii_alphanumeric))
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{generate, parse};
    use proptest::prelude::*;

    fn may(s: &str) -> bool {
        may_be_imported(s.as_bytes(), "ak")
    }

    #[test]
    fn keys_of_other_systems_are_looked_up() {
        for s in [
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",         // Stripe style
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a", // GitHub style
            "d3b07384d113edec49eaa6238ad5ff00c2d8ea1c3a3b8e8f8a1d4e3f2a1b0c9d", // hex
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",     // a UUID
            "key_3ZmjTr8wHq1b9vQ2xYzA0c",               // Unkey style
            "abcd+/efghIJKLmnopQRSTuv==0123456789abcdef", // base64 and hex
            &"x".repeat(MAX_IMPORTED_KEY_LEN),
        ] {
            assert!(may(s), "{s}");
        }
    }

    #[test]
    fn native_look_alikes_and_garbage_stay_malformed() {
        let k = generate("ak", "live").unwrap().key;
        let other_brand = generate("old", "live").unwrap().key;
        let bad_checksum = format!("{}{}", &other_brand[..other_brand.len() - 1], "x");
        for s in [
            String::new(),
            "ak_live_typo".to_string(),
            format!("{k}x"),           // configured brand
            format!("AK_{}", &k[3..]), // a native body after the last _
            format!("{}_{}_{}", "a".repeat(40), "b".repeat(40), &k[8..]),
            bad_checksum,
            "_".repeat(100),
            "short-but-fine-1".to_string(), // 13 letters and digits
            "x".repeat(MAX_IMPORTED_KEY_LEN + 1),
            format!(" {}", "x".repeat(40)),
            format!("{}\n", "x".repeat(40)),
            format!("{}\0", "x".repeat(40)),
            format!("{}é", "x".repeat(40)),
            "Robert'); DROP TABLE api_keys.keys; --".to_string(),
        ] {
            assert!(!may(&s), "{s:?}");
        }
        // A native key never gets here, but the rule would refuse it too.
        assert!(parse(k.as_bytes()).is_ok() && !may(&k));
    }

    #[test]
    fn the_brand_is_the_configured_one() {
        let s = "acme_live_sometoken1234567890";
        assert!(may_be_imported(s.as_bytes(), "ak"));
        assert!(!may_be_imported(s.as_bytes(), "acme"));
        assert!(may_be_imported(s.as_bytes(), "acm"));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let yes = may_be_imported(&bytes, "ak");
            if yes {
                prop_assert!(bytes.len() <= MAX_IMPORTED_KEY_LEN);
                prop_assert!(bytes.iter().all(|b| (b'!'..=b'~').contains(b)));
            }
        }

        #[test]
        fn no_native_shape_with_a_bad_checksum_is_looked_up(
            brand in "[a-z][a-z0-9]{0,15}",
            env in "[a-z][a-z0-9]{0,15}",
            body in "[A-Za-z0-9]{49}",
        ) {
            let s = format!("{brand}_{env}_{body}");
            if parse(s.as_bytes()).is_err() {
                prop_assert!(!may_be_imported(s.as_bytes(), "ak"));
            }
        }
    }
}
