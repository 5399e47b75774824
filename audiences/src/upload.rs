//! Rows of audience upload files: `key_type, id, stage[, ttl]` as CSV or as
//! NDJSON objects, one per line. Pure parsing: no I/O, no hashing, no
//! knowledge of funnels; a bad row is an error naming what is wrong, never
//! a panic.
//!
//! - `key_type` is `buyeruid`, `user_id`, `ifa` or `eid:<source>` (e.g.
//!   `eid:uidapi.com`); NDJSON may give the eid source as `source` instead.
//! - `stage` is left as text: a funnel may rename its stages, so the caller
//!   resolves it. It may be empty when removing.
//! - `ttl` is seconds, or a number with `s`, `m`, `h` or `d`; empty or 0 =
//!   no expiry; at most ten years.
//!
//! CSV fields may be double-quoted (`""` for a quote inside); a quoted field
//! cannot span lines. A first line starting with `key_type` is a header.

use std::borrow::Cow;

use serde::Deserialize;

use crate::keys::KeyType;

/// The longest TTL accepted: ten years.
pub const MAX_TTL_SECS: u32 = 10 * 366 * 86_400;

/// How the rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// The format of a file whose first non-blank byte is `first`: NDJSON
    /// if it opens an object.
    pub fn sniff(first: u8) -> Format {
        if first == b'{' {
            Format::Ndjson
        } else {
            Format::Csv
        }
    }
}

/// One row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    /// Which identifier.
    pub key_type: KeyType,
    /// The eid source (`""` for other types).
    pub source: Cow<'a, str>,
    /// The identifier.
    pub id: Cow<'a, str>,
    /// The stage as written; `None` when absent or empty.
    pub stage: Option<Cow<'a, str>>,
    /// Seconds to live; `None` = forever.
    pub ttl: Option<u32>,
}

/// Why a row was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// Fewer than the two required columns, or more than four.
    #[error("expected key_type,id,stage[,ttl] (got {0} fields)")]
    Fields(usize),
    /// A quoted CSV field without its closing quote.
    #[error("unterminated quoted field")]
    Quote,
    /// Not one of the key types.
    #[error("unknown key_type {0:?} (expected buyeruid, user_id, ifa or eid:<source>)")]
    KeyType(String),
    /// `eid` without a source.
    #[error("eid rows need a source (key_type eid:<source>)")]
    EidSource,
    /// An empty id.
    #[error("id is empty")]
    EmptyId,
    /// A TTL that is not a duration or is too long.
    #[error("ttl {0:?} is not seconds or a number with s, m, h or d, up to ten years")]
    Ttl(String),
    /// A line that is not a JSON object of the expected fields.
    #[error("invalid JSON row: {0}")]
    Json(String),
}

/// Parses one line; `Ok(None)` for a blank line or a CSV header.
pub fn parse_line(format: Format, line: &str) -> Result<Option<Row<'_>>, RowError> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(None);
    }
    match format {
        Format::Csv => parse_csv(line),
        Format::Ndjson => parse_json(line).map(Some),
    }
}

fn parse_csv(line: &str) -> Result<Option<Row<'_>>, RowError> {
    let mut fields: smallvec::SmallVec<[Cow<'_, str>; 4]> = smallvec::SmallVec::new();
    let mut rest = line;
    loop {
        let (field, after) = csv_field(rest)?;
        fields.push(field);
        match after {
            Some(next) => rest = next,
            None => break,
        }
        if fields.len() > 4 {
            return Err(RowError::Fields(fields.len() + 1));
        }
    }
    if fields.len() == 1 && fields[0].trim().is_empty() {
        return Ok(None);
    }
    if fields[0].trim().eq_ignore_ascii_case("key_type") {
        return Ok(None);
    }
    if !(2..=4).contains(&fields.len()) {
        return Err(RowError::Fields(fields.len()));
    }
    let mut fields = fields.into_iter();
    let key_type = fields.next().unwrap_or_default();
    let id = fields.next().unwrap_or_default();
    let stage = fields.next();
    let ttl = fields.next();
    let (key_type, source) = key_type_of(key_type.trim(), None)?;
    Ok(Some(Row {
        key_type,
        source: Cow::Owned(source),
        id: non_empty(id)?,
        stage: stage.filter(|s| !s.trim().is_empty()),
        ttl: match ttl {
            Some(t) => parse_ttl(t.trim())?,
            None => None,
        },
    }))
}

/// The first field of `s` and what follows its comma (`None` at the end).
fn csv_field(s: &str) -> Result<(Cow<'_, str>, Option<&str>), RowError> {
    let trimmed = s.trim_start();
    if let Some(quoted) = trimmed.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '"' {
                out.push(c);
                continue;
            }
            if quoted[i + 1..].starts_with('"') {
                out.push('"');
                chars.next();
                continue;
            }
            let after = quoted[i + 1..].trim_start();
            return match after.strip_prefix(',') {
                Some(next) => Ok((Cow::Owned(out), Some(next))),
                None if after.is_empty() => Ok((Cow::Owned(out), None)),
                None => Err(RowError::Quote),
            };
        }
        return Err(RowError::Quote);
    }
    match s.split_once(',') {
        Some((field, next)) => Ok((Cow::Borrowed(field.trim()), Some(next))),
        None => Ok((Cow::Borrowed(s.trim()), None)),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TextOrNumber<'a> {
    #[serde(borrow)]
    Text(Cow<'a, str>),
    Number(u64),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow<'a> {
    #[serde(borrow)]
    key_type: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stage: Option<TextOrNumber<'a>>,
    #[serde(borrow, default)]
    ttl: Option<TextOrNumber<'a>>,
}

fn parse_json(line: &str) -> Result<Row<'_>, RowError> {
    let row: JsonRow<'_> = serde_json::from_str(line).map_err(|e| RowError::Json(e.to_string()))?;
    let (key_type, source) = key_type_of(row.key_type.trim(), row.source.as_deref())?;
    Ok(Row {
        key_type,
        source: Cow::Owned(source),
        id: non_empty(row.id)?,
        stage: match row.stage {
            Some(TextOrNumber::Text(s)) if !s.trim().is_empty() => Some(s),
            Some(TextOrNumber::Number(n)) => Some(Cow::Owned(n.to_string())),
            _ => None,
        },
        ttl: match row.ttl {
            Some(TextOrNumber::Text(t)) => parse_ttl(t.trim())?,
            Some(TextOrNumber::Number(n)) => parse_ttl(&n.to_string())?,
            None => None,
        },
    })
}

fn non_empty(id: Cow<'_, str>) -> Result<Cow<'_, str>, RowError> {
    if id.trim().is_empty() {
        Err(RowError::EmptyId)
    } else {
        Ok(id)
    }
}

/// The key type and eid source of `text` (`eid:<source>`, or `eid` with
/// `source` from elsewhere).
fn key_type_of(text: &str, source: Option<&str>) -> Result<(KeyType, String), RowError> {
    let (name, inline) = match text.split_once(':') {
        Some((n, s)) => (n, Some(s)),
        None => (text, None),
    };
    let kind = KeyType::parse(&name.to_ascii_lowercase())
        .ok_or_else(|| RowError::KeyType(text.to_owned()))?;
    if kind != KeyType::Eid {
        if inline.is_some() {
            return Err(RowError::KeyType(text.to_owned()));
        }
        return Ok((kind, String::new()));
    }
    let source = inline
        .or(source)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(RowError::EidSource)?;
    Ok((kind, source.to_owned()))
}

/// Seconds of a TTL written as seconds or a number with `s`, `m`, `h` or
/// `d`; `None` for empty or 0.
pub fn parse_ttl(s: &str) -> Result<Option<u32>, RowError> {
    if s.is_empty() {
        return Ok(None);
    }
    let err = || RowError::Ttl(s.to_owned());
    let (digits, unit) = match s.as_bytes()[s.len() - 1] {
        b's' => (&s[..s.len() - 1], 1u64),
        b'm' => (&s[..s.len() - 1], 60),
        b'h' => (&s[..s.len() - 1], 3_600),
        b'd' => (&s[..s.len() - 1], 86_400),
        _ => (s, 1),
    };
    let n: u64 = digits.trim().parse().map_err(|_| err())?;
    let secs = n.checked_mul(unit).ok_or_else(err)?;
    if secs > u64::from(MAX_TTL_SECS) {
        return Err(err());
    }
    Ok((secs > 0).then_some(secs as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(line: &str) -> Result<Option<Row<'_>>, RowError> {
        parse_line(Format::Csv, line)
    }

    #[test]
    fn csv_rows_with_and_without_ttl_and_quotes() {
        let r = csv("ifa,6D92078A-8246-4BA4-AE5B-76104861E7DC,intent\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.key_type, KeyType::Ifa);
        assert_eq!(r.stage.as_deref(), Some("intent"));
        assert_eq!(r.ttl, None);
        let r = csv(r#"eid:uidapi.com,"a,""b""",Ready to buy,30d"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.key_type, r.source.as_ref()),
            (KeyType::Eid, "uidapi.com")
        );
        assert_eq!(r.id, r#"a,"b""#);
        assert_eq!(r.stage.as_deref(), Some("Ready to buy"));
        assert_eq!(r.ttl, Some(30 * 86_400));
        let r = csv("buyeruid,u1,,").unwrap().unwrap();
        assert_eq!((r.stage, r.ttl), (None, None));
    }

    #[test]
    fn headers_and_blank_lines_are_skipped() {
        assert_eq!(csv("key_type,id,stage,ttl"), Ok(None));
        assert_eq!(csv("   "), Ok(None));
        assert_eq!(parse_line(Format::Ndjson, ""), Ok(None));
    }

    #[test]
    fn bad_csv_rows_say_what_is_wrong() {
        assert_eq!(csv("ifa"), Err(RowError::Fields(1)));
        assert_eq!(csv("a,b,c,d,e"), Err(RowError::Fields(5)));
        assert_eq!(
            csv("cookie,x,intent"),
            Err(RowError::KeyType("cookie".into()))
        );
        assert_eq!(csv("eid,x,intent"), Err(RowError::EidSource));
        assert_eq!(
            csv("ifa:x,y,intent"),
            Err(RowError::KeyType("ifa:x".into()))
        );
        assert_eq!(csv("user_id, ,intent"), Err(RowError::EmptyId));
        assert_eq!(csv("user_id,\"x,intent"), Err(RowError::Quote));
        assert_eq!(
            csv("user_id,x,intent,forever"),
            Err(RowError::Ttl("forever".into()))
        );
        assert_eq!(
            csv("user_id,x,intent,4000d"),
            Err(RowError::Ttl("4000d".into()))
        );
    }

    #[test]
    fn ndjson_rows_take_text_or_numbers() {
        let r = parse_line(
            Format::Ndjson,
            r#"{"key_type":"eid","source":"id5-sync.com","id":"x","stage":3,"ttl":"12h"}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.key_type, r.source.as_ref()),
            (KeyType::Eid, "id5-sync.com")
        );
        assert_eq!(r.stage.as_deref(), Some("3"));
        assert_eq!(r.ttl, Some(12 * 3_600));
        let r = parse_line(Format::Ndjson, r#"{"key_type":"ifa","id":"x","ttl":60}"#)
            .unwrap()
            .unwrap();
        assert_eq!((r.stage, r.ttl), (None, Some(60)));
        assert!(matches!(
            parse_line(
                Format::Ndjson,
                r#"{"key_type":"ifa","id":"x","colour":"red"}"#
            ),
            Err(RowError::Json(_))
        ));
        assert!(matches!(
            parse_line(Format::Ndjson, r#"{"key_type":"ifa""#),
            Err(RowError::Json(_))
        ));
    }

    #[test]
    fn the_format_is_sniffed_from_the_first_byte() {
        assert_eq!(Format::sniff(b'{'), Format::Ndjson);
        assert_eq!(Format::sniff(b'i'), Format::Csv);
    }
}
