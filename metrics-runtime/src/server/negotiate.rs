//! Content negotiation for the metrics endpoint: which exposition format, and whether
//! to gzip, from the scraper's `Accept` and `Accept-Encoding` headers.

use crate::Format;

/// One entry of a header list: its value, lower-cased, its parameters other than `q`,
/// and its quality. `("text/plain", ["version=0.0.4"], 0.3)`.
struct Entry<'a> {
    value: String,
    params: Vec<&'a str>,
    q: f32,
}

impl Entry<'_> {
    /// Whether parameter `name` is present with `value` (case-insensitive).
    fn has(&self, name: &str, value: &str) -> bool {
        self.params.iter().any(|p| {
            p.split_once('=').is_some_and(|(n, v)| {
                n.trim().eq_ignore_ascii_case(name)
                    && v.trim().trim_matches('"').eq_ignore_ascii_case(value)
            })
        })
    }
}

/// Entries of a header list, in order.
fn weighted(header: &str) -> impl Iterator<Item = Entry<'_>> + '_ {
    header.split(',').filter_map(|entry| {
        let mut parts = entry.split(';');
        let value = parts.next()?.trim().to_ascii_lowercase();
        if value.is_empty() {
            return None;
        }
        let mut q = 1.0;
        let mut params = Vec::new();
        for p in parts {
            // Parameter names are case-insensitive (RFC 9110 §5.6.6): `Q=0` refuses too.
            match p.split_once('=') {
                Some((name, v)) if name.trim().eq_ignore_ascii_case("q") => {
                    q = v
                        .trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|q| q.is_finite())
                        .unwrap_or(1.0)
                }
                _ => params.push(p),
            }
        }
        Some(Entry { value, params, q })
    })
}

/// The best format `accept` allows. The protobuf format when the scraper ranks it first
/// (Prometheus does when its native histograms are on; it says which message and
/// framing, and nothing else is served under that type); with `openmetrics` offered,
/// OpenMetrics when ranked above the text format; the text format otherwise, and when
/// nothing matches.
pub(crate) fn format(accept: Option<&str>, openmetrics: bool) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    let mut best: Option<(Format, f32)> = None;
    for entry in weighted(accept) {
        let body = match entry.value.as_str() {
            "application/vnd.google.protobuf"
                if entry.has("proto", "io.prometheus.client.MetricFamily")
                    && entry.has("encoding", "delimited") =>
            {
                Format::Protobuf
            }
            "application/openmetrics-text" if openmetrics => Format::OpenMetrics,
            "text/plain" | "text/*" | "*/*" => Format::Text,
            _ => continue,
        };
        if entry.q > 0.0 && best.is_none_or(|(_, b)| entry.q > b) {
            best = Some((body, entry.q));
        }
    }
    best.map_or(Format::Text, |(f, _)| f)
}

/// Whether `accept_encoding` accepts gzip.
pub(crate) fn gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|header| {
        weighted(header).any(|e| (e.value == "gzip" || e.value == "x-gzip") && e.q > 0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: Format = Format::Text;
    const OPENMETRICS: Format = Format::OpenMetrics;

    #[test]
    fn prometheus_with_native_histograms_gets_protobuf() {
        // Prometheus 2.42 with --enable-feature=native-histograms.
        let prom = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(format(Some(prom), false), Format::Protobuf);
        assert_eq!(format(Some(prom), true), Format::Protobuf);
        // Another message, or another framing, is not what this endpoint writes.
        let other = "application/vnd.google.protobuf;proto=io.prometheus.client.Other;encoding=delimited,text/plain;q=0.5";
        assert_eq!(format(Some(other), true), TEXT);
        let text = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text,text/plain;q=0.5";
        assert_eq!(format(Some(text), true), TEXT);
        let ranked_low = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.1,text/plain";
        assert_eq!(format(Some(ranked_low), true), TEXT);
    }

    #[test]
    fn prometheus_accept_header_gets_openmetrics_only_when_offered() {
        let prom = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(format(Some(prom), true), OPENMETRICS);
        assert_eq!(format(Some(prom), false), TEXT);
        let only = "application/openmetrics-text;version=1.0.0";
        assert_eq!(format(Some(only), false), TEXT);
    }

    #[test]
    fn text_when_preferred_absent_or_unknown() {
        assert_eq!(format(None, true), TEXT);
        assert_eq!(format(Some("text/plain;version=0.0.4"), true), TEXT);
        assert_eq!(format(Some("application/json"), true), TEXT);
        assert_eq!(
            format(
                Some("application/openmetrics-text;q=0.2, text/plain;q=0.9"),
                true
            ),
            TEXT
        );
        assert_eq!(
            format(Some("application/openmetrics-text;q=0, */*"), true),
            TEXT
        );
        assert_eq!(
            format(Some("APPLICATION/OPENMETRICS-TEXT"), true),
            OPENMETRICS
        );
        assert_eq!(
            format(Some("application/openmetrics-text;Q=0, text/plain"), true),
            TEXT
        );
    }

    #[test]
    fn gzip_negotiation() {
        assert!(gzip(Some("gzip")));
        assert!(gzip(Some("deflate, gzip;q=0.8")));
        assert!(!gzip(Some("gzip;q=0")));
        assert!(!gzip(Some("gzip;Q=0")));
        assert!(!gzip(Some("GZIP ; Q = 0")));
        assert!(!gzip(Some("x-gzip;Q=0.0, identity")));
        assert!(!gzip(Some("br")));
        assert!(!gzip(None));
    }
}
