use keychain_metrics::instrument_op;

struct Hsm;

#[instrument_op(backend = "pkcs11")]
impl Hsm {
    fn fine(&self) {}

    #[allow(non_snake_case)]
    fn UnwrapKey(&self) {}
}

fn main() {
    Hsm.fine();
}
