//! Progress reporting: operations say which phase they are in and how many bytes they have
//! read; the binary draws bars on a terminal, tests and scripts get silence.
//!
//! The library never prints. Operations receive a [`Progress`] (the no-op [`Silent`] by
//! default) and call it from the thread they run on; it must be cheap, since byte progress is
//! reported per buffer read.

use std::io::Read;
use std::sync::Arc;

/// Receives progress from an operation.
pub trait Progress: Send + Sync {
    /// A new phase begins, e.g. `reading archive`; `total` is its size in bytes when known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `n` more bytes of the current phase are done.
    fn advance(&self, n: u64);
    /// The operation is over (successfully or not).
    fn finish(&self);
}

impl std::fmt::Debug for dyn Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// A shared progress receiver, [`Silent`] unless the caller gives another.
pub type SharedProgress = Arc<dyn Progress>;

/// The default receiver.
pub fn silent() -> SharedProgress {
    Arc::new(Silent)
}

/// A reader that reports every read to a [`Progress`].
pub struct ProgressReader<R> {
    inner: R,
    progress: SharedProgress,
}

impl<R> ProgressReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, progress: SharedProgress) -> Self {
        ProgressReader { inner, progress }
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}
