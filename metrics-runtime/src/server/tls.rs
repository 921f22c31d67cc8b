//! HTTPS for the endpoint (feature `tls`): rustls with its ring provider, configured from
//! [`TlsServerConfig`], loaded again when the certificate, the key or the client CA
//! changes on disk (see [`Watched`]). Only HTTP/1.1 is offered (ALPN), which is what
//! Prometheus scrapes with.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::watched::{OnFailure, Watched};
use crate::config::{read_file, ClientAuth, ConfigError, TlsServerConfig, TlsVersion};

const CERT: &str = "metrics.tls_server_config.cert_file";
const KEY: &str = "metrics.tls_server_config.key_file";
const CA: &str = "metrics.tls_server_config.client_ca_file";

/// The TLS settings as of the files' last change that loaded.
pub(crate) struct Tls(Watched<TlsAcceptor>);

impl Tls {
    /// Loads the files now: one that cannot be read or used fails the start, naming it.
    pub(crate) fn new(config: &TlsServerConfig) -> Result<Self, ConfigError> {
        let mut paths = vec![config.cert_file.clone(), config.key_file.clone()];
        paths.extend(config.client_ca_file.clone());
        let config = config.clone();
        Watched::new(paths, OnFailure::KeepLast, move |_| acceptor(&config)).map(Tls)
    }

    /// The acceptor for the next connection (always there: a failed reload keeps the
    /// last one).
    pub(crate) fn acceptor(&self) -> Option<Arc<TlsAcceptor>> {
        self.0.current()
    }
}

fn error(field: &str, path: &Path, message: impl std::fmt::Display) -> ConfigError {
    ConfigError::Field {
        field: field.to_owned(),
        message: format!("{}: {message}", path.display()),
    }
}

/// Every certificate in a PEM file; none is an error.
fn certificates(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read_file(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(field, path, format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(error(field, path, "holds no PEM certificate"));
    }
    Ok(certs)
}

fn acceptor(tls: &TlsServerConfig) -> Result<TlsAcceptor, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = certificates(CERT, &tls.cert_file)?;
    let key = PrivateKeyDer::from_pem_slice(&read_file(&tls.key_file)?).map_err(|_| {
        error(
            KEY,
            &tls.key_file,
            "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
        )
    })?;
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| error(KEY, &tls.key_file, e))?;
    let builder = match (&tls.client_ca_file, tls.client_auth_type) {
        (Some(ca), policy) if policy.verifies() => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(CA, ca)? {
                roots
                    .add(cert)
                    .map_err(|e| error(CA, ca, format!("not a CA certificate: {e}")))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if policy == ClientAuth::VerifyClientCertIfGiven {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| error(CA, ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        error(
            KEY,
            &tls.key_file,
            format!("cannot serve it with {}: {e}", tls.cert_file.display()),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
