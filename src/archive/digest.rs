//! The two digests of SPEC.md, "Digests", computed in one streaming pass over the canonical data.
//!
//! * content digest: `sha256:` + hex SHA-256 of JCS(`data`);
//! * integrity digest: `sha256:` + hex SHA-256 of JCS(document without `header.integrity_digest`).
//!
//! Because JCS sorts members, the canonical document is `{"data":` DATA `,"format":"ativo-backup",
//! "format_version":` N `,"header":` HEADER' `}`: the data bytes come first, so both hashers eat
//! them in the same pass, and the header (which holds the content digest) is appended afterwards.
//! The data bytes come from the model's own canonical writer; the header, small and read from raw
//! JSON on the reading side, goes through the independent `serde_json_canonicalizer`.

use std::io::{self, BufWriter, Write};

use serde::Serialize;

use super::FORMAT;
use super::sha_pair::{Sha, ShaPair};
use crate::model::canonical::write_canonical;

/// Both hashers after the data: the content digest is final, the integrity one awaits the header.
pub(crate) struct DataDigests {
    /// `sha256:<hex>` of the canonical data.
    pub(crate) content: String,
    integrity: Sha,
}

/// The two hashers, fed the same bytes in one pass (`sha_pair.rs`).
struct Tee {
    hashers: ShaPair,
}

impl Write for Tee {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.hashers.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn render(hash: Sha) -> String {
    format!("sha256:{}", hex::encode(hash.finish()))
}

/// Hashes the canonical form of `data` (a model type, canonical by construction).
pub(crate) fn hash_data<T: Serialize + ?Sized>(data: &T) -> DataDigests {
    let mut hasher = DataHasher::new();
    hasher.canonical(data);
    hasher.finish()
}

/// The two hashers fed with the canonical data piece by piece, for a reader that never holds the
/// whole data (`stream.rs`): raw punctuation with [`DataHasher::bytes`], entities with
/// [`DataHasher::canonical`]. The pieces must add up to JCS(`data`), as [`hash_data`] writes it.
pub(crate) struct DataHasher {
    // serde_json writes many tiny slices; batch them for the hashers.
    out: BufWriter<Tee>,
}

impl DataHasher {
    pub(crate) fn new() -> Self {
        let tee = Tee { hashers: ShaPair::new(br#"{"data":"#) };
        DataHasher { out: BufWriter::with_capacity(64 * 1024, tee) }
    }

    /// Appends bytes that are already canonical (punctuation between entities).
    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        // Writing into the hashers cannot fail.
        let _ = self.out.write_all(bytes);
    }

    /// Appends the canonical form of a model value.
    pub(crate) fn canonical<T: Serialize + ?Sized>(&mut self, value: &T) {
        // Neither the hashers nor the model's `Serialize` impls can fail (serde_json writes a
        // non-finite float as `null` rather than failing; `archive::write` refuses those), so
        // there is no error to report; a wrong digest would still be caught on reading.
        let _ = write_canonical(&mut self.out, value);
    }

    pub(crate) fn finish(mut self) -> DataDigests {
        // Flushing into the hashers cannot fail.
        let _ = self.out.flush();
        let (tee, _) = self.out.into_parts();
        let Tee { hashers: ShaPair { first, second } } = tee;
        DataDigests { content: render(first), integrity: second }
    }
}

impl DataDigests {
    /// The integrity digest, given the format version and JCS(header without `integrity_digest`).
    pub(crate) fn integrity(mut self, format_version: u64, canonical_header: &[u8]) -> String {
        let middle = format!(r#","format":"{FORMAT}","format_version":{format_version},"header":"#);
        self.integrity.update(middle.as_bytes());
        self.integrity.update(canonical_header);
        self.integrity.update(b"}");
        render(self.integrity)
    }
}

/// JCS of a header given as a JSON value, without its `integrity_digest` member.
pub(crate) fn canonical_header(mut header: serde_json::Value) -> Result<Vec<u8>, serde_json::Error> {
    if let Some(members) = header.as_object_mut() {
        members.remove("integrity_digest");
    }
    serde_json_canonicalizer::to_vec(&header)
}
