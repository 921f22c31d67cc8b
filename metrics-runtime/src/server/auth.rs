//! Who may scrape: a bearer token (`bearer_token`, `bearer_token_file`), HTTP basic
//! authentication against bcrypt hashes (`basic_auth_users`), either admitting; with
//! neither configured, anyone. Secrets are compared in constant time (`subtle`).
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), so a verification runs
//! on tokio's blocking pool, and a user's last verified password is kept to answer the
//! next scrape (Prometheus sends the same one every interval) with a constant-time
//! comparison. An unknown user is verified against a configured hash all the same,
//! so the answer's timing does not tell which users exist.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use subtle::ConstantTimeEq;

use super::token::{Token, TokenFile};
use crate::config::{ConfigError, MetricsConfig};

/// The endpoint's authentication; see the [module docs](self).
pub(crate) struct Auth {
    token: Option<Token>,
    users: Option<Users>,
}

/// `basic_auth_users`, with each user's last verified password.
struct Users {
    by_name: BTreeMap<String, User>,
    /// The hash an unknown user's password is checked against, for the timing.
    decoy: String,
}

struct User {
    hash: String,
    /// The last password that verified; shared with the verification in flight.
    verified: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Auth {
    /// The configuration's authentication; a token file is read now.
    pub(crate) fn new(config: &MetricsConfig) -> Result<Self, ConfigError> {
        let token = match (&config.bearer_token, &config.bearer_token_file) {
            (Some(token), _) => Some(Token::Fixed(token.clone())),
            (None, Some(file)) => Some(Token::File(TokenFile::load(file)?)),
            (None, None) => None,
        };
        let users = config
            .basic_auth_users
            .first_key_value()
            .map(|(_, decoy)| Users {
                decoy: decoy.clone(),
                by_name: config
                    .basic_auth_users
                    .iter()
                    .map(|(name, hash)| {
                        let user = User {
                            hash: hash.clone(),
                            verified: Arc::default(),
                        };
                        (name.clone(), user)
                    })
                    .collect(),
            });
        Ok(Auth { token, users })
    }

    /// Whether a scrape with this `Authorization` header value may read the metrics.
    pub(crate) async fn admits(&self, authorization: Option<&[u8]>) -> bool {
        if self.token.is_none() && self.users.is_none() {
            return true;
        }
        let Some(value) = authorization.and_then(|v| std::str::from_utf8(v).ok()) else {
            return false;
        };
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim_start();
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.token.as_ref().is_some_and(|t| t.admits(credentials));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            if let Some(users) = &self.users {
                return users.admit(credentials).await;
            }
        }
        false
    }

    /// The `WWW-Authenticate` challenge of a refused scrape.
    pub(crate) fn challenge(&self) -> &'static str {
        match (&self.token, &self.users) {
            (Some(_), Some(_)) => "Bearer realm=\"metrics\", Basic realm=\"metrics\"",
            (None, Some(_)) => "Basic realm=\"metrics\"",
            _ => "Bearer realm=\"metrics\"",
        }
    }
}

impl Users {
    /// Checks `user:password` in base64, as basic authentication sends it.
    async fn admit(&self, credentials: &str) -> bool {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else {
            return false;
        };
        let (name, password) = (&decoded[..colon], decoded[colon + 1..].to_vec());
        let user = std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.by_name.get(n));
        if let Some(user) = user {
            let verified = user.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified
                .as_ref()
                .is_some_and(|v| bool::from(v.as_slice().ct_eq(&password)))
            {
                return true;
            }
        }
        let hash = user.map_or(&self.decoy, |u| &u.hash).clone();
        let keep = user.map(|u| Arc::clone(&u.verified));
        let check = tokio::task::spawn_blocking(move || {
            let matches = bcrypt::verify(&password, &hash).unwrap_or(false);
            match keep {
                Some(verified) if matches => {
                    *verified.lock().unwrap_or_else(|e| e.into_inner()) = Some(password);
                    true
                }
                _ => false,
            }
        });
        check.await.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b64}").into_bytes()
    }

    fn config(users: &[(&str, &str)], token: Option<&str>) -> MetricsConfig {
        MetricsConfig {
            basic_auth_users: users
                .iter()
                .map(|(u, p)| ((*u).to_owned(), bcrypt::hash(p, 4).unwrap()))
                .collect(),
            bearer_token: token.map(str::to_owned),
            ..MetricsConfig::default()
        }
    }

    #[tokio::test]
    async fn basic_users_and_tokens() {
        let auth = Auth::new(&config(&[("prom", "pw1"), ("grafana", "pw2")], Some("tok"))).unwrap();
        assert!(auth.admits(Some(&basic("prom", "pw1"))).await);
        // Twice: the second answered from the verified password.
        assert!(auth.admits(Some(&basic("prom", "pw1"))).await);
        assert!(auth.admits(Some(&basic("grafana", "pw2"))).await);
        assert!(auth.admits(Some(b"Bearer tok")).await);
        assert!(auth.admits(Some(b"bearer  tok")).await);
        for refused in [
            basic("prom", "pw2"),
            basic("prom", "pw1x"),
            basic("nobody", "pw1"),
            basic("prom:pw1", ""),
            b"Basic !!!".to_vec(),
            b"Basic cHJvbQ==".to_vec(), // "prom", no colon
            b"Bearer tok2".to_vec(),
            b"Digest prom".to_vec(),
            vec![0xff, 0xfe],
        ] {
            assert!(
                !auth.admits(Some(&refused)).await,
                "{:?}",
                String::from_utf8_lossy(&refused)
            );
        }
        assert!(!auth.admits(None).await);
        assert_eq!(
            auth.challenge(),
            "Bearer realm=\"metrics\", Basic realm=\"metrics\""
        );
        // A wrong password after a right one does not ride on the kept one.
        assert!(!auth.admits(Some(&basic("prom", "pw"))).await);
        assert!(auth.admits(Some(&basic("prom", "pw1"))).await);
    }

    #[tokio::test]
    async fn without_configuration_anyone_and_a_token_alone_refuses_basic() {
        assert!(
            Auth::new(&MetricsConfig::default())
                .unwrap()
                .admits(None)
                .await
        );
        let auth = Auth::new(&config(&[], Some("tok"))).unwrap();
        assert!(!auth.admits(Some(&basic("tok", "tok"))).await);
        assert_eq!(auth.challenge(), "Bearer realm=\"metrics\"");
    }
}
