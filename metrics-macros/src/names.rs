//! Names: the operations the attribute accepts, the rules for a service's own,
//! snake_case, and "did you mean".

/// The `Op` variants of the runtime, as written in the attribute.
pub(crate) const OPS: [&str; 15] = [
    "Generate",
    "Store",
    "Get",
    "Delete",
    "List",
    "Sign",
    "Verify",
    "Encrypt",
    "Decrypt",
    "Export",
    "Import",
    "Rotate",
    "Backup",
    "Restore",
    "HealthCheck",
];

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

/// Longest user operation name, in bytes (the runtime's `MAX_OPERATION_LEN`).
const MAX_OPERATION_LEN: usize = 64;

/// The `Op` variant whose label value is `label` (`"health_check"` → `HealthCheck`).
pub(crate) fn builtin_of(label: &str) -> Option<&'static str> {
    OPS.iter().copied().find(|op| snake_case(op) == label)
}

/// Why `name` is not a valid operation label value, by the runtime's rules.
pub(crate) fn invalid_operation(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        Some("is empty")
    } else if bytes.len() > MAX_OPERATION_LEN {
        Some("is longer than 64 bytes")
    } else if !bytes[0].is_ascii_lowercase() {
        Some("does not start with a lowercase ASCII letter")
    } else if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
    {
        Some("has characters other than a-z, 0-9 and _")
    } else {
        None
    }
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
        assert_eq!(invalid_operation("unwrap_key"), None);
        assert_eq!(
            invalid_operation("Unwrap"),
            Some("does not start with a lowercase ASCII letter")
        );
        assert_eq!(
            invalid_operation(&"a".repeat(65)),
            Some("is longer than 64 bytes")
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("Genrate", &OPS), Some("Generate"));
        assert_eq!(suggest("healthcheck", &OPS), Some("HealthCheck"));
        assert_eq!(suggest("sgin", &OPS), Some("Sign"));
        assert_eq!(suggest("Frobnicate", &OPS), None);
    }
}
