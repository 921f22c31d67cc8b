//! The exposition: text format 0.0.4 and OpenMetrics 1.0.
//!
//! The contract's families are written straight from their cells: every series carries
//! its label list rendered and escaped at creation, so a scrape only copies bytes and
//! formats integers. Metrics registered by the user in the `prometheus` registry follow,
//! from their protobufs (see [`crate::foreign`]).

use std::cell::RefCell;

use crate::bridge;
use crate::buckets::Buckets;
use crate::contract::{self, Kind, Spec};
use crate::foreign;
use crate::metrics::Inner;
use crate::render::{push_help, push_i64, push_nanos_as_seconds, push_u64};
use crate::series::TimedSeries;
use crate::visit::{Listed, Value};

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

/// `Content-Type` of the text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of OpenMetrics 1.0.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Format {
    /// The `Content-Type` header value of this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

thread_local! {
    /// Snapshot buffer for the operation family, reused across scrapes on this thread.
    static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Writer<'a> {
    out: &'a mut String,
    om: bool,
}

impl Writer<'_> {
    fn header(&mut self, name: &str, spec: &Spec) {
        // OpenMetrics names a counter family without its `_total` sample suffix.
        let family = match (self.om, spec.kind) {
            (true, Kind::Counter) => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        for (key, text) in [("# HELP ", spec.help), ("# TYPE ", spec.kind.as_str())] {
            self.out.push_str(key);
            self.out.push_str(family);
            self.out.push(' ');
            push_help(self.out, text, self.om);
            self.out.push('\n');
        }
    }

    /// Writes `name{labels[,le="le"]} ` and leaves the value to the caller.
    fn series(&mut self, name: &str, suffix: &str, labels: &str, le: Option<&str>) {
        let out = &mut *self.out;
        out.push_str(name);
        out.push_str(suffix);
        if !labels.is_empty() || le.is_some() {
            out.push('{');
            out.push_str(labels);
            if let Some(le) = le {
                if !labels.is_empty() {
                    out.push(',');
                }
                out.push_str("le=\"");
                out.push_str(le);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
    }

    fn sample_u64(&mut self, name: &str, labels: &str, value: u64) {
        self.series(name, "", labels, None);
        push_u64(self.out, value);
        self.out.push('\n');
    }

    fn sample_i64(&mut self, name: &str, labels: &str, value: i64) {
        self.series(name, "", labels, None);
        push_i64(self.out, value);
        self.out.push('\n');
    }

    /// `cells` holds the bucket counts (not cumulative, `+Inf` last) and the sum in ns.
    fn histogram(&mut self, name: &str, labels: &str, buckets: &Buckets, cells: &[u64]) {
        let mut cumulative = 0u64;
        for (count, le) in cells.iter().zip(buckets.le(self.om)) {
            cumulative = cumulative.wrapping_add(*count);
            self.series(name, "_bucket", labels, Some(le));
            push_u64(self.out, cumulative);
            self.out.push('\n');
        }
        self.series(name, "_sum", labels, None);
        push_nanos_as_seconds(self.out, cells[buckets.len()], self.om);
        self.out.push('\n');
        self.series(name, "_count", labels, None);
        push_u64(self.out, cumulative);
        self.out.push('\n');
    }
}

pub(crate) fn encode(inner: &Inner, format: crate::Format, out: &mut String) {
    let mut w = Writer {
        out,
        om: format == Format::OpenMetrics,
    };
    match SCRATCH.try_with(|s| {
        s.try_borrow_mut()
            .map(|mut s| operations(inner, &mut w, &mut s))
    }) {
        Ok(Ok(())) => {}
        // Thread teardown or re-entrance: use a fresh buffer.
        _ => operations(inner, &mut w, &mut Vec::new()),
    }
    for listed in inner.listing() {
        family(&mut w, &listed);
    }
    foreign::encode(&bridge::gather_others(&inner.registry), w.om, w.out);
    if w.om {
        w.out.push_str("# EOF\n");
    }
}

/// One family, with its header if it has any series.
fn family(w: &mut Writer<'_>, listed: &Listed<'_>) {
    let mut header = false;
    listed.family.visit(&mut |sample| {
        if !header {
            w.header(listed.name, listed.spec);
            header = true;
        }
        match (sample.value, listed.buckets) {
            (Value::Counter(n), _) => w.sample_u64(listed.name, sample.labels, n),
            (Value::Gauge(n), _) => w.sample_i64(listed.name, sample.labels, n),
            (Value::Histogram(cells), Some(buckets)) => {
                w.histogram(listed.name, sample.labels, buckets, cells)
            }
            (Value::Histogram(_), None) => {}
        }
    });
}

/// The operation counter and histogram, from one snapshot of each series: both
/// families describe the same set of recordings.
fn operations(inner: &Inner, w: &mut Writer<'_>, scratch: &mut Vec<u64>) {
    inner.operations.series(|all| {
        let Some(first) = all.first() else { return };
        let width = first.cells.len();
        scratch.clear();
        scratch.resize(width * all.len(), 0);
        for (series, cells) in all.iter().zip(scratch.chunks_exact_mut(width)) {
            series.cells.read(cells);
        }
        let counter = inner.name(&contract::OPERATIONS);
        let histogram = inner.name(&contract::OPERATION_DURATION);
        w.header(counter, &contract::OPERATIONS);
        for (series, cells) in all.iter().zip(scratch.chunks_exact(width)) {
            for (status, n) in TimedSeries::exposed_statuses(cells) {
                w.sample_u64(counter, &series.status_labels[status.index()], n);
            }
        }
        w.header(histogram, &contract::OPERATION_DURATION);
        for (series, cells) in all.iter().zip(scratch.chunks_exact(width)) {
            w.histogram(
                histogram,
                &series.labels,
                &inner.op_buckets,
                &cells[series.statuses..],
            );
        }
    });
}
