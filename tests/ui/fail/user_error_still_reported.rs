use keychain_metrics::instrument_op;

// The attribute's own error and the user's type error are both reported.
#[instrument_op(Genrate, backend = "pkcs8")]
fn generate() -> u8 {
    "not a number"
}

fn main() {}
