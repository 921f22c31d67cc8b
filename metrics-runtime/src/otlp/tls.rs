//! The TLS client for an `https://` collector: rustls with its ring provider, the
//! configured CA or the system's roots, and a client certificate if one is given.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::config::{read_file, ConfigError, OtlpProtocol, Push};

fn error(field: &str, path: &Path, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Field {
        field: field.to_owned(),
        message: format!("{}: {message}", path.display()),
    }
}

fn certificates(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(&read_file(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(field, path, format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(error(field, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

pub(crate) fn connector(push: &Push) -> Result<TlsConnector, ConfigError> {
    const CA: &str = "metrics.otlp.tls.ca_file";
    const CERT: &str = "metrics.otlp.tls.cert_file";
    const KEY: &str = "metrics.otlp.tls.key_file";
    let mut roots = RootCertStore::empty();
    match &push.tls.ca_file {
        Some(ca) => {
            for cert in certificates(CA, ca)? {
                roots
                    .add(cert)
                    .map_err(|e| error(CA, ca, format!("not a CA certificate: {e}")))?;
            }
        }
        None => {
            // Certificates the system holds that rustls cannot use are skipped.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Field {
            field: "metrics.otlp.tls".into(),
            message: e.to_string(),
        })?
        .with_root_certificates(roots);
    let mut config = match (&push.tls.cert_file, &push.tls.key_file) {
        (Some(cert), Some(key)) => {
            let certs = certificates(CERT, cert)?;
            let private = PrivateKeyDer::from_pem_slice(&read_file(key)?).map_err(|_| {
                error(
                    KEY,
                    key,
                    "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                )
            })?;
            builder
                .with_client_auth_cert(certs, private)
                .map_err(|e| error(KEY, key, e))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match push.protocol {
        OtlpProtocol::Grpc => vec![b"h2".to_vec()],
        _ => vec![b"http/1.1".to_vec()],
    };
    Ok(TlsConnector::from(Arc::new(config)))
}
