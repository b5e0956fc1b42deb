//! The export's write path: the document serialized once, compressed on a second thread, and
//! fingerprinted (SHA-256 of the uncompressed document bytes) on the way, so that the file can
//! be verified afterwards by decompressing and hashing it, without decoding it again.
//!
//! Why this is as strong as decoding the file back: the document bytes are produced by the
//! canonical writer from the sealed archive, whose digests were computed over that same canonical
//! form. A file that decompresses (zstd checks its own content checksum) to exactly those bytes,
//! same length and same SHA-256, is the archive as sealed; a failing disk, a short write or a
//! truncated file changes the bytes. The byte format is unchanged: same zstd parameters, one
//! frame, the content size pledged, so the output is bit-identical to [`super::write`].

use std::io::{self, BufWriter, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use sha2::{Digest as _, Sha256};

use super::{Archive, Document, Encoding, MAX_WINDOW_LOG, ZSTD_LEVEL, check_finite};
use crate::error::ArchiveError;

/// Chunks handed from the serializer to the compressor: large enough that the channel costs
/// nothing per byte, small enough that the two threads overlap from the start.
const CHUNK: usize = 1 << 20;
/// Chunks in flight: bounds the memory of the pipeline to a few MiB whatever the archive size.
const IN_FLIGHT: usize = 4;

/// What was written: the uncompressed document's length and SHA-256, for [`verify_written`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Length of the document (the decompressed content) in bytes.
    pub len: u64,
    /// SHA-256 of the document bytes.
    pub sha256: [u8; 32],
}

/// A sealed archive with the length of its canonical data, as [`super::seal_counted`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    /// The archive.
    pub archive: Archive,
    /// Length in bytes of the canonical `data`; lets the writer pledge the frame's content size
    /// without a counting pass. A wrong value cannot produce a wrong archive: zstd refuses to end
    /// a frame whose content differs from the pledged size.
    pub data_len: u64,
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

/// The serializer's end of the pipeline: fills chunks and sends them to the compressor.
struct ChunkSender {
    buf: Vec<u8>,
    tx: SyncSender<Vec<u8>>,
    spare: Receiver<Vec<u8>>,
}

impl ChunkSender {
    fn send(&mut self) -> io::Result<()> {
        let next = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        // The compressor hung up: it failed, and its error is the one reported (see `write`).
        self.tx.send(full).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the compressor stopped"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buf.len() + bytes.len() > CHUNK && !self.buf.is_empty() {
            self.send()?;
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Length of the compact document [`Document`] serializes to, given the canonical data length.
fn document_len(archive: &Archive, data_len: u64) -> u64 {
    // `{"format":"ativo-backup","format_version":1,"header":` HEADER `,"data":` DATA `}`
    let header = crate::model::canonical::to_canonical_vec(&archive.header);
    let prefix = format!(r#"{{"format":"{}","format_version":{},"header":"#, super::FORMAT, super::FORMAT_VERSION);
    prefix.len() as u64 + header.len() as u64 + r#","data":"#.len() as u64 + data_len + 1
}

/// Writes `sealed` like [`super::write`] (the same bytes), serializing once and, for
/// [`Encoding::Zstd`], compressing on a second thread; returns the length and SHA-256 of the
/// uncompressed document for [`verify_written`].
///
/// # Errors
///
/// As [`super::write`].
pub fn write_sealed<W: Write + Send>(sealed: &Sealed, writer: W, encoding: Encoding) -> Result<Written, ArchiveError> {
    let archive = &sealed.archive;
    check_finite(&archive.data)?;
    let document = Document::of(archive);
    match encoding {
        Encoding::Json => {
            let mut out = Hashing { inner: BufWriter::with_capacity(64 * 1024, writer), hash: Sha256::new(), len: 0 };
            serde_json::to_writer_pretty(&mut out, &document).map_err(io::Error::from)?;
            out.write_all(b"\n")?;
            out.flush()?;
            Ok(Written { len: out.len, sha256: out.hash.finalize().into() })
        }
        Encoding::Zstd => {
            let size = document_len(archive, sealed.data_len);
            let (tx, rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
            let (spare_tx, spare_rx) = sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
            std::thread::scope(|scope| {
                let compressor = scope.spawn(move || -> io::Result<Written> {
                    let mut encoder = zstd::stream::write::Encoder::new(writer, ZSTD_LEVEL)?;
                    encoder.include_checksum(true)?;
                    encoder.include_contentsize(true)?;
                    encoder.set_pledged_src_size(Some(size))?;
                    let mut hash = Sha256::new();
                    let mut len = 0u64;
                    for mut chunk in rx {
                        hash.update(&chunk);
                        len += chunk.len() as u64;
                        encoder.write_all(&chunk)?;
                        chunk.clear();
                        // The serializer may have stopped taking spares; losing one is harmless.
                        let _ = spare_tx.try_send(chunk);
                    }
                    encoder.finish()?.flush()?;
                    Ok(Written { len, sha256: hash.finalize().into() })
                });
                let mut sender = ChunkSender { buf: Vec::with_capacity(CHUNK), tx, spare: spare_rx };
                let serialized = crate::model::canonical::write_canonical(&mut sender, &document)
                    .and_then(|()| if sender.buf.is_empty() { Ok(()) } else { sender.send() });
                // Hanging up tells the compressor that the document is complete (or abandoned).
                drop(sender);
                let compressed = compressor.join().unwrap_or_else(|_| Err(io::Error::other("the compressor panicked")));
                match (serialized, compressed) {
                    // The compressor's own error explains a broken pipe on the serializer's side.
                    (_, Err(e)) => Err(ArchiveError::Io(e)),
                    (Err(e), Ok(_)) => Err(ArchiveError::Io(e)),
                    (Ok(()), Ok(written)) => Ok(written),
                }
            })
        }
    }
}

/// Checks that `reader` holds exactly the document [`write_sealed`] reported: decompresses it
/// (zstd verifies its content checksum) and compares length and SHA-256. Streaming, in bounded
/// memory.
///
/// # Errors
///
/// [`ArchiveError::Integrity`] when the bytes differ, the file is truncated or the zstd data is
/// corrupt; [`ArchiveError::Io`] when reading fails.
pub fn verify_written<R: Read>(mut reader: R, encoding: Encoding, expected: &Written) -> Result<(), ArchiveError> {
    let mut hashing = Hashing { inner: io::sink(), hash: Sha256::new(), len: 0 };
    let copied = match encoding {
        Encoding::Json => io::copy(&mut reader, &mut hashing),
        Encoding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::new(reader)?;
            decoder.window_log_max(MAX_WINDOW_LOG)?;
            io::copy(&mut decoder, &mut hashing)
        }
    };
    let differs =
        || ArchiveError::Integrity("the archive just written does not read back as written (failing disk?)".into());
    match copied {
        Err(e) if e.kind() == io::ErrorKind::Other || e.kind() == io::ErrorKind::UnexpectedEof => {
            return Err(ArchiveError::Integrity(format!(
                "the archive just written does not decompress ({e}); failing disk?"
            )));
        }
        Err(e) => return Err(ArchiveError::Io(e)),
        Ok(_) => {}
    }
    let sha256: [u8; 32] = hashing.hash.finalize().into();
    if hashing.len != expected.len || sha256 != expected.sha256 {
        return Err(differs());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{Scope, seal_counted, write};
    use crate::host::{Deployment, HostIdentity};
    use crate::sample::{SampleSize, generate};

    fn sealed() -> Sealed {
        let (config, tokens) = generate(SampleSize::Demo);
        let host = HostIdentity::new(Deployment::Server, "SID", "https://jira.example.com").unwrap();
        seal_counted(config, &host, Scope::Full, tokens, chrono::Utc::now())
    }

    #[test]
    fn the_threaded_writer_writes_the_same_bytes_as_the_reference_writer() {
        let sealed = sealed();
        for encoding in [Encoding::Zstd, Encoding::Json] {
            let mut reference = Vec::new();
            write(&sealed.archive, &mut reference, encoding).unwrap();
            let mut fast = Vec::new();
            let written = write_sealed(&sealed, &mut fast, encoding).unwrap();
            assert_eq!(fast, reference, "{encoding:?}");
            verify_written(&fast[..], encoding, &written).unwrap();
        }
    }

    #[test]
    fn a_changed_or_truncated_file_fails_verification() {
        let sealed = sealed();
        let mut bytes = Vec::new();
        let written = write_sealed(&sealed, &mut bytes, Encoding::Zstd).unwrap();
        let truncated = &bytes[..bytes.len() - 10];
        assert!(matches!(verify_written(truncated, Encoding::Zstd, &written), Err(ArchiveError::Integrity(_))));
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        assert!(matches!(verify_written(&flipped[..], Encoding::Zstd, &written), Err(ArchiveError::Integrity(_))));
        let other = Written { sha256: [0; 32], ..written };
        assert!(matches!(verify_written(&bytes[..], Encoding::Zstd, &other), Err(ArchiveError::Integrity(_))));
    }

    #[test]
    fn a_wrong_pledged_length_fails_instead_of_writing_a_wrong_archive() {
        let mut sealed = sealed();
        sealed.data_len += 1;
        assert!(write_sealed(&sealed, Vec::new(), Encoding::Zstd).is_err());
    }
}
