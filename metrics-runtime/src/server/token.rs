//! The bearer token scrapes must present: fixed in the configuration, or read from a
//! file that is read again whenever it changes, so a rotated secret takes effect
//! without a restart. A token file that is deleted, emptied or otherwise invalid
//! revokes the token: every bearer request is refused until a valid one is back.
//! Compared in constant time (`subtle`).

use std::path::Path;

use subtle::ConstantTimeEq;

use super::watched::{OnFailure, Watched};
use crate::config::{check_token, read_file, ConfigError};

/// Where the token comes from.
pub(crate) enum Token {
    /// `bearer_token`.
    Fixed(String),
    /// `bearer_token_file`.
    File(TokenFile),
}

impl Token {
    /// Whether `presented` (what followed `Bearer `) is the token.
    pub(crate) fn admits(&self, presented: &str) -> bool {
        let expected = |token: &str| bool::from(presented.as_bytes().ct_eq(token.as_bytes()));
        match self {
            Token::Fixed(token) => expected(token),
            Token::File(file) => file.0.current().is_some_and(|token| expected(&token)),
        }
    }
}

/// `bearer_token_file`: the token as of the file's last change.
pub(crate) struct TokenFile(Watched<String>);

const FIELD: &str = "metrics.bearer_token_file";

impl TokenFile {
    /// Reads `path`; an unreadable file or an invalid token is an error (at start-up).
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        Watched::new(vec![path.to_owned()], OnFailure::Revoke, |paths| {
            read(&paths[0])
        })
        .map(TokenFile)
    }
}

/// The token in `path`, without one trailing line break.
fn read(path: &Path) -> Result<String, ConfigError> {
    let bytes = read_file(path)?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::Invalid {
        field: FIELD,
        value: "(hidden)".into(),
        reason: "must be printable ASCII without spaces",
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
        assert!(t.admits("s3cret"));
        for wrong in ["s3creT", "s3cret2", ""] {
            assert!(!t.admits(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn a_token_file_is_read_again_when_it_changes() {
        let dir = std::env::temp_dir().join(format!("km-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "first-token\n").unwrap();
        let t = Token::File(TokenFile::load(&path).unwrap());
        assert!(t.admits("first-token"));
        std::fs::write(&path, "second-token-longer\r\n").unwrap();
        assert!(t.admits("second-token-longer"));
        assert!(!t.admits("first-token"));
        // Emptied, deleted or invalid: no token admits until a valid one is back.
        std::fs::write(&path, "").unwrap();
        assert!(!t.admits("second-token-longer"));
        assert!(!t.admits(""));
        std::fs::write(&path, "third\n").unwrap();
        assert!(t.admits("third"));
        std::fs::write(&path, "two words").unwrap();
        assert!(!t.admits("third") && !t.admits("two words"));
        std::fs::write(&path, "fourth").unwrap();
        assert!(t.admits("fourth"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!t.admits("fourth"));
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
