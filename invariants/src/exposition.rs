//! A strict reader of the Prometheus text format 0.0.4 and of OpenMetrics 1.0, written
//! from the two specifications rather than from our writer, so that it can disagree
//! with it. It rejects what Prometheus' own parsers reject (unknown escapes, samples
//! outside their family, duplicate series, a missing `# EOF`) and checks that each
//! histogram is cumulative and ends in `le="+Inf"` equal to its `_count`. Exemplars
//! (OpenMetrics only) may follow a counter's `_total` or a bucket, with a label set of
//! at most 128 characters and, on a bucket, a value within the bucket's bounds.

use std::collections::{BTreeMap, BTreeSet};

use crate::Violation;

/// One sample line, label values unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name, e.g. `keychain_operations_total`.
    pub name: String,
    /// Label names to (unescaped) values.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
    /// The exemplar after the value, if any.
    pub exemplar: Option<Exemplar>,
}

/// An OpenMetrics exemplar: ` # {trace_id="…"} 0.25 1700000000.123`.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// Its labels, unescaped.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
    /// Its timestamp in seconds, if given.
    pub timestamp: Option<f64>,
}

/// The longest exemplar label set OpenMetrics 1.0 allows, in characters of names and values.
const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

/// Which of the two formats a text claims to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

/// Parses a whole exposition; any departure from the format is an error naming the line.
pub fn parse(text: &str, format: Format) -> Result<Vec<Sample>, Violation> {
    let mut reader = Reader {
        format,
        families: BTreeMap::new(),
        current: None,
        seen: BTreeSet::new(),
        samples: Vec::new(),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition does not end with a line break".into());
    }
    let mut eof = false;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if eof {
            return Err(at("text after # EOF".into()));
        }
        if format == Format::OpenMetrics && line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            reader.comment(comment).map_err(at)?;
        } else {
            reader.sample(line).map_err(at)?;
        }
    }
    if format == Format::OpenMetrics && !eof {
        return Err("OpenMetrics text without # EOF".into());
    }
    check_histograms(&reader.families, &reader.samples)?;
    Ok(reader.samples)
}

/// The samples named `name`, as label set (values in the order of `labels`) to value.
pub fn series(samples: &[Sample], name: &str, labels: &[&str]) -> BTreeMap<Vec<String>, f64> {
    series_where(samples, name, labels, &[])
}

/// [`series`] of the samples that also carry every label of `fixed`.
pub fn series_where(
    samples: &[Sample],
    name: &str,
    labels: &[&str],
    fixed: &[(&str, &str)],
) -> BTreeMap<Vec<String>, f64> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            fixed
                .iter()
                .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
        .map(|s| {
            let key = labels
                .iter()
                .map(|l| s.labels.get(*l).cloned().unwrap_or_default())
                .collect();
            (key, s.value)
        })
        .collect()
}

struct Reader {
    format: Format,
    /// Family name to type.
    families: BTreeMap<String, String>,
    current: Option<String>,
    /// (name, labels) of every sample so far.
    seen: BTreeSet<(String, Vec<(String, String)>)>,
    samples: Vec<Sample>,
}

impl Reader {
    fn comment(&mut self, comment: &str) -> Result<(), Violation> {
        let Some(rest) = comment.strip_prefix(' ') else {
            return self.free_comment();
        };
        let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        match keyword {
            "HELP" => {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                check_metric_name(name)?;
                let escapes: &[char] = match self.format {
                    Format::Text => &['\\', 'n'],
                    Format::OpenMetrics => &['\\', 'n', '"'],
                };
                unescape(help, escapes).map(|_| ())
            }
            "TYPE" => {
                let (name, kind) = rest.split_once(' ').ok_or("TYPE without a type")?;
                check_metric_name(name)?;
                let kinds: &[&str] = match self.format {
                    Format::Text => &["counter", "gauge", "histogram", "summary", "untyped"],
                    Format::OpenMetrics => &[
                        "counter",
                        "gauge",
                        "histogram",
                        "gaugehistogram",
                        "stateset",
                        "info",
                        "summary",
                        "unknown",
                    ],
                };
                if !kinds.contains(&kind) {
                    return Err(format!("unknown type {kind:?}"));
                }
                if self.format == Format::OpenMetrics
                    && kind == "counter"
                    && name.ends_with("_total")
                {
                    return Err("an OpenMetrics counter family is named without _total".into());
                }
                if self.families.insert(name.into(), kind.into()).is_some() {
                    return Err(format!("family {name} described twice"));
                }
                self.current = Some(name.into());
                Ok(())
            }
            "UNIT" if self.format == Format::OpenMetrics => Ok(()),
            _ => self.free_comment(),
        }
    }

    fn free_comment(&self) -> Result<(), Violation> {
        match self.format {
            Format::Text => Ok(()),
            Format::OpenMetrics => Err("OpenMetrics allows only HELP, TYPE, UNIT and EOF".into()),
        }
    }

    fn sample(&mut self, line: &str) -> Result<(), Violation> {
        let end = line.find(['{', ' ']).ok_or("a sample without a value")?;
        let name = &line[..end];
        check_metric_name(name)?;
        self.check_family(name)?;
        let mut rest = &line[end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            rest = read_labels(inner, &mut labels)?;
        }
        let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
        let (value, exemplar) = match value.split_once(" # ") {
            Some((value, exemplar)) => (value, Some(self.exemplar(name, exemplar)?)),
            None => (value, None),
        };
        let (value, timestamp) = value.split_once(' ').unwrap_or((value, ""));
        if !timestamp.is_empty() && timestamp.parse::<f64>().is_err() {
            return Err(format!("bad timestamp {timestamp:?}"));
        }
        let value = parse_value(value)?;
        let key = (
            name.to_owned(),
            labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        );
        if !self.seen.insert(key) {
            return Err("the same series twice".into());
        }
        self.samples.push(Sample {
            name: name.into(),
            labels,
            value,
            exemplar,
        });
        Ok(())
    }

    /// `{labels} value [timestamp]` after a sample named `name`.
    fn exemplar(&self, name: &str, text: &str) -> Result<Exemplar, Violation> {
        if self.format != Format::OpenMetrics {
            return Err("an exemplar outside OpenMetrics".into());
        }
        let kind = self
            .current
            .as_ref()
            .map(|f| (f, self.families[f].as_str()));
        let allowed = match kind {
            Some((family, "counter")) => name == format!("{family}_total"),
            Some((family, "histogram" | "gaugehistogram")) => name == format!("{family}_bucket"),
            _ => false,
        };
        if !allowed {
            return Err(format!(
                "an exemplar on {name}, which is no counter total or bucket"
            ));
        }
        let inner = text.strip_prefix('{').ok_or("an exemplar without labels")?;
        let mut labels = BTreeMap::new();
        let rest = read_labels(inner, &mut labels)?;
        let chars: usize = labels
            .iter()
            .map(|(k, v)| k.chars().count() + v.chars().count())
            .sum();
        if chars > MAX_EXEMPLAR_LABEL_CHARS {
            return Err(format!(
                "exemplar labels of {chars} characters (at most 128)"
            ));
        }
        let rest = rest
            .strip_prefix(' ')
            .ok_or("no space before the exemplar value")?;
        let (value, timestamp) = match rest.split_once(' ') {
            Some((v, t)) => (
                v,
                Some(
                    t.parse::<f64>()
                        .map_err(|_| format!("bad exemplar timestamp {t:?}"))?,
                ),
            ),
            None => (rest, None),
        };
        Ok(Exemplar {
            labels,
            value: parse_value(value)?,
            timestamp,
        })
    }

    /// A sample belongs to the family most recently described, under a suffix its type allows.
    fn check_family(&self, name: &str) -> Result<(), Violation> {
        let Some(family) = &self.current else {
            return match self.format {
                Format::Text => Ok(()),
                Format::OpenMetrics => Err("a sample before any TYPE".into()),
            };
        };
        let kind = self.families[family].as_str();
        let suffixes: &[&str] = match (self.format, kind) {
            (_, "histogram" | "gaugehistogram") => &["_bucket", "_sum", "_count", "_created"],
            (_, "summary") => &["", "_sum", "_count", "_created"],
            (Format::OpenMetrics, "counter") => &["_total", "_created"],
            (Format::OpenMetrics, "info") => &["_info"],
            _ => &[""],
        };
        let fits = suffixes
            .iter()
            .any(|suffix| name.strip_suffix(suffix) == Some(family.as_str()));
        if fits || (self.format == Format::Text && kind == "untyped") {
            Ok(())
        } else {
            Err(format!(
                "sample {name} outside its family {family} ({kind})"
            ))
        }
    }
}

/// Reads `name="value",...}` and returns what follows the closing brace.
fn read_labels<'a>(
    mut rest: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, Violation> {
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let eq = rest.find('=').ok_or("a label without =")?;
        let name = &rest[..eq];
        check_label_name(name)?;
        let body = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("a label value without quotes")?;
        let close = closing_quote(body).ok_or("an unterminated label value")?;
        let value = unescape(&body[..close], &['\\', 'n', '"'])?;
        if labels.insert(name.into(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &body[close + 1..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by commas".into());
        }
    }
}

/// The byte offset of the first quote not escaped by a backslash.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Resolves the escapes `allowed` (each after a backslash; `n` is a line break).
fn unescape(s: &str, allowed: &[char]) -> Result<String, Violation> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e) if allowed.contains(&e) => out.push(if e == 'n' { '\n' } else { e }),
            other => return Err(format!("invalid escape \\{other:?}")),
        }
    }
    Ok(out)
}

fn parse_value(v: &str) -> Result<f64, Violation> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if v.contains(['i', 'I', 'n', 'N']) => Err(format!("bad value {v:?}")),
        _ => v.parse().map_err(|_| format!("bad value {v:?}")),
    }
}

fn check_metric_name(name: &str) -> Result<(), Violation> {
    let ok = name.bytes().enumerate().all(|(i, b)| {
        b.is_ascii_alphabetic() || b == b'_' || b == b':' || (i > 0 && b.is_ascii_digit())
    });
    if ok && !name.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid metric name {name:?}"))
    }
}

fn check_label_name(name: &str) -> Result<(), Violation> {
    let ok = name
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_alphabetic() || b == b'_' || (i > 0 && b.is_ascii_digit()));
    if ok && !name.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid label name {name:?}"))
    }
}

/// A bucket's upper bound, cumulative count and exemplar value.
type Bucket = (f64, f64, Option<f64>);

/// Each histogram series: buckets in increasing `le`, cumulative, ending in `+Inf` equal
/// to `_count`.
fn check_histograms(
    families: &BTreeMap<String, String>,
    samples: &[Sample],
) -> Result<(), Violation> {
    for (family, kind) in families {
        if kind != "histogram" {
            continue;
        }
        let bucket = format!("{family}_bucket");
        let count = format!("{family}_count");
        let mut by_series: BTreeMap<Vec<(&str, &str)>, Vec<Bucket>> = BTreeMap::new();
        for s in samples.iter().filter(|s| s.name == bucket) {
            let le = s.labels.get("le").ok_or("a bucket without le")?;
            let le = parse_value(le)?;
            let rest = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let exemplar = s.exemplar.as_ref().map(|e| e.value);
            by_series
                .entry(rest)
                .or_default()
                .push((le, s.value, exemplar));
        }
        for (labels, buckets) in &by_series {
            let ordered = buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
            if !ordered {
                return Err(format!("{family}{labels:?}: buckets not cumulative"));
            }
            let mut below = f64::NEG_INFINITY;
            for (le, _, exemplar) in buckets {
                if let Some(v) = exemplar {
                    if !(*v > below && *v <= *le) {
                        return Err(format!(
                            "{family}{labels:?}: exemplar {v} outside its bucket ({below}, {le}]"
                        ));
                    }
                }
                below = *le;
            }
            let last = buckets.last().ok_or("no buckets")?;
            let total = samples
                .iter()
                .find(|s| {
                    s.name == count
                        && s.labels.len() == labels.len()
                        && labels
                            .iter()
                            .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
                })
                .ok_or_else(|| format!("{family}{labels:?}: no _count"))?;
            if last.0 != f64::INFINITY || last.1 != total.value {
                return Err(format!("{family}{labels:?}: +Inf bucket is not _count"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP a_total A \\\\ help.\n# TYPE a_total counter\n\
                        a_total{x=\"q\\\"\\\\\\n\",y=\"\"} 3\n\
                        # TYPE h histogram\n\
                        h_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n";

    #[test]
    fn reads_values_escapes_and_histograms() {
        let samples = parse(GOOD, Format::Text).unwrap();
        assert_eq!(samples.len(), 5);
        assert_eq!(samples[0].labels["x"], "q\"\\\n");
        assert_eq!(samples[0].value, 3.0);
        assert_eq!(samples[4].value, 2.0);
    }

    #[test]
    fn rejects_what_prometheus_rejects() {
        let counter = "# TYPE a_total counter\n";
        let histogram = "# TYPE h histogram\n";
        let bad = [
            (counter, "a_total{x=\"\\t\"} 1\n", "invalid escape"),
            (
                counter,
                "a_total{x=\"1\"} 1\na_total{x=\"1\"} 2\n",
                "same series twice",
            ),
            (counter, "a_total{x=\"1\" y=\"2\"} 1\n", "commas"),
            (counter, "a_total{x=1} 1\n", "without quotes"),
            (counter, "a_total{x=\"1\"}  1\n", "bad value"),
            (counter, "a_total 1", "line break"),
            (counter, "b 1\n", "outside its family"),
            (counter, "a_total inf\n", "bad value"),
            (
                histogram,
                "h_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 2\n",
                "not _count",
            ),
            (
                histogram,
                "h_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",
                "cumulative",
            ),
        ];
        for (head, tail, why) in bad {
            let e = parse(&format!("{head}{tail}"), Format::Text).unwrap_err();
            assert!(e.contains(why), "{tail:?}: {e}");
        }
        let e = parse("# TYPE a counter\na_total 1\n", Format::OpenMetrics).unwrap_err();
        assert!(e.contains("# EOF"), "{e}");
        let e = parse("# TYPE a counter\na 1\n# EOF\n", Format::OpenMetrics).unwrap_err();
        assert!(e.contains("outside its family"), "{e}");
        parse("# TYPE a counter\na_total 1\n# EOF\n", Format::OpenMetrics).unwrap();
    }

    #[test]
    fn reads_exemplars_and_rejects_misplaced_ones() {
        let ok = "# TYPE a counter\na_total 3 # {trace_id=\"ab\"} 1 1700000000.5\n\
                  # TYPE h histogram\nh_bucket{le=\"0.1\"} 1 # {trace_id=\"cd\"} 0.05\n\
                  h_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n# EOF\n";
        let samples = parse(ok, Format::OpenMetrics).unwrap();
        let e = samples[0].exemplar.as_ref().unwrap();
        assert_eq!(
            (e.labels["trace_id"].as_str(), e.value, e.timestamp),
            ("ab", 1.0, Some(1700000000.5))
        );
        assert_eq!(samples[1].exemplar.as_ref().unwrap().value, 0.05);
        let long = format!(
            "# TYPE a counter\na_total 3 # {{trace_id=\"{}\"}} 1\n# EOF\n",
            "x".repeat(121)
        );
        let bad = [
            (ok.replace("0.05", "0.5"), "outside its bucket"),
            (
                ok.replace("h_sum 0.3", "h_sum 0.3 # {a=\"b\"} 1"),
                "no counter total or bucket",
            ),
            (long, "at most 128"),
            (ok.replace("1700000000.5", "soon"), "bad exemplar timestamp"),
        ];
        for (text, why) in bad {
            let e = parse(&text, Format::OpenMetrics).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let text = "# TYPE a_total counter\na_total 3 # {trace_id=\"ab\"} 1\n";
        assert!(parse(text, Format::Text)
            .unwrap_err()
            .contains("outside OpenMetrics"));
    }
}
