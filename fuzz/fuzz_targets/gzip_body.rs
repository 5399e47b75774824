//! Any bytes as a gzip request body: inflating either fails cleanly or
//! stays within the cap, however much the stream claims to expand.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrtb::body::gunzip_capped;

const CAP: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    match gunzip_capped(data, CAP, &mut out) {
        Ok(()) => assert!(out.len() <= CAP),
        Err(openrtb::Error::TooLarge { limit }) => assert_eq!(limit, CAP),
        Err(e) => assert!(!e.message().is_empty()),
    }
});
