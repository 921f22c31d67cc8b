//! The series types: what one label set of a family stores.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::contract::buckets::Buckets;
use crate::contract::labels::Status;
use crate::store::cells::reset::unix_nanos;
use crate::store::cells::stripe::StripeWriter;
use crate::store::cells::striped::StripedCells;
use crate::store::families::exemplars::{self, Exemplars};

/// A series' own label values (not the constant labels), as admitted.
pub(crate) type Values = Box<[Box<str>]>;

pub(crate) fn values_of(values: &[&str]) -> Values {
    values.iter().map(|&v| v.into()).collect()
}

/// A series that knows its own label values; families find series by them.
pub(crate) trait Labelled {
    fn values(&self) -> &[Box<str>];
}

macro_rules! labelled {
    ($($t:ty),+) => {$(
        impl Labelled for $t {
            fn values(&self) -> &[Box<str>] {
                &self.values
            }
        }
    )+};
}

labelled!(TimedSeries, CounterSeries, GaugeSeries);

/// A histogram, optionally with per-status counts in front: the cells are
/// `[status counts][bucket counts, +Inf last][sum in ns]`. Operations keep their status
/// counter in the same cells as their duration histogram, so a scrape always sees the
/// two agree.
pub(crate) struct TimedSeries {
    pub(crate) cells: StripedCells,
    /// The label values, in the order of the family's label names.
    pub(crate) values: Values,
    /// Number of status cells in front (0 or 3).
    pub(crate) statuses: usize,
    /// Label list of the histogram (without `le`).
    pub(crate) labels: Box<str>,
    /// Where `status` goes in `labels` for the status counters: the end of the labels
    /// that sort before it. Their label lists are written at scrape
    /// ([`TimedSeries::status_labels`]) rather than kept: three more strings were a
    /// sixth of an operation series' memory.
    status_at: usize,
    /// The latest traced observation of each bucket, if the instance keeps exemplars.
    pub(crate) exemplars: Option<Box<Exemplars>>,
    /// When the series was created, in nanoseconds since the Unix epoch.
    created: u64,
}

impl TimedSeries {
    /// A series of `buckets` with label values `values` and label list `labels`; with
    /// `status_at`, the status counts of an operation in front, `status` going at that
    /// byte of `labels` (see [`TimedSeries::status_labels`]).
    pub(crate) fn new(
        buckets: &Buckets,
        values: &[&str],
        labels: Box<str>,
        status_at: Option<usize>,
        exemplars: bool,
    ) -> Self {
        let statuses = status_at.map_or(0, |_| Status::ALL.len());
        TimedSeries {
            cells: StripedCells::with_native(
                statuses + buckets.len() + buckets.sum_cells(),
                buckets.native(),
            ),
            values: values_of(values),
            statuses,
            labels,
            status_at: status_at.unwrap_or_default(),
            exemplars: exemplars.then(|| Exemplars::new(buckets.len())),
            created: unix_nanos(),
        }
    }

    /// The status counts to expose from a snapshot of this series' cells: `success` and
    /// `error` from the start, so `rate()` and error ratios have a zero to work from;
    /// `cancelled` once it has happened.
    pub(crate) fn exposed_statuses(cells: &[u64]) -> impl Iterator<Item = (Status, u64)> + '_ {
        Status::ALL
            .iter()
            .map(|s| (*s, cells[s.index()]))
            .filter(|(s, n)| *n > 0 || *s != Status::Cancelled)
    }

    /// Writes into `out` (cleared first) the label list of this series' counter of
    /// `status`, whose label is named `name`: `labels` with the status pair at its place.
    pub(crate) fn status_labels(&self, name: &str, status: Status, out: &mut String) {
        let (before, after) = self.labels.split_at(self.status_at);
        out.clear();
        out.push_str(before);
        if !before.is_empty() {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        out.push_str(status.as_str());
        out.push('"');
        // `after` starts with the comma that ended `before`, unless `before` is empty.
        if before.is_empty() && !after.is_empty() {
            out.push(',');
        }
        out.push_str(after);
    }

    /// When the series' counts start: its creation, or its last reset (a native
    /// histogram's `min_reset_duration`), in Unix nanoseconds.
    pub(crate) fn start(&self) -> u64 {
        self.cells
            .last_reset()
            .map_or(self.created, |r| r.max(self.created))
    }

    /// Records one observation; `status` must be `Some` exactly when the series has
    /// status cells. In a trace (the thread's current one), it is also the exemplar of
    /// its bucket, if the series keeps exemplars.
    ///
    /// Shaped for the common case, a classic recording on this thread's own lane: that
    /// path calls nothing until its last step, so it needs no stack frame. Every other
    /// case goes out of line with what it was given (callgrind: 93 instructions a
    /// recording when the native path was inlined here, which made a frame of six saved
    /// registers for every recording).
    #[inline]
    pub(crate) fn record(&self, buckets: &Buckets, status: Option<Status>, nanos: u64) {
        if let Some(layout) = buckets.native() {
            return self.record_native(buckets, layout, status, nanos);
        }
        let Some(home) = self.cells.home() else {
            return self.record_away(buckets, status, nanos);
        };
        let index = buckets.index(nanos);
        home.write(|w| Self::add_classic(w, self.statuses, buckets, status, index, nanos));
        exemplars::offer(&self.exemplars, index, nanos);
    }

    /// One observation's cells: its status count, its bucket and the sum.
    #[inline(always)]
    fn add_classic(
        w: &StripeWriter<'_>,
        statuses: usize,
        buckets: &Buckets,
        status: Option<Status>,
        index: usize,
        nanos: u64,
    ) {
        if let Some(status) = status {
            w.add(status.index(), 1);
        }
        w.add(statuses + index, 1);
        w.add(statuses + buckets.len(), nanos);
    }

    /// [`TimedSeries::record`] of a classic observation by a thread not at home in a
    /// lane of this series.
    #[inline(never)]
    fn record_away(&self, buckets: &Buckets, status: Option<Status>, nanos: u64) {
        let index = buckets.index(nanos);
        self.cells
            .write_classic(|w| Self::add_classic(w, self.statuses, buckets, status, index, nanos));
        exemplars::offer(&self.exemplars, index, nanos);
    }

    /// [`TimedSeries::record`] with native buckets, in a frame of its own.
    #[inline(never)]
    fn record_native(
        &self,
        buckets: &Buckets,
        layout: &crate::contract::native::NativeLayout,
        status: Option<Status>,
        nanos: u64,
    ) {
        let index = buckets.index(nanos);
        let native = layout.fine_index(nanos);
        self.cells.write(|w| {
            // First: a native observation may reset the series' cells.
            w.native(native);
            Self::add_classic(w, self.statuses, buckets, status, index, nanos);
        });
        exemplars::offer(&self.exemplars, index, nanos);
    }
}

#[cfg(feature = "recorder")]
impl TimedSeries {
    /// Records one observation of any value (the `metrics` facade's histograms, without
    /// status cells): its bucket by comparing floats, the sum in two cells, the native
    /// bucket of its billionths (0 and below in the zero bucket). In a trace it is also
    /// its bucket's exemplar, if it is not negative.
    #[inline]
    pub(crate) fn record_value(&self, buckets: &Buckets, v: f64) {
        // Shaped as `TimedSeries::record`: the classic recording at home calls nothing
        // until its exemplar check; the other cases go out of line.
        if buckets.native().is_some() {
            return self.record_value_away(buckets, v);
        }
        let Some(home) = self.cells.home() else {
            return self.record_value_away(buckets, v);
        };
        self.record_value_in(buckets, v, Some(home));
    }

    /// [`TimedSeries::record_value`] with native buckets, or by a thread not at home.
    #[inline(never)]
    fn record_value_away(&self, buckets: &Buckets, v: f64) {
        self.record_value_in(buckets, v, None);
    }

    /// [`TimedSeries::record_value`] into `home`, or else wherever this thread writes.
    #[inline(always)]
    fn record_value_in(
        &self,
        buckets: &Buckets,
        v: f64,
        home: Option<crate::store::cells::striped::Home<'_>>,
    ) {
        use crate::contract::buckets::{signed_nanos, value_nanos};

        let index = buckets.value_index(v);
        let sum = buckets.len();
        let nanos = signed_nanos(v);
        let classic = |w: &StripeWriter<'_>| {
            w.add(index, 1);
            w.add_wide(sum, nanos);
        };
        match (home, buckets.native()) {
            (Some(home), _) => home.write(classic),
            (None, Some(layout)) => {
                let native = layout.value_index(v);
                self.cells.write(|w| {
                    w.native(native);
                    classic(w);
                });
            }
            (None, None) => self.cells.write_classic(classic),
        }
        if self.exemplars.is_some() && v >= 0.0 {
            exemplars::offer(&self.exemplars, index, value_nanos(v));
        }
    }
}

/// A counter, or a gauge moved by deltas (in-flight counts): one cell, summed as `i64`.
pub(crate) struct CounterSeries {
    pub(crate) cells: StripedCells,
    pub(crate) values: Values,
    pub(crate) labels: Box<str>,
    /// The latest traced increment, for counters that keep one (`keychain_errors_total`
    /// of an instance that keeps exemplars).
    pub(crate) exemplar: Option<Box<Exemplars>>,
    /// When the series was created, in nanoseconds since the Unix epoch.
    pub(crate) created: u64,
}

impl CounterSeries {
    pub(crate) fn new(values: &[&str], labels: Box<str>) -> Self {
        CounterSeries {
            cells: StripedCells::new(1),
            values: values_of(values),
            labels,
            exemplar: None,
            created: unix_nanos(),
        }
    }

    /// A counter that keeps its latest traced increment as an exemplar.
    pub(crate) fn with_exemplar(mut self, on: bool) -> Self {
        self.exemplar = on.then(|| Exemplars::new(1));
        self
    }

    /// Adds `delta` (two's complement for decrements).
    #[inline]
    pub(crate) fn add(&self, delta: u64) {
        self.cells.add_single(delta);
    }

    /// Adds `delta`, the exemplar of the counter if it keeps one and the thread is in a
    /// trace.
    #[inline]
    pub(crate) fn add_observed(&self, delta: u64) {
        self.cells.add_single(delta);
        if self.exemplar.is_some() {
            self.offer_exemplar(delta);
        }
    }

    /// Out of line: the error paths stay as small as without exemplars.
    #[cold]
    #[inline(never)]
    fn offer_exemplar(&self, delta: u64) {
        exemplars::offer(&self.exemplar, 0, delta);
    }

    /// The current value.
    pub(crate) fn value(&self) -> u64 {
        let mut out = [0u64; 1];
        self.cells.read(&mut out);
        out[0]
    }
}

/// A gauge that is set, not moved: key and cert counts, health.
pub(crate) struct GaugeSeries {
    pub(crate) value: AtomicI64,
    pub(crate) values: Values,
    pub(crate) labels: Box<str>,
}

impl GaugeSeries {
    pub(crate) fn new(values: &[&str], labels: Box<str>) -> Self {
        GaugeSeries {
            value: AtomicI64::new(0),
            values: values_of(values),
            labels,
        }
    }

    pub(crate) fn set(&self, v: i64) {
        self.value.store(v, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// A count as a gauge value, saturating at `i64::MAX`.
pub(crate) fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
