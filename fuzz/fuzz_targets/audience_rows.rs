//! Any line as an audience upload row, in both formats (CSV and NDJSON):
//! a row, a skip or a reason, never a panic.
#![no_main]

use audiences::upload::{Format, parse_line};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for line in text.lines() {
        for format in [Format::Csv, Format::Ndjson] {
            if let Ok(Some(row)) = parse_line(format, line) {
                let _ = format!("{row:?}");
            }
        }
    }
});
