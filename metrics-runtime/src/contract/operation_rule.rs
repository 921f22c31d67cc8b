//! What an `operation` label value may be: the one rule for the runtime, which checks
//! names at run time, and for the macros crate, which checks them at compile time.
//!
//! This file is shared word for word: `metrics-macros/src/operation_rule.rs` is a
//! symbolic link to it (cargo packages the content), so the two crates cannot drift. It
//! uses nothing but `core`.

/// Longest operation name, in bytes.
pub(crate) const MAX_LEN: usize = 64;

/// The 15 built-in operations: the `Op` variant as written in the attribute, and its
/// label value. The runtime's `Op` is tested against this list.
#[allow(dead_code)] // the runtime reads it in its tests only
pub(crate) const BUILTINS: [(&str, &str); 15] = [
    ("Generate", "generate"),
    ("Store", "store"),
    ("Get", "get"),
    ("Delete", "delete"),
    ("List", "list"),
    ("Sign", "sign"),
    ("Verify", "verify"),
    ("Encrypt", "encrypt"),
    ("Decrypt", "decrypt"),
    ("Export", "export"),
    ("Import", "import"),
    ("Rotate", "rotate"),
    ("Backup", "backup"),
    ("Restore", "restore"),
    ("HealthCheck", "health_check"),
];

/// Why `name` is not a valid operation label value (lower snake_case ASCII: a letter,
/// then letters, digits and `_`, at most [`MAX_LEN`] bytes), or `None` if it is one.
pub(crate) const fn invalid_reason(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Some("is empty");
    }
    if bytes.len() > MAX_LEN {
        return Some("is longer than 64 bytes");
    }
    if !bytes[0].is_ascii_lowercase() {
        return Some("does not start with a lowercase ASCII letter");
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Some("has characters other than a-z, 0-9 and _");
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn the_rule_names_what_is_wrong() {
        assert_eq!(invalid_reason(""), Some("is empty"));
        assert_eq!(invalid_reason("wrap_key9"), None);
        assert_eq!(
            invalid_reason("Wrap"),
            Some("does not start with a lowercase ASCII letter")
        );
        assert_eq!(
            invalid_reason("wrap-key"),
            Some("has characters other than a-z, 0-9 and _")
        );
        assert_eq!(invalid_reason(&"a".repeat(MAX_LEN)), None);
        let long = "a".repeat(MAX_LEN + 1);
        assert_eq!(invalid_reason(&long), Some("is longer than 64 bytes"));
        assert!(invalid_reason(&long)
            .unwrap()
            .contains(&MAX_LEN.to_string()));
    }

    #[test]
    fn built_ins_are_valid_names_of_their_variants() {
        for (variant, label) in BUILTINS {
            assert_eq!(invalid_reason(label), None, "{label}");
            let spelled: String = variant
                .char_indices()
                .flat_map(|(i, c)| {
                    let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                    sep.into_iter().chain(c.to_lowercase())
                })
                .collect();
            assert_eq!(spelled, label);
        }
    }
}
