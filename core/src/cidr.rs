//! Allowed networks of a key (`allowed_cidrs`).
//!
//! Entries are IPv4 or IPv6 CIDRs (`10.0.0.0/8`, `2001:db8::/32`); a bare
//! address is a single host (`/32`, `/128`). Decisions:
//!
//! * Like PostgreSQL's `cidr` type, an entry with bits set to the right of
//!   the mask (`10.1.2.3/8`) is invalid; the error suggests the network
//!   (`did you mean 10.0.0.0/8?`).
//! * The normalized text is the network with its prefix length always
//!   present, IPv6 in canonical compressed lower case (`2001:db8::/32`).
//!   Duplicates (after normalization) are removed, first occurrence kept.
//! * An empty list is invalid: NULL (no list) is how "any address" is said.
//! * `0.0.0.0/0` and `::/0` are accepted, with a warning that they allow
//!   every address of that family.
//! * IPv4 and IPv6 rules are matched independently: IPv4 rules match only
//!   IPv4 clients, IPv6 rules only IPv6 clients. A client address that is
//!   IPv4-mapped IPv6 (`::ffff:10.1.2.3`, as dual-stack sockets report IPv4
//!   clients) is matched as the IPv4 address. Consequently an entry inside
//!   `::ffff:0:0/96` (prefix length 96 or more) could never match anything
//!   and is rejected, suggesting the IPv4 network instead; and a wider IPv6
//!   entry that includes that range (`::/80`, `::/0`) matches every address
//!   of it except the IPv4-mapped ones.
//! * Whitespace anywhere is invalid (nothing is trimmed); an entry is at most
//!   [`MAX_ENTRY_BYTES`] bytes, a list at most [`MAX_ENTRIES`] entries.
//! * The prefix length is 1 to 3 decimal digits (leading zeros accepted and
//!   dropped by normalization); IPv4 addresses are strict dotted quads (no
//!   leading zeros, as `std` parses them); IPv6 zone ids are not accepted.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Longest accepted entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 64;
/// Most entries accepted in one list.
pub const MAX_ENTRIES: usize = 1000;

/// What is wrong with one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrProblem {
    #[error("is empty")]
    Empty,
    #[error("longer than {MAX_ENTRY_BYTES} bytes")]
    TooLong,
    #[error("contains whitespace")]
    Whitespace,
    #[error("is not an IPv4 or IPv6 address")]
    NotAnAddress,
    #[error("missing prefix length after `/`")]
    MissingPrefix,
    #[error("prefix length must be a decimal number of at most 3 digits")]
    BadPrefix,
    #[error("prefix length {len} is out of range for {family} (at most {max})")]
    PrefixRange {
        len: u16,
        family: &'static str,
        max: u8,
    },
    #[error("has bits set to the right of the mask; did you mean {0}?")]
    HostBits(IpNet),
    #[error(
        "is an IPv4-mapped IPv6 network, which never matches (IPv4-mapped client \
         addresses are matched as IPv4); did you mean {0}?"
    )]
    Mapped(Ipv4Net),
}

/// Invalid `allowed_cidrs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    #[error("allowed_cidrs must not be empty; use NULL to allow every address")]
    Empty,
    #[error("allowed_cidrs has {0} entries; at most {MAX_ENTRIES} are allowed")]
    TooMany(usize),
    /// Names the entry (`{:?}`-escaped, cut after 80 characters).
    #[error("invalid CIDR {shown}: {problem}")]
    Invalid { shown: String, problem: CidrProblem },
}

/// Parsed allowed networks, split by family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedNetworks {
    pub v4: Vec<Ipv4Net>,
    pub v6: Vec<Ipv6Net>,
}

impl AllowedNetworks {
    /// Whether `addr` is inside one of the networks of its family; an
    /// IPv4-mapped IPv6 address is matched as IPv4.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match effective(addr) {
            IpAddr::V4(a) => self.v4.iter().any(|n| n.contains(&a)),
            IpAddr::V6(a) => self.v6.iter().any(|n| n.contains(&a)),
        }
    }
}

/// The result of [`parse_allowed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub networks: AllowedNetworks,
    /// Normalized, deduplicated, in first-occurrence order (what to store).
    pub normalized: Vec<String>,
    /// For the caller to raise as WARNINGs (e.g. about `0.0.0.0/0`).
    pub warnings: Vec<String>,
}

/// Validate and normalize an `allowed_cidrs` list. The first invalid entry is
/// the error; an empty list is an error (NULL means any address).
pub fn parse_allowed(entries: &[&str]) -> Result<Parsed, CidrError> {
    if entries.is_empty() {
        return Err(CidrError::Empty);
    }
    if entries.len() > MAX_ENTRIES {
        return Err(CidrError::TooMany(entries.len()));
    }
    let mut networks = AllowedNetworks::default();
    let mut normalized = Vec::with_capacity(entries.len());
    let mut warnings = Vec::new();
    for text in entries {
        let net = parse_entry(text).map_err(|problem| CidrError::Invalid {
            shown: crate::scope::quote_truncated(text),
            problem,
        })?;
        let fresh = match net {
            IpNet::V4(n) if !networks.v4.contains(&n) => {
                networks.v4.push(n);
                true
            }
            IpNet::V6(n) if !networks.v6.contains(&n) => {
                networks.v6.push(n);
                true
            }
            _ => false,
        };
        if !fresh {
            continue;
        }
        normalized.push(net.to_string());
        if net.prefix_len() == 0 {
            let family = if net.addr().is_ipv4() { "IPv4" } else { "IPv6" };
            warnings.push(format!(
                "allowed network \"{net}\" allows every {family} address"
            ));
        }
    }
    Ok(Parsed {
        networks,
        normalized,
        warnings,
    })
}

/// Hot path of verification: whether `addr` is inside any of the stored
/// (normalized) entries, matching as [`AllowedNetworks::contains`] does.
/// Parses each entry in place without allocating (the entries can be the
/// elements of the stored array, read where they lie); an entry that is
/// somehow invalid matches nothing.
pub fn any_contains<S: AsRef<str>>(normalized: impl IntoIterator<Item = S>, addr: IpAddr) -> bool {
    let addr = effective(addr);
    normalized
        .into_iter()
        .any(|text| match (parse_entry(text.as_ref()), addr) {
            (Ok(IpNet::V4(n)), IpAddr::V4(a)) => n.contains(&a),
            (Ok(IpNet::V6(n)), IpAddr::V6(a)) => n.contains(&a),
            _ => false,
        })
}

/// An IPv4-mapped IPv6 address as IPv4; anything else unchanged.
fn effective(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(a),
        },
        v4 => v4,
    }
}

/// Validate one entry without allocating.
fn parse_entry(text: &str) -> Result<IpNet, CidrProblem> {
    if text.is_empty() {
        return Err(CidrProblem::Empty);
    }
    if text.len() > MAX_ENTRY_BYTES {
        return Err(CidrProblem::TooLong);
    }
    if text.chars().any(char::is_whitespace) {
        return Err(CidrProblem::Whitespace);
    }
    let (addr_text, prefix_text) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr: IpAddr = addr_text.parse().map_err(|_| CidrProblem::NotAnAddress)?;
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let len = match prefix_text {
        None => max,
        Some("") => return Err(CidrProblem::MissingPrefix),
        Some(p) => {
            if p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CidrProblem::BadPrefix);
            }
            let len: u16 = p.parse().map_err(|_| CidrProblem::BadPrefix)?;
            if len > u16::from(max) {
                return Err(CidrProblem::PrefixRange {
                    len,
                    family: if addr.is_ipv4() { "IPv4" } else { "IPv6" },
                    max,
                });
            }
            len as u8
        }
    };
    let net = match addr {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::new(a, len).map_err(|_| CidrProblem::BadPrefix)?),
        IpAddr::V6(a) => {
            if len >= 96 {
                if let Some(v4) = a.to_ipv4_mapped() {
                    let suggestion = Ipv4Net::new(v4, len - 96)
                        .map_err(|_| CidrProblem::BadPrefix)?
                        .trunc();
                    return Err(CidrProblem::Mapped(suggestion));
                }
            }
            IpNet::V6(Ipv6Net::new(a, len).map_err(|_| CidrProblem::BadPrefix)?)
        }
    };
    if net.trunc() != net {
        return Err(CidrProblem::HostBits(net.trunc()));
    }
    Ok(net)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn parsed(entries: &[&str]) -> Parsed {
        parse_allowed(entries).unwrap_or_else(|e| panic!("{entries:?}: {e}"))
    }

    fn err(entries: &[&str]) -> String {
        parse_allowed(entries).unwrap_err().to_string()
    }

    #[test]
    fn normalizes() {
        for (text, normal) in [
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3", "10.1.2.3/32"),
            ("10.1.2.3/32", "10.1.2.3/32"),
            ("10.0.0.0/008", "10.0.0.0/8"),
            ("192.168.1.0/24", "192.168.1.0/24"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("2001:DB8:0:0::/32", "2001:db8::/32"),
            (
                "2001:0db8:0000:0000:0000:0000:0000:0000/32",
                "2001:db8::/32",
            ),
            ("2001:db8::1", "2001:db8::1/128"),
            ("::1", "::1/128"),
            ("::/0", "::/0"),
            ("fe80::/10", "fe80::/10"),
            ("2001:db8:0:0:1:0:0:1/128", "2001:db8::1:0:0:1/128"),
            ("::/80", "::/80"),
            ("::/95", "::/95"),
        ] {
            let p = parsed(&[text]);
            assert_eq!(p.normalized, [normal], "{text}");
            let again = parsed(&[normal]);
            assert_eq!(again.normalized, [normal], "{normal}");
            assert_eq!(again.networks, p.networks);
        }
    }

    #[test]
    fn dedups_keeping_first_order_and_splits_families() {
        let p = parsed(&[
            "10.0.0.0/8",
            "2001:db8::/32",
            "10.0.0.0/08",
            "192.168.0.1",
            "2001:DB8::/32",
            "192.168.0.1/32",
        ]);
        assert_eq!(
            p.normalized,
            ["10.0.0.0/8", "2001:db8::/32", "192.168.0.1/32"]
        );
        assert_eq!(
            p.networks.v4,
            [
                "10.0.0.0/8".parse::<Ipv4Net>().unwrap(),
                "192.168.0.1/32".parse().unwrap()
            ]
        );
        assert_eq!(p.networks.v6, ["2001:db8::/32".parse::<Ipv6Net>().unwrap()]);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn wildcard_warnings() {
        let p = parsed(&["0.0.0.0/0", "::/0", "10.0.0.0/8", "0.0.0.0/0"]);
        assert_eq!(
            p.warnings,
            [
                "allowed network \"0.0.0.0/0\" allows every IPv4 address",
                "allowed network \"::/0\" allows every IPv6 address",
            ]
        );
        assert_eq!(p.normalized, ["0.0.0.0/0", "::/0", "10.0.0.0/8"]);
        assert!(parsed(&["0.0.0.0/1"]).warnings.is_empty());
    }

    #[test]
    fn invalid_entries() {
        use CidrProblem as P;
        let long = format!("10.0.0.0/{}", "0".repeat(60));
        let cases: &[(&str, CidrProblem)] = &[
            ("", P::Empty),
            (&long, P::TooLong),
            (" 10.0.0.0/8", P::Whitespace),
            ("10.0.0.0/8 ", P::Whitespace),
            ("10.0.0.0 /8", P::Whitespace),
            ("10.0.0.0/\t8", P::Whitespace),
            ("foo", P::NotAnAddress),
            ("10.0.0", P::NotAnAddress),
            ("10.0.0.256", P::NotAnAddress),
            ("010.0.0.1", P::NotAnAddress),
            ("10.0.0.0/8/8", P::BadPrefix),
            ("/8", P::NotAnAddress),
            ("fe80::1%eth0", P::NotAnAddress),
            ("[::1]/128", P::NotAnAddress),
            ("10.0.0.0/", P::MissingPrefix),
            ("10.0.0.0/+8", P::BadPrefix),
            ("10.0.0.0/-1", P::BadPrefix),
            ("10.0.0.0/x", P::BadPrefix),
            ("10.0.0.0/0008", P::BadPrefix),
            (
                "10.0.0.0/33",
                P::PrefixRange {
                    len: 33,
                    family: "IPv4",
                    max: 32,
                },
            ),
            (
                "::/129",
                P::PrefixRange {
                    len: 129,
                    family: "IPv6",
                    max: 128,
                },
            ),
            ("10.1.2.3/8", P::HostBits("10.0.0.0/8".parse().unwrap())),
            ("10.0.0.1/31", P::HostBits("10.0.0.0/31".parse().unwrap())),
            (
                "2001:db8::1/32",
                P::HostBits("2001:db8::/32".parse().unwrap()),
            ),
            ("::1/0", P::HostBits("::/0".parse().unwrap())),
            ("::ffff:10.1.2.3", P::Mapped("10.1.2.3/32".parse().unwrap())),
            (
                "::ffff:10.1.2.3/104",
                P::Mapped("10.0.0.0/8".parse().unwrap()),
            ),
            ("::ffff:0:0/96", P::Mapped("0.0.0.0/0".parse().unwrap())),
        ];
        for (text, problem) in cases {
            match parse_allowed(&["10.0.0.0/8", text]) {
                Err(CidrError::Invalid { problem: p, .. }) => assert_eq!(p, *problem, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
            assert!(!any_contains(&[text], ip("10.0.0.0")), "{text:?}");
            assert!(!any_contains(&[text], ip("10.1.2.3")), "{text:?}");
            assert!(!any_contains(&[text], ip("::ffff:10.1.2.3")), "{text:?}");
            assert!(!any_contains(&[text], ip("::1")), "{text:?}");
            assert!(!any_contains(&[text], ip("2001:db8::1")), "{text:?}");
        }
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            err(&["10.1.2.3/8"]),
            r#"invalid CIDR "10.1.2.3/8": has bits set to the right of the mask; did you mean 10.0.0.0/8?"#
        );
        assert_eq!(
            err(&["2001:db8::1/32"]),
            r#"invalid CIDR "2001:db8::1/32": has bits set to the right of the mask; did you mean 2001:db8::/32?"#
        );
        assert_eq!(
            err(&["foo"]),
            r#"invalid CIDR "foo": is not an IPv4 or IPv6 address"#
        );
        assert_eq!(
            err(&["10.0.0.0/8", "x\"y"]),
            r#"invalid CIDR "x\"y": is not an IPv4 or IPv6 address"#
        );
        assert_eq!(
            err(&["10.0.0.0/33"]),
            r#"invalid CIDR "10.0.0.0/33": prefix length 33 is out of range for IPv4 (at most 32)"#
        );
        assert_eq!(
            err(&["::ffff:10.0.0.0/104"]),
            "invalid CIDR \"::ffff:10.0.0.0/104\": is an IPv4-mapped IPv6 network, which never \
             matches (IPv4-mapped client addresses are matched as IPv4); did you mean 10.0.0.0/8?"
        );
        assert_eq!(
            err(&[]),
            "allowed_cidrs must not be empty; use NULL to allow every address"
        );
        let many = vec!["10.0.0.0/8"; MAX_ENTRIES + 1];
        assert_eq!(
            err(&many),
            "allowed_cidrs has 1001 entries; at most 1000 are allowed"
        );
        assert!(parse_allowed(&many[..MAX_ENTRIES]).is_ok());
        let huge = "x".repeat(5000);
        let m = err(&[&huge]);
        assert!(m.len() < 150, "{m}");
        assert!(m.ends_with("… (5000 bytes): longer than 64 bytes"), "{m}");
    }

    #[test]
    fn matching() {
        // (entries, client, expected)
        let cases: &[(&[&str], &str, bool)] = &[
            (&["10.0.0.0/8"], "10.1.2.3", true),
            (&["10.0.0.0/8"], "10.0.0.0", true),
            (&["10.0.0.0/8"], "10.255.255.255", true),
            (&["10.0.0.0/8"], "11.0.0.0", false),
            (&["10.0.0.0/8"], "9.255.255.255", false),
            (&["10.1.2.3"], "10.1.2.3", true),
            (&["10.1.2.3"], "10.1.2.4", false),
            (&["192.168.1.0/24", "10.0.0.0/8"], "10.9.9.9", true),
            (&["2001:db8::/32"], "2001:db8:1::5", true),
            (&["2001:db8::/32"], "2001:db9::", false),
            (&["2001:db8::1"], "2001:db8::1", true),
            (&["2001:db8::1"], "2001:db8::2", false),
            // Families are independent.
            (&["10.0.0.0/8"], "::a01:203", false),
            (&["10.0.0.0/8"], "2001:db8::1", false),
            (&["0.0.0.0/0"], "2001:db8::1", false),
            (&["0.0.0.0/0"], "::1", false),
            (&["::/0"], "10.1.2.3", false),
            (&["::/0"], "127.0.0.1", false),
            (&["::/0"], "::1", true),
            (&["0.0.0.0/0"], "127.0.0.1", true),
            // IPv4-compatible (deprecated, not mapped) stays IPv6.
            (&["::/96"], "::10.1.2.3", true),
            (&["10.0.0.0/8"], "::10.1.2.3", false),
            // IPv4-mapped clients are matched as IPv4.
            (&["10.0.0.0/8"], "::ffff:10.1.2.3", true),
            (&["10.1.2.3"], "::ffff:10.1.2.3", true),
            (&["10.0.0.0/8"], "::ffff:11.1.2.3", false),
            (&["0.0.0.0/0"], "::ffff:1.2.3.4", true),
            (&["::/0"], "::ffff:1.2.3.4", false),
            (&["::/80"], "::ffff:1.2.3.4", false),
            (&["::/80"], "::ffff:255.255.255.255", false),
            (&["::/80"], "::fffe:ffff:ffff", true),
            (&["::fffe:0:0/95"], "::fffe:0:0", true),
            (&["::fffe:0:0/95"], "::ffff:0:0", false),
            (&["::/80"], "::1.2.3.4", true),
            (&["::/0", "10.0.0.0/8"], "::ffff:10.0.0.1", true),
        ];
        for (entries, client, want) in cases {
            let p = parsed(entries);
            assert_eq!(
                p.networks.contains(ip(client)),
                *want,
                "{entries:?} {client}"
            );
            let refs: Vec<&str> = p.normalized.iter().map(String::as_str).collect();
            assert_eq!(
                any_contains(&refs, ip(client)),
                *want,
                "any {entries:?} {client}"
            );
            assert_eq!(
                any_contains(*entries, ip(client)),
                *want,
                "raw {entries:?} {client}"
            );
        }
        assert!(!any_contains(&[] as &[&str], ip("10.0.0.1")));
        assert!(!AllowedNetworks::default().contains(ip("10.0.0.1")));
        // A stored entry that is somehow invalid matches nothing; others still count.
        assert!(any_contains(&["garbage", "10.0.0.0/8"], ip("10.0.0.1")));
    }

    // --- property tests -------------------------------------------------

    fn v4net() -> impl Strategy<Value = Ipv4Net> {
        (any::<u32>(), 0u8..=32)
            .prop_map(|(a, l)| Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc())
    }

    fn v6net() -> impl Strategy<Value = Ipv6Net> {
        let addr = prop_oneof![
            any::<u128>(),
            (any::<u16>(), any::<u16>())
                .prop_map(|(a, b)| (0x2001_0db8u128 << 96) | (u128::from(a) << 16) | u128::from(b)),
            any::<u32>().prop_map(u128::from),
        ];
        (addr, 0u8..=128)
            .prop_map(|(a, l)| Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc())
            .prop_filter("IPv4-mapped", |n| {
                !(n.prefix_len() >= 96 && n.addr().to_ipv4_mapped().is_some())
            })
    }

    fn net() -> impl Strategy<Value = IpNet> {
        prop_oneof![v4net().prop_map(IpNet::V4), v6net().prop_map(IpNet::V6)]
    }

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<u32>().prop_map(|a| IpAddr::V4(a.into())),
            any::<u128>().prop_map(|a| IpAddr::V6(a.into())),
            any::<u32>().prop_map(|a| IpAddr::V6(Ipv4Addr::from(a).to_ipv6_mapped())),
        ]
    }

    proptest! {
        #[test]
        fn network_contains_its_first_and_last(n in net()) {
            let text = n.to_string();
            let p = parsed(&[&text]);
            prop_assert_eq!(p.normalized.as_slice(), std::slice::from_ref(&text));
            let (first, last) = match n {
                IpNet::V4(n) => (IpAddr::V4(n.network()), IpAddr::V4(n.broadcast())),
                IpNet::V6(n) => (IpAddr::V6(n.network()), IpAddr::V6(n.broadcast())),
            };
            for a in [first, last] {
                // Except: an IPv4-mapped address inside an IPv6 rule (the
                // last address of `::/80`) is an IPv4 client, which IPv6
                // rules never match.
                let expected = effective(a) == a;
                prop_assert_eq!(p.networks.contains(a), expected);
                prop_assert_eq!(any_contains(&[&text], a), expected);
            }
        }

        #[test]
        fn slash_zero_is_per_family(a in addr()) {
            let v4 = parsed(&["0.0.0.0/0"]);
            let v6 = parsed(&["::/0"]);
            // An IPv4-mapped IPv6 client is an IPv4 client.
            let is_v4 = effective(a).is_ipv4();
            prop_assert_eq!(v4.networks.contains(a), is_v4);
            prop_assert_eq!(v6.networks.contains(a), !is_v4);
            prop_assert_eq!(any_contains(&["0.0.0.0/0"], a), is_v4);
            prop_assert_eq!(any_contains(&["::/0"], a), !is_v4);
        }

        #[test]
        fn normalize_is_idempotent(
            nets in prop::collection::vec(net(), 1..8),
            bare in any::<bool>(),
        ) {
            let texts: Vec<String> = nets
                .iter()
                .map(|n| {
                    let full = n.prefix_len() == n.max_prefix_len();
                    if bare && full { n.addr().to_string() } else { n.to_string() }
                })
                .collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let once = parsed(&refs);
            let once_refs: Vec<&str> = once.normalized.iter().map(String::as_str).collect();
            let twice = parsed(&once_refs);
            prop_assert_eq!(&once, &twice);
        }

        #[test]
        fn any_contains_agrees_with_networks(
            nets in prop::collection::vec(net(), 1..6),
            a in addr(),
        ) {
            let texts: Vec<String> = nets.iter().map(IpNet::to_string).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let p = parsed(&refs);
            let normal: Vec<&str> = p.normalized.iter().map(String::as_str).collect();
            prop_assert_eq!(any_contains(&normal, a), p.networks.contains(a));
            prop_assert_eq!(any_contains(&refs, a), p.networks.contains(a));
        }

        #[test]
        fn arbitrary_strings_never_panic(t in any::<String>(), a in addr()) {
            let r = parse_allowed(&[t.as_str()]);
            let hit = any_contains(&[t.as_str()], a);
            match r {
                Ok(p) => prop_assert_eq!(hit, p.networks.contains(a)),
                Err(e) => {
                    prop_assert!(!hit);
                    prop_assert!(e.to_string().starts_with("invalid CIDR "));
                }
            }
        }

        #[test]
        fn address_like_strings_never_panic(t in "[0-9a-fA-F.:/%]{0,45}", a in addr()) {
            let hit = any_contains(&[t.as_str()], a);
            match parse_allowed(&[t.as_str()]) {
                Ok(p) => {
                    prop_assert_eq!(hit, p.networks.contains(a));
                    let again = parsed(&[p.normalized[0].as_str()]);
                    prop_assert_eq!(&again.normalized, &p.normalized);
                }
                Err(_) => prop_assert!(!hit),
            }
        }
    }
}
