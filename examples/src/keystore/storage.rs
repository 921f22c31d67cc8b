//! Where keys live: PEM files written atomically, or memory.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
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

/// One `<id>.pem` file per key. A write goes to a temporary file in the same directory,
/// is synced, and is renamed over the target, and the directory is synced: a crash
/// leaves either the old key or the new one, never half of one.
pub struct FileStorage {
    dir: PathBuf,
}

impl FileStorage {
    /// Keys in `dir`, created if needed; leftovers of interrupted writes are removed.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir)?;
        // Leftovers of writes a crash interrupted are not keys.
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".tmp-"))
            {
                let _ = fs::remove_file(path);
            }
        }
        Ok(FileStorage { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.pem"))
    }

    fn sync_dir(&self) -> io::Result<()> {
        fs::File::open(&self.dir)?.sync_all()
    }
}

impl Storage for FileStorage {
    fn put(&self, id: &str, pem: &str) -> io::Result<()> {
        let tmp = self.dir.join(format!(".tmp-{id}-{}", std::process::id()));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        file.write_all(pem.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, self.path(id))?;
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
