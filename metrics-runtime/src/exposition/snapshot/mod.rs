//! The JSON snapshot (`GET /api/v1/snapshot`, feature `ui`): every family of an
//! instance (the contract's, the `metrics` facade's and the user's registry), read now,
//! for the live page and for scripts. Its shape is in the live page chapter of the guide.
//!
//! It is written straight from the store, as the text writer is, and bounded: at most
//! [`MAX_SERIES`] series, the rest counted in `omitted_series`; label values are the
//! store's, already bounded by its caps. Bucket counts are per bucket (not cumulative),
//! so a reader subtracts two snapshots bucket by bucket.

use prometheus::proto::{MetricFamily, MetricType};

use crate::contract::buckets::Buckets;
use crate::contract::Kind;
use crate::exposition::registry;
use crate::render::{push_f64, push_i64, push_u64};
use crate::store::cells::native::NativeSnapshot;
use crate::store::families::exemplars::{Exemplar, Exemplars};
use crate::store::families::exposed::{Sample, Value};
use crate::store::families::Listed;
use crate::store::Store;
use crate::trace::push_hex;

/// The most series one snapshot carries.
pub(crate) const MAX_SERIES: usize = 10_000;

/// Appends the snapshot of `store` at `now_ms` (Unix milliseconds) to `out`.
pub(crate) fn encode(store: &Store, now_ms: u64, out: &mut String) {
    out.push_str("{\"version\":1,\"time_ms\":");
    push_u64(out, now_ms);
    out.push_str(",\"exemplars\":");
    out.push_str(if store.exemplars { "true" } else { "false" });
    out.push_str(",\"families\":[");
    let mut w = Writer {
        out,
        families: 0,
        budget: MAX_SERIES,
        omitted: 0,
        bodies: Default::default(),
    };
    store.each_listed(&mut |listed| w.storage(store, listed));
    for family in registry::gather_others(&store.registry) {
        w.user(&family);
    }
    let omitted = w.omitted;
    out.push_str("],\"omitted_series\":");
    push_u64(out, omitted as u64);
    out.push('}');
}

struct Writer<'a> {
    out: &'a mut String,
    /// Families written so far (for the commas between them).
    families: usize,
    /// Series that may still be written.
    budget: usize,
    /// Series left out past [`MAX_SERIES`].
    omitted: usize,
    /// Each part's series, reused across storages.
    bodies: [String; 2],
}

impl Writer<'_> {
    /// Whether one more series fits; counts it either way.
    fn admit(&mut self) -> bool {
        if self.budget == 0 {
            self.omitted += 1;
            return false;
        }
        self.budget -= 1;
        true
    }

    /// Opens a family: `{"name":…,"type":…,"help":…,"source":…`, then the caller's
    /// fields, then `"series":[`.
    fn open(&mut self, name: &str, kind: &str, help: &str, source: &str) {
        if self.families > 0 {
            self.out.push(',');
        }
        self.families += 1;
        let out = &mut *self.out;
        out.push_str("{\"name\":");
        push_str(out, name);
        out.push_str(",\"type\":\"");
        out.push_str(kind);
        out.push_str("\",\"help\":");
        push_str(out, help);
        out.push_str(",\"source\":\"");
        out.push_str(source);
        out.push('"');
    }

    /// Every family of one storage that has series.
    fn storage(&mut self, store: &Store, listed: &Listed<'_>) {
        let mut bodies = std::mem::take(&mut self.bodies);
        for body in &mut bodies {
            body.clear();
        }
        let native = listed.buckets.and_then(Buckets::native);
        listed.family.visit(native, &mut |sample| {
            if !self.admit() {
                return;
            }
            let body = &mut bodies[listed.part(sample.part)];
            if !body.is_empty() {
                body.push(',');
            }
            series(body, store, listed, &sample);
        });
        for (part, head) in listed.heads().iter().enumerate() {
            if bodies[part].is_empty() {
                continue;
            }
            let kind = match head.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            let source = if listed.specs.is_empty() {
                "recorder"
            } else {
                "contract"
            };
            self.open(head.name, kind, head.help, source);
            if let Some(spec) = listed.specs.get(part) {
                self.out.push_str(",\"contract\":\"");
                self.out.push_str(spec.suffix);
                self.out.push('"');
            }
            if let (Kind::Histogram, Some(buckets)) = (head.kind, listed.buckets) {
                self.out.push_str(",\"bounds\":");
                push_floats(self.out, buckets.seconds().iter().copied());
            }
            self.out.push_str(",\"series\":[");
            self.out.push_str(&bodies[part]);
            self.out.push_str("]}");
        }
        self.bodies = bodies;
    }

    /// One family of the user's own `prometheus` registry.
    fn user(&mut self, family: &MetricFamily) {
        let kind = match family.get_field_type() {
            MetricType::COUNTER => "counter",
            MetricType::GAUGE => "gauge",
            MetricType::SUMMARY => "summary",
            MetricType::HISTOGRAM => "histogram",
            _ => "untyped",
        };
        let metrics = family.get_metric();
        let mut body = String::new();
        for m in metrics {
            if !self.admit() {
                continue;
            }
            if !body.is_empty() {
                body.push(',');
            }
            body.push_str("{\"labels\":{");
            for (i, pair) in m.get_label().iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                push_str(&mut body, pair.name());
                body.push(':');
                push_str(&mut body, pair.value());
            }
            body.push('}');
            match family.get_field_type() {
                MetricType::COUNTER => value(&mut body, m.get_counter().value()),
                MetricType::GAUGE => value(&mut body, m.get_gauge().value()),
                MetricType::HISTOGRAM => {
                    let h = m.get_histogram();
                    let mut below = 0;
                    let counts = h.get_bucket().iter().map(|b| {
                        let n = b.cumulative_count().saturating_sub(below);
                        below = b.cumulative_count();
                        n
                    });
                    let mut counts: Vec<u64> = counts.collect();
                    counts.push(h.sample_count().saturating_sub(below));
                    totals(&mut body, h.sample_count(), h.sample_sum());
                    body.push_str(",\"counts\":");
                    push_floats(&mut body, counts.iter().map(|&n| n as f64));
                }
                MetricType::SUMMARY => {
                    let s = m.get_summary();
                    totals(&mut body, s.sample_count(), s.sample_sum());
                    body.push_str(",\"quantiles\":[");
                    for (i, q) in s.get_quantile().iter().enumerate() {
                        if i > 0 {
                            body.push(',');
                        }
                        body.push('[');
                        push_number(&mut body, q.quantile());
                        body.push(',');
                        push_number(&mut body, q.value());
                        body.push(']');
                    }
                    body.push(']');
                }
                _ => value(&mut body, m.untyped.value()),
            }
            body.push('}');
        }
        if body.is_empty() {
            return;
        }
        self.open(family.name(), kind, family.help(), "registry");
        if family.get_field_type() == MetricType::HISTOGRAM {
            let bounds = metrics.first().map(|m| m.get_histogram().get_bucket());
            let bounds = bounds.unwrap_or_default().iter().map(|b| b.upper_bound());
            self.out.push_str(",\"bounds\":");
            push_floats(self.out, bounds.filter(|b| b.is_finite()));
        }
        self.out.push_str(",\"series\":[");
        self.out.push_str(&body);
        self.out.push_str("]}");
    }
}

/// One series of the store: its labels, then its value(s).
fn series(out: &mut String, store: &Store, listed: &Listed<'_>, sample: &Sample<'_>) {
    out.push_str("{\"labels\":{");
    let mut first = true;
    store.sample_labels(listed, sample, &mut |name, value| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
        push_str(out, name);
        out.push(':');
        push_str(out, value);
    });
    out.push('}');
    match (&sample.value, listed.buckets) {
        (Value::Counter(n), _) => {
            out.push_str(",\"value\":");
            push_u64(out, *n);
            if let Some(e) = sample.exemplars.and_then(|e| e.get(0)) {
                out.push_str(",\"exemplar\":");
                exemplar(out, &e, e.value as f64, None);
            }
        }
        (Value::Gauge(n), _) => {
            out.push_str(",\"value\":");
            push_i64(out, *n);
        }
        (Value::Float(v), _) => value(out, *v),
        (Value::Histogram(cells, native), Some(buckets)) => {
            histogram(out, buckets, cells, *native, sample.exemplars);
        }
        (Value::Histogram(..), None) => {}
    }
    out.push('}');
}

/// A histogram's count, sum, counts per bucket (`+Inf` last), native buckets, exemplars.
fn histogram(
    out: &mut String,
    buckets: &Buckets,
    cells: &[u64],
    native: Option<&NativeSnapshot>,
    exemplars: Option<&Exemplars>,
) {
    let counts = &cells[..buckets.len()];
    let count = counts.iter().fold(0u64, |a, n| a.wrapping_add(*n));
    totals(out, count, buckets.sum_nanos(cells) as f64 / 1e9);
    out.push_str(",\"counts\":[");
    for (i, n) in counts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_u64(out, *n);
    }
    out.push(']');
    if let Some(native) = native {
        out.push_str(",\"native\":{\"schema\":");
        push_i64(out, i64::from(native.schema));
        out.push_str(",\"zero_threshold\":");
        push_number(out, native.zero_threshold);
        out.push_str(",\"zero_count\":");
        push_u64(out, native.zero_count);
        out.push_str(",\"buckets\":[");
        for (i, (index, n)) in native.buckets.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            push_i64(out, i64::from(*index));
            out.push(',');
            push_u64(out, *n);
            out.push(']');
        }
        out.push_str("]}");
    }
    let Some(exemplars) = exemplars else { return };
    let mut first = true;
    for i in 0..buckets.len() {
        let Some(e) = exemplars.get(i) else { continue };
        out.push_str(if std::mem::take(&mut first) {
            ",\"exemplars\":["
        } else {
            ","
        });
        exemplar(out, &e, e.value as f64 / 1e9, Some(i));
    }
    if !first {
        out.push(']');
    }
}

/// `"count":…,"sum":…`.
fn totals(out: &mut String, count: u64, sum: f64) {
    out.push_str(",\"count\":");
    push_u64(out, count);
    out.push_str(",\"sum\":");
    push_number(out, sum);
}

/// `,"value":…`.
fn value(out: &mut String, v: f64) {
    out.push_str(",\"value\":");
    push_number(out, v);
}

fn exemplar(out: &mut String, e: &Exemplar, value: f64, bucket: Option<usize>) {
    out.push('{');
    if let Some(bucket) = bucket {
        out.push_str("\"bucket\":");
        push_u64(out, bucket as u64);
        out.push(',');
    }
    out.push_str("\"trace_id\":\"");
    push_hex(out, &e.trace.trace_id());
    out.push_str("\",\"span_id\":\"");
    push_hex(out, &e.trace.span_id());
    out.push_str("\",\"value\":");
    push_number(out, value);
    out.push_str(",\"time_ms\":");
    push_u64(out, e.unix_ms);
    out.push('}');
}

/// A JSON array of numbers.
fn push_floats(out: &mut String, values: impl Iterator<Item = f64>) {
    out.push('[');
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_number(out, v);
    }
    out.push(']');
}

/// A number as JSON has it; JSON has no NaN or infinities, so those are the strings
/// Prometheus spells them with (`"NaN"`, `"+Inf"`, `"-Inf"`).
fn push_number(out: &mut String, v: f64) {
    if v.is_finite() {
        push_f64(out, v, false);
    } else {
        out.push('"');
        push_f64(out, v, false);
        out.push('"');
    }
}

/// A JSON string: quotes, backslashes and control characters escaped; `<`, `>` and `&`
/// too, so a value can never read as markup wherever the text ends up, and the line
/// separators that old JavaScript parsers refused. Runs of plain text are copied whole.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    // Most names and values need nothing: one pass over the bytes says so (0xE2 starts
    // the line separators).
    if !s
        .bytes()
        .any(|b| b < 0x20 || matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&' | 0xE2))
    {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut plain = 0;
    for (i, c) in s.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        plain = i + c.len_utf8();
        if escaped.is_empty() {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push_str(escaped);
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

#[cfg(test)]
mod tests;
