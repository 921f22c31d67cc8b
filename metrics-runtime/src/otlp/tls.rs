//! The TLS client for an `https://` collector: rustls with its ring provider, the
//! configured CA or the system's roots, and a client certificate if one is given.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::config::{
    file_error, pem_certificates, pem_private_key, ConfigError, OtlpProtocol, Push,
};

pub(crate) fn connector(push: &Push) -> Result<TlsConnector, ConfigError> {
    const CA: &str = "metrics.otlp.tls.ca_file";
    const CERT: &str = "metrics.otlp.tls.cert_file";
    const KEY: &str = "metrics.otlp.tls.key_file";
    let mut roots = RootCertStore::empty();
    match &push.tls.ca_file {
        Some(ca) => {
            for cert in pem_certificates(CA, ca)? {
                roots
                    .add(cert)
                    .map_err(|e| file_error(CA, ca, format!("not a CA certificate: {e}")))?;
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
            let certs = pem_certificates(CERT, cert)?;
            let private = pem_private_key(KEY, key)?;
            builder
                .with_client_auth_cert(certs, private)
                .map_err(|e| file_error(KEY, key, e))?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match push.protocol {
        OtlpProtocol::Grpc => vec![b"h2".to_vec()],
        _ => vec![b"http/1.1".to_vec()],
    };
    Ok(TlsConnector::from(Arc::new(config)))
}
