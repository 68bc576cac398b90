//! The answers of a verification, in the order they are checked.

/// Why a key was accepted or not: the `code` of `api_keys.verification`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    Malformed,
    NotFound,
    Revoked,
    Expired,
    IpNotAllowed,
    InsufficientScope,
    RateLimited,
    QuotaExceeded,
    Valid,
}

impl Code {
    /// Every code, in the order they are checked.
    pub const ALL: [Code; 9] = [
        Code::Malformed,
        Code::NotFound,
        Code::Revoked,
        Code::Expired,
        Code::IpNotAllowed,
        Code::InsufficientScope,
        Code::RateLimited,
        Code::QuotaExceeded,
        Code::Valid,
    ];

    /// A small number for the code (its place in [`Code::ALL`]), for
    /// counters in shared memory.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The code at `index` in [`Code::ALL`].
    pub fn from_index(index: u8) -> Option<Code> {
        Self::ALL.get(usize::from(index)).copied()
    }

    /// The code's name as SQL shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Malformed => "malformed",
            Code::NotFound => "not_found",
            Code::Revoked => "revoked",
            Code::Expired => "expired",
            Code::IpNotAllowed => "ip_not_allowed",
            Code::InsufficientScope => "insufficient_scope",
            Code::RateLimited => "rate_limited",
            Code::QuotaExceeded => "quota_exceeded",
            Code::Valid => "valid",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_round_trips_in_check_order() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(usize::from(code.index()), i);
            assert_eq!(Code::from_index(code.index()), Some(*code));
        }
        assert_eq!(Code::from_index(Code::ALL.len() as u8), None);
    }

    #[test]
    fn names_are_distinct_snake_case() {
        let mut names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
    }
}
