//! Plain JSON archives (pretty-printed, for review in git), written with the SHA-256 of their
//! bytes taken on the way, so that the file can be checked against it afterwards without
//! decoding it again: the bytes come from the sealed archive, whose digests were computed over
//! the same data, so a file with exactly those bytes is the archive as sealed; a failing disk, a
//! short write or a truncated file changes them. (zstd archives are verified by the spool that
//! wrote them, `writer.rs`.)

use std::io::{self, BufWriter, Read, Write};

use sha2::{Digest as _, Sha256};

use super::{Archive, Document, check_finite};
use crate::error::ArchiveError;

/// What was written: the document's length and SHA-256, for [`verify_json`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Length of the document in bytes.
    pub len: u64,
    /// SHA-256 of the document bytes.
    pub sha256: [u8; 32],
}

/// Hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(bytes)?;
        self.hash.update(&bytes[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `archive` as pretty-printed JSON; returns the length and SHA-256 of what was written.
///
/// # Errors
///
/// [`ArchiveError::Io`] when the writer fails; [`ArchiveError::Malformed`] when a capacity is
/// not a finite number.
pub fn write_json<W: Write>(archive: &Archive, writer: W) -> Result<Written, ArchiveError> {
    check_finite(&archive.data)?;
    let mut out = Hashing { inner: BufWriter::with_capacity(64 * 1024, writer), hash: Sha256::new(), len: 0 };
    serde_json::to_writer_pretty(&mut out, &Document::of(archive)).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(Written { len: out.len, sha256: out.hash.finalize().into() })
}

/// Checks that `reader` holds exactly what [`write_json`] reported.
///
/// # Errors
///
/// [`ArchiveError::Integrity`] when the bytes differ or the file is shorter or longer;
/// [`ArchiveError::Io`] when reading fails.
pub fn verify_json<R: Read>(mut reader: R, expected: &Written) -> Result<(), ArchiveError> {
    let mut hashing = Hashing { inner: io::sink(), hash: Sha256::new(), len: 0 };
    io::copy(&mut reader, &mut hashing)?;
    let sha256: [u8; 32] = hashing.hash.finalize().into();
    if hashing.len != expected.len || sha256 != expected.sha256 {
        return Err(ArchiveError::Integrity(
            "the archive just written does not read back as written (failing disk?)".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Encoding, Scope, seal, write};
    use crate::host::{Deployment, HostIdentity};
    use crate::sample::{SampleSize, generate};

    fn archive() -> Archive {
        let (config, tokens) = generate(SampleSize::Demo);
        let host = HostIdentity::new(Deployment::Server, "SID", "https://jira.example.com").unwrap();
        seal(config, &host, Scope::Full, tokens, chrono::Utc::now())
    }

    #[test]
    fn the_json_writer_writes_what_write_writes_and_verifies_it() {
        let archive = archive();
        let mut reference = Vec::new();
        write(&archive, &mut reference, Encoding::Json).unwrap();
        let mut bytes = Vec::new();
        let written = write_json(&archive, &mut bytes).unwrap();
        assert_eq!(bytes, reference);
        verify_json(&bytes[..], &written).unwrap();
    }

    #[test]
    fn a_changed_or_truncated_file_fails_verification() {
        let mut bytes = Vec::new();
        let written = write_json(&archive(), &mut bytes).unwrap();
        let truncated = &bytes[..bytes.len() - 10];
        assert!(matches!(verify_json(truncated, &written), Err(ArchiveError::Integrity(_))));
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        assert!(matches!(verify_json(&flipped[..], &written), Err(ArchiveError::Integrity(_))));
    }
}
