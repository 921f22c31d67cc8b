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

/// An error about the file `path` that `field` names.
#[cfg(any(feature = "tls", feature = "otlp"))]
pub(crate) fn file_error(field: &str, path: &Path, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Field {
        field: field.to_owned(),
        message: format!("{}: {message}", path.display()),
    }
}

/// Every certificate in the PEM file `field` names; none is an error.
#[cfg(any(feature = "tls", feature = "otlp"))]
pub(crate) fn pem_certificates(
    field: &str,
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, ConfigError> {
    use rustls::pki_types::pem::PemObject;

    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&read_file(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(field, path, format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(field, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

/// The private key in the PEM file `field` names.
#[cfg(any(feature = "tls", feature = "otlp"))]
pub(crate) fn pem_private_key(
    field: &str,
    path: &Path,
) -> Result<rustls::pki_types::PrivateKeyDer<'static>, ConfigError> {
    use rustls::pki_types::pem::PemObject;

    rustls::pki_types::PrivateKeyDer::from_pem_slice(&read_file(path)?).map_err(|_| {
        file_error(
            field,
            path,
            "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
        )
    })
}
