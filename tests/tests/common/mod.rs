//! A small exposition reader for assertions: `name{labels} value` lines to samples.
#![allow(dead_code)]

use std::collections::BTreeMap;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the sample lines of a text or OpenMetrics exposition (comments skipped),
/// unescaping label values. Panics on a malformed line: that is a test failure.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (name, rest) = match line.find(['{', ' ']) {
                Some(i) => line.split_at(i),
                None => panic!("no value in {line:?}"),
            };
            let mut labels = BTreeMap::new();
            let mut rest = rest;
            if let Some(r) = rest.strip_prefix('{') {
                let mut chars = r.char_indices();
                loop {
                    let (start, c) = chars.next().expect("unterminated labels");
                    if c == '}' {
                        rest = &r[start + 1..];
                        break;
                    }
                    if c == ',' {
                        continue;
                    }
                    let eq = r[start..].find("=\"").expect("label without =\"") + start;
                    let key = r[start..eq].to_string();
                    for _ in start..eq + 1 {
                        chars.next();
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next().expect("unterminated value").1 {
                            '"' => break,
                            '\\' => match chars.next().expect("dangling escape").1 {
                                'n' => value.push('\n'),
                                c => value.push(c),
                            },
                            c => value.push(c),
                        }
                    }
                    labels.insert(key, value);
                }
            }
            let value = rest.trim();
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            Sample {
                name: name.to_string(),
                labels,
                value,
            }
        })
        .collect()
}

/// The value of the one sample named `name` whose labels include all of `labels`.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matches: Vec<f64> = parse(text)
        .into_iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .collect();
    assert!(
        matches.len() <= 1,
        "{name} {labels:?} matches {} samples",
        matches.len()
    );
    matches.first().copied()
}

/// Number of sample lines whose name starts with `prefix`.
pub fn count_series(text: &str, prefix: &str) -> usize {
    parse(text)
        .iter()
        .filter(|s| s.name.starts_with(prefix))
        .count()
}

/// Waits until `f` holds (servers finish a moment after clients see their answers);
/// fails after 5 s.
pub async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
