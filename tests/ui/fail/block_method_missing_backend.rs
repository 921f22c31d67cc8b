use keychain_metrics::instrument_op;

struct Hsm;

// No backend on the block, none on the method.
#[instrument_op(metrics = keychain_metrics::Metrics::global())]
impl Hsm {
    fn sign(&self) {}
}

fn main() {}
