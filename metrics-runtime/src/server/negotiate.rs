//! Content negotiation for the metrics endpoint: which exposition format, and whether
//! to gzip, from the scraper's `Accept` and `Accept-Encoding` headers.

use std::borrow::Cow;

use crate::exposition::escaping::Escaping;
use crate::Format;

/// One entry of a header list: its value, lower-cased, its parameters other than `q`,
/// and its quality. `("text/plain", ["version=0.0.4"], 0.3)`.
struct Entry<'a> {
    value: String,
    params: Vec<&'a str>,
    q: f32,
}

impl<'a> Entry<'a> {
    /// The value of parameter `name` (its name case-insensitive), unquoted.
    fn param(&self, name: &str) -> Option<&'a str> {
        self.params.iter().find_map(|p| {
            let (n, v) = p.split_once('=')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"'))
        })
    }

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

/// What the endpoint answers with: the body's format, and what its `Content-Type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub(crate) format: Format,
    /// The text format's version as the scraper asked for it: the 1.0.0 text format is
    /// 0.0.4 with quoted UTF-8 names allowed, OpenMetrics 0.0.1 the draft of 1.0, and
    /// for legacy names the bodies are the same.
    version: Version,
    /// How names that are not legacy are written: on the 1.0.0 formats only, which
    /// carry the parameter (as Prometheus 3 sends it).
    escaping: Option<Escaping>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Text004,
    Text100,
    OpenMetrics001,
    OpenMetrics100,
    Protobuf,
}

impl Negotiated {
    const TEXT: Negotiated = Negotiated {
        format: Format::Text,
        version: Version::Text004,
        escaping: None,
    };

    /// How names that are not legacy are written: as the 1.0.0 formats asked, else (and
    /// by default) with underscores, which is how names are made legacy when created.
    pub(crate) fn escaping(self) -> Escaping {
        self.escaping.unwrap_or(Escaping::DEFAULT)
    }

    /// The `Content-Type` header value: media type, version, charset and, on the 1.0.0
    /// formats, the escaping scheme, as prometheus/common writes them.
    pub(crate) fn content_type(self) -> Cow<'static, str> {
        let base = match self.version {
            Version::Text004 => return Cow::Borrowed(crate::TEXT_CONTENT_TYPE),
            Version::Protobuf => return Cow::Borrowed(crate::PROTOBUF_CONTENT_TYPE),
            Version::OpenMetrics001 => {
                return Cow::Borrowed("application/openmetrics-text; version=0.0.1; charset=utf-8")
            }
            Version::Text100 => "text/plain; version=1.0.0; charset=utf-8",
            Version::OpenMetrics100 => crate::OPENMETRICS_CONTENT_TYPE,
        };
        Cow::Owned(format!("{base}; escaping={}", self.escaping().as_str()))
    }
}

/// The best answer `accept` allows, as prometheus/common's negotiation chooses it: the
/// protobuf format when the scraper ranks it first (Prometheus does when its native
/// histograms are on; it says which message and framing, and nothing else is served
/// under that type); with `openmetrics` offered, OpenMetrics 1.0.0 or 0.0.1 when ranked
/// above the text format; the text format 0.0.4 or 1.0.0 otherwise, and 0.0.4 when
/// nothing matches. A version this endpoint does not write (OpenMetrics 2.0.0, say) is
/// passed over for the scraper's next choice.
pub(crate) fn negotiate(accept: Option<&str>, openmetrics: bool) -> Negotiated {
    let Some(accept) = accept else {
        return Negotiated::TEXT;
    };
    let mut best: Option<(Negotiated, f32)> = None;
    for entry in weighted(accept) {
        let version = entry.param("version");
        let (format, version) = match (entry.value.as_str(), version) {
            ("application/vnd.google.protobuf", _)
                if entry.has("proto", "io.prometheus.client.MetricFamily")
                    && entry.has("encoding", "delimited") =>
            {
                (Format::Protobuf, Version::Protobuf)
            }
            ("application/openmetrics-text", None | Some("0.0.1")) if openmetrics => {
                (Format::OpenMetrics, Version::OpenMetrics001)
            }
            ("application/openmetrics-text", Some("1.0.0")) if openmetrics => {
                (Format::OpenMetrics, Version::OpenMetrics100)
            }
            ("text/plain", None | Some("0.0.4")) | ("text/*" | "*/*", _) => {
                (Format::Text, Version::Text004)
            }
            ("text/plain", Some("1.0.0")) => (Format::Text, Version::Text100),
            _ => continue,
        };
        let escaping = matches!(version, Version::Text100 | Version::OpenMetrics100)
            .then(|| entry.param("escaping").and_then(Escaping::from_param))
            .flatten();
        let answer = Negotiated {
            format,
            version,
            escaping,
        };
        if entry.q > 0.0 && best.is_none_or(|(_, b)| entry.q > b) {
            best = Some((answer, entry.q));
        }
    }
    best.map_or(Negotiated::TEXT, |(n, _)| n)
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

    fn format(accept: Option<&str>, openmetrics: bool) -> Format {
        negotiate(accept, openmetrics).format
    }

    fn content_type(accept: &str, openmetrics: bool) -> String {
        negotiate(Some(accept), openmetrics)
            .content_type()
            .into_owned()
    }

    // The Accept headers of Prometheus 3.14, as scrape/scrape.go's acceptHeader() builds
    // them from config/config.go's ScrapeProtocolsHeaders: DefaultScrapeProtocols, and
    // DefaultProtoFirstScrapeProtocols (scrape_native_histograms: true), with the
    // escaping scheme of the default UTF-8 validation (allow-utf-8) or of
    // `metric_name_validation_scheme: legacy` (underscores).
    const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    const PROMETHEUS_3_LEGACY: &str = "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    const PROMETHEUS_3_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

    #[test]
    fn prometheus_3_gets_the_version_and_escaping_it_asks_for() {
        assert_eq!(
            content_type(PROMETHEUS_3, true),
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        );
        assert_eq!(format(Some(PROMETHEUS_3), true), OPENMETRICS);
        assert_eq!(
            content_type(PROMETHEUS_3, false),
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        );
        assert_eq!(format(Some(PROMETHEUS_3), false), TEXT);
        assert_eq!(
            content_type(PROMETHEUS_3_LEGACY, false),
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"
        );
        assert_eq!(
            content_type(PROMETHEUS_3_NATIVE, false),
            crate::PROTOBUF_CONTENT_TYPE
        );
        assert_eq!(format(Some(PROMETHEUS_3_NATIVE), true), Format::Protobuf);
    }

    #[test]
    fn each_scrape_protocol_alone() {
        // What `scrape_protocols: [X]` sends: one protocol, then */*.
        let cases = [
            ("text/plain;version=0.0.4;q=0.6,*/*;q=0.5", crate::TEXT_CONTENT_TYPE),
            ("text/plain;version=1.0.0;escaping=dots;q=0.6,*/*;q=0.5", "text/plain; version=1.0.0; charset=utf-8; escaping=dots"),
            ("application/openmetrics-text;version=0.0.1;q=0.6,*/*;q=0.5", "application/openmetrics-text; version=0.0.1; charset=utf-8"),
            ("application/openmetrics-text;version=1.0.0;escaping=values;q=0.6,*/*;q=0.5", "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=values"),
            ("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,*/*;q=0.5", crate::PROTOBUF_CONTENT_TYPE),
        ];
        for (accept, expected) in cases {
            assert_eq!(content_type(accept, true), expected, "{accept}");
        }
        // An unknown scheme is ignored, as prometheus/common ignores it: the default.
        assert_eq!(
            content_type("text/plain;version=1.0.0;escaping=klingon", false),
            "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"
        );
        // A version this endpoint does not write is passed over for the next choice.
        assert_eq!(
            content_type(
                "application/openmetrics-text;version=2.0.0,text/plain;version=0.0.4;q=0.5",
                true
            ),
            crate::TEXT_CONTENT_TYPE
        );
    }

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
        // Prometheus 2.42's own header: what it got before, plus the escaping parameter
        // of the 1.0.0 format (it reads the media type only).
        let prom2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(content_type(prom2, false), crate::TEXT_CONTENT_TYPE);
        assert_eq!(
            content_type(prom2, true),
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
        );
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
