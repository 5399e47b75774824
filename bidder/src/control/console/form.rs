//! HTML form fields and query strings (`application/x-www-form-urlencoded`):
//! `+` is a space, `%XX` an escaped byte.
//!
//! Pure parsing; knows nothing of which fields a page wants.

use crate::percent_decoding;

/// The fields of one form or query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// The fields of `s`; `None` when an escape is broken or a value is
    /// not UTF-8.
    pub fn parse(s: &str) -> Option<Form> {
        let mut fields = Vec::new();
        for pair in s.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |x: &str| percent_decoding::decode(&x.replace('+', " "));
            fields.push((decode(k)?, decode(v)?));
        }
        Some(Form(fields))
    }

    /// A form of these fields (read from another encoding).
    pub fn from_pairs(fields: Vec<(String, String)>) -> Form {
        Form(fields)
    }

    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name` unless absent or blank.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }
}

/// `s` escaped for a query string value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_a_space_and_escapes_are_decoded() {
        let f = Form::parse("name=Acme+tents%21&csrf=ab&empty=").unwrap();
        assert_eq!(f.get("name"), Some("Acme tents!"));
        assert_eq!(f.get("csrf"), Some("ab"));
        assert_eq!(f.get("empty"), Some(""));
        assert_eq!(f.non_empty("empty"), None);
        assert_eq!(f.get("missing"), None);
    }

    #[test]
    fn broken_escapes_are_refused() {
        assert_eq!(Form::parse("a=%zz"), None);
    }

    #[test]
    fn encoding_round_trips_through_parsing() {
        let s = "Zelt & Co + 100% ü";
        let f = Form::parse(&format!("q={}", encode(s))).unwrap();
        assert_eq!(f.get("q"), Some(s));
    }
}
