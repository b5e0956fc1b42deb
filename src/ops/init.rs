//! `init`: creates a store for a host, optionally filled with a generated sample.

use chrono::Utc;
use serde::Serialize;

use crate::archive;
use crate::error::Result;
use crate::host::HostIdentity;
use crate::model::Counts;
use crate::sample::{self, SampleSize};
use crate::store::{self, Location, Operation, OperationKind, Outcome};

/// What to create.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Where.
    pub location: Location,
    /// For which host.
    pub host: HostIdentity,
    /// Fill it with a deterministic sample.
    pub sample: Option<SampleSize>,
}

/// What `init` created.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The store, passwords removed.
    pub store: String,
    /// Its host.
    pub host: HostIdentity,
    /// The host fingerprint.
    pub fingerprint: String,
    /// What the store holds.
    pub counts: Counts,
    /// Content digest of what it holds.
    pub content_digest: String,
}

/// Creates the store.
///
/// # Errors
///
/// [`crate::error::StoreError::AlreadyExists`] when there is one; other store errors.
pub fn init(options: &InitOptions) -> Result<InitReport> {
    let mut store = store::create(&options.location, &options.host)?;
    let mut config = crate::model::Configuration::empty();
    if let Some(size) = options.sample {
        let (sample, tokens) = sample::generate(size);
        store.set_api_tokens(&tokens)?;
        let digest = archive::content_digest(&sample);
        store.replace(&mut |_| {
            let op = Operation {
                id: 0,
                at: Utc::now(),
                kind: OperationKind::Sample,
                os_user: crate::store::current_os_user(),
                archive_digest: None,
                content_digest: Some(digest.clone()),
                outcome: Outcome::Ok,
                detail: serde_json::json!({ "sample": format!("{size:?}").to_lowercase() }),
            };
            Ok((sample.clone(), op))
        })?;
        config = sample;
    }
    Ok(InitReport {
        store: store.location(),
        fingerprint: options.host.fingerprint(),
        host: options.host.clone(),
        counts: config.counts(),
        content_digest: archive::content_digest(&config),
    })
}
