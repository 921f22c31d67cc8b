//! Names: the operations the attribute accepts, the rules for a service's own,
//! snake_case, and "did you mean". The operation rule itself is the runtime's
//! (`operation_rule`, shared with it).

use crate::operation_rule::BUILTINS;

/// The `Op` variants of the runtime, as written in the attribute.
pub(crate) const OPS: [&str; 15] = {
    let mut ops = [""; 15];
    let mut i = 0;
    while i < 15 {
        ops[i] = BUILTINS[i].0;
        i += 1;
    }
    ops
};

/// `KeyNotFound` → `key_not_found`, `IOError` → `io_error`, `Http2Error` → `http2_error`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(|n| n.is_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The `Op` variant whose label value is `label` (`"health_check"` → `HealthCheck`).
pub(crate) fn builtin_of(label: &str) -> Option<&'static str> {
    BUILTINS.iter().find(|b| b.1 == label).map(|b| b.0)
}

/// The closest name to `input` among `candidates`, if it is plausibly a typo.
pub(crate) fn suggest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lower = input.to_lowercase();
    candidates
        .iter()
        .map(|c| (distance(&lower, &c.to_lowercase()), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake() {
        assert_eq!(snake_case("KeyNotFound"), "key_not_found");
        assert_eq!(snake_case("IOError"), "io_error");
        assert_eq!(snake_case("Http2Error"), "http2_error");
        assert_eq!(snake_case("Io"), "io");
        assert_eq!(snake_case("HealthCheck"), "health_check");
        assert_eq!(snake_case("already_snake"), "already_snake");
    }

    #[test]
    fn operation_names() {
        assert_eq!(builtin_of("health_check"), Some("HealthCheck"));
        assert_eq!(builtin_of("unwrap_key"), None);
        assert_eq!(OPS[14], "HealthCheck");
        for op in OPS {
            assert_eq!(builtin_of(&snake_case(op)), Some(op));
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("Genrate", &OPS), Some("Generate"));
        assert_eq!(suggest("healthcheck", &OPS), Some("HealthCheck"));
        assert_eq!(suggest("sgin", &OPS), Some("Sign"));
        assert_eq!(suggest("Frobnicate", &OPS), None);
    }
}
