use keychain_metrics::instrument_op;

#[instrument_op(Sign, backend = "pkcs11", span = true)]
fn sign() {}

#[instrument_op(Sign, backend = "pkcs11", span, span)]
fn twice() {}

fn main() {
    sign();
    twice();
}
