//! `admins show` and `admins set`: who may administer Ativo Programs on a store's host.
//!
//! On a cloud site this is the documented last step of a migration (Ativo: "Remove the entries,
//! select admin groups/users, Save"): the migration never carries admins over, and saving them
//! moves the migration status to COMPLETE when nothing else required is pending (derived by
//! `migration status`). Users are account ids on cloud (checked against the shapes Atlassian
//! documents, so that a user key, a user name or an e-mail address is not saved where an account
//! id belongs) and user keys on Server / Data Center; groups are named. `set` replaces the whole
//! list in one transaction with an `admins-set` log entry that records the list it replaced, so a
//! mistake can be undone by hand.

use chrono::Utc;
use serde::Serialize;

use super::migrate::{MigrationState, Pending};
use crate::archive;
use crate::error::{Error, Result};
use crate::host::Deployment;
use crate::model::{AdminGroup, AdminUser, Admins};
use crate::store::{Operation, OperationKind, Outcome, Store};

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
    /// Migration status after saving (COMPLETE on a migrated store with nothing else required
    /// pending).
    pub migration_status: MigrationState,
    /// What is still pending after saving (see `migration status`).
    pub pending: Vec<Pending>,
}

/// Replaces the admins.
///
/// # Errors
///
/// [`Error::Usage`] (exit 2) when no user and no group is given, an entry is blank or repeated,
/// or a cloud user is not shaped like an Atlassian account id ([`check_account_id`]);
/// [`Error::Store`] (7) when writing fails.
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
            kind: OperationKind::AdminsSet,
            os_user: crate::store::current_os_user(),
            archive_digest: None,
            content_digest: Some(digest_after.clone()),
            outcome: Outcome::Ok,
            detail: serde_json::json!({ "before": before, "after": config.admins }),
        };
        outcome = Some((before, config.admins.clone().unwrap_or_default(), digest_before, digest_after));
        Ok((config, op))
    })?;
    let (before, after, content_digest_before, content_digest_after) =
        outcome.ok_or_else(|| Error::Internal("the store did not save the admins".into()))?;
    let status = super::migrate::status(store)?;
    Ok(SetAdminsReport {
        store: store.location(),
        deployment,
        before,
        after,
        content_digest_before,
        content_digest_after,
        migration_status: status.status,
        pending: status.pending,
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
        if deployment == Deployment::Cloud {
            check_account_id(user)?;
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
        if name.chars().any(char::is_control) {
            return Err(Error::Usage(format!("admin group {name:?} has control characters")));
        }
        if admins.groups.iter().any(|g| g.name == name) {
            return Err(Error::Usage(format!("admin group {name:?} is given twice")));
        }
        admins.groups.push(AdminGroup { group_id: None, name: name.to_owned() });
    }
    Ok(admins)
}

/// Where an account id is found, for hints.
const ACCOUNT_ID_HINT: &str = "on a cloud site a user is given by Atlassian account id: 557058:<uuid>, 24 letters and digits (5b10ac8d82e05b22cc7d4ef5), or qm:... for a customer account; find it at the end of the user's profile URL (https://SITE.atlassian.net/jira/people/ACCOUNT_ID) or in admin.atlassian.com, Directory > Users";

/// Checks that `user` is shaped like an Atlassian account id, as Atlassian documents them:
/// `<digits>:<uuid>` (`557058:...`, the form of accounts made before 2018; Atlassian's own
/// example, `384093:32b4d9w0-...`, has a letter past `f`, so the groups are letters and digits),
/// 24 letters and digits (`5b10ac8d82e05b22cc7d4ef5`), or `qm:...` (customer accounts of Jira
/// Service Management); at most 128 characters, Jira's limit for an account id.
///
/// # Errors
///
/// [`Error::Usage`] (exit 2) naming what the value looks like instead (a user key, an e-mail
/// address, a user name) and where the account id is found.
pub fn check_account_id(user: &str) -> Result<()> {
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let uuid = |s: &str| {
        let parts: Vec<&str> = s.split('-').collect();
        parts.len() == 5
            && parts
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    let shaped = user.len() <= 128
        && match user.split_once(':') {
            Some(("qm", rest)) => {
                rest.split(':').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            }
            Some((prefix, rest)) => !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) && uuid(rest),
            None => user.len() == 24 && alnum(user),
        };
    if shaped {
        return Ok(());
    }
    let looks = if user.starts_with("JIRAUSER") {
        "looks like a Server / Data Center user key"
    } else if user.contains('@') {
        "looks like an e-mail address"
    } else {
        "is not an Atlassian account id (a user name?)"
    };
    Err(Error::Usage(format!("admin user {user:?} {looks}; {ACCOUNT_ID_HINT}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(list: &[&str]) -> SetAdminsOptions {
        SetAdminsOptions { users: list.iter().map(|s| s.to_string()).collect(), groups: Vec::new() }
    }

    const ACCOUNT: &str = "557058:f1a2b3c4-d5e6-47a8-9b0c-1d2e3f4a5b6c";

    #[test]
    fn cloud_users_are_account_ids_and_server_users_are_keys() {
        let cloud = build(Deployment::Cloud, &users(&[ACCOUNT])).unwrap();
        assert_eq!(cloud.users[0].account_id.as_deref(), Some(ACCOUNT));
        let dc = build(Deployment::Datacenter, &users(&["JIRAUSER10000"])).unwrap();
        assert_eq!(dc.users[0].user_key.as_deref(), Some("JIRAUSER10000"));
    }

    #[test]
    fn bad_lists_are_usage_errors() {
        for (deployment, options) in [
            (Deployment::Cloud, SetAdminsOptions::default()),
            (Deployment::Cloud, users(&["JIRAUSER10000"])),
            (Deployment::Cloud, users(&[ACCOUNT, ACCOUNT])),
            (Deployment::Cloud, users(&[" "])),
            (Deployment::Server, SetAdminsOptions { users: vec![], groups: vec!["g".into(), "g".into()] }),
        ] {
            assert!(matches!(build(deployment, &options), Err(Error::Usage(_))), "{options:?}");
        }
    }

    #[test]
    fn account_ids_are_taken_in_the_shapes_atlassian_documents() {
        for good in [
            ACCOUNT,
            "384093:32b4d9w0-f6a5-3535-11a3-9c8c88d10192",
            "5b10ac8d82e05b22cc7d4ef5",
            "qm:a880ec68-3b77-4ab0-9f3c-d1c1a0f6e9a1:5a9e1c1b-7e0e-4b8e-9a3c-2b1f0c4e5d6f",
        ] {
            assert!(check_account_id(good).is_ok(), "{good}");
        }
        for (bad, says) in [
            ("admin", "not an Atlassian account id"),
            ("jane.doe@example.com", "e-mail address"),
            ("JIRAUSER10000", "user key"),
            ("557058:abc", "not an Atlassian account id"),
            ("5b10ac8d82e05b22cc7d4ef", "not an Atlassian account id"),
            ("qm:", "not an Atlassian account id"),
        ] {
            let message = check_account_id(bad).unwrap_err().to_string();
            assert!(message.contains(says) && message.contains("profile URL"), "{bad}: {message}");
        }
    }
}
