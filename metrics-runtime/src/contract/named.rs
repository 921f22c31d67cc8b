//! The rules for families named at run time, the `metrics` facade's: how a name and a
//! unit become a Prometheus name, which names may not live side by side, which bucket
//! bounds a histogram gets, and how many label sets a name may hold.

use std::borrow::Cow;

use crate::contract::buckets::{Buckets, DEFAULT_BUCKETS};
use crate::contract::cardinality::clip;
use crate::contract::native::{NativeHistogram, NativeLayout};
use crate::contract::Kind;

/// Default cap on the label sets of one facade metric name.
pub const DEFAULT_MAX_LABEL_SETS: usize = 1_000;

/// Most names the facade may create in one instance; later ones are refused (logged
/// once each, up to this many).
pub(crate) const MAX_FAMILIES: usize = 10_000;

/// How the `metrics` facade's metrics are kept: bucket bounds per name, native
/// histograms and the cap on label sets. Given to
/// [`MetricsBuilder::recorder`](crate::MetricsBuilder::recorder), or as
/// `metrics.recorder` in YAML; checked by [`MetricsBuilder::build`](crate::MetricsBuilder::build).
///
/// A bucket pattern is a name as the code spells it (`"pkcs8.fsync"`), a prefix
/// (`"pkcs8.*"`), a suffix (`"*_bytes"`), or `"*"` for every histogram no other pattern
/// matches. An exact name wins, then the longest prefix or suffix (the first given of
/// equal ones); without a match a histogram gets Prometheus' default bounds.
///
/// ```
/// use keychain_metrics::{Metrics, RecorderConfig};
///
/// let metrics = Metrics::builder()
///     .recorder(
///         RecorderConfig::default()
///             .buckets("pkcs8.fsync", [0.0005, 0.001, 0.005, 0.02, 0.1])
///             .buckets("*_bytes", [1024.0, 65536.0, 1048576.0])
///             .max_label_sets(500),
///     )
///     .build()?;
/// # Ok::<(), keychain_metrics::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderConfig {
    buckets: Vec<(String, Vec<f64>)>,
    max_label_sets: usize,
    native: Option<NativeHistogram>,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            buckets: Vec::new(),
            max_label_sets: DEFAULT_MAX_LABEL_SETS,
            native: None,
        }
    }
}

impl RecorderConfig {
    /// Bucket bounds, in the metric's own unit, for the histograms `pattern` matches.
    pub fn buckets(mut self, pattern: impl Into<String>, bounds: impl Into<Vec<f64>>) -> Self {
        self.buckets.push((pattern.into(), bounds.into()));
        self
    }

    /// The most label sets one name may hold (default
    /// [`DEFAULT_MAX_LABEL_SETS`]); later ones fold into one series whose label values
    /// read `other`, counted by `keychain_recorder_folded_total`.
    pub fn max_label_sets(mut self, limit: usize) -> Self {
        self.max_label_sets = limit;
        self
    }

    /// Keeps a native histogram beside every facade histogram's classic buckets. Its
    /// zero threshold is in the metric's unit; observations at or below zero count in
    /// the zero bucket.
    pub fn native(mut self, native: Option<NativeHistogram>) -> Self {
        self.native = native;
        self
    }
}

/// Why a [`RecorderConfig`] was refused: the field (`buckets["*_bytes"]`) and what is
/// wrong with it.
pub(crate) type RulesError = (String, String);

/// What a pattern matches.
#[derive(Debug)]
enum Pattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Any,
}

impl Pattern {
    fn parse(pattern: &str) -> Result<Self, String> {
        let stars = pattern.matches('*').count();
        match (stars, pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
            (0, _, _) if !pattern.is_empty() => Ok(Pattern::Exact(pattern.into())),
            (1, _, Some("")) => Ok(Pattern::Any),
            (1, Some(suffix), _) => Ok(Pattern::Suffix(suffix.into())),
            (1, _, Some(prefix)) => Ok(Pattern::Prefix(prefix.into())),
            _ => Err("a pattern is a name, `prefix*`, `*suffix` or `*`".into()),
        }
    }

    /// How well it matches `name`: the length matched, exact names first.
    fn rank(&self, name: &str) -> Option<usize> {
        match self {
            Pattern::Exact(n) => (n == name).then_some(usize::MAX),
            Pattern::Prefix(p) => name.starts_with(p.as_str()).then_some(p.len() + 1),
            Pattern::Suffix(s) => name.ends_with(s.as_str()).then_some(s.len() + 1),
            Pattern::Any => Some(0),
        }
    }
}

/// A validated [`RecorderConfig`].
pub(crate) struct NamedRules {
    patterns: Vec<(Pattern, Buckets)>,
    default: Buckets,
    pub(crate) max_label_sets: usize,
}

impl NamedRules {
    pub(crate) fn new(config: &RecorderConfig) -> Result<Self, RulesError> {
        if config.max_label_sets == 0 {
            return Err(("max_label_sets".into(), "0: must be at least 1".into()));
        }
        let native = config
            .native
            .as_ref()
            .map(NativeLayout::new)
            .transpose()
            .map_err(|e| ("native".to_string(), e.to_string()))?;
        let mut patterns = Vec::with_capacity(config.buckets.len());
        for (pattern, bounds) in &config.buckets {
            let field = || format!("buckets[{pattern:?}]");
            let parsed = Pattern::parse(pattern).map_err(|e| (field(), e))?;
            let buckets = Buckets::for_values(bounds)
                .map_err(|e| (field(), format!("{bounds:?}: {e}")))?
                .with_native(native.clone());
            patterns.push((parsed, buckets));
        }
        let default = Buckets::for_values(&DEFAULT_BUCKETS)
            .map_err(|e| ("buckets".to_string(), e.to_string()))?
            .with_native(native);
        Ok(NamedRules {
            patterns,
            default,
            max_label_sets: config.max_label_sets,
        })
    }

    /// The bounds of the histogram `name` (as the code spells it).
    pub(crate) fn buckets(&self, name: &str) -> &Buckets {
        // The longest match; of equal ones, the first given.
        self.patterns
            .iter()
            .enumerate()
            .filter_map(|(i, (p, b))| Some((p.rank(name)?, std::cmp::Reverse(i), b)))
            .max_by_key(|(rank, i, _)| (*rank, *i))
            .map_or(&self.default, |(_, _, b)| b)
    }
}

/// The Prometheus name of a facade metric: characters a legacy name cannot hold become
/// `_` (a digit may not lead), the unit's suffix (`seconds`, `bytes`) is added unless
/// the name ends in it, and a counter ends in `_total`. `None` for an empty name.
pub(crate) fn exposed_name(name: &str, kind: Kind, unit: Option<&str>) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    Some(suffixed(
        legacy(name, |c| c == ':').into_owned(),
        kind,
        unit,
    ))
}

/// The same name in UTF-8, for scrapers that negotiate `escaping=allow-utf-8` (or
/// another scheme than `underscores`): the suffixes added, nothing replaced. `None`
/// when it is the legacy name.
pub(crate) fn utf8_name(name: &str, kind: Kind, unit: Option<&str>) -> Option<String> {
    let is_legacy = matches!(legacy(name, |c| c == ':'), Cow::Borrowed(_));
    (!is_legacy && !name.is_empty()).then(|| suffixed(name.to_owned(), kind, unit))
}

/// `name` with the unit's suffix unless it ends in it, and a counter's `_total` once.
fn suffixed(mut out: String, kind: Kind, unit: Option<&str>) -> String {
    if kind == Kind::Counter {
        if let Some(base) = out.strip_suffix("_total").filter(|b| !b.is_empty()) {
            out.truncate(base.len());
        }
    }
    if let Some(unit) = unit {
        if !out.ends_with(&format!("_{unit}")) {
            out.push('_');
            out.push_str(unit);
        }
    }
    if kind == Kind::Counter {
        out.push_str("_total");
    }
    out
}

/// A label name as Prometheus accepts it: other characters become `_`, a digit may not
/// lead, and the reserved `__` prefix loses an underscore.
pub(crate) fn label_name(name: &str) -> Cow<'_, str> {
    let mut name = legacy(name, |_| false);
    while name.starts_with("__") {
        name = Cow::Owned(name[1..].to_owned());
    }
    if name.is_empty() {
        return Cow::Borrowed("_");
    }
    name
}

/// A series' own labels as kept: names made valid (a histogram's `le`, and a name a
/// constant label has, become `exported_…`), the first of a repeated name kept, values
/// past [`MAX_LABEL_LEN`](crate::MAX_LABEL_LEN) bytes folded to `other`, sorted by name.
pub(crate) fn own_labels<'a>(
    labels: impl Iterator<Item = (&'a str, &'a str)>,
    kind: Kind,
    const_labels: &[(String, String)],
) -> Vec<(Box<str>, Box<str>)> {
    let mut own: Vec<(Box<str>, Box<str>)> = Vec::new();
    for (name, value) in labels {
        let mut name = label_name(name);
        let taken = |n: &str| {
            (kind == Kind::Histogram && n == "le") || const_labels.iter().any(|(c, _)| c == n)
        };
        if taken(&name) {
            name = Cow::Owned(format!("exported_{name}"));
        }
        if own.iter().any(|(n, _)| **n == *name) {
            continue;
        }
        own.push((name.into(), clip(value).into()));
    }
    own.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    own
}

/// A series' own labels and the constant ones, sorted by name: what it is exposed with.
pub(crate) fn with_const(
    own: &[(Box<str>, Box<str>)],
    const_labels: &[(String, String)],
) -> Box<[(Box<str>, Box<str>)]> {
    let mut all: Vec<(Box<str>, Box<str>)> = own
        .iter()
        .cloned()
        .chain(
            const_labels
                .iter()
                .map(|(n, v)| (n.as_str().into(), v.as_str().into())),
        )
        .collect();
    all.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    all.into()
}

/// `name` with every character outside `[a-zA-Z0-9_]` (and those `also` allows) as
/// `_`, and `_` in front of a leading digit.
fn legacy(name: &str, also: impl Fn(char) -> bool) -> Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || also(c);
    let leading_digit = name.starts_with(|c: char| c.is_ascii_digit());
    if name.chars().all(ok) && !leading_digit {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if leading_digit {
        out.push('_');
    }
    out.extend(name.chars().map(|c| if ok(c) { c } else { '_' }));
    Cow::Owned(out)
}

/// Every name a family writes: its family name (a counter's without `_total`) and its
/// sample names.
pub(crate) fn written(name: &str, kind: Kind) -> Vec<String> {
    let stem = match kind {
        Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    let suffixes: &[&str] = match kind {
        Kind::Counter => &["", "_total", "_created"],
        Kind::Gauge => &[""],
        Kind::Histogram => &["", "_bucket", "_sum", "_count", "_created"],
    };
    suffixes.iter().map(|s| format!("{stem}{s}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether two families would write a name in common (the registry keeps every
    /// name written and looks each up; this is the same rule, pairwise).
    fn clash(a: (&str, Kind), b: (&str, Kind)) -> bool {
        let b = written(b.0, b.1);
        written(a.0, a.1).iter().any(|n| b.contains(n))
    }

    #[test]
    fn names_gain_their_unit_and_total_once() {
        let name = |n, k, u| exposed_name(n, k, u).unwrap();
        assert_eq!(
            name("http.requests", Kind::Counter, None),
            "http_requests_total"
        );
        assert_eq!(
            name("requests_total", Kind::Counter, None),
            "requests_total"
        );
        assert_eq!(name("_total", Kind::Counter, None), "_total_total");
        assert_eq!(
            name("fsync", Kind::Histogram, Some("seconds")),
            "fsync_seconds"
        );
        assert_eq!(
            name("fsync_seconds", Kind::Histogram, Some("seconds")),
            "fsync_seconds"
        );
        assert_eq!(
            name("read", Kind::Counter, Some("bytes")),
            "read_bytes_total"
        );
        assert_eq!(
            name("read_bytes_total", Kind::Counter, Some("bytes")),
            "read_bytes_total"
        );
        assert_eq!(name("9lives", Kind::Gauge, None), "_9lives");
        assert_eq!(name("a:b-c d", Kind::Gauge, None), "a:b_c_d");
        assert_eq!(name("größe", Kind::Gauge, None), "gr__e");
        assert_eq!(exposed_name("", Kind::Gauge, None), None);
        assert_eq!(
            utf8_name("http.requests", Kind::Counter, None).as_deref(),
            Some("http.requests_total")
        );
        assert_eq!(
            utf8_name("größe", Kind::Histogram, Some("bytes")).as_deref(),
            Some("größe_bytes")
        );
        assert_eq!(utf8_name("plain", Kind::Counter, None), None);
    }

    #[test]
    fn label_names_are_legacy_and_never_reserved() {
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("__name__"), "_name__");
        assert_eq!(label_name("0x"), "_0x");
        assert_eq!(label_name(""), "_");
        assert_eq!(label_name("a:b"), "a_b");
        assert!(matches!(label_name("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn own_labels_are_valid_unique_sorted_and_bounded() {
        let consts = [("region".to_string(), "eu".to_string())];
        let long = "v".repeat(300);
        let given = [
            ("z", "1"),
            ("le", "2"),
            ("region", "3"),
            ("z", "4"),
            ("a.b", long.as_str()),
        ];
        let own = own_labels(given.into_iter(), Kind::Histogram, &consts);
        let own: Vec<(&str, &str)> = own.iter().map(|(n, v)| (&**n, &**v)).collect();
        assert_eq!(
            own,
            [
                ("a_b", "other"),
                ("exported_le", "2"),
                ("exported_region", "3"),
                ("z", "1")
            ]
        );
        let gauge = own_labels([("le", "2")].into_iter(), Kind::Gauge, &consts);
        assert_eq!(&*gauge[0].0, "le");
        let all = with_const(&gauge, &consts);
        assert_eq!(&*all[1].0, "region");
    }

    #[test]
    fn families_clash_on_any_name_they_write() {
        use Kind::*;
        assert!(clash(("x_total", Counter), ("x", Gauge)));
        assert!(clash(("x", Histogram), ("x_count", Gauge)));
        assert!(clash(("x_sum", Gauge), ("x", Histogram)));
        assert!(clash(("x_created", Gauge), ("x_total", Counter)));
        assert!(!clash(("x_total", Counter), ("y_total", Counter)));
        assert!(!clash(("x", Gauge), ("x_seconds", Histogram)));
    }

    #[test]
    fn the_exact_name_wins_then_the_longest_pattern() {
        let config = RecorderConfig::default()
            .buckets("*", [1.0])
            .buckets("pkcs8.*", [2.0])
            .buckets("pkcs8.fsync*", [3.0])
            .buckets("*_bytes", [4.0])
            .buckets("pkcs8.fsync", [5.0]);
        let rules = NamedRules::new(&config).unwrap();
        let first = |name| rules.buckets(name).seconds()[0];
        assert_eq!(first("pkcs8.fsync"), 5.0);
        assert_eq!(first("pkcs8.fsync_dir"), 3.0);
        assert_eq!(first("pkcs8.read"), 2.0);
        assert_eq!(first("pkcs8.read_bytes"), 2.0); // as long as `_bytes`, given first
        assert_eq!(first("pkcs8.fsync_bytes"), 3.0); // longer than `_bytes`
        assert_eq!(first("wire_bytes"), 4.0);
        assert_eq!(first("other"), 1.0);
        let defaults = NamedRules::new(&RecorderConfig::default()).unwrap();
        assert_eq!(defaults.buckets("x").seconds(), &DEFAULT_BUCKETS);
    }

    #[test]
    fn a_bad_config_names_the_field_and_the_value() {
        let err = |c: RecorderConfig| NamedRules::new(&c).err().unwrap();
        let e = err(RecorderConfig::default().buckets("a*b*", [1.0]));
        assert_eq!(e.0, r#"buckets["a*b*"]"#);
        let e = err(RecorderConfig::default().buckets("x", [2.0, 1.0]));
        assert_eq!(e.0, r#"buckets["x"]"#);
        assert!(
            e.1.starts_with("[2.0, 1.0]: bounds must increase"),
            "{}",
            e.1
        );
        let e = err(RecorderConfig::default().buckets("x", [f64::NAN]));
        assert!(e.1.contains("not finite"), "{}", e.1);
        assert_eq!(
            err(RecorderConfig::default().max_label_sets(0)).0,
            "max_label_sets"
        );
        // Negative bounds are values like any other.
        assert!(NamedRules::new(&RecorderConfig::default().buckets("t", [-10.0, 0.0])).is_ok());
    }
}
