//! Who may read the endpoint: HTTPS with optional client certificates
//! (`tls_server_config`) and basic authentication (`basic_auth_users`), in the shape of
//! the web configuration Prometheus exporters share, under `metrics:`.
//!
//! ```yaml
//! metrics:
//!   tls_server_config:
//!     cert_file: /etc/keychain/metrics.crt      # PEM: the certificate, then its chain
//!     key_file: /etc/keychain/metrics.key       # PEM: PKCS#8, PKCS#1 or SEC1
//!     client_ca_file: /etc/keychain/scrapers-ca.crt   # optional
//!     client_auth_type: RequireAndVerifyClientCert    # default with a client CA
//!     min_version: TLS12                        # TLS12 (default) or TLS13
//!   basic_auth_users:
//!     prometheus: $2y$10$…                      # user: bcrypt hash (htpasswd -nBC 10)
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::{invalid, ConfigError};

/// `metrics.tls_server_config`: serve HTTPS with this certificate, and optionally ask
/// scrapers for theirs. The files are read when the server starts (an unreadable or
/// invalid one fails the start, naming it) and again when any of them changes, so a
/// renewed certificate is served without a restart; a change that does not load (a key
/// that does not match its certificate yet) keeps the previous ones in force.
///
/// ```yaml
/// metrics:
///   tls_server_config:
///     cert_file: /etc/keychain/metrics.crt      # PEM: the certificate, then its chain
///     key_file: /etc/keychain/metrics.key       # PEM: PKCS#8, PKCS#1 or SEC1
///     client_ca_file: /etc/keychain/scrapers-ca.crt   # optional
///     client_auth_type: RequireAndVerifyClientCert    # the default with a client CA
///     min_version: TLS12                        # TLS12 (the default) or TLS13
///   basic_auth_users:
///     prometheus: $2y$10$…                      # user: bcrypt hash (htpasswd -nBC 10)
/// ```
///
/// In code:
///
/// ```
/// use keychain_metrics::config::{ClientAuth, TlsServerConfig, TlsVersion};
///
/// let mut tls = TlsServerConfig::new("/etc/keychain/metrics.crt", "/etc/keychain/metrics.key");
/// tls.client_ca_file = Some("/etc/keychain/scrapers-ca.crt".into());
/// tls.client_auth_type = ClientAuth::RequireAndVerifyClientCert;
/// tls.min_version = TlsVersion::Tls13;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsServerConfig {
    /// The server's certificate chain (PEM), leaf first.
    pub cert_file: PathBuf,
    /// The certificate's private key (PEM).
    pub key_file: PathBuf,
    /// The certificate authorities client certificates must chain to (PEM).
    pub client_ca_file: Option<PathBuf>,
    /// Whether a client certificate is asked for and required.
    pub client_auth_type: ClientAuth,
    /// The oldest TLS version accepted.
    pub min_version: TlsVersion,
}

impl TlsServerConfig {
    /// HTTPS with this certificate and key, no client certificates, TLS 1.2 and up.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        TlsServerConfig {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
            client_auth_type: ClientAuth::NoClientCert,
            min_version: TlsVersion::Tls12,
        }
    }
}

/// `client_auth_type`: the exporter toolkit's names for the policies that verify what
/// they accept. `RequestClientCert` and `RequireAnyClientCert`, which accept a
/// certificate nobody verified, are refused: such a certificate proves nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    NoClientCert,
    /// A client certificate is asked for and, if given, must chain to the client CA.
    VerifyClientCertIfGiven,
    /// A client certificate chaining to the client CA is required (mutual TLS).
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(text: &str) -> Result<Self, ConfigError> {
        const FIELD: &str = "metrics.tls_server_config.client_auth_type";
        match text {
            "NoClientCert" => Ok(ClientAuth::NoClientCert),
            "VerifyClientCertIfGiven" => Ok(ClientAuth::VerifyClientCertIfGiven),
            "RequireAndVerifyClientCert" => Ok(ClientAuth::RequireAndVerifyClientCert),
            "RequestClientCert" | "RequireAnyClientCert" => Err(invalid(
                FIELD,
                format!("{text:?}"),
                "not supported: an unverified certificate proves nothing; use \
                 VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            )),
            _ => Err(invalid(
                FIELD,
                format!("{text:?}"),
                "must be NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert",
            )),
        }
    }

    /// Whether a client certificate is verified against `client_ca_file`.
    pub fn verifies(self) -> bool {
        self != ClientAuth::NoClientCert
    }
}

/// `min_version`: the oldest TLS version the endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2 (`TLS12`).
    #[default]
    Tls12,
    /// TLS 1.3 (`TLS13`).
    Tls13,
}

impl TlsVersion {
    fn parse(text: &str) -> Result<Self, ConfigError> {
        const FIELD: &str = "metrics.tls_server_config.min_version";
        match text {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(invalid(
                FIELD,
                format!("{text:?}"),
                "not supported: TLS 1.0 and 1.1 are broken; use TLS12 or TLS13",
            )),
            _ => Err(invalid(
                FIELD,
                format!("{text:?}"),
                "must be TLS12 or TLS13",
            )),
        }
    }
}

/// `tls_server_config:` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_ca_file: Option<String>,
    client_auth_type: Option<String>,
    min_version: Option<String>,
}

impl RawTls {
    pub(super) fn read(self) -> Result<TlsServerConfig, ConfigError> {
        let file = |value: Option<String>, field: &'static str| match value {
            Some(v) if !v.trim().is_empty() => Ok(PathBuf::from(v)),
            Some(_) => Err(invalid(field, "\"\"", "must name a PEM file")),
            None => Err(invalid(field, "(missing)", "must name a PEM file")),
        };
        let mut tls = TlsServerConfig::new(
            file(self.cert_file, "metrics.tls_server_config.cert_file")?,
            file(self.key_file, "metrics.tls_server_config.key_file")?,
        );
        tls.client_ca_file = match self.client_ca_file {
            None => None,
            ca => Some(file(ca, "metrics.tls_server_config.client_ca_file")?),
        };
        tls.client_auth_type = match (&self.client_auth_type, &tls.client_ca_file) {
            (Some(text), _) => ClientAuth::parse(text)?,
            // As the exporter toolkit does: a client CA alone means mutual TLS.
            (None, Some(_)) => ClientAuth::RequireAndVerifyClientCert,
            (None, None) => ClientAuth::NoClientCert,
        };
        if let Some(text) = &self.min_version {
            tls.min_version = TlsVersion::parse(text)?;
        }
        Ok(tls)
    }
}

/// Checks what the types do not: a verifying policy has a CA, a CA has a policy.
pub(super) fn check_tls(tls: &TlsServerConfig) -> Result<(), ConfigError> {
    for (field, path) in [
        ("metrics.tls_server_config.cert_file", &tls.cert_file),
        ("metrics.tls_server_config.key_file", &tls.key_file),
    ] {
        if path.as_os_str().is_empty() {
            return Err(invalid(field, "\"\"", "must name a PEM file"));
        }
    }
    match (tls.client_auth_type.verifies(), &tls.client_ca_file) {
        (true, None) => Err(invalid(
            "metrics.tls_server_config.client_auth_type",
            format!("{:?}", tls.client_auth_type),
            "needs client_ca_file, the CA client certificates must chain to",
        )),
        (false, Some(ca)) => Err(invalid(
            "metrics.tls_server_config.client_ca_file",
            format!("{:?}", ca.display().to_string()),
            "is not used with client_auth_type NoClientCert: set \
             RequireAndVerifyClientCert or VerifyClientCertIfGiven, or remove it",
        )),
        _ => Ok(()),
    }
}

/// `basic_auth_users`: user name → bcrypt hash. The user must not be empty or hold a
/// `:` or a control character; the hash must be a bcrypt hash (`$2a$`, `$2b$`, `$2x$`
/// or `$2y$`, a cost of 4 to 31, 53 characters of salt and digest). The error names the
/// user, never the hash.
pub(super) fn check_users(users: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    const FIELD: &str = "metrics.basic_auth_users";
    for (user, hash) in users {
        if user.is_empty() || user.contains(':') || user.chars().any(char::is_control) {
            return Err(invalid(
                FIELD,
                format!("{user:?}"),
                "a user name must not be empty or hold ':' or control characters",
            ));
        }
        if !is_bcrypt(hash) {
            return Err(invalid(
                FIELD,
                format!("{user:?}"),
                "the value must be a bcrypt hash, e.g. from `htpasswd -nBC 10 user`",
            ));
        }
    }
    Ok(())
}

/// `$2?$NN$` and 53 characters of bcrypt's base64 alphabet.
fn is_bcrypt(hash: &str) -> bool {
    let b = hash.as_bytes();
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'.' || *c == b'/';
    b.len() == 60
        && b.starts_with(b"$2")
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[6] == b'$'
        && std::str::from_utf8(&b[4..6])
            .ok()
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|cost| (4..=31).contains(&cost) && b[4].is_ascii_digit())
        && b[7..].iter().all(alphabet)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$2y$04$0123456789abcdefghijkuv2MZn6Fc3z0pZ6y2u2A9i/d3E8g0cJe";

    #[test]
    fn bcrypt_shapes() {
        assert_eq!(HASH.len(), 60);
        assert!(is_bcrypt(HASH));
        assert!(is_bcrypt(&HASH.replace("$2y$04", "$2b$31")));
        assert!(!is_bcrypt(&HASH.replace("$2y$04", "$2y$03")));
        assert!(!is_bcrypt(&HASH.replace("$2y$04", "$2y$32")));
        assert!(!is_bcrypt(&HASH.replace("$2y$04", "$2z$04")));
        assert!(!is_bcrypt(&HASH.replace("$2y$04", "$2y$+4")));
        assert!(!is_bcrypt(&HASH.replace('a', "!")));
        assert!(!is_bcrypt(&HASH[..59]));
        assert!(!is_bcrypt("secret"));
    }

    #[test]
    fn users_are_checked_by_name() {
        let users = |u: &str, h: &str| BTreeMap::from([(u.to_owned(), h.to_owned())]);
        assert_eq!(check_users(&users("prometheus", HASH)), Ok(()));
        let e = check_users(&users("prometheus", "plain")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "metrics.basic_auth_users: \"prometheus\": the value must be a bcrypt hash, \
             e.g. from `htpasswd -nBC 10 user`"
        );
        assert!(check_users(&users("a:b", HASH)).is_err());
        assert!(check_users(&users("", HASH)).is_err());
    }

    #[test]
    fn policies_need_their_ca() {
        let mut tls = TlsServerConfig::new("c.pem", "k.pem");
        assert_eq!(check_tls(&tls), Ok(()));
        tls.client_auth_type = ClientAuth::RequireAndVerifyClientCert;
        assert_eq!(
            check_tls(&tls).unwrap_err().to_string(),
            "metrics.tls_server_config.client_auth_type: RequireAndVerifyClientCert: \
             needs client_ca_file, the CA client certificates must chain to"
        );
        tls.client_ca_file = Some("ca.pem".into());
        assert_eq!(check_tls(&tls), Ok(()));
        tls.client_auth_type = ClientAuth::NoClientCert;
        assert!(check_tls(&tls).is_err());
    }
}
