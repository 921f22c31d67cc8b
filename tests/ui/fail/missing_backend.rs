use keychain_metrics::instrument_op;

#[instrument_op(Generate)]
fn generate() {}

fn main() {}
