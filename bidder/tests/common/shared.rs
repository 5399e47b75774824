//! The project's folder beside the repository, `../shared`: the IAB's
//! JSON Schemas and VAST XSD, and the response checker `ortb_check.py`.
//! A clone of the repository alone does not have it, so the checks that
//! use it are extra: they run when the folder is there, are skipped with
//! a note when it is not, and are required under CI, where a missing
//! folder fails the test instead of passing it quietly. The project's own
//! checks (the `conformance` crate) run either way.

use std::path::{Path, PathBuf};

/// `../shared`, when it exists. Without it: panics under CI (`CI` set to
/// `true` or `1`), else tells stderr that `what` is skipped and returns
/// `None`.
pub fn shared_dir(what: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    if dir.is_dir() {
        return Some(dir);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    assert!(
        !ci,
        "../shared is required under CI: {} does not exist, so {what} cannot run",
        dir.display()
    );
    eprintln!(
        "note: {} does not exist; skipping {what} (the conformance crate's checks still run)",
        dir.display()
    );
    None
}
