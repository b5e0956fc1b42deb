//! `admins show` and `admins set`: who may administer Ativo Programs on a store's host.
//!
//! On a cloud site this is the documented last step of a migration (Ativo: "Remove the entries,
//! select admin groups/users, Save"): the migration never carries admins over, and saving them
//! moves the migration status to COMPLETE (derived from the log by `migration status`). Users are
//! account ids on cloud and user keys on Server / Data Center; groups are named. `set` replaces
//! the whole list in one transaction with an `admins-set` log entry that records the list it
//! replaced, so a mistake can be undone by hand.

use chrono::Utc;
use serde::Serialize;

use super::migrate::{ADMINS_SET_KIND, MigrationState};
use crate::archive;
use crate::error::{Error, Result};
use crate::host::Deployment;
use crate::model::{AdminGroup, AdminUser, Admins};
use crate::store::{Operation, Store};

/// The admins of a store.
#[derive(Debug, Clone, Serialize)]
pub struct AdminsReport {
    /// The store.
    pub store: String,
    /// Its deployment (users are account ids on cloud, user keys elsewhere).
    pub deployment: Deployment,
    /// The admins (empty when none are set).
    pub admins: Admins,
    /// Migration status of the store.
    pub migration_status: MigrationState,
}

/// Shows the admins.
///
/// # Errors
///
/// [`Error::Store`] when the store cannot be read.
pub fn show(store: &mut dyn Store) -> Result<AdminsReport> {
    let deployment = store.host()?.identity.deployment;
    let admins = store.snapshot()?.config.admins.unwrap_or_default();
    let migration_status = super::migrate::status(store)?.status;
    Ok(AdminsReport { store: store.location(), deployment, admins, migration_status })
}

/// The admins to set.
#[derive(Debug, Clone, Default)]
pub struct SetAdminsOptions {
    /// Users: account ids on cloud, user keys on Server / Data Center.
    pub users: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
}

/// What `admins set` did.
#[derive(Debug, Clone, Serialize)]
pub struct SetAdminsReport {
    /// The store.
    pub store: String,
    /// Its deployment.
    pub deployment: Deployment,
    /// The admins before.
    pub before: Admins,
    /// The admins now.
    pub after: Admins,
    /// Content digest of the configuration before.
    pub content_digest_before: String,
    /// Content digest of the configuration after.
    pub content_digest_after: String,
    /// Migration status after saving (COMPLETE on a migrated store).
    pub migration_status: MigrationState,
}

/// Replaces the admins.
///
/// # Errors
///
/// [`Error::Usage`] (exit 2) when no user and no group is given, an entry is blank or repeated,
/// or a cloud user is given as a Server user key; [`Error::Store`] (7) when writing fails.
pub fn set(store: &mut dyn Store, options: &SetAdminsOptions) -> Result<SetAdminsReport> {
    let deployment = store.host()?.identity.deployment;
    let admins = build(deployment, options)?;
    let mut outcome = None;
    store.replace(&mut |current| {
        let before = current.config.admins.clone().unwrap_or_default();
        let mut config = current.config.clone();
        config.admins = Some(admins.clone());
        config.sort();
        let digest_before = archive::content_digest(&current.config);
        let digest_after = archive::content_digest(&config);
        let op = Operation {
            id: 0,
            at: Utc::now(),
            kind: ADMINS_SET_KIND.into(),
            os_user: crate::store::current_os_user(),
            archive_digest: None,
            content_digest: Some(digest_after.clone()),
            outcome: "ok".into(),
            detail: serde_json::json!({ "before": before, "after": config.admins }),
        };
        outcome = Some((before, config.admins.clone().unwrap_or_default(), digest_before, digest_after));
        Ok((config, op))
    })?;
    let (before, after, content_digest_before, content_digest_after) =
        outcome.ok_or_else(|| Error::Usage("the store did not save the admins".into()))?;
    let migration_status = super::migrate::status(store)?.status;
    Ok(SetAdminsReport {
        store: store.location(),
        deployment,
        before,
        after,
        content_digest_before,
        content_digest_after,
        migration_status,
    })
}

/// The admins to write, checked: at least one entry, none blank or repeated, and on cloud no
/// Server user key where an account id belongs.
fn build(deployment: Deployment, options: &SetAdminsOptions) -> Result<Admins> {
    if options.users.is_empty() && options.groups.is_empty() {
        return Err(Error::Usage(
            "admins set needs at least one --user or --group: Ativo would have no admins otherwise".into(),
        ));
    }
    let mut admins = Admins::default();
    for user in &options.users {
        let user = user.trim();
        if user.is_empty() || user.chars().any(char::is_whitespace) {
            return Err(Error::Usage(format!("admin user {user:?} is blank or contains whitespace")));
        }
        if deployment == Deployment::Cloud && user.starts_with("JIRAUSER") {
            return Err(Error::Usage(format!(
                "admin user {user:?} looks like a Server / Data Center user key; on a cloud site give the user's account id (Jira: the profile URL ends with it)"
            )));
        }
        let entry = if deployment == Deployment::Cloud {
            AdminUser { account_id: Some(user.to_owned()), user_key: None }
        } else {
            AdminUser { account_id: None, user_key: Some(user.to_owned()) }
        };
        if admins.users.contains(&entry) {
            return Err(Error::Usage(format!("admin user {user:?} is given twice")));
        }
        admins.users.push(entry);
    }
    for group in &options.groups {
        let name = group.trim();
        if name.is_empty() {
            return Err(Error::Usage("an admin group name is blank".into()));
        }
        if admins.groups.iter().any(|g| g.name == name) {
            return Err(Error::Usage(format!("admin group {name:?} is given twice")));
        }
        admins.groups.push(AdminGroup { group_id: None, name: name.to_owned() });
    }
    Ok(admins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(list: &[&str]) -> SetAdminsOptions {
        SetAdminsOptions { users: list.iter().map(|s| s.to_string()).collect(), groups: Vec::new() }
    }

    #[test]
    fn cloud_users_are_account_ids_and_server_users_are_keys() {
        let cloud = build(Deployment::Cloud, &users(&["557058:abc"])).unwrap();
        assert_eq!(cloud.users[0].account_id.as_deref(), Some("557058:abc"));
        let dc = build(Deployment::Datacenter, &users(&["JIRAUSER10000"])).unwrap();
        assert_eq!(dc.users[0].user_key.as_deref(), Some("JIRAUSER10000"));
    }

    #[test]
    fn bad_lists_are_usage_errors() {
        for (deployment, options) in [
            (Deployment::Cloud, SetAdminsOptions::default()),
            (Deployment::Cloud, users(&["JIRAUSER10000"])),
            (Deployment::Cloud, users(&["a", "a"])),
            (Deployment::Cloud, users(&[" "])),
            (Deployment::Server, SetAdminsOptions { users: vec![], groups: vec!["g".into(), "g".into()] }),
        ] {
            assert!(matches!(build(deployment, &options), Err(Error::Usage(_))), "{options:?}");
        }
    }
}
