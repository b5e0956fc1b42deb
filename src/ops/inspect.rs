//! `inspect`: an archive's header, counts and digests, after the same integrity checks as
//! every reader.

use serde::Serialize;

use super::Input;
use crate::archive::{Header, Limits};
use crate::error::Result;

/// What `inspect` shows.
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    /// The file.
    pub file: String,
    /// Format version.
    pub format_version: u32,
    /// The archive's header (digests, counts, source host, tool, tokens).
    pub header: Header,
    /// Whether the source fingerprint matches the host fields recorded beside it.
    pub fingerprint_consistent: bool,
}

/// Reads and verifies an archive and reports its header.
///
/// # Errors
///
/// As [`crate::archive::read_input`].
pub fn inspect(input: &Input, limits: &Limits) -> Result<InspectReport> {
    let archive = crate::archive::read_input(input, limits)?;
    let fingerprint_consistent = archive.header.source.identity().fingerprint() == archive.header.source.fingerprint;
    Ok(InspectReport {
        file: input.to_string(),
        format_version: crate::archive::FORMAT_VERSION,
        header: archive.header,
        fingerprint_consistent,
    })
}
