//! Reading the files a configuration names, without hanging on one that is not a file.

use std::path::Path;

use crate::config::ConfigError;

/// The largest file [`read_file`] takes: a configuration, a token, a certificate chain
/// or a CA bundle is far smaller.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A file's bytes, or a [`ConfigError::Io`] naming it: the configuration file, and the
/// token, certificate and key files the server reads (again when they change). Only a
/// regular file of at most [`MAX_FILE_BYTES`] is read, and it is opened without
/// blocking, so a FIFO or a device put in its place fails at once instead of hanging
/// the thread that reads it.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read as _;

    let error = |error: String| ConfigError::Io {
        path: path.display().to_string(),
        error,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading waits for a writer; this does not.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| error(e.to_string()))?;
    let meta = file.metadata().map_err(|e| error(e.to_string()))?;
    if !meta.is_file() {
        return Err(error("not a regular file".into()));
    }
    let too_large = || error(format!("larger than {} KiB", MAX_FILE_BYTES / 1024));
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(e.to_string()))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large()); // it grew while read
    }
    Ok(bytes)
}
