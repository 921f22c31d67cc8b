//! Procedural macros of `keychain-metrics`.
//!
//! This crate is re-exported by `keychain_metrics`; depend on that crate, not on this one.
//! The `#[instrument_op]` attribute and the `ErrorType` derive land here next; the crate
//! exists now so the workspace layout and the re-export are stable.
