//! How it is written: the text format 0.0.4 ([`text`]) and OpenMetrics 1.0
//! ([`openmetrics`]), which differ only in the spellings a [`Syntax`] gives; the
//! protobuf format with native histograms ([`protobuf`]); the user's
//! own `prometheus` metrics ([`user`]); and the contract as a `prometheus` collector
//! ([`registry`]).
//!
//! The contract's families are written straight from their cells: every series carries
//! its label list rendered and escaped at creation (an operation's status counters put
//! their status pair in its place), so a scrape only copies bytes and formats integers;
//! [`lines`] is that writer. The user's metrics follow, from their protobufs.

pub(crate) mod escaping;
mod lines;
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

use crate::store::Store;
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
        TextFormat::Text => lines::encode_with::<text::Text>(store, escaping, out),
        TextFormat::OpenMetrics => {
            lines::encode_with::<openmetrics::OpenMetrics>(store, escaping, out)
        }
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
