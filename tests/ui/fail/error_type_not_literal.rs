use keychain_metrics::instrument_op;

const LABEL: &str = "x";

#[instrument_op(Generate, backend = "pkcs8", error_type = LABEL)]
fn generate() {}

fn main() {}
