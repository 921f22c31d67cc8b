//! Encoding of `prometheus` protobuf families: the metrics users register themselves in
//! [`Metrics::registry`](crate::Metrics::registry), in either exposition format.

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

use crate::render::{push_f64, push_help, push_label_value, push_u64};

pub(crate) fn encode(families: &[MetricFamily], om: bool, out: &mut String) {
    for mf in families {
        let name = mf.name();
        let kind = mf.get_field_type();
        let (family, sample, type_name) = match kind {
            // OpenMetrics counters: the family has no `_total`, the sample must.
            MetricType::COUNTER if om => match name.strip_suffix("_total") {
                Some(base) => (base, name.to_owned(), "counter"),
                None => (name, format!("{name}_total"), "counter"),
            },
            MetricType::COUNTER => (name, name.to_owned(), "counter"),
            MetricType::GAUGE => (name, name.to_owned(), "gauge"),
            MetricType::SUMMARY => (name, name.to_owned(), "summary"),
            MetricType::HISTOGRAM => (name, name.to_owned(), "histogram"),
            _ => (
                name,
                name.to_owned(),
                if om { "unknown" } else { "untyped" },
            ),
        };
        out.push_str("# HELP ");
        out.push_str(family);
        out.push(' ');
        push_help(out, mf.help(), om);
        out.push_str("\n# TYPE ");
        out.push_str(family);
        out.push(' ');
        out.push_str(type_name);
        out.push('\n');
        for m in mf.get_metric() {
            let labels = m.get_label();
            match kind {
                MetricType::COUNTER => {
                    line(out, &sample, labels, None, m.get_counter().value(), om)
                }
                MetricType::GAUGE => line(out, &sample, labels, None, m.get_gauge().value(), om),
                MetricType::SUMMARY => summary(out, &sample, m, om),
                MetricType::HISTOGRAM => histogram(out, &sample, m, om),
                _ => line(out, &sample, labels, None, m.untyped.value(), om),
            }
        }
    }
}

fn summary(out: &mut String, name: &str, m: &Metric, om: bool) {
    let s = m.get_summary();
    for q in s.get_quantile() {
        let mut value = String::new();
        push_f64(&mut value, q.quantile(), om);
        line(
            out,
            name,
            m.get_label(),
            Some(("quantile", &value)),
            q.value(),
            om,
        );
    }
    line(
        out,
        &format!("{name}_sum"),
        m.get_label(),
        None,
        s.sample_sum(),
        om,
    );
    count(
        out,
        &format!("{name}_count"),
        m.get_label(),
        s.sample_count(),
    );
}

fn histogram(out: &mut String, name: &str, m: &Metric, om: bool) {
    let h = m.get_histogram();
    let bucket = format!("{name}_bucket");
    let mut saw_inf = false;
    for b in h.get_bucket() {
        let mut le = String::new();
        push_f64(&mut le, b.upper_bound(), om);
        saw_inf |= b.upper_bound() == f64::INFINITY;
        line(
            out,
            &bucket,
            m.get_label(),
            Some(("le", &le)),
            b.cumulative_count() as f64,
            om,
        );
    }
    if !saw_inf {
        line(
            out,
            &bucket,
            m.get_label(),
            Some(("le", "+Inf")),
            h.sample_count() as f64,
            om,
        );
    }
    line(
        out,
        &format!("{name}_sum"),
        m.get_label(),
        None,
        h.sample_sum(),
        om,
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

fn line(
    out: &mut String,
    name: &str,
    labels: &[LabelPair],
    extra: Option<(&str, &str)>,
    v: f64,
    _om: bool,
) {
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
