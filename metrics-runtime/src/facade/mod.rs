//! The public face: [`Metrics`] and what hangs off it. `metrics` defines the type and
//! its recording methods; the builder (`new`, `builder`), the handles (`operation`),
//! the connection guards (`track_connection`) and the global instance (`global`) each
//! add their methods in their own file, so no file here imports another but `metrics`.

pub(crate) mod builder;
pub(crate) mod connection;
pub(crate) mod global;
pub(crate) mod handle;
mod metrics;

pub use metrics::Metrics;
