//! The keystore: 15 operations over a storage, every one instrumented.

mod crypto;
mod error;
mod storage;

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::{Arc, Mutex, MutexGuard};

use keychain_metrics::collector::{BackendStats, HealthCheck, StatsError};
use keychain_metrics::prometheus::{self, IntCounter};
use keychain_metrics::{instrument_op, Metrics};
use serde::{Deserialize, Deserializer, Serialize};

pub use crypto::{Key, KeyKind};
pub use error::KeyError;
pub use storage::{describe_metrics, FileStorage, MemoryStorage, Storage};

/// What the API tells about a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// The key's id.
    pub id: String,
    /// The key's type.
    pub kind: KeyKind,
}

/// The most keys a restore takes: about a full 64 MiB archive of real keys. A bound on
/// the count, checked as the archive is read, keeps a small archive of many empty
/// entries (2 bytes each in protobuf, 8 in JSON, 48 in memory) from growing 24-fold.
pub const MAX_ARCHIVE_KEYS: usize = 200_000;

/// A backup: every key as PEM, by id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Archive {
    /// (id, PKCS#8 PEM) pairs, at most [`MAX_ARCHIVE_KEYS`] when read.
    #[serde(deserialize_with = "bounded_keys")]
    pub keys: Vec<(String, String)>,
}

/// The archive's pairs, refused past [`MAX_ARCHIVE_KEYS`] before more are allocated.
fn bounded_keys<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    struct Pairs;
    impl<'de> serde::de::Visitor<'de> for Pairs {
        type Value = Vec<(String, String)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "at most {MAX_ARCHIVE_KEYS} [id, pem] pairs")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut keys = Vec::new();
            while let Some(pair) = seq.next_element()? {
                if keys.len() == MAX_ARCHIVE_KEYS {
                    return Err(serde::de::Error::custom(format!(
                        "an archive holds at most {MAX_ARCHIVE_KEYS} keys"
                    )));
                }
                keys.push(pair);
            }
            Ok(keys)
        }
    }
    d.deserialize_seq(Pairs)
}

/// Writers of one key id take turns (one of these locks, by the id's hash): a check and
/// the write that follows it (`store`: is the id free?) see no other writer between.
const WRITER_LOCKS: usize = 64;

/// A keystore backend: `pkcs8` (files) or `memory`.
pub struct KeyStore {
    backend: &'static str,
    storage: Box<dyn Storage>,
    /// Where its operations are recorded.
    metrics: Metrics,
    writers: [Mutex<()>; WRITER_LOCKS],
    /// `keychain_keys_skipped_total{backend}`: keys `list` could not read.
    skipped: IntCounter,
}

fn check_id(id: &str) -> Result<(), KeyError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidParams(
            "a key id is 1 to 64 of [A-Za-z0-9_-]".into(),
        ))
    }
}

impl KeyStore {
    /// The backend `name` over any storage, recording into `metrics` (the fuzzer runs
    /// `pkcs8` in memory).
    pub fn new(name: &'static str, storage: impl Storage + 'static, metrics: Metrics) -> Arc<Self> {
        Arc::new(KeyStore {
            backend: name,
            storage: Box::new(storage),
            skipped: skipped_counter(&metrics, name),
            metrics,
            writers: std::array::from_fn(|_| Mutex::new(())),
        })
    }

    /// The writer lock of key `id`.
    fn writing(&self, id: &str) -> MutexGuard<'_, ()> {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(id);
        let lock = &self.writers[hash as usize % WRITER_LOCKS];
        lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `pkcs8` backend: PKCS#8 PEM files in `dir`.
    pub fn pkcs8(
        dir: impl Into<std::path::PathBuf>,
        metrics: Metrics,
    ) -> std::io::Result<Arc<Self>> {
        Ok(KeyStore::new("pkcs8", FileStorage::new(dir)?, metrics))
    }

    /// The `memory` backend.
    pub fn memory(metrics: Metrics) -> Arc<Self> {
        KeyStore::new("memory", MemoryStorage::default(), metrics)
    }

    /// The backend's name, the `backend` label value.
    pub fn name(&self) -> &'static str {
        self.backend
    }

    fn load(&self, id: &str) -> Result<Key, KeyError> {
        check_id(id)?;
        let pem = self.storage.get(id)?.ok_or(KeyError::NotFound)?;
        Key::from_pem(&pem)
    }

    /// Generates a key of `kind`.
    #[instrument_op(Generate, backend = self.backend, metrics = self.metrics, span)]
    pub fn generate(&self, kind: KeyKind) -> Result<KeyInfo, KeyError> {
        let key = Key::generate(kind);
        let id = crypto::new_id();
        self.storage.put(&id, &key.to_pem()?)?;
        Ok(KeyInfo { id, kind })
    }

    /// Stores a PEM key under `id`, which must be free.
    #[instrument_op(Store, backend = self.backend, metrics = self.metrics, span)]
    pub fn store(&self, id: &str, pem: &str) -> Result<KeyInfo, KeyError> {
        check_id(id)?;
        let key = Key::from_pem(pem)?;
        let _writing = self.writing(id);
        if self.storage.get(id)?.is_some() {
            return Err(KeyError::AlreadyExists);
        }
        self.storage.put(id, &key.to_pem()?)?;
        Ok(KeyInfo {
            id: id.into(),
            kind: key.kind(),
        })
    }

    /// Describes the key `id`.
    #[instrument_op(Get, backend = self.backend, metrics = self.metrics, span)]
    pub fn get(&self, id: &str) -> Result<KeyInfo, KeyError> {
        let key = self.load(id)?;
        Ok(KeyInfo {
            id: id.into(),
            kind: key.kind(),
        })
    }

    /// Deletes the key `id`.
    #[instrument_op(Delete, backend = self.backend, metrics = self.metrics, span)]
    pub fn delete(&self, id: &str) -> Result<(), KeyError> {
        check_id(id)?;
        let _writing = self.writing(id);
        if self.storage.delete(id)? {
            Ok(())
        } else {
            Err(KeyError::NotFound)
        }
    }

    /// Describes every key. A key that cannot be read is reported, counted in
    /// `keychain_keys_skipped_total` and left out: one bad file must not hide the rest.
    #[instrument_op(List, backend = self.backend, metrics = self.metrics, span)]
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let mut keys = Vec::new();
        for id in self.storage.list()? {
            let key = self
                .storage
                .get(&id)
                .map_err(KeyError::Io)
                .and_then(|pem| pem.map(|pem| Key::from_pem(&pem)).transpose());
            match key {
                Ok(Some(key)) => keys.push(KeyInfo {
                    kind: key.kind(),
                    id,
                }),
                Ok(None) => {} // deleted since
                Err(e) => {
                    eprintln!("keychain-server: {}: key {id} skipped: {e}", self.backend);
                    self.skipped.inc();
                }
            }
        }
        Ok(keys)
    }

    /// Signs `data` with the key `id`.
    #[instrument_op(Sign, backend = self.backend, metrics = self.metrics, span)]
    pub fn sign(&self, id: &str, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.load(id)?.sign(data)
    }

    /// Checks a signature of `data` with the key `id`.
    #[instrument_op(Verify, backend = self.backend, metrics = self.metrics, span)]
    pub fn verify(&self, id: &str, data: &[u8], signature: &[u8]) -> Result<bool, KeyError> {
        self.load(id)?.verify(data, signature)
    }

    /// Encrypts with the AES key `id`.
    #[instrument_op(Encrypt, backend = self.backend, metrics = self.metrics, span)]
    pub fn encrypt(&self, id: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.load(id)?.encrypt(plaintext)
    }

    /// Decrypts with the AES key `id`.
    #[instrument_op(Decrypt, backend = self.backend, metrics = self.metrics, span)]
    pub fn decrypt(&self, id: &str, ciphertext: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.load(id)?.decrypt(ciphertext)
    }

    /// The key `id` as PKCS#8 PEM.
    #[instrument_op(Export, backend = self.backend, metrics = self.metrics, span)]
    pub fn export(&self, id: &str) -> Result<String, KeyError> {
        self.load(id)?.to_pem()
    }

    /// Imports a PEM key under a new id.
    #[instrument_op(Import, backend = self.backend, metrics = self.metrics, span)]
    pub fn import(&self, pem: &str) -> Result<KeyInfo, KeyError> {
        let key = Key::from_pem(pem)?;
        let id = crypto::new_id();
        self.storage.put(&id, &key.to_pem()?)?;
        Ok(KeyInfo {
            id,
            kind: key.kind(),
        })
    }

    /// Replaces the key `id` with new material of the same type.
    #[instrument_op(Rotate, backend = self.backend, metrics = self.metrics, span)]
    pub fn rotate(&self, id: &str) -> Result<KeyInfo, KeyError> {
        let _writing = self.writing(id);
        let kind = self.load(id)?.kind();
        self.storage.put(id, &Key::generate(kind).to_pem()?)?;
        Ok(KeyInfo {
            id: id.into(),
            kind,
        })
    }

    /// Every key, as PEM.
    #[instrument_op(Backup, backend = self.backend, metrics = self.metrics, span)]
    pub fn backup(&self) -> Result<Archive, KeyError> {
        let mut keys = Vec::new();
        for id in self.storage.list()? {
            if let Some(pem) = self.storage.get(&id)? {
                keys.push((id, pem));
            }
        }
        Ok(Archive { keys })
    }

    /// Replaces the key set with the archive's (after checking every key parses).
    #[instrument_op(Restore, backend = self.backend, metrics = self.metrics, span)]
    pub fn restore(&self, archive: &Archive) -> Result<usize, KeyError> {
        for (id, pem) in &archive.keys {
            check_id(id)?;
            Key::from_pem(pem)?;
        }
        let kept: std::collections::HashSet<&str> =
            archive.keys.iter().map(|(id, _)| id.as_str()).collect();
        for id in self.storage.list()? {
            if !kept.contains(id.as_str()) {
                let _writing = self.writing(&id);
                self.storage.delete(&id)?;
            }
        }
        for (id, pem) in &archive.keys {
            let _writing = self.writing(id);
            self.storage.put(id, pem)?;
        }
        metrics::counter!("keychain_restored_keys", "backend" => self.backend)
            .increment(archive.keys.len() as u64);
        Ok(archive.keys.len())
    }

    /// Whether the storage can be used.
    #[instrument_op(HealthCheck, backend = self.backend, metrics = self.metrics, span)]
    pub fn health_check(&self) -> Result<(), KeyError> {
        Ok(self.storage.probe()?)
    }
}

/// `keychain_keys_skipped_total{backend}` in `metrics`' registry. A second store of the
/// same backend on one instance (tests make them) counts without being exposed.
fn skipped_counter(metrics: &Metrics, backend: &str) -> IntCounter {
    let opts = prometheus::Opts::new(
        "keychain_keys_skipped_total",
        "Stored keys that could not be read, skipped by list.",
    )
    .const_label("backend", backend);
    let counter = IntCounter::with_opts(opts).expect("a constant, valid name and label");
    let _ = metrics.registry().register(Box::new(counter.clone()));
    counter
}

/// The collector's view. Its health check probes the storage directly, so periodic
/// checks do not show up as `health_check` operations clients made.
impl BackendStats for KeyStore {
    fn name(&self) -> &str {
        self.backend
    }

    fn key_count(&self) -> Result<u64, StatsError> {
        Ok(self.storage.list()?.len() as u64)
    }

    fn cert_count(&self) -> Result<u64, StatsError> {
        Ok(0)
    }

    fn health_check(&self) -> HealthCheck<'_> {
        let probe = self.storage.probe();
        Box::pin(async move { probe.map_err(Into::into) })
    }
}
