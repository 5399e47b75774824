//! `multipart/form-data` bodies (RFC 7578), read whole from memory: the
//! console's one form with a file (an audience upload) under the server's
//! size limit for it.
//!
//! Pure parsing of what a browser sends: text fields and at most one file
//! part. Never decides what the fields mean, never decodes the file (the
//! upload job reads it, gzip included).

use super::form::Form;

/// A parsed body: the text fields, and the file part's bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Multipart<'a> {
    /// The parts without a file name, as a form.
    pub fields: Form,
    /// The first part with a file name (empty when none was picked).
    pub file: Option<&'a [u8]>,
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        // RFC 2046: 1 to 70 characters.
        (k.eq_ignore_ascii_case("boundary") && (1..=70).contains(&v.len())).then_some(v)
    })
}

/// The parts of `body` delimited by `boundary`; `None` when the body is not
/// well formed (no closing delimiter, a part without headers, a field that
/// is not UTF-8).
pub fn parse<'a>(boundary: &str, body: &'a [u8]) -> Option<Multipart<'a>> {
    let open = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // The first delimiter may follow a preamble; every later one follows a
    // line break.
    let mut at = find(body, open.as_bytes())? + open.len();
    let mut fields = Vec::new();
    let mut file = None;
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Some(Multipart {
                fields: Form::from_pairs(fields),
                file,
            });
        }
        let rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..head_end]).ok()?;
        let content_start = head_end + 4;
        let len = find(&rest[content_start..], delimiter.as_bytes())?;
        let content = &rest[content_start..content_start + len];
        let (name, filename) = disposition(head)?;
        match filename {
            Some(_) if file.is_none() => file = Some(content),
            Some(_) => {}
            None => fields.push((
                name.to_owned(),
                std::str::from_utf8(content).ok()?.to_owned(),
            )),
        }
        at = body.len() - rest.len() + content_start + len + delimiter.len();
    }
}

/// The `name` and `filename` of a part's `Content-Disposition: form-data`.
fn disposition(head: &str) -> Option<(&str, Option<&str>)> {
    let line = head.split("\r\n").find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v)
    })?;
    let mut params = line.split(';');
    if !params.next()?.trim().eq_ignore_ascii_case("form-data") {
        return None;
    }
    let (mut name, mut filename) = (None, None);
    for p in params {
        if let Some((k, v)) = p.trim().split_once('=') {
            let v = v.trim().trim_matches('"');
            match k.trim() {
                "name" => name = Some(v),
                "filename" => filename = Some(v),
                _ => {}
            }
        }
    }
    Some((name?, filename))
}

/// Where `needle` first starts in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = hay[from..].iter().position(|&b| b == first) {
        let at = from + i;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"ignored preamble\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"csrf\"\r\n\r\n\
tok\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"mode\"\r\n\r\n\
replace\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"members.csv\"\r\n\
Content-Type: text/csv\r\n\r\n\
buyeruid,stage\r\nu1,intent\r\n--X not a delimiter\r\n\r\n--XyZ--\r\n";

    #[test]
    fn fields_and_the_file_are_read_as_sent() {
        let m = parse("XyZ", BODY).unwrap();
        assert_eq!(m.fields.get("csrf"), Some("tok"));
        assert_eq!(m.fields.get("mode"), Some("replace"));
        assert_eq!(
            m.file,
            Some(&b"buyeruid,stage\r\nu1,intent\r\n--X not a delimiter\r\n"[..])
        );
    }

    #[test]
    fn a_body_without_its_closing_delimiter_is_refused() {
        assert_eq!(parse("XyZ", &BODY[..BODY.len() - 9]), None);
        assert_eq!(parse("other", BODY), None);
        assert_eq!(parse("XyZ", b"--XyZ\r\nno headers end"), None);
    }

    #[test]
    fn the_boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----WebKitFormBoundaryA1"),
            Some("----WebKitFormBoundaryA1")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"q\""),
            Some("q")
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/mixed; boundary=a"), None);
    }

    #[test]
    fn no_file_part_leaves_the_file_empty() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--";
        let m = parse("b", body).unwrap();
        assert_eq!((m.fields.get("a"), m.file), (Some("1"), None));
    }
}
