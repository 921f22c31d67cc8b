//! Encoding of `prometheus` protobuf families: the metrics users register themselves in
//! [`Metrics::registry`](crate::Metrics::registry), in either text format.

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

use crate::contract::Kind;
use crate::exposition::syntax::Syntax;
use crate::render::{push_f64, push_label_value, push_u64};

pub(crate) fn encode<S: Syntax>(families: &[MetricFamily], out: &mut String) {
    for mf in families {
        let name = mf.name();
        let kind = mf.get_field_type();
        let (type_name, kind_of) = match kind {
            MetricType::COUNTER => ("counter", Some(Kind::Counter)),
            MetricType::GAUGE => ("gauge", Some(Kind::Gauge)),
            MetricType::SUMMARY => ("summary", None),
            MetricType::HISTOGRAM => ("histogram", Some(Kind::Histogram)),
            _ => (S::UNTYPED, None),
        };
        let family = kind_of.map_or(name, |k| S::family_name(name, k));
        let sample =
            if kind == MetricType::COUNTER && S::COUNTERS_END_IN_TOTAL && !name.ends_with("_total")
            {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
        out.push_str("# HELP ");
        out.push_str(family);
        out.push(' ');
        S::push_help(out, mf.help());
        out.push_str("\n# TYPE ");
        out.push_str(family);
        out.push(' ');
        out.push_str(type_name);
        out.push('\n');
        for m in mf.get_metric() {
            let labels = m.get_label();
            match kind {
                MetricType::COUNTER => line(out, &sample, labels, None, m.get_counter().value()),
                MetricType::GAUGE => line(out, &sample, labels, None, m.get_gauge().value()),
                MetricType::SUMMARY => summary::<S>(out, &sample, m),
                MetricType::HISTOGRAM => histogram::<S>(out, &sample, m),
                _ => line(out, &sample, labels, None, m.untyped.value()),
            }
        }
    }
}

fn summary<S: Syntax>(out: &mut String, name: &str, m: &Metric) {
    let s = m.get_summary();
    for q in s.get_quantile() {
        let mut value = String::new();
        push_f64(&mut value, q.quantile(), S::CANONICAL_FLOATS);
        line(
            out,
            name,
            m.get_label(),
            Some(("quantile", &value)),
            q.value(),
        );
    }
    line(
        out,
        &format!("{name}_sum"),
        m.get_label(),
        None,
        s.sample_sum(),
    );
    count(
        out,
        &format!("{name}_count"),
        m.get_label(),
        s.sample_count(),
    );
}

fn histogram<S: Syntax>(out: &mut String, name: &str, m: &Metric) {
    let h = m.get_histogram();
    let bucket = format!("{name}_bucket");
    let mut saw_inf = false;
    for b in h.get_bucket() {
        let mut le = String::new();
        push_f64(&mut le, b.upper_bound(), S::CANONICAL_FLOATS);
        saw_inf |= b.upper_bound() == f64::INFINITY;
        let n = b.cumulative_count() as f64;
        line(out, &bucket, m.get_label(), Some(("le", &le)), n);
    }
    if !saw_inf {
        let n = h.sample_count() as f64;
        line(out, &bucket, m.get_label(), Some(("le", "+Inf")), n);
    }
    line(
        out,
        &format!("{name}_sum"),
        m.get_label(),
        None,
        h.sample_sum(),
    );
    count(
        out,
        &format!("{name}_count"),
        m.get_label(),
        h.sample_count(),
    );
}

fn count(out: &mut String, name: &str, labels: &[LabelPair], n: u64) {
    labelled(out, name, labels, None);
    push_u64(out, n);
    out.push('\n');
}

/// A sample with a float value, written as Prometheus parsers read it in both formats.
fn line(out: &mut String, name: &str, labels: &[LabelPair], extra: Option<(&str, &str)>, v: f64) {
    labelled(out, name, labels, extra);
    push_f64(out, v, false);
    out.push('\n');
}

fn labelled(out: &mut String, name: &str, labels: &[LabelPair], extra: Option<(&str, &str)>) {
    out.push_str(name);
    if !labels.is_empty() || extra.is_some() {
        out.push('{');
        let pairs = labels.iter().map(|l| (l.name(), l.value())).chain(extra);
        for (i, (n, v)) in pairs.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(n);
            out.push_str("=\"");
            push_label_value(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
}
