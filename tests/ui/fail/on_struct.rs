use keychain_metrics::instrument_op;

#[instrument_op(Generate, backend = "pkcs8")]
struct Store {
    keys: Vec<String>,
}

fn main() {}
