//! What this binary was built from, as build.rs found it: read by `gantry --version` and by
//! the metrics, so that a running server says which commit it is.

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The short commit hash, with `-dirty` when the sources differed from it; `unknown` for a
/// build outside git without `GANTRY_GIT_COMMIT` set.
pub const GIT_COMMIT: &str = env!("GANTRY_GIT_COMMIT");

/// The commit's date (YYYY-MM-DD), when git was asked.
pub const GIT_DATE: Option<&str> = option_env!("GANTRY_GIT_DATE");

/// `gantry --version`: `0.1.0 (commit abc1234 2026-01-31)`, the date being the commit's.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("GANTRY_BUILD_INFO"),
    ")"
);
