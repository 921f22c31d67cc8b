use keychain_metrics::instrument_op;

struct Hsm;

// Every method would get the same operation.
#[instrument_op(Sign, backend = "pkcs11")]
impl Hsm {
    fn sign(&self) {}
}

fn main() {}
