//! `host set-base-url` and `host set-deployment`: a legitimate change of the same Jira
//! installation (Jira moved to a new URL; Server upgraded to Data Center, which keeps the server
//! id) recorded on the store, optionally keeping the identity before the change as an accepted
//! alias so that the backups taken before it still restore. Moving to cloud is not such a change:
//! that is a migration (`migrate`), so `cloud` is never a deployment to change to or from here.

use crate::error::{Error, Result};
use crate::host::{Deployment, HostIdentity};
use crate::store::{HostRecord, Store};

/// Records a new base URL for the store's installation.
///
/// # Errors
///
/// [`Error::Host`] for an unusable URL; [`Error::Store`] when the store cannot be written.
pub fn set_base_url(store: &mut dyn Store, url: &str, keep_alias: bool) -> Result<HostRecord> {
    let current = store.host()?.identity;
    let new = HostIdentity::new(current.deployment, &current.server_id, url)?;
    store.set_identity(&new, keep_alias)?;
    store.host()
}

/// Records that the store's installation is now `deployment` (Server or Data Center).
///
/// # Errors
///
/// [`Error::Usage`] when either the store or `deployment` is a cloud site (that is a migration);
/// [`Error::Store`] when the store cannot be written.
pub fn set_deployment(store: &mut dyn Store, deployment: Deployment, keep_alias: bool) -> Result<HostRecord> {
    let current = store.host()?.identity;
    if deployment == Deployment::Cloud || current.deployment == Deployment::Cloud {
        return Err(Error::Usage(format!(
            "a change between cloud and {} is not a change of the same installation: move the configuration with `ativo-backup migrate` (README, \"Migrating to Jira Cloud\")",
            if deployment == Deployment::Cloud { current.deployment } else { deployment }
        )));
    }
    let new = HostIdentity { deployment, ..current };
    store.set_identity(&new, keep_alias)?;
    store.host()
}
