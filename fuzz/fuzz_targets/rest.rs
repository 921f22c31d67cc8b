//! Arbitrary request bodies (and hostile path segments and content types) into the
//! example keychain's REST handlers: see `keychain_metrics_invariants::rest`.
#![no_main]

use keychain_metrics_invariants::rest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = rest::check(&rest::decode(data)) {
        panic!("{violation}");
    }
});
