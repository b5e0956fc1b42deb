//! `log`: the operations log, newest last: what was done to the store, by whom, with which
//! archive and which content digest after.

use crate::error::Result;
use crate::store::{Operation, Store};

/// The log entries, oldest first; with `limit`, only the last `limit`.
///
/// # Errors
///
/// [`crate::Error::Store`] when the store cannot be read.
pub fn recent(store: &mut dyn Store, limit: Option<usize>) -> Result<Vec<Operation>> {
    let mut entries = store.operations()?;
    if let Some(n) = limit {
        entries.drain(..entries.len().saturating_sub(n));
    }
    Ok(entries)
}
