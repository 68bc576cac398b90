//! The stored digest of a key: SHA-256 of the whole key, or HMAC-SHA-256
//! of the whole key under a server-side pepper when one is configured.
//!
//! Keys carry 256 random bits, so a plain fast hash is enough: there is
//! nothing to brute-force. The pepper only means a stolen key table alone
//! cannot be checked against candidate keys.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// SHA-256 of the whole key (its UTF-8 bytes): what the key table stores
/// and looks up.
pub fn sha256(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// HMAC-SHA-256 of the whole key under `pepper` (any length, even empty).
pub fn hmac_sha256(pepper: &[u8], key: &str) -> [u8; 32] {
    // HMAC accepts keys of any length (longer ones are hashed first), so
    // `new_from_slice` cannot fail for it.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(pepper).expect("HMAC takes keys of any length");
    mac.update(key.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The digest stored for a new key: HMAC under the newest pepper (the first
/// of `peppers`, newest first) when there is one, else SHA-256.
pub fn for_storage(peppers: &[Vec<u8>], key: &str) -> [u8; 32] {
    match peppers.first() {
        Some(pepper) => hmac_sha256(pepper, key),
        None => sha256(key),
    }
}

/// Every digest a stored key may have, in lookup order: one HMAC per
/// accepted pepper (newest first), then the plain SHA-256 of keys made
/// before any pepper was configured.
pub fn lookup_candidates(peppers: &[Vec<u8>], key: &str) -> Vec<[u8; 32]> {
    let mut out: Vec<[u8; 32]> = peppers.iter().map(|p| hmac_sha256(p, key)).collect();
    out.push(sha256(key));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_uses_the_newest_pepper_and_lookup_finds_it_first() {
        let peppers = vec![
            b"newest-pepper-0001".to_vec(),
            b"older-pepper-00002".to_vec(),
        ];
        let stored = for_storage(&peppers, "ak_live_x");
        let candidates = lookup_candidates(&peppers, "ak_live_x");
        assert_eq!(candidates.len(), 3);
        assert_eq!(candidates[0], stored);
        assert_eq!(candidates[2], sha256("ak_live_x"));
        assert_eq!(for_storage(&[], "ak_live_x"), sha256("ak_live_x"));
        assert_eq!(
            lookup_candidates(&[], "ak_live_x"),
            vec![sha256("ak_live_x")]
        );
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_known_answers() {
        // FIPS 180-2 appendix B.1, and the empty message.
        assert_eq!(
            hex(&sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hmac_rfc4231_case_1() {
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn hmac_rfc4231_case_2() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_rfc4231_case_6_pepper_longer_than_a_block() {
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                "Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn hmac_empty_pepper_is_fine_and_differs_from_sha256() {
        // Known answer from Python's hmac module.
        let mac = hmac_sha256(b"", "ak_live_x");
        assert_eq!(
            hex(&mac),
            "d840b237cc0309568840e96dfe00ad317214b4154285ca4b750a84fd68953295"
        );
        assert_ne!(mac, sha256("ak_live_x"));
        assert_ne!(hmac_sha256(b"p1", "k"), hmac_sha256(b"p2", "k"));
    }
}
