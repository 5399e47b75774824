//! Compressed request and response bodies: gzip in under a size cap, gzip
//! out for exchanges that accept it.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::error::Error;

/// Inflates the gzip `input` into `out` (cleared first). Stops reading as
/// soon as the output passes `limit`, so a few kilobytes that inflate to
/// gigabytes cost `limit` bytes of memory, not gigabytes.
pub fn gunzip_capped(input: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), Error> {
    out.clear();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    GzDecoder::new(input)
        .take(cap)
        .read_to_end(out)
        .map_err(|e| Error::Corrupt(e.to_string()))?;
    if out.len() > limit {
        return Err(Error::TooLarge { limit });
    }
    Ok(())
}

/// Appends the gzip form of `input` to `out`, at the fastest level: answers
/// are small and latency matters more than the last percent of size.
pub fn gzip(input: &[u8], out: &mut Vec<u8>) {
    let mut enc = GzEncoder::new(out, Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(input);
    let _ = enc.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips() {
        let mut packed = Vec::new();
        gzip(b"{\"id\":\"1\"}", &mut packed);
        let mut out = Vec::new();
        gunzip_capped(&packed, 1024, &mut out).unwrap();
        assert_eq!(out, b"{\"id\":\"1\"}");
    }

    #[test]
    fn bomb_is_stopped_at_the_cap() {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(&vec![b'a'; 10 * 1024 * 1024]).unwrap();
        let packed = enc.finish().unwrap();
        assert!(packed.len() < 64 * 1024, "{} bytes", packed.len());
        let mut out = Vec::new();
        assert_eq!(
            gunzip_capped(&packed, 4096, &mut out),
            Err(Error::TooLarge { limit: 4096 })
        );
        assert!(out.len() <= 4097);
    }

    #[test]
    fn body_exactly_at_the_cap_is_accepted() {
        let mut packed = Vec::new();
        gzip(&[b'x'; 100], &mut packed);
        let mut out = Vec::new();
        assert!(gunzip_capped(&packed, 100, &mut out).is_ok());
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut out = Vec::new();
        assert!(matches!(
            gunzip_capped(b"not gzip at all", 1024, &mut out),
            Err(Error::Corrupt(_))
        ));
    }
}
