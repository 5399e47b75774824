//! How deeply a request may nest arrays and objects ([`MAX_DEPTH`]), and
//! the check that refuses a body nested deeper ([`check_depth`]) before a
//! path that recurses (serde's) sees it.
//!
//! Owns the limit, so that the parser and the tape walk, which declines
//! past it on its own, agree on one number. Never parses: it counts
//! brackets outside strings, and nothing else.

use crate::error::Error;

/// Deepest nesting of arrays and objects a request may have. OpenRTB
/// itself needs about eight levels; extensions get the rest. Building the
/// `ext` values and skipping unknown fields recurse once per level, so a
/// body of a hundred thousand `[` would otherwise overflow the stack and
/// abort the process.
pub const MAX_DEPTH: usize = 64;

/// Refuses input nested deeper than [`MAX_DEPTH`], before a path that
/// recurses sees it. Counting the opening brackets is enough for nearly
/// every request (fewer than `MAX_DEPTH` of them cannot nest deeper); only
/// bodies with more walk the JSON, skipping strings.
pub(crate) fn check_depth(input: &[u8]) -> Result<(), Error> {
    let openers = input.iter().filter(|&&b| b == b'[' || b == b'{').count();
    if openers <= MAX_DEPTH {
        return Ok(());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in input {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Error::Json {
                        path: "$".to_string(),
                        message: format!("nested deeper than {MAX_DEPTH} levels"),
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}
