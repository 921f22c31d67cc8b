//! How it is written: the text format 0.0.4 ([`text`]) and OpenMetrics 1.0
//! ([`openmetrics`]), which differ only in the spellings a [`Syntax`] gives; the
//! protobuf format with native histograms ([`protobuf`]); the user's
//! own `prometheus` metrics ([`user`]); and the contract as a `prometheus` collector
//! ([`registry`]).
//!
//! The contract's families are written straight from their cells: every series carries
//! its label list rendered and escaped at creation, so a scrape only copies bytes and
//! formats integers. The user's metrics follow, from their protobufs.

pub(crate) mod escaping;
pub(crate) mod openmetrics;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub(crate) mod protobuf;
pub(crate) mod registry;
#[cfg(feature = "ui")]
pub(crate) mod snapshot;
mod syntax;
#[cfg(test)]
pub(crate) mod tests;
pub(crate) mod text;
pub(crate) mod user;
pub(crate) mod wire;

use crate::contract::buckets::Buckets;
use crate::render::{self, push_i64, push_nanos_as_seconds, push_u64};
use crate::store::families::exemplars::Exemplars;
use crate::store::families::exposed::{cumulative, Value};
use crate::store::families::{Head, Listed};
use crate::store::Store;
use crate::trace::push_hex;
use escaping::Escaping;
pub(crate) use syntax::Syntax;

/// `bytes` gzipped at the fast level: the endpoint's responses and the OTLP requests.
#[cfg(any(feature = "server", feature = "otlp"))]
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;

    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// An exposition format the endpoint serves. More may come (a new text version, say),
/// so matches need a wildcard arm.
///
/// ```
/// use keychain_metrics::{Format, Metrics, TextFormat};
///
/// let metrics = Metrics::new();
/// let mut body = Vec::new();
/// metrics.encode(Format::Protobuf, &mut body); // bytes: any format
/// assert_eq!(Format::from(TextFormat::OpenMetrics).text(), Some(TextFormat::OpenMetrics));
/// assert_eq!(Format::Protobuf.text(), None);
/// assert!(Format::Text.content_type().starts_with("text/plain; version=0.0.4"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` protobuf messages, with
    /// native histograms: what Prometheus asks for when its native histograms are on.
    Protobuf,
}

/// The formats that are text, which [`Metrics::encode_into`](crate::Metrics::encode_into)
/// appends to a `String`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TextFormat {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text, ending in `# EOF`.
    OpenMetrics,
}

/// `Content-Type` of the text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of OpenMetrics 1.0.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the protobuf exposition.
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

impl Format {
    /// The `Content-Type` header value of this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Protobuf => PROTOBUF_CONTENT_TYPE,
        }
    }

    /// This format as a text format, if it is one.
    pub const fn text(self) -> Option<TextFormat> {
        match self {
            Format::Text => Some(TextFormat::Text),
            Format::OpenMetrics => Some(TextFormat::OpenMetrics),
            Format::Protobuf => None,
        }
    }
}

impl TextFormat {
    /// The `Content-Type` header value of this format.
    pub const fn content_type(self) -> &'static str {
        Format::from_text(self).content_type()
    }
}

impl Format {
    const fn from_text(text: TextFormat) -> Format {
        match text {
            TextFormat::Text => Format::Text,
            TextFormat::OpenMetrics => Format::OpenMetrics,
        }
    }
}

impl From<TextFormat> for Format {
    fn from(text: TextFormat) -> Format {
        Format::from_text(text)
    }
}

/// Appends the exposition of `store` in a text `format` to `out`, every name legacy.
pub(crate) fn encode(store: &Store, format: TextFormat, out: &mut String) {
    encode_escaped(store, format, Escaping::DEFAULT, out);
}

/// As [`encode`], names that are not legacy written as `escaping` says (the 1.0.0 text
/// formats negotiate it).
pub(crate) fn encode_escaped(
    store: &Store,
    format: TextFormat,
    escaping: Escaping,
    out: &mut String,
) {
    match format {
        TextFormat::Text => encode_with::<text::Text>(store, escaping, out),
        TextFormat::OpenMetrics => encode_with::<openmetrics::OpenMetrics>(store, escaping, out),
    }
}

/// Appends the exposition of `store` in any `format` to `out`. A text format is written
/// into `out`'s own allocation when what `out` holds is UTF-8 (an empty buffer is), so a
/// reused buffer is not copied.
pub(crate) fn encode_bytes(store: &Store, format: Format, out: &mut Vec<u8>) {
    encode_bytes_escaped(store, format, Escaping::DEFAULT, out);
}

/// As [`encode_bytes`], text names written as `escaping` says.
pub(crate) fn encode_bytes_escaped(
    store: &Store,
    format: Format,
    escaping: Escaping,
    out: &mut Vec<u8>,
) {
    let Some(text) = format.text() else {
        return protobuf::encode(store, out);
    };
    match String::from_utf8(std::mem::take(out)) {
        Ok(mut buffer) => {
            encode_escaped(store, text, escaping, &mut buffer);
            *out = buffer.into_bytes();
        }
        Err(not_utf8) => {
            *out = not_utf8.into_bytes();
            let mut buffer = String::new();
            encode_escaped(store, text, escaping, &mut buffer);
            out.extend_from_slice(buffer.as_bytes());
        }
    }
}

fn encode_with<S: Syntax>(store: &Store, escaping: Escaping, out: &mut String) {
    let mut w = Writer::<S> {
        out,
        syntax: std::marker::PhantomData,
        escaping,
        style: Style::Plain,
    };
    store.each_listed(&mut |listed| w.storage(store, listed));
    user::encode::<S>(&registry::gather_others(&store.registry), w.out);
    S::finish(w.out);
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
                    self.series(name, "", sample.labels, None);
                    push_u64(self.out, n);
                    self.exemplar(exemplars, 0, false);
                    self.out.push('\n');
                }
                (Value::Gauge(n), _) => self.sample_i64(name, sample.labels, n),
                (Value::Float(v), _) => {
                    self.series(name, "", sample.labels, None);
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
                self.series(
                    S::family_name(name, head.kind),
                    "_created",
                    sample.labels,
                    None,
                );
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

    /// Appends `name` and `suffix` as one name, in the current style; quoted names
    /// open the braces themselves. Returns whether the braces are open.
    fn push_name(&mut self, name: &str, suffix: &str) -> bool {
        let out = &mut *self.out;
        match self.style {
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
            self.push_name(family, "");
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

    /// Writes `name{labels[,le="le"]} ` and leaves the value to the caller.
    fn series(&mut self, name: &str, suffix: &str, labels: &str, le: Option<&str>) {
        let open = self.push_name(name, suffix);
        let out = &mut *self.out;
        if open {
            if !labels.is_empty() || le.is_some() {
                out.push(',');
            }
        } else if !labels.is_empty() || le.is_some() {
            out.push('{');
        }
        if open || !labels.is_empty() || le.is_some() {
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
        self.series(name, suffix, labels, None);
        push_u64(self.out, value);
        self.out.push('\n');
    }

    fn sample_i64(&mut self, name: &str, labels: &str, value: i64) {
        self.series(name, "", labels, None);
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
        for (i, (n, le)) in cumulative(counts).zip(S::le(buckets)).enumerate() {
            self.series(name, "_bucket", labels, Some(le));
            push_u64(self.out, n);
            self.exemplar(exemplars, i, true);
            self.out.push('\n');
            total = n;
        }
        self.series(name, "_sum", labels, None);
        render::push_signed_nanos(self.out, buckets.sum_nanos(cells), S::CANONICAL_FLOATS);
        self.out.push('\n');
        self.sample_u64(name, "_count", labels, total);
    }
}
