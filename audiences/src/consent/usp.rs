//! The IAB US Privacy string (CCPA), e.g. `1YNN`: version, notice given,
//! opted out of sale, covered by the LSPA.

/// What a US Privacy string says about the sale of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsPrivacy {
    /// The user opted out of sale (third character `Y`).
    OptedOut,
    /// The user did not opt out (`N`), or the law does not apply (`-`).
    NotOptedOut,
    /// Not a version-1 US Privacy string: carries no signal.
    Invalid,
}

/// Reads a US Privacy string.
pub fn parse(s: &str) -> UsPrivacy {
    let b = s.as_bytes();
    let valid = |c: u8| matches!(c, b'Y' | b'N' | b'-' | b'y' | b'n');
    if b.len() != 4 || b[0] != b'1' || !b[1..].iter().all(|&c| valid(c)) {
        return UsPrivacy::Invalid;
    }
    if b[2].eq_ignore_ascii_case(&b'Y') {
        UsPrivacy::OptedOut
    } else {
        UsPrivacy::NotOptedOut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn third_character_is_the_sale_opt_out() {
        assert_eq!(parse("1YYN"), UsPrivacy::OptedOut);
        assert_eq!(parse("1YNN"), UsPrivacy::NotOptedOut);
        assert_eq!(parse("1---"), UsPrivacy::NotOptedOut);
        assert_eq!(parse("2YYN"), UsPrivacy::Invalid);
        assert_eq!(parse("1YY"), UsPrivacy::Invalid);
        assert_eq!(parse("1YXN"), UsPrivacy::Invalid);
    }
}
