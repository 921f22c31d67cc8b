use keychain_metrics::instrument_op;

#[instrument_op(Genrate, backend = "pkcs8")]
fn generate() {}

fn main() {}
