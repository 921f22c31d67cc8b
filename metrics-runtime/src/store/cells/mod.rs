//! Concurrency cells: where a series' numbers live and how threads write them without
//! waiting for one another, and a scrape reads them whole.
//!
//! [`stripe`] is one copy of a series' cells, [`striped`] keeps a series' stripes and
//! adds them up; [`lanes`] says which
//! leases own its private stripes; [`lease`] hands each recording thread a small number;
//! [`seqlock`] is the sequence protocol every stripe follows (the same code runs under
//! `loom`); [`native`] is the native-bucket part of a stripe, [`native_snapshot`] its
//! sum over stripes; [`reset`] counts the epochs of a series that may restart.
//! Nothing here knows about metrics: the cells are `u64`s.

pub(crate) mod lanes;
pub(crate) mod lease;
pub(crate) mod native;
pub(crate) mod native_snapshot;
pub(crate) mod reset;
pub(crate) mod seqlock;
pub(crate) mod stripe;
pub(crate) mod striped;
