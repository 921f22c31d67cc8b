//! HTTPS for the endpoint (feature `tls`): rustls with its ring provider, configured from
//! [`TlsServerConfig`], loaded again when the certificate, the key or the client CA
//! changes on disk (see [`Watched`]). Only HTTP/1.1 is offered (ALPN), which is what
//! Prometheus scrapes with.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use super::watched::{OnFailure, Watched};
use crate::config::{
    file_error, pem_certificates, pem_private_key, ClientAuth, ConfigError, TlsServerConfig,
    TlsVersion,
};

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

fn acceptor(tls: &TlsServerConfig) -> Result<TlsAcceptor, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = pem_certificates(CERT, &tls.cert_file)?;
    let key = pem_private_key(KEY, &tls.key_file)?;
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(|e| file_error(KEY, &tls.key_file, e))?;
    let builder = match (&tls.client_ca_file, tls.client_auth_type) {
        (Some(ca), policy) if policy.verifies() => {
            let mut roots = RootCertStore::empty();
            for cert in pem_certificates(CA, ca)? {
                roots
                    .add(cert)
                    .map_err(|e| file_error(CA, ca, format!("not a CA certificate: {e}")))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if policy == ClientAuth::VerifyClientCertIfGiven {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| file_error(CA, ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        file_error(
            KEY,
            &tls.key_file,
            format!("cannot serve it with {}: {e}", tls.cert_file.display()),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
