//! Any text as a signed event token: verification refuses it (forging one
//! needs the key) unless it is byte for byte a token the signer issued.
#![no_main]

use bidder::events::token::Signer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let signer = Signer::new(&[[7u8; 32]], 86_400);
    if let Ok(claims) = signer.verify(text, 1_800_000_000) {
        // Only a token this signer made verifies; signing its claims again
        // must give the same text.
        assert_eq!(signer.sign(&claims).as_str(), text);
    }
});
