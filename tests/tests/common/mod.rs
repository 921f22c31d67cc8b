//! Helpers for assertions on expositions, and for waiting on servers.
#![allow(dead_code)]

pub(crate) use keychain_metrics_invariants::exposition::Sample;
use keychain_metrics_invariants::exposition::{self, Format};

/// Parses the samples of a text or OpenMetrics exposition (told apart by `# EOF`) with
/// the strict reader the fuzz targets use. Panics on anything malformed: a test failure.
pub(crate) fn parse(text: &str) -> Vec<Sample> {
    let format = if text.ends_with("# EOF\n") {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    exposition::parse(text, format).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The samples named `name` whose labels include all of `labels`, in exposition order.
fn matching(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<Sample> {
    parse(text)
        .into_iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include all of `labels`.
pub(crate) fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matches: Vec<f64> = matching(text, name, labels)
        .into_iter()
        .map(|s| s.value)
        .collect();
    assert!(
        matches.len() <= 1,
        "{name} {labels:?} matches {} samples",
        matches.len()
    );
    matches.first().copied()
}

/// `keychain_active_connections{protocol}`: requests in flight over `protocol`.
pub(crate) fn in_flight(m: &keychain_metrics::Metrics, protocol: &str) -> f64 {
    value(
        &m.encode_text(),
        "keychain_active_connections",
        &[("protocol", protocol)],
    )
    .unwrap_or_else(|| panic!("no in-flight series for {protocol}"))
}

/// Number of sample lines whose name starts with `prefix`.
pub(crate) fn count_series(text: &str, prefix: &str) -> usize {
    parse(text)
        .iter()
        .filter(|s| s.name.starts_with(prefix))
        .count()
}

/// Waits until `f` holds (servers finish a moment after clients see their answers);
/// fails after 5 s.
pub(crate) async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The output of a future that completes at its first poll; panics if it would wait.
pub(crate) fn now<F: std::future::Future>(f: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the future waits; `now` only runs futures that do not"),
    }
}

/// The trace ids of the exemplars on the samples named `name` whose labels include all
/// of `labels`, in exposition order.
pub(crate) fn exemplar_traces(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<String> {
    matching(text, name, labels)
        .into_iter()
        .filter_map(|s| s.exemplar?.labels.get("trace_id").cloned())
        .collect()
}
