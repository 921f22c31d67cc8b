//! `keychain-certs DIR`: writes a throwaway CA, a server certificate for `localhost` and
//! `127.0.0.1` and a client certificate into DIR, to try the metrics endpoint over
//! HTTPS with mutual TLS. Not for production.

use std::path::PathBuf;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: keychain-certs DIR");
        std::process::exit(2);
    };
    match keychain_metrics_examples::certs::write(&dir) {
        Ok(files) => {
            for path in [
                &files.ca,
                &files.server_cert,
                &files.server_key,
                &files.client_cert,
                &files.client_key,
            ] {
                println!("{}", path.display());
            }
        }
        Err(e) => {
            eprintln!("keychain-certs: {e}");
            std::process::exit(1);
        }
    }
}
