//! The store through the public API: each recording lands in exactly the series and
//! buckets of the contract, as the exposition shows.

mod buckets;
mod recording;
mod threads;
