//! Host identity: which Jira installation a store belongs to, and its fingerprint.
//!
//! A host is one Jira installation (a Data Center cluster is one host). Its identity is the
//! deployment, the Jira server id (on cloud: the cloud id) and the normalised base URL. The
//! fingerprint is `sha256:` + hex SHA-256 of the RFC 8785 canonical JSON of
//! `{"base_url", "deployment", "fingerprint_version": 1, "server_id"}` (SPEC.md, "Host
//! fingerprint", has a worked example). It guards against restoring the wrong backup; it is not a
//! security boundary, since anyone who can edit an archive can edit its header.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::HostError;

/// Version of the fingerprint encoding; part of the hashed document.
pub const FINGERPRINT_VERSION: u32 = 1;

/// Which kind of Jira a host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Deployment {
    /// Jira Server.
    Server,
    /// Jira Data Center (a cluster is one host).
    Datacenter,
    /// Jira Cloud; the server id is the site's cloud id.
    Cloud,
}

impl Deployment {
    /// The serialized name (`server`, `datacenter`, `cloud`).
    pub fn as_str(self) -> &'static str {
        match self {
            Deployment::Server => "server",
            Deployment::Datacenter => "datacenter",
            Deployment::Cloud => "cloud",
        }
    }
}

impl fmt::Display for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Deployment {
    type Err = HostError;
    fn from_str(s: &str) -> Result<Self, HostError> {
        match s {
            "server" => Ok(Deployment::Server),
            "datacenter" => Ok(Deployment::Datacenter),
            "cloud" => Ok(Deployment::Cloud),
            other => Err(HostError::Deployment(other.to_owned())),
        }
    }
}

/// The identity of one Jira installation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HostIdentity {
    /// Normalised base URL (see [`normalize_base_url`]).
    pub base_url: String,
    /// Server, Data Center or cloud.
    pub deployment: Deployment,
    /// Jira server id (cloud: the cloud id).
    pub server_id: String,
}

impl HostIdentity {
    /// Builds an identity, normalising the base URL and checking the server id.
    ///
    /// # Errors
    ///
    /// [`HostError`] when the URL is not an absolute http(s) URL without user info, query or
    /// fragment, or the server id is empty, longer than 256 characters (code points) or has
    /// control or invisible format characters.
    pub fn new(deployment: Deployment, server_id: &str, base_url: &str) -> Result<Self, HostError> {
        use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
        let server_id = server_id.trim();
        // Control characters and invisible format characters (U+200B, U+FEFF, bidi controls):
        // two ids that look the same must be the same id.
        let invisible = |c: char| c.is_control() || c.general_category() == GeneralCategory::Format;
        if server_id.is_empty() || server_id.chars().count() > 256 || server_id.chars().any(invisible) {
            return Err(HostError::ServerId(server_id.to_owned()));
        }
        Ok(HostIdentity { base_url: normalize_base_url(base_url)?, deployment, server_id: server_id.to_owned() })
    }

    /// The host fingerprint, `sha256:<64 hex digits>`.
    pub fn fingerprint(&self) -> String {
        #[derive(Serialize)]
        struct Encoding<'a> {
            base_url: &'a str,
            deployment: Deployment,
            fingerprint_version: u32,
            server_id: &'a str,
        }
        let encoded = crate::model::canonical::to_canonical_vec(&Encoding {
            base_url: &self.base_url,
            deployment: self.deployment,
            fingerprint_version: FINGERPRINT_VERSION,
            server_id: &self.server_id,
        });
        format!("sha256:{}", hex::encode(Sha256::digest(&encoded)))
    }
}

impl fmt::Display for HostIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, server id {}, {})", self.base_url, self.deployment, self.server_id, self.fingerprint())
    }
}

/// Normalises a Jira base URL: lower-case scheme and host, a trailing dot of the host removed,
/// default port dropped, no trailing slash, and the path normalised as RFC 3986 section 6.2.2
/// says (percent-encoded unreserved characters decoded, other percent-encodings in upper-case
/// hex, dot segments removed), so that `https://Jira.example.com./%6Aira/` and
/// `https://jira.example.com/jira` are one host. The context path is otherwise kept as written
/// (Jira context paths are case-sensitive).
///
/// # Errors
///
/// [`HostError::BaseUrl`] when the URL does not parse, is not http or https, has no host, has a
/// host name with characters a host name cannot hold (anything but letters, digits, `-`, `_`
/// and dots once internationalised names are in their ASCII form), or has user info, a query or
/// a fragment (none of which belong in a base URL).
pub fn normalize_base_url(input: &str) -> Result<String, HostError> {
    let bad = |why: &str| HostError::BaseUrl { url: input.to_owned(), why: why.to_owned() };
    let url = url::Url::parse(input.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    let Some(host) = url.host_str() else { return Err(bad("it has no host")) };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("it must not contain user info"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or a fragment"));
    }
    // `Url` already lower-cases scheme and host, decodes percent-encoding in the host, turns an
    // internationalised name into its ASCII form, drops the scheme's default port and removes
    // dot segments from the path.
    let host = match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.strip_suffix('.').unwrap_or(name);
            let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
            if name.is_empty() || !name.chars().all(valid) || name.split('.').any(str::is_empty) {
                return Err(bad("its host name holds characters a host name cannot have"));
            }
            name.to_owned()
        }
        _ => host.to_owned(),
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let path = normalize_percent_encoding(url.path());
    let path = path.trim_end_matches('/');
    Ok(format!("{}://{}{}{}", url.scheme(), host, port, path))
}

/// RFC 3986 section 6.2.2.1 and 6.2.2.2: `%XX` of an unreserved character (letters, digits,
/// `-`, `.`, `_`, `~`) becomes the character; any other `%XX` keeps its encoding with upper-case
/// hex digits.
fn normalize_percent_encoding(path: &str) -> String {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let hex = rest.get(at + 1..at + 3).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if unreserved(b) => out.push(char::from(b)),
            Some(b) => out.push_str(&format!("%{b:02X}")),
            None => {
                out.push('%');
                rest = &rest[at + 1..];
                continue;
            }
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out
}

/// How an archive's source host matched a store's host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HostMatch {
    /// The store's own identity.
    Identity,
    /// One of the identities the store accepted as its own earlier (`--keep-alias`).
    Alias,
}

impl std::fmt::Display for HostMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HostMatch::Identity => "identity",
            HostMatch::Alias => "alias",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised() {
        let cases = [
            ("HTTPS://Jira.Example.COM/", "https://jira.example.com"),
            ("https://jira.example.com:443/jira/", "https://jira.example.com/jira"),
            ("http://jira.example.com:80", "http://jira.example.com"),
            ("http://jira.example.com:8080/Jira", "http://jira.example.com:8080/Jira"),
            ("https://jira.example.com///", "https://jira.example.com"),
            ("https://jira.example.com/%6Aira", "https://jira.example.com/jira"),
            ("https://jira.example.com/%7ejira%2f%c3%a9", "https://jira.example.com/~jira%2F%C3%A9"),
            ("https://jira.example.com./jira", "https://jira.example.com/jira"),
            ("https://J%49RA.example.com/", "https://jira.example.com"),
            ("https://jira.example.com/a/../jira/./x", "https://jira.example.com/jira/x"),
            ("http://[::1]:8080/jira", "http://[::1]:8080/jira"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_base_url(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn bad_base_urls_are_refused_with_the_reason() {
        for input in [
            "jira.example.com",
            "ftp://jira.example.com",
            "https://u:p@jira.example.com",
            "https://j.example.com/?a=1",
            "https://jira!.example.com",
            "https://jira$x.example.com",
            "https://jira..example.com",
        ] {
            let err = normalize_base_url(input).unwrap_err().to_string();
            assert!(err.contains(input), "{err}");
        }
    }

    #[test]
    fn server_ids_with_invisible_characters_are_refused() {
        for id in ["B8E7\u{200B}", "B8E7\u{FEFF}", "B8\u{202E}E7", "B8E7\u{7}"] {
            assert!(HostIdentity::new(Deployment::Server, id, "https://jira.example.com").is_err(), "{id:?}");
        }
        assert!(HostIdentity::new(Deployment::Server, " B8E7-9F2A ", "https://jira.example.com").is_ok());
        // The limit counts characters, as SPEC.md says, not bytes.
        assert!(HostIdentity::new(Deployment::Server, &"é".repeat(256), "https://jira.example.com").is_ok());
        assert!(HostIdentity::new(Deployment::Server, &"é".repeat(257), "https://jira.example.com").is_err());
    }

    #[test]
    fn fingerprint_matches_the_spec_example() {
        let host =
            HostIdentity::new(Deployment::Datacenter, "B8E7-9F2A-3C4D-5E6F", "https://Jira.Example.com/").unwrap();
        // The canonical encoding, spelled out as SPEC.md does.
        let encoded = r#"{"base_url":"https://jira.example.com","deployment":"datacenter","fingerprint_version":1,"server_id":"B8E7-9F2A-3C4D-5E6F"}"#;
        let expected = format!("sha256:{}", hex::encode(Sha256::digest(encoded.as_bytes())));
        assert_eq!(host.fingerprint(), expected);
    }

    #[test]
    fn a_staging_clone_has_another_fingerprint() {
        let prod = HostIdentity::new(Deployment::Datacenter, "ABCD", "https://jira.example.com").unwrap();
        let staging = HostIdentity::new(Deployment::Datacenter, "ABCD", "https://jira-staging.example.com").unwrap();
        assert_ne!(prod.fingerprint(), staging.fingerprint());
    }
}
