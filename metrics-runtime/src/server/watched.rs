//! Something loaded from files and loaded again when any of them changes: the token
//! file, the TLS certificate, key and client CA. Each use stats the files (a few
//! microseconds, and a stat never blocks on a FIFO); a changed modification time,
//! length or (on Unix) inode means load again: the inode catches a file renamed into
//! place whose time and length match the old one's, as two certificates written within
//! one clock tick do. Files are read with [`read_file`](crate::config::read_file):
//! regular files only, bounded, never waiting for a writer.
//!
//! One caller at a time loads, outside the lock that the others read the value under;
//! they go on with the value as it was. A load that fails is reported once per change
//! and, as the [`OnFailure`] of the value says, either keeps the last good value in
//! force (a certificate replaced in two steps, or half-written, must not take the
//! endpoint down) or leaves no value until a good one is back (a token file deleted or
//! emptied revokes the token: nobody is admitted, never everybody).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use crate::config::ConfigError;

type Loader<T> = Box<dyn Fn(&[PathBuf]) -> Result<T, ConfigError> + Send + Sync>;

/// What a failed load leaves in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnFailure {
    /// The last value that loaded.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))] // the TLS settings' policy
    KeepLast,
    /// No value, until a load succeeds again.
    Revoke,
}

/// A value loaded from `paths`; see the [module docs](self).
pub(crate) struct Watched<T> {
    paths: Vec<PathBuf>,
    load: Loader<T>,
    on_failure: OnFailure,
    last: RwLock<Last<T>>,
    /// Held by the one caller that loads.
    loading: Mutex<()>,
}

struct Last<T> {
    /// Each file's stamp when last loaded.
    stamps: Vec<Option<Stamp>>,
    value: Option<Arc<T>>,
}

impl<T> Watched<T> {
    /// Loads the value now; an error here (at start-up) is the caller's to report.
    pub(crate) fn new(
        paths: Vec<PathBuf>,
        on_failure: OnFailure,
        load: impl Fn(&[PathBuf]) -> Result<T, ConfigError> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        let stamps = stamps(&paths);
        let value = Some(Arc::new(load(&paths)?));
        Ok(Watched {
            paths,
            load: Box::new(load),
            on_failure,
            last: RwLock::new(Last { stamps, value }),
            loading: Mutex::new(()),
        })
    }

    /// The value as of the files' last change; `None` when the last load failed and
    /// failures revoke.
    pub(crate) fn current(&self) -> Option<Arc<T>> {
        let now = stamps(&self.paths);
        let read = |watched: &Self| {
            let last = watched.last.read().unwrap_or_else(|e| e.into_inner());
            (last.stamps == now, last.value.clone())
        };
        let (unchanged, value) = read(self);
        if unchanged {
            return value;
        }
        // Another caller is loading: go on with the value as it is.
        let Ok(_loading) = self.loading.try_lock() else {
            return value;
        };
        // It may have loaded these very files since.
        let (unchanged, value) = read(self);
        if unchanged {
            return value;
        }
        let value = match (self.load)(&self.paths) {
            Ok(value) => Some(Arc::new(value)),
            Err(e) => match self.on_failure {
                OnFailure::KeepLast => {
                    eprintln!("keychain-metrics: {e}; the previous one stays in force");
                    value
                }
                OnFailure::Revoke => {
                    eprintln!("keychain-metrics: {e}; refused until it is valid again");
                    None
                }
            },
        };
        let mut last = self.last.write().unwrap_or_else(|e| e.into_inner());
        *last = Last {
            stamps: now,
            value: value.clone(),
        };
        value
    }
}

/// Modification time, length and inode (0 off Unix).
type Stamp = (SystemTime, u64, u64);

fn stamps(paths: &[PathBuf]) -> Vec<Option<Stamp>> {
    let stamp = |path: &PathBuf| {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&meta);
        #[cfg(not(unix))]
        let inode = 0;
        Some((meta.modified().ok()?, meta.len(), inode))
    };
    paths.iter().map(stamp).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::read_file;

    fn sum(paths: &[PathBuf]) -> Result<u32, ConfigError> {
        let mut total = 0;
        for p in paths {
            let text = String::from_utf8(read_file(p)?).unwrap_or_default();
            total += text.trim().parse::<u32>().map_err(|_| ConfigError::Io {
                path: p.display().to_string(),
                error: "not a number".into(),
            })?;
        }
        Ok(total)
    }

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("km-watched-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reloads_on_change_and_keeps_the_last_good_value() {
        let dir = dir("keep");
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, "1").unwrap();
        std::fs::write(&b, "10").unwrap();
        let w = Watched::new(vec![a.clone(), b.clone()], OnFailure::KeepLast, sum).unwrap();
        let current = || w.current().map(|v| *v);
        assert_eq!(current(), Some(11));
        std::fs::write(&b, "20").unwrap();
        assert_eq!(current(), Some(21));
        std::fs::write(&a, "x").unwrap();
        assert_eq!(current(), Some(21), "a failed load keeps the last value");
        std::fs::write(&a, "5").unwrap();
        assert_eq!(current(), Some(25));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(current(), Some(25), "files gone: the last value stays");
        assert!(Watched::new(vec![a], OnFailure::KeepLast, sum).is_err());
    }

    #[test]
    fn a_revoking_value_is_gone_while_its_file_is_bad_and_back_when_good() {
        let dir = dir("revoke");
        let a = dir.join("a");
        std::fs::write(&a, "1").unwrap();
        let w = Watched::new(vec![a.clone()], OnFailure::Revoke, sum).unwrap();
        let current = || w.current().map(|v| *v);
        assert_eq!(current(), Some(1));
        std::fs::write(&a, "").unwrap();
        assert_eq!(current(), None, "emptied");
        std::fs::write(&a, "2").unwrap();
        assert_eq!(current(), Some(2));
        std::fs::remove_file(&a).unwrap();
        assert_eq!(current(), None, "deleted");
        assert_eq!(current(), None, "and still, without a change");
        std::fs::write(&a, "3").unwrap();
        assert_eq!(current(), Some(3));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_huge_file_in_its_place_fails_at_once() {
        let dir = dir("fifo");
        let a = dir.join("a");
        std::fs::write(&a, "1").unwrap();
        let w = Watched::new(vec![a.clone()], OnFailure::Revoke, sum).unwrap();
        std::fs::remove_file(&a).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&a)
            .status()
            .unwrap();
        assert!(made.success());
        // Opening a FIFO for reading would wait for a writer for ever.
        assert_eq!(w.current(), None);
        let e = read_file(&a).unwrap_err().to_string();
        assert!(e.ends_with(": not a regular file"), "{e}");
        std::fs::remove_file(&a).unwrap();
        std::fs::write(&a, vec![b'1'; 2 * 1024 * 1024]).unwrap();
        assert_eq!(w.current(), None);
        let e = read_file(&a).unwrap_err().to_string();
        assert!(e.ends_with(": larger than 1024 KiB"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
