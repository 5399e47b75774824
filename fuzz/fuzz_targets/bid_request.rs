//! Any bytes as a bid request: the parser and its normalisation either
//! give a request that passed validation or an error that names a path
//! (`$` for the whole body) and says what is wrong, and never panic. An
//! accepted request parses the same way twice (the parser's reused buffers
//! carry nothing over).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openrtb::Parser;

fuzz_target!(|data: &[u8]| {
    let mut parser = Parser::default();
    let first = match parser.parse(data) {
        Ok(req) => format!("{req:?}"),
        Err(e) => {
            assert!(!e.path().is_empty() && !e.message().is_empty(), "{e:?}");
            return;
        }
    };
    let again = parser.parse(data).expect("accepted once, accepted again");
    assert_eq!(first, format!("{again:?}"));
});
