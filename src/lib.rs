//! ativo-backup: backup, restore, validation and cloud migration of Ativo Programs configuration.

pub mod archive;
pub mod atomic_file;
pub mod error;
pub mod host;
pub mod migration;
pub mod model;
pub mod ops;
pub mod progress;
pub mod sample;
pub mod store;

pub use error::{Error, Result};
