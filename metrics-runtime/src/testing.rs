//! Helpers for the crate's own tests: reading a sample back from an exposition.

/// The label pairs of a sample line's `{…}`, unescaped.
fn labels(mut rest: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => break,
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        pairs.push((name.trim_start_matches(',').to_owned(), value));
        rest = &after[end..];
    }
    pairs
}

/// The value of the one sample named `name` whose labels include all of `labels`, in a
/// text or OpenMetrics exposition written by this crate. Panics if several match.
pub(crate) fn value(text: &str, name: &str, wanted: &[(&str, &str)]) -> Option<f64> {
    let matches: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (sample, pairs) = match series.split_once('{') {
                Some((n, rest)) => (n, labels(rest.strip_suffix('}')?)),
                None => (series, Vec::new()),
            };
            let all = wanted
                .iter()
                .all(|(k, v)| pairs.iter().any(|(pk, pv)| pk == k && pv == v));
            (sample == name && all).then(|| value.parse().ok())?
        })
        .collect();
    assert!(
        matches.len() <= 1,
        "{name} {wanted:?} matches {} samples",
        matches.len()
    );
    matches.first().copied()
}

#[test]
fn reads_escaped_labels_back() {
    let text = "# TYPE x counter\nx{a=\"q\\\"u\\\\o\\nte\",b=\"2\"} 7\nx{a=\"other\"} 1\ny 3\n";
    assert_eq!(value(text, "x", &[("a", "q\"u\\o\nte")]), Some(7.0));
    assert_eq!(value(text, "x", &[("b", "2")]), Some(7.0));
    assert_eq!(value(text, "y", &[]), Some(3.0));
    assert_eq!(value(text, "x", &[("a", "none")]), None);
}
