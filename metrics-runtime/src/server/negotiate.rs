//! Content negotiation for the metrics endpoint: which exposition format, and whether
//! to gzip, from the scraper's `Accept` and `Accept-Encoding` headers.

use crate::Format;

/// Entries of a header list with their quality, in order: `("text/plain", 0.3)`.
fn weighted(header: &str) -> impl Iterator<Item = (String, f32)> + '_ {
    header.split(',').filter_map(|entry| {
        let mut parts = entry.split(';');
        let value = parts.next()?.trim().to_ascii_lowercase();
        if value.is_empty() {
            return None;
        }
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .filter(|q| q.is_finite())
            .unwrap_or(1.0);
        Some((value, q))
    })
}

/// The best format `accept` allows: with `openmetrics` offered, OpenMetrics when the
/// scraper ranks it above the text format (as Prometheus does); the text format
/// otherwise, and when nothing matches.
pub(crate) fn format(accept: Option<&str>, openmetrics: bool) -> Format {
    let Some(accept) = accept.filter(|_| openmetrics) else {
        return Format::Text;
    };
    let mut best: Option<(Format, f32)> = None;
    for (media, q) in weighted(accept) {
        let format = match media.as_str() {
            "application/openmetrics-text" => Format::OpenMetrics,
            "text/plain" | "text/*" | "*/*" => Format::Text,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((format, q));
        }
    }
    best.map_or(Format::Text, |(f, _)| f)
}

/// Whether `accept_encoding` accepts gzip.
pub(crate) fn gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|header| {
        weighted(header).any(|(coding, q)| (coding == "gzip" || coding == "x-gzip") && q > 0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_accept_header_gets_openmetrics_only_when_offered() {
        let prom = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(format(Some(prom), true), Format::OpenMetrics);
        assert_eq!(format(Some(prom), false), Format::Text);
        let only = "application/openmetrics-text;version=1.0.0";
        assert_eq!(format(Some(only), false), Format::Text);
    }

    #[test]
    fn text_when_preferred_absent_or_unknown() {
        assert_eq!(format(None, true), Format::Text);
        assert_eq!(format(Some("text/plain;version=0.0.4"), true), Format::Text);
        assert_eq!(format(Some("application/json"), true), Format::Text);
        assert_eq!(
            format(
                Some("application/openmetrics-text;q=0.2, text/plain;q=0.9"),
                true
            ),
            Format::Text
        );
        assert_eq!(
            format(Some("application/openmetrics-text;q=0, */*"), true),
            Format::Text
        );
        assert_eq!(
            format(Some("APPLICATION/OPENMETRICS-TEXT"), true),
            Format::OpenMetrics
        );
    }

    #[test]
    fn gzip_negotiation() {
        assert!(gzip(Some("gzip")));
        assert!(gzip(Some("deflate, gzip;q=0.8")));
        assert!(!gzip(Some("gzip;q=0")));
        assert!(!gzip(Some("br")));
        assert!(!gzip(None));
    }
}
