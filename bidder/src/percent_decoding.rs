//! `%XX` decoding of URL path segments and query values, shared by the
//! admin API and the event endpoints. Pure; `+` is left as it is.

/// `s` with every `%XX` decoded; `None` when an escape is broken or the
/// result is not UTF-8.
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_are_decoded_and_broken_ones_refused() {
        assert_eq!(
            super::decode("eid%3Auidapi.com").as_deref(),
            Some("eid:uidapi.com")
        );
        assert_eq!(super::decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(super::decode("bad%2"), None);
        assert_eq!(super::decode("%FF"), None);
    }
}
