//! Something loaded from files and loaded again when any of them changes: the token
//! file, the TLS certificate, key and client CA. Each use stats the files (a few
//! microseconds); a changed modification time, length or (on Unix) inode means load
//! again: the inode catches a file renamed into place whose time and length match the
//! old one's, as two certificates written within one clock tick do. A load that
//! fails keeps the last good value in force and says so once per change, so a secret
//! or certificate replaced in two steps, or half-written, never opens the endpoint or
//! takes it down.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::config::ConfigError;

type Loader<T> = Box<dyn Fn(&[PathBuf]) -> Result<T, ConfigError> + Send + Sync>;

/// A value loaded from `paths`; see the [module docs](self).
pub(crate) struct Watched<T> {
    paths: Vec<PathBuf>,
    load: Loader<T>,
    last: Mutex<Last<T>>,
}

struct Last<T> {
    /// Each file's stamp when last loaded.
    stamps: Vec<Option<Stamp>>,
    value: Arc<T>,
}

impl<T> Watched<T> {
    /// Loads the value now; an error here (at start-up) is the caller's to report.
    pub(crate) fn new(
        paths: Vec<PathBuf>,
        load: impl Fn(&[PathBuf]) -> Result<T, ConfigError> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        let stamps = stamps(&paths);
        let value = Arc::new(load(&paths)?);
        Ok(Watched {
            paths,
            load: Box::new(load),
            last: Mutex::new(Last { stamps, value }),
        })
    }

    /// The value as of the files' last change that loaded.
    pub(crate) fn current(&self) -> Arc<T> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamps(&self.paths);
        if now != last.stamps {
            match (self.load)(&self.paths) {
                Ok(value) => last.value = Arc::new(value),
                Err(e) => eprintln!("keychain-metrics: {e}; the previous one stays in force"),
            }
            last.stamps = now;
        }
        Arc::clone(&last.value)
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

    #[test]
    fn reloads_on_change_and_keeps_the_last_good_value() {
        let dir = std::env::temp_dir().join(format!("km-watched-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, "1").unwrap();
        std::fs::write(&b, "10").unwrap();
        let sum = |paths: &[PathBuf]| -> Result<u32, ConfigError> {
            let mut total = 0;
            for p in paths {
                let text = String::from_utf8(read_file(p)?).unwrap_or_default();
                total += text.trim().parse::<u32>().map_err(|_| ConfigError::Io {
                    path: p.display().to_string(),
                    error: "not a number".into(),
                })?;
            }
            Ok(total)
        };
        let w = Watched::new(vec![a.clone(), b.clone()], sum).unwrap();
        assert_eq!(*w.current(), 11);
        std::fs::write(&b, "20").unwrap();
        assert_eq!(*w.current(), 21);
        std::fs::write(&a, "x").unwrap();
        assert_eq!(*w.current(), 21, "a failed load keeps the last value");
        std::fs::write(&a, "5").unwrap();
        assert_eq!(*w.current(), 25);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(*w.current(), 25, "files gone: the last value stays");
        assert!(Watched::new(vec![a], sum).is_err());
    }
}
