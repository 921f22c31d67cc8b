use keychain_metrics::instrument_op;

#[instrument_op(Generate, backend = "pkcs8")]
const fn generate() -> u8 {
    1
}

fn main() {}
