//! The version this binary reports to the plugin catalog (`PluginVersion/Version`, `-version`).
//!
//! It is `v` + the version in Cargo.toml, kept in a fixed-size stamp after a marker, so that a
//! release step may stamp a built binary with another version without rebuilding it
//! (`scripts/stamp_version.py`), as Go plugins get theirs from `go build -ldflags -X`. The
//! upgrade test and `make soak` use it to get a second binary that reports a different version
//! from the same source, in seconds instead of a second four-minute release build.

/// Marker before the stamp; `scripts/stamp_version.py` finds it (exactly once) in the binary.
const MARK: &[u8] = b"\0vault-plugin-version:";
/// Room for the version text, NUL-padded.
const ROOM: usize = 48;
const LEN: usize = MARK.len() + ROOM;

/// Cargo.toml's version until stamped otherwise.
const BUILT: &str = concat!("v", env!("CARGO_PKG_VERSION"));

const fn stamp(version: &str) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    let mut i = 0;
    while i < MARK.len() {
        out[i] = MARK[i];
        i += 1;
    }
    let v = version.as_bytes();
    assert!(v.len() < ROOM, "version does not fit the stamp");
    let mut j = 0;
    while j < v.len() {
        out[MARK.len() + j] = v[j];
        j += 1;
    }
    out
}

#[used]
static STAMP: [u8; LEN] = stamp(BUILT);

/// The version to report: the stamp in this binary's file (Cargo.toml's version unless a
/// release step changed it).
pub fn reported() -> String {
    // Read through an opaque reference: the optimiser must load the bytes the file holds,
    // not fold in the ones it compiled.
    let bytes: &[u8; LEN] = std::hint::black_box(&STAMP);
    let text = &bytes[MARK.len()..];
    let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
    match std::str::from_utf8(&text[..end]) {
        Ok(v) if !v.is_empty() => v.to_string(),
        _ => BUILT.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstamped_reports_cargo_version() {
        assert_eq!(reported(), format!("v{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(&STAMP[..MARK.len()], MARK);
    }
}
