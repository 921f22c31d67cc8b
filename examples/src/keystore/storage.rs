//! Where keys live: PEM files written atomically, or memory.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// A place to keep PEM keys by id. Ids are checked before they get here.
pub trait Storage: Send + Sync {
    /// Writes (or replaces) the key `id`.
    fn put(&self, id: &str, pem: &str) -> io::Result<()>;
    /// Reads the key `id`, if it exists.
    fn get(&self, id: &str) -> io::Result<Option<String>>;
    /// Removes the key `id`; whether it existed.
    fn delete(&self, id: &str) -> io::Result<bool>;
    /// Every key id, sorted.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Can the storage be used right now?
    fn probe(&self) -> io::Result<()>;
}

/// One `<id>.pem` file per key, readable by this user only (0600, in a 0700
/// directory). A write goes to a temporary file of its own in the same directory (a new
/// name, created exclusively, so concurrent writes never share one), is synced, and is
/// renamed over the target, and the directory is synced: a crash leaves either the old
/// key or the new one, never half of one.
pub struct FileStorage {
    dir: PathBuf,
    /// Numbers the temporary files of this process.
    writes: AtomicU64,
}

impl FileStorage {
    /// Keys in `dir`, created (0700) if needed, refused if another user owns it or may
    /// enter it (see [`private::dir`](crate::private::dir)); leftovers of interrupted
    /// writes are removed.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        crate::private::dir(&dir)?;
        // Leftovers of writes a crash interrupted are not keys.
        let mut keys = 0u64;
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with(".tmp-") {
                let _ = fs::remove_file(&path);
            } else if name.ends_with(".pem") {
                keys += 1;
            }
        }
        metrics::counter!("keychain_pkcs8_startup_key_files").increment(keys);
        Ok(FileStorage {
            dir,
            writes: AtomicU64::new(0),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.pem"))
    }

    fn sync_dir(&self) -> io::Result<()> {
        let dir = fs::File::open(&self.dir)?;
        timed_sync(&dir, "directory")
    }
}

/// Describes the file storage's own metrics, recorded through the `metrics` facade (as
/// a storage crate that knows nothing of keychain-metrics would): call before the first
/// use, so that the fsync histogram is named in seconds.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        "keychain_pkcs8_fsync",
        metrics::Unit::Seconds,
        "Duration of the fsync of a key file or of the key directory, by target."
    );
    metrics::describe_counter!(
        "keychain_pkcs8_startup_key_files",
        "Key files found in the pkcs8 directory when the storage opened."
    );
}

/// `file.sync_all()`, timed into `keychain_pkcs8_fsync_seconds{target}`.
fn timed_sync(file: &fs::File, target: &'static str) -> io::Result<()> {
    let start = std::time::Instant::now();
    let synced = file.sync_all();
    metrics::histogram!("keychain_pkcs8_fsync", "target" => target)
        .record(start.elapsed().as_secs_f64());
    synced
}

impl Storage for FileStorage {
    fn put(&self, id: &str, pem: &str) -> io::Result<()> {
        let n = self.writes.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".tmp-{id}-{}-{n}", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let written = file
            .write_all(pem.as_bytes())
            .and_then(|()| timed_sync(&file, "file"))
            .and_then(|()| fs::rename(&tmp, self.path(id)));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        self.sync_dir()
    }

    fn get(&self, id: &str) -> io::Result<Option<String>> {
        match fs::read_to_string(self.path(id)) {
            Ok(pem) => Ok(Some(pem)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn delete(&self, id: &str) -> io::Result<bool> {
        match fs::remove_file(self.path(id)) {
            Ok(()) => self.sync_dir().map(|()| true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".pem")) {
                if !id.starts_with('.') {
                    ids.push(id.to_owned());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    fn probe(&self) -> io::Result<()> {
        fs::metadata(&self.dir).map(|_| ())
    }
}

/// Keys in memory.
#[derive(Default)]
pub struct MemoryStorage {
    keys: RwLock<BTreeMap<String, String>>,
}

fn poisoned() -> io::Error {
    io::Error::other("memory storage lock poisoned")
}

impl Storage for MemoryStorage {
    fn put(&self, id: &str, pem: &str) -> io::Result<()> {
        self.keys
            .write()
            .map_err(|_| poisoned())?
            .insert(id.into(), pem.into());
        Ok(())
    }

    fn get(&self, id: &str) -> io::Result<Option<String>> {
        Ok(self.keys.read().map_err(|_| poisoned())?.get(id).cloned())
    }

    fn delete(&self, id: &str) -> io::Result<bool> {
        Ok(self
            .keys
            .write()
            .map_err(|_| poisoned())?
            .remove(id)
            .is_some())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self
            .keys
            .read()
            .map_err(|_| poisoned())?
            .keys()
            .cloned()
            .collect())
    }

    fn probe(&self) -> io::Result<()> {
        self.keys.read().map(|_| ()).map_err(|_| poisoned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn concurrent_writes_of_one_id_leave_one_whole_value() {
        let dir = crate::private::fresh_dir("km-storage").unwrap();
        let storage = FileStorage::new(dir.join("keys")).unwrap();
        // A long value and a short one: a short write over a long one must not leave
        // the long one's tail.
        let values = ["L".repeat(4096) + "\n", "s\n".to_owned()];
        for _ in 0..20 {
            std::thread::scope(|scope| {
                for t in 0..8 {
                    let (storage, value) = (&storage, &values[t % 2]);
                    scope.spawn(move || {
                        for _ in 0..5 {
                            storage.put("same", value).unwrap();
                        }
                    });
                }
            });
            let got = storage.get("same").unwrap().unwrap();
            assert!(
                values.contains(&got),
                "{} bytes: {:?}…",
                got.len(),
                &got[..8.min(got.len())]
            );
        }
        assert_eq!(storage.list().unwrap(), ["same"]);
        let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&storage.path("same")), 0o600);
        assert_eq!(mode(&dir.join("keys")), 0o700);
        let leftovers = fs::read_dir(dir.join("keys")).unwrap().count();
        assert_eq!(leftovers, 1, "temporary files left behind");
        fs::remove_dir_all(&dir).unwrap();
    }
}
