//! Who may scrape: a bearer token (`bearer_token`, `bearer_token_file`), HTTP basic
//! authentication against bcrypt hashes (`basic_auth_users`), either admitting; with
//! neither configured, anyone. Secrets are compared in constant time (`subtle`).
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), which makes it a lever
//! for anyone who can reach the port, so a verification is bounded three ways:
//!
//! - a user's last verified password is kept, and the next scrape with it (Prometheus
//!   sends the same one every interval) is answered with a constant-time comparison,
//!   before and regardless of anything below: a flood never holds a scraper back;
//! - at most [`VERIFICATIONS_AT_ONCE`] run at once, on low-priority threads of their
//!   own ([`Verifier`]), each holding its permit until bcrypt returns, also when the
//!   client has hung up;
//! - after a failed one, verifications wait a back-off that doubles with each further
//!   failure (up to [`MAX_BACKOFF`]) and ends with a success.
//!
//! A request that finds no permit, or comes during the back-off, is refused at once as
//! [`Verdict::Busy`] (`429`), without running bcrypt. An unknown user is verified
//! against the configured hash of the highest cost all the same, so neither the answer
//! nor its timing tells which users exist.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::token::{Token, TokenFile};
use super::verifier::Verifier;
use crate::config::{ConfigError, MetricsConfig};

/// bcrypt verifications running at once, each on a thread of the [`Verifier`].
const VERIFICATIONS_AT_ONCE: usize = 2;
/// The back-off after a first failed verification; it doubles with each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest back-off: failures cost at most one bcrypt per this time, and a new
/// (not yet verified) credential waits at most this long once the failures stop.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What authentication says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It may read the metrics.
    Admit,
    /// No valid credential: `401`.
    Refuse,
    /// Its credential needs a verification that cannot run now: `429`.
    Busy,
}

/// The endpoint's authentication; see the [module docs](self).
pub(crate) struct Auth {
    token: Option<Token>,
    users: Option<Users>,
}

/// `basic_auth_users`, with each user's last verified password.
struct Users {
    by_name: BTreeMap<String, User>,
    /// The hash an unknown user's password is checked against: the costliest one.
    decoy: String,
    /// Permits for verifications; each moves into its job.
    verifications: Arc<Semaphore>,
    verifier: Verifier,
    backoff: Arc<Mutex<Backoff>>,
}

struct User {
    hash: String,
    /// The last password that verified; shared with the verification in flight.
    verified: Arc<Mutex<Option<Vec<u8>>>>,
}

/// When verifications may run again after failures.
#[derive(Default)]
struct Backoff {
    until: Option<Instant>,
    wait: Duration,
}

impl Backoff {
    fn allows(&self, now: Instant) -> bool {
        self.until.is_none_or(|until| now >= until)
    }

    fn failed(&mut self, now: Instant) {
        self.wait = (self.wait * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
        self.until = Some(now + self.wait);
    }

    fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

/// bcrypt's cost parameter of `hash` (0 if it has none).
fn cost(hash: &str) -> u32 {
    hash.parse::<bcrypt::HashParts>()
        .map_or(0, |parts| parts.get_cost())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Auth {
    /// The configuration's authentication; a token file is read now.
    pub(crate) fn new(config: &MetricsConfig) -> Result<Self, ConfigError> {
        let token = match (&config.bearer_token, &config.bearer_token_file) {
            (Some(token), _) => Some(Token::Fixed(token.clone())),
            (None, Some(file)) => Some(Token::File(TokenFile::load(file)?)),
            (None, None) => None,
        };
        let users = &config.basic_auth_users;
        let verifier = match users.is_empty() {
            true => None,
            false => {
                Some(
                    Verifier::new(VERIFICATIONS_AT_ONCE).map_err(|e| ConfigError::Field {
                        field: "metrics.basic_auth_users".into(),
                        message: format!("cannot start the threads that verify passwords: {e}"),
                    })?,
                )
            }
        };
        let users = users
            .values()
            .max_by_key(|hash| cost(hash))
            .zip(verifier)
            .map(|(decoy, verifier)| Users {
                decoy: decoy.clone(),
                by_name: users
                    .iter()
                    .map(|(name, hash)| {
                        let user = User {
                            hash: hash.clone(),
                            verified: Arc::default(),
                        };
                        (name.clone(), user)
                    })
                    .collect(),
                verifications: Arc::new(Semaphore::new(VERIFICATIONS_AT_ONCE)),
                verifier,
                backoff: Arc::default(),
            });
        Ok(Auth { token, users })
    }

    /// What to do with a scrape that sent this `Authorization` header value.
    pub(crate) async fn admits(&self, authorization: Option<&[u8]>) -> Verdict {
        if self.token.is_none() && self.users.is_none() {
            return Verdict::Admit;
        }
        let Some(value) = authorization.and_then(|v| std::str::from_utf8(v).ok()) else {
            return Verdict::Refuse;
        };
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim_start();
        if scheme.eq_ignore_ascii_case("bearer") {
            let admitted = self.token.as_ref().is_some_and(|t| t.admits(credentials));
            return if admitted {
                Verdict::Admit
            } else {
                Verdict::Refuse
            };
        }
        match &self.users {
            Some(users) if scheme.eq_ignore_ascii_case("basic") => users.admit(credentials).await,
            _ => Verdict::Refuse,
        }
    }

    /// Whether a person in a browser can be admitted: a browser sends basic
    /// credentials it asks for, never a bearer token (feature `ui`).
    #[cfg(feature = "ui")]
    pub(crate) fn admits_browsers(&self) -> bool {
        self.users.is_some() || self.token.is_none()
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
    async fn admit(&self, credentials: &str) -> Verdict {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials) else {
            return Verdict::Refuse;
        };
        let Some(colon) = decoded.iter().position(|b| *b == b':') else {
            return Verdict::Refuse;
        };
        let (name, password) = (&decoded[..colon], decoded[colon + 1..].to_vec());
        let user = std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.by_name.get(n));
        if let Some(user) = user {
            let verified = lock(&user.verified);
            if verified
                .as_ref()
                .is_some_and(|v| bool::from(v.as_slice().ct_eq(&password)))
            {
                return Verdict::Admit;
            }
        }
        if !lock(&self.backoff).allows(Instant::now()) {
            return Verdict::Busy;
        }
        let Ok(permit) = Arc::clone(&self.verifications).try_acquire_owned() else {
            return Verdict::Busy;
        };
        let hash = user.map_or(&self.decoy, |u| &u.hash).clone();
        let keep = user.map(|u| Arc::clone(&u.verified));
        let backoff = Arc::clone(&self.backoff);
        // The job owns its permit: a client that hangs up does not free it early.
        let check = self.verifier.run(move || {
            let matches = bcrypt::verify(&password, &hash).unwrap_or(false);
            let admitted = match keep {
                Some(verified) if matches => {
                    *lock(&verified) = Some(password);
                    true
                }
                _ => false,
            };
            let mut backoff = lock(&backoff);
            if admitted {
                backoff.succeeded();
            } else {
                backoff.failed(Instant::now());
            }
            drop(permit);
            admitted
        });
        match check.await {
            Some(true) => Verdict::Admit,
            _ => Verdict::Refuse,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b64}").into_bytes()
    }

    fn config(users: &[(&str, &str, u32)], token: Option<&str>) -> MetricsConfig {
        MetricsConfig {
            basic_auth_users: users
                .iter()
                .map(|(u, p, cost)| ((*u).to_owned(), bcrypt::hash(p, *cost).unwrap()))
                .collect(),
            bearer_token: token.map(str::to_owned),
            ..MetricsConfig::default()
        }
    }

    fn users(auth: &Auth) -> &Users {
        auth.users.as_ref().unwrap()
    }

    #[tokio::test]
    async fn basic_users_and_tokens() {
        let users = [("prom", "pw1", 4), ("grafana", "pw2", 4)];
        let auth = Auth::new(&config(&users, Some("tok"))).unwrap();
        assert_eq!(
            auth.admits(Some(&basic("prom", "pw1"))).await,
            Verdict::Admit
        );
        // Twice: the second answered from the verified password.
        assert_eq!(
            auth.admits(Some(&basic("prom", "pw1"))).await,
            Verdict::Admit
        );
        assert_eq!(
            auth.admits(Some(&basic("grafana", "pw2"))).await,
            Verdict::Admit
        );
        assert_eq!(auth.admits(Some(b"Bearer tok")).await, Verdict::Admit);
        assert_eq!(auth.admits(Some(b"bearer  tok")).await, Verdict::Admit);
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
            assert_ne!(
                auth.admits(Some(&refused)).await,
                Verdict::Admit,
                "{:?}",
                String::from_utf8_lossy(&refused)
            );
        }
        assert_eq!(auth.admits(None).await, Verdict::Refuse);
        assert_eq!(
            auth.challenge(),
            "Bearer realm=\"metrics\", Basic realm=\"metrics\""
        );
        // A wrong password after a right one does not ride on the kept one, and the
        // back-off it causes does not hold back the kept one.
        assert_ne!(
            auth.admits(Some(&basic("prom", "pw"))).await,
            Verdict::Admit
        );
        assert_eq!(
            auth.admits(Some(&basic("prom", "pw1"))).await,
            Verdict::Admit
        );
    }

    #[tokio::test]
    async fn without_configuration_anyone_and_a_token_alone_refuses_basic() {
        let open = Auth::new(&MetricsConfig::default()).unwrap();
        assert_eq!(open.admits(None).await, Verdict::Admit);
        let auth = Auth::new(&config(&[], Some("tok"))).unwrap();
        assert_eq!(
            auth.admits(Some(&basic("tok", "tok"))).await,
            Verdict::Refuse
        );
        assert_eq!(auth.challenge(), "Bearer realm=\"metrics\"");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_of_wrong_passwords_runs_at_most_two_verifications() {
        let auth = Arc::new(Auth::new(&config(&[("prom", "pw", 8)], None)).unwrap());
        assert_eq!(
            auth.admits(Some(&basic("prom", "pw"))).await,
            Verdict::Admit
        );
        let flood: Vec<_> = (0..20)
            .map(|i| {
                let auth = Arc::clone(&auth);
                let header = basic(if i % 2 == 0 { "prom" } else { "nobody" }, "wrong");
                tokio::spawn(async move { auth.admits(Some(&header)).await })
            })
            .collect();
        let mut verdicts = BTreeMap::<&str, usize>::new();
        for attempt in flood {
            let verdict = match attempt.await.unwrap() {
                Verdict::Admit => "admit",
                Verdict::Refuse => "refuse", // one bcrypt run each
                Verdict::Busy => "busy",     // none
            };
            *verdicts.entry(verdict).or_default() += 1;
        }
        let refused = verdicts.get("refuse").copied().unwrap_or(0);
        assert!(
            (1..=VERIFICATIONS_AT_ONCE).contains(&refused),
            "{verdicts:?}"
        );
        assert_eq!(verdicts.get("busy"), Some(&(20 - refused)), "{verdicts:?}");
        // The back-off is in force: the next wrong one costs nothing, the kept one passes.
        assert_eq!(auth.admits(Some(&basic("prom", "x"))).await, Verdict::Busy);
        assert_eq!(
            auth.admits(Some(&basic("prom", "pw"))).await,
            Verdict::Admit
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_hangs_up_keeps_its_verification_counted() {
        let auth = Arc::new(Auth::new(&config(&[("prom", "pw", 10)], None)).unwrap());
        let attempts: Vec<_> = (0..10)
            .map(|_| {
                let auth = Arc::clone(&auth);
                tokio::spawn(async move { auth.admits(Some(&basic("x", "y"))).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        for attempt in attempts {
            attempt.abort(); // as hyper drops the handler of a closed connection
        }
        let permits = &users(&auth).verifications;
        assert!(
            permits.available_permits() < VERIFICATIONS_AT_ONCE,
            "the jobs still run and hold their permits"
        );
        // Until they end, and then during the back-off, more attempts are refused cheaply.
        assert_eq!(auth.admits(Some(&basic("y", "z"))).await, Verdict::Busy);
        let _ = permits.acquire_many(VERIFICATIONS_AT_ONCE as u32).await;
        assert!(!lock(&users(&auth).backoff).allows(Instant::now()));
    }

    #[test]
    fn unknown_users_are_checked_against_the_costliest_hash() {
        let auth = Auth::new(&config(
            &[("a", "pw", 5), ("b", "pw", 6), ("c", "pw", 4)],
            None,
        ))
        .unwrap();
        assert_eq!(cost(&users(&auth).decoy), 6);
        assert_eq!(cost("not a hash"), 0);
    }

    #[test]
    fn the_backoff_doubles_to_its_bound_and_ends_with_a_success() {
        let mut b = Backoff::default();
        let now = Instant::now();
        assert!(b.allows(now));
        for expected in [100, 200, 400, 800, 1600, 2000, 2000] {
            b.failed(now);
            assert_eq!(b.wait, Duration::from_millis(expected));
            assert!(!b.allows(now + b.wait - Duration::from_millis(1)));
            assert!(b.allows(now + b.wait));
        }
        b.succeeded();
        assert!(b.allows(now));
        assert_eq!(b.wait, Duration::ZERO);
    }
}
