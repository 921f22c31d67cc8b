//! Arbitrary bytes as backend, error type, HTTP method and gRPC path values: see
//! `keychain_metrics_invariants::labels`.
#![no_main]

use keychain_metrics_invariants::labels;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = labels::check(&labels::decode(data)) {
        panic!("{violation}");
    }
});
