//! The integration tests, as one test binary: one link instead of one per file. Each module is
//! one subject; the shared helpers are modules of their own. Run one subject with a name filter
//! (`cargo test --test integration -- hostile::`), the PostgreSQL tests with
//! `cargo test --features pg-tests -- pg_` (their names start with `pg_`; the crash trials with
//! `pg_crash_`).
//!
//! The modules share one process: a test that needs it alone (one that measures the process's
//! own peak memory) runs itself in a child process (`alone::in_own_process`); none changes the
//! environment or the current directory of the process.

// Shared helpers.
mod alone;
mod archive_common;
mod commands;
mod crash_common;
mod golden;
mod memory;
mod migration_common;
#[cfg(feature = "pg-tests")]
mod pg_support;

// Subjects.
mod archive_bomb_memory;
mod archive_canonical;
mod archive_defects;
mod archive_roundtrip;
mod archive_schema;
mod archive_spec;
mod cli;
mod cli_admin_tools;
mod concurrency;
mod conformance_kit;
mod corruption;
mod crash_export;
mod crash_import;
#[cfg(feature = "pg-tests")]
mod crash_import_pg;
mod destinations;
mod failed_writes;
mod fixtures;
mod hostile;
mod hostile_fuzz;
mod import_stream;
mod migration;
mod migration_large;
mod migration_mappings;
mod model_sample;
mod restore_invalid;
mod selective;
mod store_conformance;
mod store_postgres;
mod validate_stream;
