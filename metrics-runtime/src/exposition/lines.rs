//! The text formats' writer: one walk of the store's listing that writes every family's
//! header and lines in a [`Syntax`], names spelled as the scraper's escaping asks.

use std::cell::Cell;

use super::escaping::Escaping;
use super::{registry, user, Syntax};
use crate::contract::buckets::Buckets;
use crate::render::{self, push_i64, push_nanos_as_seconds, push_u64};
use crate::store::families::exemplars::Exemplars;
use crate::store::families::exposed::{cumulative, Value};
use crate::store::families::{Head, Listed};
use crate::store::Store;
use crate::trace::push_hex;

/// Appends the exposition of `store` to `out` in the syntax `S`, names escaped as
/// `escaping` says.
pub(super) fn encode_with<S: Syntax>(store: &Store, escaping: Escaping, out: &mut String) {
    let mut w = Writer::<S> {
        out,
        syntax: std::marker::PhantomData,
        escaping,
        style: Style::Plain,
        bucket: BUCKET.try_with(Cell::take).unwrap_or_default(),
    };
    store.each_listed(&mut |listed| w.storage(store, listed));
    user::encode::<S>(&registry::gather_others(&store.registry), w.out);
    S::finish(w.out);
    // Kept for the next scrape on this thread, so that a scrape allocates nothing.
    let _ = BUCKET.try_with(|b| b.set(w.bucket));
}

thread_local! {
    /// The [`Writer::bucket`] buffer between scrapes on this thread.
    static BUCKET: Cell<String> = const { Cell::new(String::new()) };
}

/// A time as seconds since the Unix epoch, to the millisecond: `1796193661.899`.
fn push_unix_seconds(out: &mut String, unix_ms: u64) {
    push_u64(out, unix_ms / 1000);
    let ms = unix_ms % 1000;
    out.push('.');
    out.push(char::from(b'0' + (ms / 100) as u8));
    out.push(char::from(b'0' + (ms / 10 % 10) as u8));
    out.push(char::from(b'0' + (ms % 10) as u8));
}

struct Writer<'a, S> {
    out: &'a mut String,
    syntax: std::marker::PhantomData<S>,
    /// How the scraper asked for names that are not legacy to be written.
    escaping: Escaping,
    /// How the current family's names are spelled.
    style: Style,
    /// The start of the current histogram's bucket lines, up to `le="`: written once
    /// per series and copied per bucket (a line took eight appends and three tests).
    bucket: String,
}

/// How a family's names are spelled; see [`Writer::style_of`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Quoted,
    Escaped(Escaping),
}

impl<S: Syntax> Writer<'_, S> {
    /// Every family of one storage, each with its header if it has any series.
    fn storage(&mut self, store: &Store, listed: &Listed<'_>) {
        let heads = listed.heads();
        let mut open = usize::MAX;
        let mut name = "";
        let created_samples = S::CREATED_SAMPLES && store.created_samples;
        listed.family.visit(None, &mut |sample| {
            let part = listed.part(sample.part);
            let head = &heads[part];
            if open != part {
                // Once per family, not per sample: the name and how it is spelled.
                name = self.style_of(head);
                self.header(name, head);
                open = part;
            }
            let exemplars = sample.exemplars.filter(|_| S::EXEMPLARS);
            match (sample.value, listed.buckets) {
                (Value::Counter(n), _) => {
                    self.series(name, "", sample.labels);
                    push_u64(self.out, n);
                    self.exemplar(exemplars, 0, false);
                    self.out.push('\n');
                }
                (Value::Gauge(n), _) => self.sample_i64(name, sample.labels, n),
                (Value::Float(v), _) => {
                    self.series(name, "", sample.labels);
                    render::push_f64(self.out, v, S::CANONICAL_FLOATS);
                    self.out.push('\n');
                }
                (Value::Histogram(cells, _), Some(buckets)) => {
                    self.histogram(name, sample.labels, buckets, cells, exemplars)
                }
                (Value::Histogram(..), None) => {}
            }
            if let Some(created) = sample.created.filter(|_| created_samples) {
                // `_created` beside `_total` or `_count`: the family's name, then it.
                self.series(S::family_name(name, head.kind), "_created", sample.labels);
                push_unix_seconds(self.out, created / 1_000_000);
                self.out.push('\n');
            }
        });
    }

    /// The name the family `head` is written under for the scraper's escaping, and sets
    /// how its names are spelled: as they are (legacy names, and the default
    /// `underscores`, under which names were made legacy when they were created),
    /// quoted (`allow-utf-8`), or escaped whole, suffix included (`dots`, which escapes
    /// every name, and `values`).
    fn style_of<'h>(&mut self, head: &Head<'h>) -> &'h str {
        let (name, style) = match (self.escaping, head.utf8) {
            (Escaping::Underscores, _) | (Escaping::AllowUtf8 | Escaping::Values, None) => {
                (head.name, Style::Plain)
            }
            (Escaping::AllowUtf8, Some(utf8)) => (utf8, Style::Quoted),
            (scheme, utf8) => (utf8.unwrap_or(head.name), Style::Escaped(scheme)),
        };
        self.style = style;
        name
    }

    /// Appends `name` and `suffix` as one name to `out`, spelled as `style` says; quoted
    /// names open the braces themselves. Returns whether the braces are open.
    fn push_name(style: Style, out: &mut String, name: &str, suffix: &str) -> bool {
        match style {
            Style::Plain => {
                out.push_str(name);
                out.push_str(suffix);
                false
            }
            Style::Quoted => {
                out.push_str("{\"");
                render::push_label_value(out, name);
                out.push_str(suffix);
                out.push('"');
                true
            }
            Style::Escaped(scheme) => {
                out.push_str(&scheme.escape(&format!("{name}{suffix}")));
                false
            }
        }
    }

    /// A family's name in its header, quoted there when it is quoted at all.
    fn push_family(&mut self, family: &str) {
        if self.style == Style::Quoted {
            self.out.push('"');
            render::push_label_value(self.out, family);
            self.out.push('"');
        } else {
            Self::push_name(self.style, self.out, family, "");
        }
    }

    fn header(&mut self, name: &str, head: &Head<'_>) {
        let family = S::family_name(name, head.kind);
        self.out.push_str("# HELP ");
        self.push_family(family);
        self.out.push(' ');
        S::push_help(self.out, head.help);
        self.out.push_str("\n# TYPE ");
        self.push_family(family);
        self.out.push(' ');
        self.out.push_str(head.kind.as_str());
        self.out.push('\n');
    }

    /// Writes `name{labels} ` and leaves the value to the caller (bucket lines are
    /// written from a start kept per histogram, see `Writer::histogram`).
    fn series(&mut self, name: &str, suffix: &str, labels: &str) {
        Self::series_start(self.style, self.out, name, suffix, labels, false);
    }

    /// Appends a series up to its value (`name{labels} `), or with `le` up to the bound's
    /// value (`name{labels,le="`).
    fn series_start(
        style: Style,
        out: &mut String,
        name: &str,
        suffix: &str,
        labels: &str,
        le: bool,
    ) {
        let open = Self::push_name(style, out, name, suffix);
        if open {
            if !labels.is_empty() || le {
                out.push(',');
            }
        } else if !labels.is_empty() || le {
            out.push('{');
        }
        out.push_str(labels);
        if le {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
        } else if open || !labels.is_empty() {
            out.push_str("} ");
        } else {
            out.push(' ');
        }
    }

    /// ` # {trace_id="…",span_id="…"} value timestamp` if slot `index` of `exemplars`
    /// holds one; the value is a duration (in seconds) or a counter's increment.
    fn exemplar(&mut self, exemplars: Option<&Exemplars>, index: usize, duration: bool) {
        let Some(e) = exemplars.and_then(|e| e.get(index)) else {
            return;
        };
        let out = &mut *self.out;
        out.push_str(" # {trace_id=\"");
        push_hex(out, &e.trace.trace_id());
        out.push_str("\",span_id=\"");
        push_hex(out, &e.trace.span_id());
        out.push_str("\"} ");
        if duration {
            push_nanos_as_seconds(out, e.value, S::CANONICAL_FLOATS);
        } else {
            push_u64(out, e.value);
        }
        out.push(' ');
        push_unix_seconds(out, e.unix_ms);
    }

    fn sample_u64(&mut self, name: &str, suffix: &str, labels: &str, value: u64) {
        self.series(name, suffix, labels);
        push_u64(self.out, value);
        self.out.push('\n');
    }

    fn sample_i64(&mut self, name: &str, labels: &str, value: i64) {
        self.series(name, "", labels);
        push_i64(self.out, value);
        self.out.push('\n');
    }

    /// `cells` holds the bucket counts (not cumulative, `+Inf` last) and the sum in ns;
    /// `exemplars`, one per bucket, when the format shows them.
    fn histogram(
        &mut self,
        name: &str,
        labels: &str,
        buckets: &Buckets,
        cells: &[u64],
        exemplars: Option<&Exemplars>,
    ) {
        let counts = &cells[..buckets.len()];
        let mut total = 0;
        let mut bucket = std::mem::take(&mut self.bucket);
        bucket.clear();
        Self::series_start(self.style, &mut bucket, name, "_bucket", labels, true);
        for (i, (n, le)) in cumulative(counts).zip(S::le(buckets)).enumerate() {
            self.out.push_str(&bucket);
            self.out.push_str(le);
            self.out.push_str("\"} ");
            push_u64(self.out, n);
            self.exemplar(exemplars, i, true);
            self.out.push('\n');
            total = n;
        }
        self.bucket = bucket;
        self.series(name, "_sum", labels);
        render::push_signed_nanos(self.out, buckets.sum_nanos(cells), S::CANONICAL_FLOATS);
        self.out.push('\n');
        self.sample_u64(name, "_count", labels, total);
    }
}
