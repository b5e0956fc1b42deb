//! Deterministic sample configurations for `init --sample demo|large|huge`.

use crate::model::{ApiToken, Configuration};

/// Size of a generated sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleSize {
    /// A small realistic company.
    Demo,
    /// About 50 programs, 500 teams, 20 periods.
    Large,
    /// About ten times large.
    Huge,
}

/// Generates the sample configuration (valid, in canonical order) and token metadata.
pub fn generate(size: SampleSize) -> (Configuration, Vec<ApiToken>) {
    let _ = size;
    unimplemented!()
}
