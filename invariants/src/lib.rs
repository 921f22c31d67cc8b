//! What hostile input must never break, written once and driven twice: by `proptest`
//! properties in `cargo test` (`tests/tests/*_properties.rs`) and by the cargo-fuzz targets
//! in `fuzz/`, which feed these same checks arbitrary bytes.
//!
//! Every check returns `Err` with a description of the broken invariant; the fuzz
//! targets turn that into a crash, the properties into a failed case.

pub mod config;
pub mod exposition;
pub mod labels;
pub mod layered;
pub mod rest;

/// A broken invariant, described.
pub type Violation = String;
