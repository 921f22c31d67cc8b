//! Files only this user may read: the keystore's directory and the span file. Keys are
//! secrets, and a world-readable temporary directory is where other local users look.
//!
//! - [`fresh_dir`]: a new directory of a random name in the temporary directory, mode
//!   0700, created here (never one that someone else created first at a name they
//!   could guess).
//! - [`dir`]: a directory given by the user: created 0700 if missing; refused if it is
//!   someone else's or others may read, write or enter it.
//! - [`append`]: a file opened for appending, created 0600, never through a symbolic
//!   link (which could point the writes at another file).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};

/// A new private directory `<temp>/<prefix>-<random>`.
pub fn fresh_dir(prefix: &str) -> io::Result<PathBuf> {
    loop {
        let path = std::env::temp_dir().join(format!("{prefix}-{:016x}", OsRng.next_u64()));
        // `mkdir` fails on any existing entry, a symbolic link included.
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `path` as a private directory: created (mode 0700) if missing; an existing one must
/// belong to this user and be closed to everyone else.
pub fn dir(path: &Path) -> io::Result<()> {
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{}: {why}", path.display()),
        ))
    };
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path);
        }
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return refuse("not a directory".into());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return refuse(format!(
            "belongs to user {}, not to this one ({me}): another user could read or \
             replace the keys",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return refuse(format!(
            "mode {mode:03o} lets other users in: `chmod 700` it or choose another"
        ));
    }
    Ok(())
}

/// `path` opened for appending: created with mode 0600, refused if it is a symbolic
/// link.
pub fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_fresh_dir_is_new_and_private() {
        let (a, b) = (
            fresh_dir("km-private").unwrap(),
            fresh_dir("km-private").unwrap(),
        );
        assert_ne!(a, b);
        assert_eq!((mode(&a), mode(&b)), (0o700, 0o700));
        fs::remove_dir(&a).unwrap();
        fs::remove_dir(&b).unwrap();
    }

    #[test]
    fn a_given_dir_is_created_private_and_a_loose_or_foreign_one_refused() {
        let base = fresh_dir("km-private-given").unwrap();
        let made = base.join("a/b");
        dir(&made).unwrap();
        assert_eq!(mode(&made), 0o700);
        dir(&made).unwrap(); // as it is now: accepted again
        fs::set_permissions(&made, fs::Permissions::from_mode(0o755)).unwrap();
        let e = dir(&made).unwrap_err().to_string();
        assert!(
            e.ends_with("mode 755 lets other users in: `chmod 700` it or choose another"),
            "{e}"
        );
        fs::set_permissions(&made, fs::Permissions::from_mode(0o700)).unwrap();
        let file = base.join("file");
        fs::write(&file, "").unwrap();
        assert!(dir(&file)
            .unwrap_err()
            .to_string()
            .ends_with(": not a directory"));
        // Another user's directory (only root can make one here).
        if std::os::unix::fs::chown(&made, Some(65534), None).is_ok() {
            let e = dir(&made).unwrap_err().to_string();
            assert!(e.contains("belongs to user 65534"), "{e}");
        }
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn appending_creates_0600_and_never_follows_a_link() {
        let base = fresh_dir("km-private-append").unwrap();
        let spans = base.join("spans.jsonl");
        drop(append(&spans).unwrap());
        assert_eq!(mode(&spans), 0o600);
        let target = base.join("target");
        fs::write(&target, "precious").unwrap();
        let link = base.join("link.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = append(&link).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
        fs::remove_dir_all(&base).unwrap();
    }
}
