use keychain_metrics::instrument_op;

struct Hsm;

#[instrument_op(backend = "pkcs11")]
impl Hsm {
    #[instrument_op(skip, backend = "tpm2")]
    fn helper(&self) {}
}

// `skip` means nothing outside an instrumented block.
#[instrument_op(skip)]
fn alone() {}

fn main() {}
