//! Arbitrary bytes as a configuration file: see `keychain_metrics_invariants::config`.
#![no_main]

use keychain_metrics_invariants::config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = config::check(data) {
        panic!("{violation}");
    }
});
