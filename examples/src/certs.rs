//! Throwaway certificates for trying the metrics endpoint over HTTPS: a CA, a server
//! certificate for `localhost` and `127.0.0.1` it signed, and a client certificate
//! (for mutual TLS) it signed. For tests and local runs, never for production.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Where [`write`] put each file (PEM).
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The CA's certificate: the scrapers' `ca_file` and the server's `client_ca_file`.
    pub ca: PathBuf,
    /// The server's certificate (`cert_file`).
    pub server_cert: PathBuf,
    /// The server's key (`key_file`).
    pub server_key: PathBuf,
    /// The client's certificate (a scraper's `cert_file`).
    pub client_cert: PathBuf,
    /// The client's key (a scraper's `key_file`).
    pub client_key: PathBuf,
}

/// A CA and the certificates it signed, in PEM.
pub struct Generated {
    /// The CA's certificate.
    pub ca: String,
    /// The server's certificate and key.
    pub server: (String, String),
    /// The client's certificate and key.
    pub client: (String, String),
}

/// A new CA named `ca_name`, with a server and a client certificate.
pub fn generate(ca_name: &str) -> Result<Generated, rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate()?)?;

    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, cn: &str| {
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        Ok::<_, rcgen::Error>((cert.pem(), key.serialize_pem()))
    };
    let server = leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
        "keychain-metrics server",
    )?;
    let client = leaf(
        vec!["prometheus".into()],
        ExtendedKeyUsagePurpose::ClientAuth,
        "prometheus",
    )?;
    Ok(Generated {
        ca: ca.pem(),
        server,
        client,
    })
}

/// Generates and writes `ca.crt`, `server.crt`, `server.key`, `client.crt` and
/// `client.key` into `dir` (created if need be).
pub fn write(dir: &Path) -> Result<CertFiles, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    // A name of its own: verifiers find a certificate's issuer by name, so two test CAs
    // trusted together must not share one.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let g = generate(&format!("keychain-metrics test CA {nanos:x}"))?;
    let files = CertFiles {
        ca: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    };
    std::fs::write(&files.ca, &g.ca)?;
    std::fs::write(&files.server_cert, &g.server.0)?;
    std::fs::write(&files.server_key, &g.server.1)?;
    std::fs::write(&files.client_cert, &g.client.0)?;
    std::fs::write(&files.client_key, &g.client.1)?;
    Ok(files)
}
