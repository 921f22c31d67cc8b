//! The bearer token scrapes must present: fixed in the configuration, or read from a
//! file that is read again whenever it changes, so a rotated secret takes effect
//! without a restart. Compared in constant time (`subtle`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use subtle::ConstantTimeEq;

use crate::config::{check_token, ConfigError};

/// Where the token comes from.
pub(crate) enum Token {
    /// No authentication.
    None,
    /// `bearer_token`.
    Fixed(String),
    /// `bearer_token_file`.
    File(TokenFile),
}

impl Token {
    /// Whether `presented` (what followed `Bearer `) is the token; always, without one.
    pub(crate) fn admits(&self, presented: Option<&str>) -> bool {
        let expected = |token: &str, presented: Option<&str>| {
            presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(token.as_bytes())))
        };
        match self {
            Token::None => true,
            Token::Fixed(token) => expected(token, presented),
            Token::File(file) => file.with_current(|token| expected(token, presented)),
        }
    }
}

/// A token file and what was last read from it.
pub(crate) struct TokenFile {
    path: PathBuf,
    last: Mutex<Read>,
}

/// The token as of the file's last change.
struct Read {
    /// Modification time and length when read: a change of either means read again.
    stamp: Option<(SystemTime, u64)>,
    token: String,
}

const FIELD: &str = "metrics.bearer_token_file";

impl TokenFile {
    /// Reads `path`; an unreadable file or an invalid token is an error (at start-up).
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        let stamp = stamp(path);
        let token = read(path)?;
        Ok(TokenFile {
            path: path.to_owned(),
            last: Mutex::new(Read { stamp, token }),
        })
    }

    /// Calls `f` with the current token, reading the file again if it changed. A file
    /// that has become unreadable or invalid keeps the last good token in force (a
    /// rotation that replaces the file is never seen half-written), and says so.
    fn with_current<T>(&self, f: impl FnOnce(&str) -> T) -> T {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = stamp(&self.path);
        if now != last.stamp {
            match read(&self.path) {
                Ok(token) => *last = Read { stamp: now, token },
                Err(e) => {
                    eprintln!("keychain-metrics: {e}; the previous token stays in force");
                    last.stamp = now;
                }
            }
        }
        f(&last.token)
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The token in `path`, without one trailing line break.
fn read(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
        path: path.display().to_string(),
        error: e.to_string(),
    })?;
    let token = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    check_token(FIELD, token)?;
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_token_admits_only_itself() {
        let t = Token::Fixed("s3cret".into());
        assert!(t.admits(Some("s3cret")));
        for wrong in [Some("s3creT"), Some("s3cret2"), Some(""), None] {
            assert!(!t.admits(wrong), "{wrong:?}");
        }
        assert!(Token::None.admits(None));
    }

    #[test]
    fn a_token_file_is_read_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("km-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first-token\n").unwrap();
        let t = Token::File(TokenFile::load(&path).unwrap());
        assert!(t.admits(Some("first-token")));
        std::fs::write(&path, "second-token-longer\r\n").unwrap();
        assert!(t.admits(Some("second-token-longer")));
        assert!(!t.admits(Some("first-token")));
        // Emptied: the last good token stays.
        std::fs::write(&path, "").unwrap();
        assert!(t.admits(Some("second-token-longer")));
        std::fs::remove_dir_all(&dir).unwrap();
        let e = TokenFile::load(&path).err().unwrap().to_string();
        assert!(e.starts_with("cannot read ") && e.contains("token"), "{e}");
    }

    #[test]
    fn an_invalid_token_file_is_an_error_that_hides_the_token() {
        let path = std::env::temp_dir().join(format!("km-token-bad-{}", std::process::id()));
        std::fs::write(&path, "two words\n").unwrap();
        let e = TokenFile::load(&path).err().unwrap().to_string();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            e,
            "metrics.bearer_token_file: (hidden): must be printable ASCII without spaces"
        );
    }
}
